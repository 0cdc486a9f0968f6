{#-
  The long form the statistics core reads, from `wide`, a relation of per-arm moments (columns
  `keys`, n_units, `mean__<key>`, `cov__<key_a>__<key_b>`): for every row of `wide`, one row per
  metric × pair of the metric's variables (diagonal included), with the unit count, both means
  and the covariance.

  Its size does not grow with the number of metrics times the number of rows: the moment
  columns are unpivoted once (cuped__unpivot, one row per arm and column) and joined to the list
  of every metric's variable pairs (cuped__values, a literal table), three lookups per pair.
-#}
{% macro cuped__long_moments(config, wide, keys) %}
  {%- set double = cuped__type_double() -%}
  {%- set columns = [] -%}
  {%- for variable in config['moments']['means'] -%}{%- do columns.append('mean__' ~ variable['key']) -%}{%- endfor -%}
  {%- for pair in config['moments']['pairs'] -%}{%- do columns.append(cuped__covariance_column(pair[0], pair[1])) -%}{%- endfor -%}
  {%- set pairs = [] -%}
  {%- for metric in config['metrics'] if metric['part_of'] is none -%}
    {%- set variables = metric['variables'] -%}
    {%- for a in variables -%}
      {%- set i = loop.index0 -%}
      {%- for b in variables[i:] -%}
        {%- do pairs.append([cuped__literal(metric['name']), cuped__literal(a['name']), cuped__literal(b['name']),
                             i, i + loop.index0, "'mean__" ~ a['key'] ~ "'", "'mean__" ~ b['key'] ~ "'",
                             "'" ~ cuped__covariance_column(a, b) ~ "'"]) -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endfor -%}
with wide as (

    select * from {{ wide }}

),

cells as (

{{ cuped__unpivot('wide', keys, columns, 'column_name', 'cell_value') }}

),

pairs as (

{{ cuped__values(pairs, ['metric_name', 'variable_1', 'variable_2', 'index_1', 'index_2', 'mean_column_1', 'mean_column_2', 'covariance_column']) }}

)

select
    {%- for key in keys %}
    wide.{{ key }},
    {%- endfor %}
    pairs.metric_name,
    pairs.variable_1,
    pairs.variable_2,
    pairs.index_1,
    pairs.index_2,
    wide.n_units as n,
    mean_1.cell_value as mean_1,
    mean_2.cell_value as mean_2,
    covariance.cell_value as covariance
from wide
cross join pairs
{%- for lookup, column in [['mean_1', 'mean_column_1'], ['mean_2', 'mean_column_2'], ['covariance', 'covariance_column']] %}
inner join cells as {{ lookup }}
    on {% for key in keys %}{{ lookup }}.{{ key }} = wide.{{ key }}
    and {% endfor %}{{ lookup }}.column_name = pairs.{{ column }}
{%- endfor %}
{%- endmacro %}
