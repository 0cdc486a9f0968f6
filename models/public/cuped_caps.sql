{#-
  cuped_caps (public, contract enforced): the winsorization thresholds applied to each capped
  metric, one row per experiment × metric × period ('post' value, 'pre' period covariate), with
  the number of analysed units each threshold moved.
-#}
select
    cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
    cast(metric_name as {{ dbt.type_string() }}) as metric_name,
    cast(period as {{ dbt.type_string() }}) as period,
    cast(lower_threshold as {{ cuped__type_double() }}) as lower_threshold,
    cast(upper_threshold as {{ cuped__type_double() }}) as upper_threshold,
    cast(lower_rule as {{ dbt.type_string() }}) as lower_rule,
    cast(upper_rule as {{ dbt.type_string() }}) as upper_rule,
    cast(n_units_below as {{ dbt.type_bigint() }}) as n_units_below,
    cast(n_units_above as {{ dbt.type_bigint() }}) as n_units_above,
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as computed_at
from {{ ref('cuped__metric_caps') }}
