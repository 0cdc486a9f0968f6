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
  [column, where] pairs; matching ignores case, as unquoted identifiers do. A check of three,
  [column, where, 'time'], is of a time column: it must also read as times
  (cuped__check_time_column). `relation_where` names the key that names the relation itself
  (a metric's `source`, `assignments`, ...), for a relation that is missing or ephemeral; without
  it, the first check's.
-#}
{% macro cuped__check_columns(relation, checks, relation_where=none) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set names = cuped.cuped__user_columns(relation) | map(attribute='name') | list -%}
  {%- set lowered = names | map('lower') | list -%}
  {#- dbt finds no columns in a relation that does not exist: say that, not that a column is missing -#}
  {%- if names | length == 0 and checks and relation.identifier is defined -%}
    {%- set where = relation_where if relation_where is not none else checks[0][1] -%}
    {%- if relation.schema is none -%}
      {#- an ephemeral model: a CTE dbt injects into the model that refs it, nothing to read from others -#}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": '" ~ (relation.identifier | replace('__dbt__cte__', '')) ~ "' is an ephemeral model; the package reads it from several models of its own, so it must be materialized (a view, table or incremental model).") }}
    {%- elif adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) is none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the relation " ~ relation ~ " does not exist on this target (not built yet, or a misspelt database, schema or name of the source or model that names it), or this target cannot see it.") }}
    {%- endif -%}
  {%- endif -%}
  {%- for check in checks -%}
    {%- if check[0] not in names and check[0] | lower not in lowered -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ check[1] ~ ": column '" ~ check[0] ~ "' does not exist in " ~ relation ~ " (its columns: " ~ (names | join(', ')) ~ ").") }}
    {%- endif -%}
  {%- endfor -%}
  {%- for check in checks if check | length > 2 and check[2] == 'time' -%}
    {%- do cuped.cuped__check_time_column(relation, check[0], check[1]) -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}

{#-
  At run time, check that a time column of a user relation (`where` names its key) can be read as
  times: a timestamp (with or without a time zone), a date, or text whose every value casts to a
  timestamp. Any other type (epoch numbers, a time of day, a boolean) stops the build here, naming
  the key, the relation, the column and its type, instead of a warehouse error naming none of them
  (DuckDB: a binder error comparing BIGINT with TIMESTAMP, or a cast it has not implemented). A
  text column is read once, by cuped__check_text_times, for a value with a UTC offset or one that
  does not read as a time. Nothing where the type is not known.
-#}
{% macro cuped__check_time_column(relation, column, where) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set found = cuped.cuped__column_type(relation, column) -%}
  {%- if cuped.cuped__is_text_type(found) -%}
    {%- do cuped.cuped__check_text_times(relation, column, cuped.cuped__column(column), where) -%}
  {%- elif found and not cuped.cuped__is_time_type(found)
      and run_query('select 1 from ' ~ relation ~ ' where ' ~ cuped.cuped__column(column) ~ ' is not null limit 1').rows | length > 0 -%}
    {#- (a column without a value, e.g. an optional analysis_end_at no experiment has yet, is
        typed as an integer by seeds and `select null`: nothing to read, so nothing to refuse) -#}
    {%- set data_type = [] -%}
    {%- for candidate in cuped.cuped__user_columns(relation) if candidate.name | lower == column | lower -%}
      {%- do data_type.append(candidate.data_type) -%}
    {%- endfor -%}
    {%- set hint = "convert epoch numbers in a model of yours, e.g. to_timestamp(" ~ column ~ ")" if cuped.cuped__unit_id_kind(found) == 'number' else "cast it in a model of yours" -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": column '" ~ column ~ "' of " ~ relation ~ " is " ~ (data_type[0] if data_type else found) ~ "; a time column is needed (timestamp, timestamp with time zone, date, or text of such values); " ~ hint ~ ".") }}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}

{#- Whether a (lower-cased) warehouse data type holds times the package reads as they are: a
    timestamp of any precision, with or without a time zone (TIMESTAMP_NS, TIMESTAMPTZ,
    timestamp_ntz, ...), a datetime or a date; not a time of day or an interval. -#}
{% macro cuped__is_time_type(data_type) %}
  {{- return(modules.re.search('date|timestamp', data_type | lower) is not none) -}}
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
  the key). Ids of one kind (text, number, uuid) always can. Text ids beside numbers or uuids are
  compared by casting the text (DuckDB; Spark): that works when every id reads as the other
  side's type, but one that does not fails on DuckDB with a conversion error naming neither
  relation, and on Spark silently becomes null and loses its rows. So the text side is read
  once (cuped__try_cast: the first id that does not cast), and the build stops naming both
  relations, both types and that id. Where the engine cannot compare text with another type at
  all (PostgreSQL: no implicit cast, no try_cast) any mismatch stops it. `column` is a column
  name (a Semantic Layer entity's SQL expression is not checked). The assignments' type is read
  from `assignments` (the configured relation, for a model that reads it), else from the
  package's cuped__units, which the event scans join to (once per process: built before any
  scan).
-#}
{% macro cuped__check_unit_type(relation, column, where, assignments=none) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set config = cuped.cuped__config() -%}
  {%- set assignment_column = config['assignment_columns']['unit_id'] -%}
  {%- if assignments is not none -%}
    {%- set expected = cuped.cuped__column_type(assignments, assignment_column) -%}
    {%- set assignments_sql = [assignments, cuped.cuped__column(assignment_column)] -%}
  {%- else -%}
    {%- set units = cuped.cuped__node_relation('model.cuped.cuped__units') -%}
    {%- if graph.get('__cuped_units_unit_type__') is none -%}
      {%- set found = [''] -%}
      {%- for candidate in adapter.get_columns_in_relation(units) if candidate.name | lower == 'unit_id' -%}
        {%- do found.append(candidate.data_type | lower) -%}
      {%- endfor -%}
      {%- do graph.update({'__cuped_units_unit_type__': found[-1]}) -%}
    {%- endif -%}
    {%- set expected = graph.get('__cuped_units_unit_type__') -%}
    {%- set assignments_sql = [units, 'unit_id'] -%}
  {%- endif -%}
  {%- set found = cuped.cuped__column_type(relation, column) -%}
  {%- set kinds = [cuped.cuped__unit_id_kind(expected), cuped.cuped__unit_id_kind(found)] -%}
  {%- if kinds[0] and kinds[1] and kinds[0] != kinds[1] -%}
    {%- set problem = {'why': ''} -%}
    {%- if 'text' in kinds -%}
      {#- the text side, and the type its ids are cast to -#}
      {%- set text_side = [relation, cuped.cuped__column(column)] if kinds[1] == 'text' else assignments_sql -%}
      {%- set target = expected if kinds[1] == 'text' else found -%}
      {%- set probe = cuped.cuped__try_cast('ids.id', target) -%}
      {%- if probe -%}
        {#- an id read as a whole number must be written as one, in decimal digits: a cast alone
            reads '2.5' as 3, '0x10' as 16 and '1e3' and '1_000' as 1000 (DuckDB), joining its
            rows to another unit; other targets (uuid, double, decimal) as the cast reads them -#}
        {%- set whole = modules.re.match('(u?(tiny|small|big|huge)?int(eger)?[0-9]*|long|short|byte)\\b', target | lower) is not none -%}
        {%- set written = (' or not ' ~ cuped.cuped__regex_matches('trim(ids.id)', '^[+-]?[0-9]+$')) if whole else '' -%}
        {%- set read_as = 'cast(' ~ probe ~ ' as ' ~ dbt.type_string() ~ ')' -%}
        {%- set rows = run_query('select id, ' ~ read_as ~ ' from (select ' ~ text_side[1] ~ ' as id from ' ~ text_side[0] ~ ') as ids where ids.id is not null and (' ~ probe ~ ' is null' ~ written ~ ') limit 1').rows -%}
        {%- if rows | length > 0 and rows[0][1] is none -%}
          {%- do problem.update({'why': "its id '" ~ rows[0][0] ~ "' of " ~ text_side[0] ~ " is not a " ~ target}) -%}
        {%- elif rows | length > 0 -%}
          {%- do problem.update({'why': "its id '" ~ rows[0][0] ~ "' of " ~ text_side[0] ~ " is not a whole number written in digits (a cast would read it as " ~ rows[0][1] ~ ")"}) -%}
        {%- endif -%}
      {%- else -%}
        {%- do problem.update({'why': "this warehouse does not compare the two"}) -%}
      {%- endif -%}
    {%- else -%}
      {%- do problem.update({'why': "they cannot be compared"}) -%}
    {%- endif -%}
    {%- if problem['why'] -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": column '" ~ column ~ "' of " ~ relation ~ " is " ~ found ~ ", but the assignments' unit ids (`assignment_columns.unit_id`, column '" ~ assignment_column ~ "' of " ~ config['assignments'] ~ ") are " ~ expected ~ ", and " ~ problem['why'] ~ ". The package joins the two: cast one of them in a model over its relation, so that both hold the same type.") }}
    {%- endif -%}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}

{#- SQL: `expression` cast to `data_type`, null where it does not cast; '' where the engine has no such cast. -#}
{% macro cuped__try_cast(expression, data_type) %}
  {{- return(adapter.dispatch('cuped__try_cast', 'cuped')(expression, data_type)) -}}
{% endmacro %}
{% macro default__cuped__try_cast(expression, data_type) %}{{ return('') }}{% endmacro %}
{% macro duckdb__cuped__try_cast(expression, data_type) %}{{ return('try_cast(' ~ expression ~ ' as ' ~ data_type ~ ')') }}{% endmacro %}
{% macro spark__cuped__try_cast(expression, data_type) %}{{ return('try_cast(' ~ expression ~ ' as ' ~ data_type ~ ')') }}{% endmacro %}

{#- 'text', 'number' or 'uuid' for a data type unit ids can have; '' for others (not compared). -#}
{% macro cuped__unit_id_kind(data_type) %}
  {%- if cuped.cuped__is_text_type(data_type) -%}{{ return('text') }}{%- endif -%}
  {%- if modules.re.match('(u?(tiny|small|big|huge)?int(eger)?[0-9]*|numeric|decimal|number|float[0-9]*|double|real)\\b', data_type | lower) -%}{{ return('number') }}{%- endif -%}
  {%- if (data_type | lower) == 'uuid' -%}{{ return('uuid') }}{%- endif -%}
  {{ return('') }}
{% endmacro %}
