{#-
  One row per experiment with every capped metric's thresholds as columns
  (`metric_<i>_<period>_lower`, `metric_<i>_<period>_upper`), for joining onto unit values.
  Ephemeral: it is a CTE of the models that winsorize.
-#}
{{ config(materialized='ephemeral') }}
{%- set config = cuped__config() -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__metric_caps'] if config['capped'] | length > 0 else ['cuped__experiments'], []) }}
{%- else %}
{%- set capped = config['capped'] -%}
{%- if capped | length > 0 %}
select
    experiment_id,
    {%- for i in capped %}
    {%- set outer_last = loop.last %}
    {%- for period in ['post', 'pre'] %}
    max(case when metric_index = {{ i }} and period = '{{ period }}' then lower_threshold end) as metric_{{ i }}_{{ period }}_lower,
    max(case when metric_index = {{ i }} and period = '{{ period }}' then upper_threshold end) as metric_{{ i }}_{{ period }}_upper{{ ',' if not (outer_last and loop.last) }}
    {%- endfor %}
    {%- endfor %}
from {{ ref('cuped__metric_caps') }}
group by experiment_id
{%- else %}
select experiment_id
from {{ ref('cuped__experiments') }}
{%- endif %}
{%- endif %}
