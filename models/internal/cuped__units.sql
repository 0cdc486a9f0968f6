{#-
  One row per experiment × unit, every unit with at least one valid assignment row. A unit assigned
  to more than one variant is kept here with `exclusion_reason = 'multiple_variants'` and left out of
  the analysis; repeated rows for the same variant are one unit, exposed at its first assignment.
-#}
with valid_rows as (

    select experiment_id, unit_id, variant, assigned_at
    from {{ ref('cuped__assignment_rows') }}
    where invalid_reason is null

),

units as (

    select
        experiment_id,
        unit_id,
        min(variant) as first_variant,
        max(variant) as last_variant,
        min(assigned_at) as assigned_at,
        count(*) as n_assignment_rows
    from valid_rows
    group by experiment_id, unit_id

),

experiments as (

    select experiment_id, analysis_end_at
    from {{ ref('cuped__experiments') }}

)

select
    units.experiment_id,
    units.unit_id,
    case when units.first_variant = units.last_variant then units.first_variant end as variant,
    units.assigned_at,
    experiments.analysis_end_at,
    units.n_assignment_rows,
    case
        when units.first_variant <> units.last_variant then 'multiple_variants'
        when experiments.analysis_end_at is not null and units.assigned_at > experiments.analysis_end_at
            then 'assigned_after_analysis_end'
    end as exclusion_reason
from units
inner join experiments
    on experiments.experiment_id = units.experiment_id
