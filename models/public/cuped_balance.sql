{#-
  cuped_balance (public, contract enforced): one row per experiment × segment × metric ×
  covariate × treatment variant: is the pre-period covariate balanced across the arms?
-#}
with balance as (

    select * from {{ ref('cuped__balance_stats') }}

)

select
    cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
    cast(segment_name as {{ dbt.type_string() }}) as segment_name,
    cast(segment_value as {{ dbt.type_string() }}) as segment_value,
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(covariate as {{ dbt.type_string() }}) as covariate,
    cast(variant as {{ dbt.type_string() }}) as variant,
    cast(control_variant as {{ dbt.type_string() }}) as control_variant,
    cast(n_control as {{ dbt.type_bigint() }}) as n_control,
    cast(n_variant as {{ dbt.type_bigint() }}) as n_variant,
    cast(control_mean as {{ cuped__type_double() }}) as control_mean,
    cast(variant_mean as {{ cuped__type_double() }}) as variant_mean,
    cast(standardized_difference as {{ cuped__type_double() }}) as standardized_difference,
    cast(balance_chi2 as {{ cuped__type_double() }}) as balance_chi2,
    cast(balance_df as {{ dbt.type_bigint() }}) as balance_df,
    cast(balance_p_value as {{ cuped__type_double() }}) as balance_p_value,
    cast(imbalance_flag as {{ dbt.type_boolean() }}) as imbalance_flag,
    cast(status as {{ dbt.type_string() }}) as status,
    cast(status_reason as {{ dbt.type_string() }}) as status_reason,
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as computed_at,
    cast(package_version as {{ dbt.type_string() }}) as package_version
from balance
