{#- One row per experiment × metric: what the statistics core needs besides the moments. -#}
{%- set config = cuped__config() -%}

with experiments as (

    select experiment_id, control_variant
    from {{ ref('cuped__experiments') }}

),

arrivals as (

    select
        experiment_id,
        {{ dbt.datediff('min(assigned_at)', 'max(assigned_at)', 'day') }} + 1 as assignment_days
    from {{ ref('cuped__units') }}
    where exclusion_reason is null
    group by experiment_id

),

metrics as (
    {% for metric in config['metrics'] if metric['part_of'] is none %}
    select
        {{ cuped__literal(metric['name']) }} as metric_name,
        {{ cuped__literal(metric['label']) }} as metric_label,
        {{ cuped__literal(metric['type']) }} as metric_type,
        {{ 'true' if metric['higher_is_better'] else 'false' }} as higher_is_better
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select
    experiments.experiment_id,
    metrics.metric_name,
    metrics.metric_label,
    metrics.metric_type,
    experiments.control_variant,
    cast({{ config['alpha'] }} as {{ cuped__type_double() }}) as alpha,
    {{ cuped__literal(config['theta']) }} as theta_method,
    {{ cuped__literal(config['relative_ci']) }} as relative_ci_method,
    metrics.higher_is_better,
    {{ config['planned_units'] }} as planned_units,
    cast({{ config['power'] }} as {{ cuped__type_double() }}) as power,
    cast({{ config['target_relative_mde'] }} as {{ cuped__type_double() }}) as target_relative_mde,
    arrivals.assignment_days
from experiments
cross join metrics
left join arrivals
    on arrivals.experiment_id = experiments.experiment_id
