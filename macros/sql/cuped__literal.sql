{#-
  A SQL string literal for any text (metric names, variants): single quotes doubled. A backslash
  is spliced in as chr(92): SQL strings do not escape with it, but the parser dbt uses to inject
  ephemeral models does (`'it\''s'` would end its string early and truncate the compiled SQL).
-#}
{% macro cuped__literal(value) %}
  {%- if value is none -%}{{ return('null') }}{%- endif -%}
  {%- set parts = [] -%}
  {%- for part in (value | string).split('\\') -%}
    {%- do parts.append("'" ~ part.replace("'", "''") ~ "'") -%}
  {%- endfor -%}
  {%- if parts | length == 1 -%}{{ return(parts[0]) }}{%- endif -%}
  {{- return('(' ~ (parts | join(' || chr(92) || ')) ~ ')') -}}
{% endmacro %}
