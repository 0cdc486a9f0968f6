{#- A SQL string literal for any text (metric names, variants): single quotes doubled. -#}
{% macro cuped__literal(value) %}
  {%- if value is none -%}{{ return('null') }}{%- endif -%}
  {{- return("'" ~ (value | string).replace("'", "''") ~ "'") -}}
{% endmacro %}
