{#-
  The long form the statistics core reads, from `wide`, a relation of per-arm moments (columns
  `keys`, n_units, `mean__<key>`, `cov__<key_a>__<key_b>`): for every row of `wide`, one row per
  metric × pair of the metric's variables (diagonal included), with the unit count, both means
  and the covariance. `n` counts the units the metric is analysed on (`n_units`, or for a metric
  with `missing: exclude` its `n_units__x<i>`); `n_arm` every analysed unit of the arm.

  Its size does not grow with the number of metrics times the number of rows: the moment
  columns are unpivoted once (cuped__unpivot, one row per arm and column) and joined to the list
  of every metric's variable pairs (cuped__values, a literal table), three lookups per pair.

  Each lookup is an equi-join on one number, `arm_id × C + column_index` (C columns), computed
  from the arm and the pair: the three lookups share no join key, so no optimizer can join them
  with each other first. (Joined on the arm's keys plus the column name, DuckDB paired the
  lookups on the keys alone, a product of C³ rows per arm: 12 GB and minutes on the demo.)

  An experiment with a metric list in `experiment_settings` keeps only its metrics' rows.
-#}
{% macro cuped__long_moments(config, wide, keys) %}
  {%- set columns = [] -%}
  {%- for variable in config['moments']['means'] -%}{%- do columns.append('mean__' ~ variable['key']) -%}{%- endfor -%}
  {%- for pair in config['moments']['pairs'] -%}{%- do columns.append(cuped.cuped__covariance_column(pair[0], pair[1])) -%}{%- endfor -%}
  {%- set width = columns | length -%}
  {%- set pairs = [] -%}
  {%- for metric in config['metrics'] if metric['part_of'] is none -%}
    {%- set variables = metric['variables'] -%}
    {%- for a in variables -%}
      {%- set i = loop.index0 -%}
      {%- for b in variables[i:] -%}
        {%- do pairs.append([cuped.cuped__literal(metric['name']), cuped.cuped__literal(a['name']), cuped.cuped__literal(b['name']),
                             i, i + loop.index0, columns.index('mean__' ~ a['key']), columns.index('mean__' ~ b['key']),
                             columns.index(cuped.cuped__covariance_column(a, b)), cuped.cuped__literal(a['n'])]) -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- set column_rows = [] -%}
  {%- for column in columns -%}{%- do column_rows.append(["'" ~ column ~ "'", loop.index0]) -%}{%- endfor -%}
with wide as (

    select
        *,
        row_number() over (order by {{ keys | join(', ') }}) as arm_id
    from {{ wide }}

),

cells as (

{{ cuped.cuped__unpivot('wide', ['arm_id'], columns, 'column_name', 'cell_value') }}

),

column_indices as (

{{ cuped.cuped__values(column_rows, ['column_name', 'column_index']) }}

),

keyed_cells as (

    select
        cells.arm_id * {{ width }} + column_indices.column_index as cell_key,
        cells.cell_value
    from cells
    inner join column_indices
        on column_indices.column_name = cells.column_name

),

pairs as (

{{ cuped.cuped__values(pairs, ['metric_name', 'variable_1', 'variable_2', 'index_1', 'index_2', 'mean_index_1', 'mean_index_2', 'covariance_index', 'n_column']) }}

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
    {%- if config['excluding'] | length == 0 %}
    wide.n_units as n,
    {%- else %}
    case pairs.n_column
        {%- for i in config['excluding'] %}
        when 'n_units__x{{ i }}' then wide.n_units__x{{ i }}
        {%- endfor %}
        else wide.n_units
    end as n,
    {%- endif %}
    wide.n_units as n_arm,
    mean_1.cell_value as mean_1,
    mean_2.cell_value as mean_2,
    covariance.cell_value as covariance
from wide
cross join pairs
{%- for lookup, index in [['mean_1', 'mean_index_1'], ['mean_2', 'mean_index_2'], ['covariance', 'covariance_index']] %}
inner join keyed_cells as {{ lookup }}
    on {{ lookup }}.cell_key = wide.arm_id * {{ width }} + pairs.{{ index }}
{%- endfor %}
{%- set analysed = cuped.cuped__analysed_metrics_filter(config, 'wide.experiment_id', 'pairs.metric_name') %}
{%- if analysed %}
{#- only the metrics `experiment_settings` lists for an experiment (a literal predicate: a join
    to the analysis plan here was measured 100× slower in DuckDB) #}
where {{ analysed }}
{%- endif %}
{%- endmacro %}
