{#-
  cuped_power (public, contract enforced): per experiment × metric × treatment variant (overall),
  the minimum detectable effect at the current sample with and without CUPED, the units and days
  needed to reach the configured `target_relative_mde`, and the units a new experiment on the
  metric would need, planned from its pre-period variance and its correlation with its history.
-#}
select
    cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(metric_type as {{ dbt.type_string() }}) as metric_type,
    cast(variant as {{ dbt.type_string() }}) as variant,
    cast(control_variant as {{ dbt.type_string() }}) as control_variant,
    cast(n_control as {{ dbt.type_bigint() }}) as n_control,
    cast(n_variant as {{ dbt.type_bigint() }}) as n_variant,
    cast(units_per_day as {{ cuped__type_double() }}) as units_per_day,
    cast(control_mean as {{ cuped__type_double() }}) as control_mean,
    cast(alpha as {{ cuped__type_double() }}) as alpha,
    cast(power as {{ cuped__type_double() }}) as power,
    cast(mde_absolute as {{ cuped__type_double() }}) as mde_absolute,
    cast(mde_relative as {{ cuped__type_double() }}) as mde_relative,
    cast(mde_absolute_unadjusted as {{ cuped__type_double() }}) as mde_absolute_unadjusted,
    cast(mde_relative_unadjusted as {{ cuped__type_double() }}) as mde_relative_unadjusted,
    cast(target_relative_mde as {{ cuped__type_double() }}) as target_relative_mde,
    cast(units_needed as {{ dbt.type_bigint() }}) as units_needed,
    cast(units_needed_unadjusted as {{ dbt.type_bigint() }}) as units_needed_unadjusted,
    cast(days_needed as {{ dbt.type_bigint() }}) as days_needed,
    cast(days_needed_unadjusted as {{ dbt.type_bigint() }}) as days_needed_unadjusted,
    cast(pre_period_variance as {{ cuped__type_double() }}) as pre_period_variance,
    cast(history_correlation as {{ cuped__type_double() }}) as history_correlation,
    cast(planned_units_for_target as {{ dbt.type_bigint() }}) as planned_units_for_target,
    cast(planned_units_for_target_unadjusted as {{ dbt.type_bigint() }}) as planned_units_for_target_unadjusted,
    cast(status as {{ dbt.type_string() }}) as status,
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as computed_at,
    cast(package_version as {{ dbt.type_string() }}) as package_version
from {{ ref('cuped__power_stats') }}
