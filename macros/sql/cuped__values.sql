{#-
  A literal table: `rows` (lists of SQL literals, one per column) under the column names
  `columns`. With no rows, the columns typed as text and no row.
-#}
{% macro cuped__values(rows, columns) %}
  {{- return(adapter.dispatch('cuped__values', 'cuped')(rows, columns)) -}}
{% endmacro %}

{% macro default__cuped__values(rows, columns) -%}
  {%- if rows | length == 0 %}
    select {% for column in columns %}cast(null as {{ dbt.type_string() }}) as {{ column }}{{ ', ' if not loop.last }}{% endfor %}
    where 1 = 0
  {%- else %}
    select * from (
        values
        {%- for row in rows %}
        ({{ row | join(', ') }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as literal_rows ({{ columns | join(', ') }})
  {%- endif %}
{%- endmacro %}
