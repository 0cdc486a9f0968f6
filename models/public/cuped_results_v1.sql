{#-
  cuped_results, version 1 (public, contract enforced): one row per experiment × metric × segment ×
  treatment variant, compared with the experiment's control. Every column is described in
  models/public/_public.yml; the statistics are defined in the README and in cuped_stats.
-#}
{{ config(post_hook="{{ cuped__create_latest_view() }}") }}

select
    cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(metric_label as {{ dbt.type_string() }}) as metric_label,
    cast(metric_type as {{ dbt.type_string() }}) as metric_type,
    cast(segment_name as {{ dbt.type_string() }}) as segment_name,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(variant as {{ dbt.type_string() }}) as variant,
    cast(control_variant as {{ dbt.type_string() }}) as control_variant,
    cast(n_control as {{ dbt.type_bigint() }}) as n_control,
    cast(n_variant as {{ dbt.type_bigint() }}) as n_variant,
    cast(control_mean as {{ cuped__type_double() }}) as control_mean,
    cast(variant_mean as {{ cuped__type_double() }}) as variant_mean,
    cast(control_mean_adjusted as {{ cuped__type_double() }}) as control_mean_adjusted,
    cast(variant_mean_adjusted as {{ cuped__type_double() }}) as variant_mean_adjusted,
    cast(absolute_effect as {{ cuped__type_double() }}) as absolute_effect,
    cast(absolute_effect_se as {{ cuped__type_double() }}) as absolute_effect_se,
    cast(absolute_ci_lower as {{ cuped__type_double() }}) as absolute_ci_lower,
    cast(absolute_ci_upper as {{ cuped__type_double() }}) as absolute_ci_upper,
    cast(sequential_ci_lower as {{ cuped__type_double() }}) as sequential_ci_lower,
    cast(sequential_ci_upper as {{ cuped__type_double() }}) as sequential_ci_upper,
    cast(degrees_of_freedom as {{ cuped__type_double() }}) as degrees_of_freedom,
    cast(relative_effect as {{ cuped__type_double() }}) as relative_effect,
    cast(relative_ci_lower as {{ cuped__type_double() }}) as relative_ci_lower,
    cast(relative_ci_upper as {{ cuped__type_double() }}) as relative_ci_upper,
    cast(p_value as {{ cuped__type_double() }}) as p_value,
    cast(p_value_holm as {{ cuped__type_double() }}) as p_value_holm,
    cast(p_value_bh as {{ cuped__type_double() }}) as p_value_bh,
    cast(unadjusted_absolute_effect as {{ cuped__type_double() }}) as unadjusted_absolute_effect,
    cast(unadjusted_se as {{ cuped__type_double() }}) as unadjusted_se,
    cast(unadjusted_ci_lower as {{ cuped__type_double() }}) as unadjusted_ci_lower,
    cast(unadjusted_ci_upper as {{ cuped__type_double() }}) as unadjusted_ci_upper,
    cast(unadjusted_relative_effect as {{ cuped__type_double() }}) as unadjusted_relative_effect,
    cast(unadjusted_p_value as {{ cuped__type_double() }}) as unadjusted_p_value,
    cast(variance_reduction as {{ cuped__type_double() }}) as variance_reduction,
    cast(theta as {{ dbt.type_string() }}) as theta,
    cast(covariates as {{ dbt.type_string() }}) as covariates,
    cast(covariates_dropped as {{ dbt.type_string() }}) as covariates_dropped,
    cast(theta_method as {{ dbt.type_string() }}) as theta_method,
    cast(relative_ci_method as {{ dbt.type_string() }}) as relative_ci_method,
    cast(alpha as {{ cuped__type_double() }}) as alpha,
    cast(higher_is_better as {{ dbt.type_boolean() }}) as higher_is_better,
    cast(status as {{ dbt.type_string() }}) as status,
    cast(status_reason as {{ dbt.type_string() }}) as status_reason,
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as computed_at,
    cast(package_version as {{ dbt.type_string() }}) as package_version
from {{ ref('cuped__results_stats') }}
