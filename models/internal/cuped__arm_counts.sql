{#-
  One row per experiment × segment × variant: analysed units and the expected traffic weight, for
  the sample-ratio-mismatch test. A variant listed in `variant_weights`, or seen only on excluded
  units, appears with n_units = 0: an arm that lost its traffic is a mismatch, not a missing row.
-#}
{%- set config = cuped__config() -%}

with observed as (

    select experiment_id, segment_name, segment_value, variant, n_units
    from {{ ref('cuped__arm_moments') }}

),

{% if config['variant_weights'] -%}
weights as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(weight as {{ cuped__type_double() }}) as weight
    from {{ cuped__relation(config['variant_weights']) }}

),
{%- else -%}
weights as (

    select
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_string() }}) as variant,
        cast(null as {{ cuped__type_double() }}) as weight
    where 1 = 0

),
{%- endif %}

assigned_variants as (

    select distinct experiment_id, variant
    from {{ ref('cuped__assignment_rows') }}
    where invalid_reason is null

),

segments as (

    select distinct experiment_id, segment_name, segment_value
    from observed

),

expected as (

    select segments.experiment_id, segments.segment_name, segments.segment_value, weights.variant, weights.weight
    from segments
    inner join weights
        on weights.experiment_id = segments.experiment_id

),

arms as (

    select experiment_id, segment_name, segment_value, variant from observed
    union
    select experiment_id, segment_name, segment_value, variant from expected
    union
    select experiment_id, 'all' as segment_name, 'all' as segment_value, variant from assigned_variants

)

select
    arms.experiment_id,
    arms.segment_name,
    arms.segment_value,
    arms.variant,
    coalesce(observed.n_units, 0) as n_units,
    expected.weight as expected_weight
from arms
left join observed
    on observed.experiment_id = arms.experiment_id
    and observed.segment_name = arms.segment_name
    and observed.segment_value = arms.segment_value
    and observed.variant = arms.variant
left join expected
    on expected.experiment_id = arms.experiment_id
    and expected.segment_name = arms.segment_name
    and expected.segment_value = arms.segment_value
    and expected.variant = arms.variant
