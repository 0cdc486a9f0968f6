{#- One row per experiment × metric: what the statistics core needs besides the moments. -#}
{%- set config = cuped__config() -%}

with experiments as (

    select experiment_id, control_variant
    from {{ ref('cuped__experiments') }}

),

metrics as (
    {% for metric in config['metrics'] %}
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
    metrics.higher_is_better
from experiments
cross join metrics
