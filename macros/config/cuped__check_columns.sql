{#-
  At run time, check that a relation has the columns the configuration names, so a typo stops the
  build with the metric and key instead of a warehouse binder error. `checks` is a list of
  [column, where] pairs; matching ignores case, as unquoted identifiers do.
-#}
{% macro cuped__check_columns(relation, checks) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
  {%- set lowered = names | map('lower') | list -%}
  {%- for check in checks -%}
    {%- if check[0] not in names and check[0] | lower not in lowered -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ check[1] ~ ": column '" ~ check[0] ~ "' does not exist in " ~ relation ~ " (its columns: " ~ (names | join(', ')) ~ ").") }}
    {%- endif -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
