{#-
  The columns of a relation the package only reads (the user's assignments, event sources,
  attributes, experiments, weights), looked up once per dbt process: the models that read one
  run after it is built, and it does not change during the run (on Spark each lookup is a
  `describe` of its own). Never for the package's own models, which the run rebuilds.
-#}
{% macro cuped__user_columns(relation) %}
  {%- set key = '__cuped_columns__' ~ relation -%}
  {%- if graph.get(key) is none -%}
    {%- do graph.update({key: adapter.get_columns_in_relation(relation)}) -%}
  {%- endif -%}
  {{ return(graph.get(key)) }}
{% endmacro %}

{#-
  At run time, check that a relation has the columns the configuration names, so a typo stops the
  build with the metric and key instead of a warehouse binder error. `checks` is a list of
  [column, where] pairs; matching ignores case, as unquoted identifiers do.
-#}
{% macro cuped__check_columns(relation, checks) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set names = cuped.cuped__user_columns(relation) | map(attribute='name') | list -%}
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
  {%- for column in cuped.cuped__user_columns(relation) -%}
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

{#- The lower-cased data type of a column of a user relation ('' at parse time or when absent);
    an exact name first, else the name in any case, as unquoted identifiers match. -#}
{% macro cuped__column_type(relation, column) %}
  {%- set found = {'type': ''} -%}
  {%- if execute -%}
    {%- for candidate in cuped.cuped__user_columns(relation) -%}
      {%- if candidate.name == column or (candidate.name | lower == column | lower and not found['type']) -%}
        {%- do found.update({'type': candidate.data_type | lower}) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {{ return(found['type']) }}
{% endmacro %}

{#-
  At run time, check that a relation's unit ids can be joined to the assignments' (`where` names
  the key): both text or both numbers. Joined as they are, text and integer ids fail on DuckDB
  with a conversion error that names neither relation, fail on PostgreSQL, and on Spark cast
  the text to a number and silently lose the ids that are not numbers. `column` is a column name
  (a Semantic Layer entity's SQL expression is not checked). The assignments' type is read from
  `assignments` (the configured relation, for a model that reads it), else from the package's
  cuped__units, which the event scans join to (once per process: built before any scan).
-#}
{% macro cuped__check_unit_type(relation, column, where, assignments=none) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set config = cuped.cuped__config() -%}
  {%- set assignment_column = config['assignment_columns']['unit_id'] -%}
  {%- if assignments is not none -%}
    {%- set expected = cuped.cuped__column_type(assignments, assignment_column) -%}
  {%- else -%}
    {%- if graph.get('__cuped_units_unit_type__') is none -%}
      {%- set units = cuped.cuped__node_relation('model.cuped.cuped__units') -%}
      {%- set found = [''] -%}
      {%- for candidate in adapter.get_columns_in_relation(units) if candidate.name | lower == 'unit_id' -%}
        {%- do found.append(candidate.data_type | lower) -%}
      {%- endfor -%}
      {%- do graph.update({'__cuped_units_unit_type__': found[-1]}) -%}
    {%- endif -%}
    {%- set expected = graph.get('__cuped_units_unit_type__') -%}
  {%- endif -%}
  {%- set found = cuped.cuped__column_type(relation, column) -%}
  {%- set kinds = [cuped.cuped__unit_id_kind(expected), cuped.cuped__unit_id_kind(found)] -%}
  {%- if kinds[0] and kinds[1] and kinds[0] != kinds[1] -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": column '" ~ column ~ "' of " ~ relation ~ " is " ~ found ~ ", but the assignments' unit ids (`assignment_columns.unit_id`, column '" ~ assignment_column ~ "' of " ~ config['assignments'] ~ ") are " ~ expected ~ ". The package joins the two, so both must be text or both numbers: cast one of them in a model over its relation.") }}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}

{#- 'text', 'number' or 'uuid' for a data type unit ids can have; '' for others (not compared). -#}
{% macro cuped__unit_id_kind(data_type) %}
  {%- if cuped.cuped__is_text_type(data_type) -%}{{ return('text') }}{%- endif -%}
  {%- if modules.re.match('(u?(tiny|small|big|huge)?int(eger)?[0-9]*|numeric|decimal|number|float[0-9]*|double|real)\\b', data_type | lower) -%}{{ return('number') }}{%- endif -%}
  {%- if (data_type | lower) == 'uuid' -%}{{ return('uuid') }}{%- endif -%}
  {{ return('') }}
{% endmacro %}
