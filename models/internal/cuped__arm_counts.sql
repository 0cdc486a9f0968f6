{#-
  One row per experiment × segment × variant: analysed units and the expected traffic weight, for
  the sample-ratio-mismatch test. Every variant of the experiment appears in every segment, with
  n_units = 0 where it has none (listed in `variant_weights`, seen only on excluded units, or
  absent from a segment): an arm that lost its traffic is a mismatch, not a missing row. A
  variant with units but no weight in an experiment that has weights gets weight 0 (unplanned
  traffic, flagged).
-#}
{{ config(post_hook="{{ cuped.cuped__warn_unknown_configured_experiments('variant_weights') }}") }}
{%- set config = cuped__config() -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__arm_moments', 'cuped__assignment_rows', 'cuped__experiments'], [config['variant_weights']]) }}
{%- else %}

with observed as (

    select experiment_id, segment_name, segment_value, variant, n_units
    from {{ ref('cuped__arm_moments') }}

),

{% if config['variant_weights'] -%}
{%- set weights_relation = cuped__relation(config['variant_weights']) -%}
{%- set where = "the `variant_weights` relation " ~ config['variant_weights'] -%}
{#- columns and one row per experiment and variant: checked first, by cuped__check_inputs -#}
weights as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(variant as {{ dbt.type_string() }}) as variant,
        cast(weight as {{ cuped__type_double() }}) as weight
    from {{ weights_relation }}

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

{#- every experiment has its overall segment, also when every unit was excluded: its health rows
    carry the exclusion counts, so an experiment never vanishes -#}
experiments as (

    select experiment_id, control_variant
    from {{ ref('cuped__experiments') }}

),

segments as (

    select experiment_id, segment_name, segment_value
    from observed
    union
    select experiment_id, 'all', 'all'
    from experiments

),

expected as (

    select segments.experiment_id, segments.segment_name, segments.segment_value, weights.variant, weights.weight
    from segments
    inner join weights
        on weights.experiment_id = segments.experiment_id

),

{#- every variant of the experiment in every segment: an arm with no unit in a segment is an
    arm the segment lost, which the SRM test must see -#}
arms as (

    select experiment_id, segment_name, segment_value, variant from observed
    union
    select experiment_id, segment_name, segment_value, variant from expected
    union
    select segments.experiment_id, segments.segment_name, segments.segment_value, assigned_variants.variant
    from segments
    inner join assigned_variants
        on assigned_variants.experiment_id = segments.experiment_id
    union
    {#- an experiment without any usable row (e.g. every variant null) still has its control row #}
    select experiments.experiment_id, 'all', 'all', experiments.control_variant
    from experiments
    where not exists (select 1 from assigned_variants where assigned_variants.experiment_id = experiments.experiment_id)
        and not exists (select 1 from weights where weights.experiment_id = experiments.experiment_id)

),

weighted_experiments as (

    select distinct experiment_id from weights

)

select
    arms.experiment_id,
    arms.segment_name,
    arms.segment_value,
    arms.variant,
    coalesce(observed.n_units, 0) as n_units,
    {#- a variant missing from the weights of an experiment that has weights was not planned: 0 #}
    case
        when weighted_experiments.experiment_id is not null then coalesce(expected.weight, 0)
    end as expected_weight
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
left join weighted_experiments
    on weighted_experiments.experiment_id = arms.experiment_id
{%- endif %}
