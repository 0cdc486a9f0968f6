{#-
  One row per experiment: the centring constant of each analysis variable for the daily series
  (its mean over the experiment's final, winsorized unit values). Ephemeral.
-#}
{{ config(materialized='ephemeral') }}
{%- set config = cuped__config(levels=true) -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__experiment_caps', 'cuped__unit_values'], []) }}
{%- else %}
{%- set moments = config['moments'] -%}

with capped_unit_values as (

{{ cuped__capped_unit_values(config) }}

)

select
    experiment_id,
    {%- for variable in moments['means'] %}
    avg({{ variable['sql'] }}) as centre__{{ variable['key'] }}{{ ',' if not loop.last }}
    {%- endfor %}
from capped_unit_values
group by experiment_id
{%- endif %}
