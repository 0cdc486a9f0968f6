{#-
  cuped_results_daily (public, contract enforced): the overall results of every experiment ×
  metric × treatment variant as of the end of each day since the experiment started, for
  cumulative-lift charts. Built when the `cuped` var sets `daily_series: true` (empty otherwise).
-#}
select
    cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(metric_label as {{ dbt.type_string() }}) as metric_label,
    cast(metric_type as {{ dbt.type_string() }}) as metric_type,
    cast(cast(segment_value as {{ dbt.type_string() }}) as date) as as_of_date,
    cast(variant as {{ dbt.type_string() }}) as variant,
    cast(control_variant as {{ dbt.type_string() }}) as control_variant,
    cast(n_control as {{ dbt.type_bigint() }}) as n_control,
    cast(n_variant as {{ dbt.type_bigint() }}) as n_variant,
    cast(control_mean as {{ cuped__type_double() }}) as control_mean,
    cast(variant_mean as {{ cuped__type_double() }}) as variant_mean,
    cast(absolute_effect as {{ cuped__type_double() }}) as absolute_effect,
    cast(absolute_effect_se as {{ cuped__type_double() }}) as absolute_effect_se,
    cast(absolute_ci_lower as {{ cuped__type_double() }}) as absolute_ci_lower,
    cast(absolute_ci_upper as {{ cuped__type_double() }}) as absolute_ci_upper,
    cast(sequential_ci_lower as {{ cuped__type_double() }}) as sequential_ci_lower,
    cast(sequential_ci_upper as {{ cuped__type_double() }}) as sequential_ci_upper,
    cast(relative_effect as {{ cuped__type_double() }}) as relative_effect,
    cast(relative_ci_lower as {{ cuped__type_double() }}) as relative_ci_lower,
    cast(relative_ci_upper as {{ cuped__type_double() }}) as relative_ci_upper,
    cast(p_value as {{ cuped__type_double() }}) as p_value,
    cast(unadjusted_absolute_effect as {{ cuped__type_double() }}) as unadjusted_absolute_effect,
    cast(unadjusted_se as {{ cuped__type_double() }}) as unadjusted_se,
    cast(unadjusted_ci_lower as {{ cuped__type_double() }}) as unadjusted_ci_lower,
    cast(unadjusted_ci_upper as {{ cuped__type_double() }}) as unadjusted_ci_upper,
    cast(unadjusted_p_value as {{ cuped__type_double() }}) as unadjusted_p_value,
    cast(variance_reduction as {{ cuped__type_double() }}) as variance_reduction,
    cast(alpha as {{ cuped__type_double() }}) as alpha,
    cast(status as {{ dbt.type_string() }}) as status,
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as computed_at
from {{ ref('cuped__daily_stats') }}
