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

{#- the units each threshold moves, with the thresholds carried beside them (one value per
    experiment): the caps rows below read this relation once. Read by a union of one branch per
    metric and period, `thresholds` and `moved` were computed again in every branch on Spark, which
    inlines a CTE at each use (the percentiles four times for one capped metric: 3.5 s of a
    build at 1M units) -#}
moved as (

    select
        unit_values.experiment_id,
        {%- for i in capped %}
        {%- set outer_last = loop.last %}
        {%- for period in ['post', 'pre'] %}
        {%- set column = 'metric_' ~ i ~ '_' ~ period %}
        {%- set value = cuped__analysed_value(config, i, 'unit_values.' ~ column, 'unit_values.') %}
        max(thresholds.{{ column }}_lower) as {{ column }}_lower,
        max(thresholds.{{ column }}_upper) as {{ column }}_upper,
        sum(case when {{ value }} < thresholds.{{ column }}_lower then 1 else 0 end) as {{ column }}_below,
        sum(case when {{ value }} > thresholds.{{ column }}_upper then 1 else 0 end) as {{ column }}_above{{ ',' if not (outer_last and loop.last) }}
        {%- endfor %}
        {%- endfor %}
    from {{ unit_values }}
    inner join thresholds
        on thresholds.experiment_id = unit_values.experiment_id
    group by unit_values.experiment_id

),

{#- one row per capped metric and period: its number, name, period and rules -#}
{%- set rule_rows = [] %}
{%- for i in capped %}
  {%- set cap = config['metrics'][i]['cap'] %}
  {%- set rules = [] %}
  {%- for side in ['lower', 'upper'] %}
    {%- if cap[side] is not none %}
      {%- do rules.append("'absolute'") %}
    {%- elif cap[side ~ '_quantile'] is not none %}
      {%- do rules.append(cuped__literal('quantile ' ~ cap[side ~ '_quantile'])) %}
    {%- else %}
      {%- do rules.append('cast(null as ' ~ dbt.type_string() ~ ')') %}
    {%- endif %}
  {%- endfor %}
  {%- for period in ['post', 'pre'] %}
    {%- do rule_rows.append([i, cuped__literal(config['metrics'][i]['name']), "'" ~ period ~ "'"] + rules) %}
  {%- endfor %}
{%- endfor %}
rules as (
    {{ cuped__values(rule_rows, ['metric_index', 'metric_name', 'period', 'lower_rule', 'upper_rule']) }}
),

caps as (

    select
        moved.experiment_id,
        rules.metric_index,
        rules.metric_name,
        rules.period,
        {%- for measure, side in [['lower_threshold', 'lower'], ['upper_threshold', 'upper'], ['n_units_below', 'below'], ['n_units_above', 'above']] %}
        cast(case
            {%- for i in capped %}{% for period in ['post', 'pre'] %}
            when rules.metric_index = {{ i }} and rules.period = '{{ period }}' then moved.metric_{{ i }}_{{ period }}_{{ side }}
            {%- endfor %}{% endfor %}
        end as {{ double if measure.endswith('threshold') else dbt.type_bigint() }}) as {{ measure }},
        {%- endfor %}
        rules.lower_rule,
        rules.upper_rule
    from moved
    cross join rules

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
