{#- A SQL block comment holding `text` on one line (any text: `*/` and line breaks cannot end it early). -#}
{% macro cuped__sql_comment(text) %}
  {{- return('/* ' ~ (text | string).replace('*/', '* /').replace('\n', ' ').replace('\r', ' ') ~ ' */') -}}
{% endmacro %}
