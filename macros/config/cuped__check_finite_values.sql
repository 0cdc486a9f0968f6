{#-
  The largest magnitude a per-unit value, covariate or weight may have: the moments square and
  multiply values, so anything beyond it (or NaN, ±infinity) would overflow or poison every
  statistic of the experiment. Real metrics are many orders of magnitude below it.
-#}
{% macro cuped__value_limit() %}{{ return('1e100') }}{% endmacro %}

{#- SQL: `expression` is a finite number no larger in magnitude than cuped__value_limit(). x − x is 0 for finite x and NaN for NaN and ±infinity, in DuckDB, Postgres and Spark alike. -#}
{% macro cuped__is_finite(expression) %}
  {{- return('(' ~ expression ~ ' - ' ~ expression ~ ' = 0 and abs(' ~ expression ~ ') <= ' ~ cuped.cuped__value_limit() ~ ')') -}}
{% endmacro %}

{#-
  Post-hook of cuped__unit_values: every per-unit metric value (post and pre period) and every
  unit attribute used as a covariate is finite and within cuped__value_limit(). Otherwise the
  model fails, before anything downstream (every public table) is rebuilt, with a message naming
  the metric and its `value` (or the attribute column), the experiment, a unit and the value.
  Such a value is a data error to fix at its source: excluding the unit would change the answer
  silently (the unit was randomized), and analysing it returns NaN or infinity. In an incremental
  build it also checks that every unit's stored values were current (`has_settled_values`); and
  that the model holds one row per analysed unit (none twice: a `unit_attributes` relation with a
  unit twice is named).
-#}
{% macro cuped__check_finite_values() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set config = cuped.cuped__config() -%}
  {%- set checks = [] -%}
  {%- for metric in config['metrics'] if metric['type'] != 'ratio' -%}
    {%- set i = config['metric_indices'][metric['name']] -%}
    {%- set source = "metric '" ~ metric['name'] ~ "': `" ~ ('value' if metric['value'] is not none else 'agg') ~ "` over " ~ metric['source'] -%}
    {%- do checks.append(['metric_' ~ i ~ '_post', source ~ " (post period)"]) -%}
    {%- do checks.append(['metric_' ~ i ~ '_pre', source ~ " (pre period)"]) -%}
  {%- endfor -%}
  {%- if config['unit_attributes'] -%}
    {%- set text = cuped.cuped__text_columns(this) -%}
    {%- for column in config['unit_attributes']['columns'] if column in config['covariate_attributes']
          and ('attribute_' ~ config['unit_attributes']['columns'].index(column)) not in text -%}
      {%- do checks.append(['attribute_' ~ config['unit_attributes']['columns'].index(column), "`unit_attributes` column '" ~ column ~ "' of " ~ config['unit_attributes']['relation']]) -%}
    {%- endfor -%}
  {%- endif -%}
  {#- one pass of min and max per column (NaN is the largest value on DuckDB, PostgreSQL and Spark,
      so a NaN fails the upper bound); the rows are counted only for a column that fails -#}
  {%- set limit = cuped.cuped__value_limit() -%}
  {%- set flags = [] -%}
  {%- for check in checks -%}
    {%- do flags.append('case when not (min(' ~ check[0] ~ ') >= -' ~ limit ~ ' and max(' ~ check[0] ~ ') <= ' ~ limit ~ ') then 1 else 0 end as bad_' ~ loop.index0) -%}
  {%- endfor -%}
  {%- if config['incremental'] -%}
    {%- do flags.append('sum(1 - has_settled_values) as n_not_settled') -%}
  {%- endif -%}
  {#- one row per analysed unit: every analysed unit has a row (the units drive every join), so
      more rows than units is a unit twice. The unit attributes holding a unit twice stops the run
      naming the relation and the unit; anything else (stored rows of an incremental build) too.
      A count, where a unique test grouped every row (1.1 s per incremental run at 10M units) -#}
  {%- do flags.append('count(*) - (select count(*) from ' ~ ref('cuped__units') ~ ' where exclusion_reason is null) as n_extra_rows') -%}
  {%- set found = run_query('select ' ~ (flags | join(', ')) ~ ' from ' ~ this) -%}
  {%- set n_extra = found.rows[0][flags | length - 1] or 0 -%}
  {%- if n_extra > 0 -%}
    {%- set twice = 'select experiment_id, unit_id, count(*) as n_rows from ' ~ this ~ ' group by experiment_id, unit_id having count(*) > 1' -%}
    {%- set attributes = config['unit_attributes'] -%}
    {%- if attributes -%}
      {#- the attributes are blamed only when they hold one of the units found twice twice -#}
      {%- do cuped.cuped__check_unique_rows(cuped.cuped__relation(attributes['relation']), [attributes['unit_column']], "the `unit_attributes` relation " ~ attributes['relation'], 'select unit_id from (' ~ twice ~ ') as twice') -%}
    {%- endif -%}
    {%- set example = run_query(twice ~ ' order by 1, 2 limit 1').rows -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ this ~ " has " ~ n_extra ~ " more rows than there are analysed units" ~ ((", e.g. experiment '" ~ example[0][0] ~ "', unit " ~ example[0][1] ~ " x" ~ example[0][2]) if example | length > 0 else "") ~ "; it must hold one row per experiment and unit. In an incremental build, run `dbt build --full-refresh --select cuped__unit_daily_values+`.") }}
  {%- endif -%}
  {%- if config['incremental'] and (found.rows[0][checks | length] or 0) > 0 -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ found.rows[0][checks | length] ~ " analysed units have no stored values for the current assignments and metric definitions in " ~ ref('cuped__unit_settled') ~ " (incremental build). Run it first: `dbt build --select cuped__unit_daily_values+`.") }}
  {%- endif -%}
  {%- for check in checks -%}
    {%- if (found.rows[0][loop.index0] or 0) > 0 -%}
    {%- set n_bad = run_query('select count(*) from ' ~ this ~ ' where not ' ~ cuped.cuped__is_finite(check[0])).rows[0][0] -%}
    {%- set example = run_query('select experiment_id, unit_id, cast(' ~ check[0] ~ ' as ' ~ dbt.type_string() ~ ') from ' ~ this ~ ' where not ' ~ cuped.cuped__is_finite(check[0]) ~ ' order by experiment_id, unit_id limit 1').rows[0] -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ check[1] ~ " is not a finite number within ±" ~ limit ~ " for " ~ n_bad ~ " unit(s), e.g. experiment '" ~ example[0] ~ "', unit " ~ example[1] ~ ": " ~ example[2] ~ ". Fix or filter those rows at the source; a unit cannot be left out without biasing the comparison.") }}
    {%- endif -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
