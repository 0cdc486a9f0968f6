{#-
  One row per row of the user's assignments relation, in the package's column names, with what
  makes it unusable. A view: copying every assignment row into a table would cost a full write.
-#}
{{ config(materialized='view') }}
{#- the validated configuration, carried from the parse to the run (cuped__parsed_config) -#}
{%- if not execute %}{{ config(meta={'cuped_parsed_config': cuped.cuped__parsed_config_record()}) }}{% endif %}
{%- set config = cuped__config() -%}
{%- set columns = config['assignment_columns'] -%}
{%- set assignments = cuped__relation(config['assignments']) -%}
{%- set checks = [] -%}
{%- for key in ['experiment_id', 'unit_id', 'variant', 'assigned_at'] -%}
  {%- do checks.append([columns[key], "`assignment_columns." ~ key ~ "` (assignments " ~ config['assignments'] ~ ")", 'time' if key == 'assigned_at' else '']) -%}
{%- endfor -%}
{#- the build's first model: the statistics model must be a table (cuped__check_materialization) -#}
{{- cuped.cuped__check_materialization('model.cuped.cuped__statistics', 'table') -}}
{{- cuped__check_columns(assignments, checks, "`assignments` (" ~ config['assignments'] ~ ")") -}}
{{- cuped__check_inputs(config) -}}

with source_rows as (

    select
        cast({{ cuped__column(columns['experiment_id']) }} as {{ dbt.type_string() }}) as experiment_id,
        {{ cuped__column(columns['unit_id']) }} as unit_id,
        cast({{ cuped__column(columns['variant']) }} as {{ dbt.type_string() }}) as variant,
        {{ cuped__timestamp_utc(assignments, columns['assigned_at'], config['timezone']) }} as assigned_at
    from {{ assignments }}

)

select
    experiment_id,
    unit_id,
    variant,
    assigned_at,
    case
        when experiment_id is null then 'null_experiment_id'
        when unit_id is null then 'null_unit_id'
        when variant is null then 'null_variant'
        when assigned_at is null then 'null_assigned_at'
        {#- ±infinity, or a date no exposure has (a placeholder, a broken clock): not analysed #}
        when not ({{ cuped__time_in_range('assigned_at') }}) then 'assigned_at_out_of_range'
    end as invalid_reason
from source_rows
