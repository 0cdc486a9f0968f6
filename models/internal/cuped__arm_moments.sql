{#-
  One row per experiment × segment × variant: the unit count, and the mean and sample covariance
  of every per-unit variable any metric's analysis needs (avg, var_samp, covar_samp: numerically
  stable, and in every major warehouse). Capped metrics are winsorized here, at their
  experiment's thresholds (cuped__metric_caps). The overall row has segment_name =
  segment_value = 'all'; each configured segment adds one row per value (grouping sets: one pass),
  for the experiments it applies to (an experiment's `segments` in `experiment_settings`, else
  the global `segments`). A metric with `missing: exclude` has its own unit count,
  `n_units__x<i>`, and its variables' moments are over those units (cuped__metric_variables).
-#}
{#- Spark: generated code for its many aggregates (macros/sql/cuped__codegen_hook.sql) -#}
{{ config(pre_hook="{{ cuped.cuped__codegen_hook('pre') }}", post_hook="{{ cuped.cuped__codegen_hook('post') }}") }}
{%- set config = cuped__config(levels=true) -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(cuped.cuped__caps_dependency(config), []) }}
{%- else %}
{%- set moments = config['moments'] -%}

with capped_unit_values as (

{{ cuped__capped_unit_values(config) }}

),
arm_moments as (

    select
        experiment_id,
        {%- if config['segments'] | length == 0 %}
        'all' as segment_name,
        'all' as segment_value,
        {%- else %}
        case
            {%- for segment in config['segments'] %}
            when grouping(segment_{{ loop.index0 }}) = 0 then {{ cuped__literal(segment) }}
            {%- endfor %}
            else 'all'
        end as segment_name,
        case
            {%- for segment in config['segments'] %}
            when grouping(segment_{{ loop.index0 }}) = 0 then segment_{{ loop.index0 }}
            {%- endfor %}
            else 'all'
        end as segment_value,
        {%- endif %}
        variant,
        count(*) as n_units,
        sum(had_pre_period) as n_units_with_pre_period,
        sum(missing_attributes) as n_units_missing_attributes,
        {%- for i in config['excluding'] %}
        cast(sum(metric_{{ i }}_observed) as {{ dbt.type_bigint() }}) as n_units__x{{ i }},
        {%- endfor %}
        {%- for variable in moments['means'] %}
        avg({{ variable['sql'] }}) as mean__{{ variable['key'] }},
        {%- endfor %}
        {%- for pair in moments['pairs'] %}
        {% if pair[0]['key'] == pair[1]['key'] -%}
        var_samp({{ pair[0]['sql'] }})
        {%- else -%}
        covar_samp({{ pair[0]['sql'] }}, {{ pair[1]['sql'] }})
        {%- endif %} as {{ cuped__covariance_column(pair[0], pair[1]) }}{{ ',' if not loop.last }}
        {%- endfor %}
    from capped_unit_values
    {%- if config['segments'] | length == 0 %}
    group by experiment_id, variant
    {%- else %}
    group by grouping sets (
        (experiment_id, variant)
        {%- for segment in config['segments'] %},
        (experiment_id, variant, segment_{{ loop.index0 }})
        {%- endfor %}
    )
    {%- endif %}

)

select * from arm_moments
{%- set segment_filter = cuped__segment_filter(config) %}
{%- if segment_filter %}
where segment_name = 'all' or {{ segment_filter }}
{%- endif %}
{%- endif %}
