{#-
  For the package's decision tests and cuped.metric_values: when the test runs (`dbt test`, `dbt
  build`), log each failing row (up to 20) as one `cuped:` line that names what failed with the
  row's own words (dbt itself prints only how many rows failed): the experiment and variant of a
  decision, the unit and its expected and actual values of a pinned metric. `sql` is the test's
  select; `columns` the [column, label] pairs to print, those the row has (the test may be on a
  model of the user's with fewer columns); text is quoted, except under an empty label. One more
  query of the test's select, over a small table (one row per experiment × variant × segment)
  or the test's own rows.
-#}
{% macro cuped__log_failing_rows(test_name, model, sql, columns) %}
  {%- if not execute or invocation_args_dict.get('which') not in ['test', 'build', 'retry'] -%}{{ return('') }}{%- endif -%}
  {%- set table = run_query('select * from (' ~ sql ~ ') as failing_rows limit 20') -%}
  {%- set names = table.column_names | map('lower') | list -%}
  {%- for row in table.rows -%}
    {%- set parts = [] -%}
    {%- for column in columns if column[0] in names -%}
      {%- set value = row[names.index(column[0])] -%}
      {%- if value is not none -%}{%- do parts.append(column[1] ~ (("'" ~ value ~ "'") if value is string and column[1] else value)) -%}{%- endif -%}
    {%- endfor -%}
    {%- do log("cuped: " ~ test_name ~ " (on " ~ model ~ ") does not hold: " ~ (parts | join(', ')), info=true) -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
