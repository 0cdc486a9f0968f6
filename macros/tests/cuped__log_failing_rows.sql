{#-
  For the package's decision tests: at run time, log each failing row (up to 20) as one `cuped:`
  line that names its experiment and variant with the row's own words (dbt itself prints only how
  many rows failed). `sql` is the test's select; `columns` the [column, label] pairs to print
  (text is quoted, except under an empty label).
  One more query of the tested table, which is small (one row per experiment × variant × segment).
-#}
{% macro cuped__log_failing_rows(test_name, model, sql, columns) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set rows = run_query('select ' ~ (columns | map('first') | join(', ')) ~ ' from (' ~ sql ~ ') as failing_rows limit 20').rows -%}
  {%- for row in rows -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
      {%- set value = row[loop.index0] -%}
      {%- if value is not none -%}{%- do parts.append(column[1] ~ (("'" ~ value ~ "'") if value is string and column[1] else value)) -%}{%- endif -%}
    {%- endfor -%}
    {%- do log("cuped: " ~ test_name ~ " (on " ~ model ~ ") does not hold: " ~ (parts | join(', ')), info=true) -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
