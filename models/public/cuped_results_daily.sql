{#-
  cuped_results_daily (public, contract enforced): the overall results of every experiment ×
  metric × treatment variant as of the end of each day since the experiment started, for
  cumulative-lift charts. Built when the `cuped` var sets `daily_series: true` (empty otherwise).
-#}
with results as (

    select * from {{ ref('cuped__daily_stats') }}

),

plan as (

    select experiment_id, metric_name, metric_label
    from {{ ref('cuped__analysis_plan') }}

)

select
    cast(results.experiment_id as {{ dbt.type_string() }}) as experiment_id,
    cast(results.metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(plan.metric_label as {{ dbt.type_string() }}) as metric_label,
    cast(results.metric_type as {{ dbt.type_string() }}) as metric_type,
    cast(cast(results.segment_value as {{ dbt.type_string() }}) as date) as as_of_date,
    cast(results.variant as {{ dbt.type_string() }}) as variant,
    cast(results.control_variant as {{ dbt.type_string() }}) as control_variant,
    cast(results.n_control as {{ dbt.type_bigint() }}) as n_control,
    cast(results.n_variant as {{ dbt.type_bigint() }}) as n_variant,
    cast(results.control_mean as {{ cuped__type_double() }}) as control_mean,
    cast(results.variant_mean as {{ cuped__type_double() }}) as variant_mean,
    cast(results.absolute_effect as {{ cuped__type_double() }}) as absolute_effect,
    cast(results.absolute_effect_se as {{ cuped__type_double() }}) as absolute_effect_se,
    cast(results.absolute_ci_lower as {{ cuped__type_double() }}) as absolute_ci_lower,
    cast(results.absolute_ci_upper as {{ cuped__type_double() }}) as absolute_ci_upper,
    cast(results.sequential_ci_lower as {{ cuped__type_double() }}) as sequential_ci_lower,
    cast(results.sequential_ci_upper as {{ cuped__type_double() }}) as sequential_ci_upper,
    cast(results.relative_effect as {{ cuped__type_double() }}) as relative_effect,
    cast(results.relative_ci_lower as {{ cuped__type_double() }}) as relative_ci_lower,
    cast(results.relative_ci_upper as {{ cuped__type_double() }}) as relative_ci_upper,
    cast(results.p_value as {{ cuped__type_double() }}) as p_value,
    cast(results.unadjusted_absolute_effect as {{ cuped__type_double() }}) as unadjusted_absolute_effect,
    cast(results.unadjusted_se as {{ cuped__type_double() }}) as unadjusted_se,
    cast(results.unadjusted_ci_lower as {{ cuped__type_double() }}) as unadjusted_ci_lower,
    cast(results.unadjusted_ci_upper as {{ cuped__type_double() }}) as unadjusted_ci_upper,
    cast(results.unadjusted_p_value as {{ cuped__type_double() }}) as unadjusted_p_value,
    cast(results.variance_reduction as {{ cuped__type_double() }}) as variance_reduction,
    cast(results.alpha as {{ cuped__type_double() }}) as alpha,
    cast(results.status as {{ dbt.type_string() }}) as status,
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as computed_at
from results
left join plan
    on plan.experiment_id = results.experiment_id
    and plan.metric_name = results.metric_name
