{#-
  At run time, check that `columns` identify a row of `relation` (e.g. one weight per experiment
  and variant, one attributes row per unit); otherwise stop with a message naming the relation
  and a few offending keys, instead of silently multiplying rows in a join. `among`: a SQL
  subquery of one column; only rows whose first key is among its values are checked.
-#}
{% macro cuped__check_unique_rows(relation, columns, where, among=none) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set keys = [] -%}
  {%- for column in columns -%}{%- do keys.append(cuped.cuped__column(column)) -%}{%- endfor -%}
  {%- set query -%}
    select {{ keys | join(', ') }}, count(*) as n_rows
    from {{ relation }}
    {%- if among is not none %}
    where {{ keys[0] }} in ({{ among }})
    {%- endif %}
    group by {{ keys | join(', ') }}
    having count(*) > 1
    limit 5
  {%- endset -%}
  {%- set duplicates = run_query(query) -%}
  {%- if duplicates.rows | length > 0 -%}
    {%- set examples = [] -%}
    {%- for row in duplicates.rows -%}
      {%- do examples.append('(' ~ (row.values()[:columns | length] | join(', ')) ~ ') x' ~ row.values()[-1]) -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " has more than one row for the same " ~ (columns | join(', ')) ~ ", e.g. " ~ (examples | join('; ')) ~ ". Keep one row per " ~ (columns | join(', ')) ~ ".") }}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}
