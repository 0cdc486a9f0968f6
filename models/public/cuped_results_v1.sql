{#-
  cuped_results, version 1 (public, contract enforced): one row per experiment × metric × segment ×
  treatment variant, compared with the experiment's control. Every column is described in
  models/public/_public.yml; the statistics are defined in the README and in cuped_stats.
-#}
{{ config(post_hook="{{ cuped__create_latest_view() }}") }}

with results as (

    select * from {{ ref('cuped__results_stats') }}

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
    cast(results.segment_name as {{ dbt.type_string() }}) as segment_name,
    cast(results.segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(results.variant as {{ dbt.type_string() }}) as variant,
    cast(results.control_variant as {{ dbt.type_string() }}) as control_variant,
    cast(results.n_control as {{ dbt.type_bigint() }}) as n_control,
    cast(results.n_variant as {{ dbt.type_bigint() }}) as n_variant,
    cast(results.control_mean as {{ cuped__type_double() }}) as control_mean,
    cast(results.variant_mean as {{ cuped__type_double() }}) as variant_mean,
    cast(results.control_mean_adjusted as {{ cuped__type_double() }}) as control_mean_adjusted,
    cast(results.variant_mean_adjusted as {{ cuped__type_double() }}) as variant_mean_adjusted,
    cast(results.absolute_effect as {{ cuped__type_double() }}) as absolute_effect,
    cast(results.absolute_effect_se as {{ cuped__type_double() }}) as absolute_effect_se,
    cast(results.absolute_ci_lower as {{ cuped__type_double() }}) as absolute_ci_lower,
    cast(results.absolute_ci_upper as {{ cuped__type_double() }}) as absolute_ci_upper,
    cast(results.sequential_ci_lower as {{ cuped__type_double() }}) as sequential_ci_lower,
    cast(results.sequential_ci_upper as {{ cuped__type_double() }}) as sequential_ci_upper,
    cast(results.degrees_of_freedom as {{ cuped__type_double() }}) as degrees_of_freedom,
    cast(results.relative_effect as {{ cuped__type_double() }}) as relative_effect,
    cast(results.relative_ci_lower as {{ cuped__type_double() }}) as relative_ci_lower,
    cast(results.relative_ci_upper as {{ cuped__type_double() }}) as relative_ci_upper,
    cast(results.p_value as {{ cuped__type_double() }}) as p_value,
    cast(results.p_value_holm as {{ cuped__type_double() }}) as p_value_holm,
    cast(results.p_value_bh as {{ cuped__type_double() }}) as p_value_bh,
    cast(results.unadjusted_absolute_effect as {{ cuped__type_double() }}) as unadjusted_absolute_effect,
    cast(results.unadjusted_se as {{ cuped__type_double() }}) as unadjusted_se,
    cast(results.unadjusted_ci_lower as {{ cuped__type_double() }}) as unadjusted_ci_lower,
    cast(results.unadjusted_ci_upper as {{ cuped__type_double() }}) as unadjusted_ci_upper,
    cast(results.unadjusted_relative_effect as {{ cuped__type_double() }}) as unadjusted_relative_effect,
    cast(results.unadjusted_p_value as {{ cuped__type_double() }}) as unadjusted_p_value,
    cast(results.variance_reduction as {{ cuped__type_double() }}) as variance_reduction,
    cast(results.theta as {{ dbt.type_string() }}) as theta,
    cast(results.covariates as {{ dbt.type_string() }}) as covariates,
    cast(results.covariates_dropped as {{ dbt.type_string() }}) as covariates_dropped,
    cast(results.theta_method as {{ dbt.type_string() }}) as theta_method,
    cast(results.relative_ci_method as {{ dbt.type_string() }}) as relative_ci_method,
    cast(results.alpha as {{ cuped__type_double() }}) as alpha,
    cast(results.higher_is_better as {{ dbt.type_boolean() }}) as higher_is_better,
    cast(results.status as {{ dbt.type_string() }}) as status,
    cast(results.status_reason as {{ dbt.type_string() }}) as status_reason,
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as computed_at,
    cast(results.package_version as {{ dbt.type_string() }}) as package_version
from results
left join plan
    on plan.experiment_id = results.experiment_id
    and plan.metric_name = results.metric_name
