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

{#-
  At run time, check that columns used as covariates hold numbers (a covariate is cast to a
  float), so a text column stops the build with the key to fix instead of a cast error.
  `checks` is a list of [column, where] pairs.
-#}
{% macro cuped__check_numeric_columns(relation, checks) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set types = {} -%}
  {%- for column in adapter.get_columns_in_relation(relation) -%}
    {%- do types.update({column.name | lower: column.data_type | lower}) -%}
  {%- endfor -%}
  {%- for check in checks -%}
    {%- set data_type = types.get(check[0] | lower, '') -%}
    {%- if modules.re.search('char|text|string|uuid|blob|binary|json|date|time|interval|struct|list|map|\\[', data_type) -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ check[1] ~ ": column '" ~ check[0] ~ "' of " ~ relation ~ " is " ~ data_type ~ "; a covariate must be numeric, or text (categorical: one indicator per level); cast it to one of those in a model over the relation, or use it in `segments`.") }}
    {%- endif -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
