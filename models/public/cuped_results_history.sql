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
{%- set columns = ['experiment_id', 'metric_name', 'metric_label', 'metric_type', 'segment_name', 'segment_value',
                   'variant', 'control_variant', 'n_control', 'n_variant', 'control_mean', 'variant_mean',
                   'control_mean_adjusted', 'variant_mean_adjusted', 'absolute_effect', 'absolute_effect_se',
                   'absolute_ci_lower', 'absolute_ci_upper', 'sequential_ci_lower', 'sequential_ci_upper', 'degrees_of_freedom', 'relative_effect',
                   'relative_ci_lower', 'relative_ci_upper', 'p_value', 'p_value_holm', 'p_value_bh',
                   'unadjusted_absolute_effect', 'unadjusted_se', 'unadjusted_ci_lower', 'unadjusted_ci_upper',
                   'unadjusted_relative_effect', 'unadjusted_p_value', 'variance_reduction', 'theta', 'covariates',
                   'covariates_dropped', 'theta_method', 'relative_ci_method', 'alpha', 'higher_is_better', 'status',
                   'status_reason', 'computed_at', 'package_version'] -%}

select
    {% if as_of is none -%}
    cast({{ dbt.current_timestamp() }} as date)
    {%- else -%}
    cast('{{ as_of }}' as date)
    {%- endif %} as as_of_date,
    {%- for column in columns %}
    {{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ ref('cuped_results') }}
