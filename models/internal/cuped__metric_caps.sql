{#-
  One row per experiment × capped metric × period ('post', 'pre'): the winsorization thresholds
  applied to the per-unit values, and how many analysed units each one moved. Quantile
  thresholds are pooled over all arms of the experiment and computed separately for the post
  value and its pre-period covariate; absolute thresholds are the configured numbers. A metric
  with `missing: exclude` is capped over the units it is analysed on (those with a value).
-#}
{%- set config = cuped__config() -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__unit_values'], []) }}
{%- else %}
{%- set capped = config['capped'] -%}
{%- set double = cuped__type_double() -%}

{#- the per-unit values are read where they are used, never through a CTE: read twice (the
    thresholds, then the units they move), a CTE is materialized, a copy of the per-unit table -#}
{%- set unit_values = ref('cuped__unit_values') ~ ' as unit_values' %}
with
{% if capped | length == 0 %}
caps as (

    select
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_int() }}) as metric_index,
        cast(null as {{ dbt.type_string() }}) as metric_name,
        cast(null as {{ dbt.type_string() }}) as period,
        cast(null as {{ double }}) as lower_threshold,
        cast(null as {{ double }}) as upper_threshold,
        cast(null as {{ dbt.type_string() }}) as lower_rule,
        cast(null as {{ dbt.type_string() }}) as upper_rule,
        cast(null as {{ dbt.type_bigint() }}) as n_units_below,
        cast(null as {{ dbt.type_bigint() }}) as n_units_above
    from {{ unit_values }}
    where 1 = 0

)
{% else %}
thresholds as (

    select
        experiment_id,
        {%- for i in capped %}
        {%- set cap = config['metrics'][i]['cap'] %}
        {%- set outer_last = loop.last %}
        {%- for period in ['post', 'pre'] %}
        {%- set column = 'metric_' ~ i ~ '_' ~ period %}
        {%- for side in ['lower', 'upper'] %}
        {%- if cap[side] is not none %}
        cast({{ cap[side] }} as {{ double }})
        {%- elif cap[side ~ '_quantile'] is not none %}
        cast({{ cuped__percentile(cuped__analysed_value(config, i, column), cap[side ~ '_quantile']) }} as {{ double }})
        {%- else %}
        cast(null as {{ double }})
        {%- endif %} as {{ column }}_{{ side }}{{ ',' if not (outer_last and loop.last and period == 'pre') }}
        {%- endfor %}
        {%- endfor %}
        {%- endfor %}
    from {{ unit_values }}
    group by experiment_id

),

moved as (

    select
        unit_values.experiment_id,
        {%- for i in capped %}
        {%- set outer_last = loop.last %}
        {%- for period in ['post', 'pre'] %}
        {%- set column = 'metric_' ~ i ~ '_' ~ period %}
        {%- set value = cuped__analysed_value(config, i, 'unit_values.' ~ column, 'unit_values.') %}
        sum(case when {{ value }} < thresholds.{{ column }}_lower then 1 else 0 end) as {{ column }}_below,
        sum(case when {{ value }} > thresholds.{{ column }}_upper then 1 else 0 end) as {{ column }}_above{{ ',' if not (outer_last and loop.last) }}
        {%- endfor %}
        {%- endfor %}
    from {{ unit_values }}
    inner join thresholds
        on thresholds.experiment_id = unit_values.experiment_id
    group by unit_values.experiment_id

),

caps as (
    {%- for i in capped %}
    {%- set cap = config['metrics'][i]['cap'] %}
    {%- set outer_last = loop.last %}
    {%- for period in ['post', 'pre'] %}
    {%- set column = 'metric_' ~ i ~ '_' ~ period %}

    select
        thresholds.experiment_id,
        {{ i }} as metric_index,
        {{ cuped__literal(config['metrics'][i]['name']) }} as metric_name,
        '{{ period }}' as period,
        thresholds.{{ column }}_lower as lower_threshold,
        thresholds.{{ column }}_upper as upper_threshold,
        {%- for side in ['lower', 'upper'] %}
        {% if cap[side] is not none -%}
        'absolute'
        {%- elif cap[side ~ '_quantile'] is not none -%}
        'quantile {{ cap[side ~ "_quantile"] }}'
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as {{ side }}_rule,
        {%- endfor %}
        cast(moved.{{ column }}_below as {{ dbt.type_bigint() }}) as n_units_below,
        cast(moved.{{ column }}_above as {{ dbt.type_bigint() }}) as n_units_above
    from thresholds
    inner join moved
        on moved.experiment_id = thresholds.experiment_id
    {% if not (outer_last and loop.last) %}union all{% endif %}
    {%- endfor %}
    {%- endfor %}

)
{% endif %}
select
    experiment_id,
    metric_index,
    metric_name,
    period,
    lower_threshold,
    upper_threshold,
    lower_rule,
    upper_rule,
    n_units_below,
    n_units_above
from caps
{%- endif %}
