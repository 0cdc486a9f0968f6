{#-
  cuped_results_history (public, contract enforced): every run's cuped_results, keyed by the day
  it is as of. Incremental: a run appends its day; re-running a day replaces that day's rows, it
  never duplicates them. The day is today (the warehouse's current date) unless the run sets the
  var `cuped_as_of` (e.g. `dbt build --vars '{cuped_as_of: 2026-10-15}'`).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='as_of_date',
    on_schema_change='append_new_columns',
) }}
{%- set as_of = var('cuped_as_of', none) -%}
{%- if as_of is not none and not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', as_of | string) -%}
  {{ exceptions.raise_compiler_error("cuped: the var `cuped_as_of` must be a date written YYYY-MM-DD, got: " ~ as_of) }}
{%- endif -%}
{%- set as_of_date -%}
    {% if as_of is none -%}
    cast({{ dbt.current_timestamp() }} as date)
    {%- else -%}
    cast('{{ as_of }}' as date)
    {%- endif %}
{%- endset %}
{{ cuped__select_contract(ref('cuped_results'), {'as_of_date': as_of_date}) }}
