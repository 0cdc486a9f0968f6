{#-
  cuped_results_history (public, contract enforced): every run's cuped_results, keyed by the day
  it is as of. Incremental: a run appends its day; re-running a day replaces that day's rows, it
  never duplicates them.

  History cannot be rebuilt (past days' data may have changed since), so it is protected:
  `--full-refresh` leaves it alone (`full_refresh: false`) unless the run opts in with the var
  `cuped_rebuild_history: true`, which erases it and starts again from this run.

  The day is today in the configured `timezone` (UTC by default), taken when the run compiles.
  The var `cuped_as_of` may name that day explicitly; any other day is refused: results computed
  from today's data stored under a past day would be a record of something nobody saw that day.
  Results as of each past day are in cuped_results_daily.

  Spark has no delete+insert: there the table is partitioned by as_of_date and a run overwrites its
  day's partition (insert_overwrite), which replaces that day the same way. On a Parquet table
  Spark keeps a partition column last, so as_of_date is the last column there.
-#}
{%- set rebuild = var('cuped_rebuild_history', false) -%}
{%- if rebuild is not boolean -%}
  {{ exceptions.raise_compiler_error("cuped: the var `cuped_rebuild_history` must be true or false, got: " ~ rebuild) }}
{%- endif -%}
{%- set spark = target.type in ['spark', 'databricks'] -%}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if spark else 'delete+insert'),
    partition_by=(['as_of_date'] if spark else none),
    unique_key=(none if spark else 'as_of_date'),
    on_schema_change='append_new_columns',
    full_refresh=(none if rebuild else false),
) }}
{{- cuped.cuped__check_materialization(model.unique_id, 'incremental') -}}
{%- set config = cuped__config() -%}
{%- set today = cuped__today(config['timezone']) -%}
{%- set as_of = var('cuped_as_of', none) -%}
{%- if as_of is not none -%}
  {%- set as_of = as_of | string -%}
  {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', as_of) -%}
    {{ exceptions.raise_compiler_error("cuped: the var `cuped_as_of` must be a date written YYYY-MM-DD, got: " ~ as_of) }}
  {%- endif -%}
  {%- if as_of < today -%}
    {{ exceptions.raise_compiler_error("cuped: the var `cuped_as_of` (" ~ as_of ~ ") is before today (" ~ today ~ " in " ~ config['timezone'] ~ "); cuped_results_history stores what each run computed on its day, and today's data cannot be stored as a past day's results. For results as of each past day (data cut at the end of that day) use cuped_results_daily (`daily_series: true`).") }}
  {%- elif as_of > today -%}
    {{ exceptions.raise_compiler_error("cuped: the var `cuped_as_of` (" ~ as_of ~ ") is after today (" ~ today ~ " in " ~ config['timezone'] ~ "); results cannot be stored under a day that has not begun.") }}
  {%- endif -%}
{%- endif %}
{{ cuped__select_contract(ref('cuped_results'), {'as_of_date': "cast('" ~ today ~ "' as date)"}) }}
