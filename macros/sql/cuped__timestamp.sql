{#-
  Time zones. Every timestamp the package reads is turned into the same thing: the instant, as a
  naive TIMESTAMP in UTC, so comparisons are between instants and never depend on the time zone
  of the machine or session that runs dbt.

  - a column with a time zone (TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE) is an instant: converted to
    UTC;
  - a naive TIMESTAMP, or a DATE (its midnight), is wall-clock time in the configured `timezone`
    (default UTC): read in that zone, then converted to UTC;
  - any other type (text) is cast to TIMESTAMP and read as wall-clock time in `timezone` too; a
    cast drops a UTC offset or zone name written in the text (DuckDB, PostgreSQL), so a text
    column whose values carry one stops the build, naming the relation, the column and a value
    (cuped__check_text_times), instead of being read hours off.

  Days (the daily series, `cuped_as_of`, a DATE `analysis_end_at`) are days of the configured
  `timezone`. Written with the SQL standard's AT TIME ZONE (DuckDB, Postgres, Snowflake, ...).
-#}

{#- The SQL of `column` of `relation`, normalized to a naive UTC TIMESTAMP as described above. -#}
{% macro cuped__timestamp_utc(relation, column, timezone) %}
  {%- set sql = cuped.cuped__column(column) -%}
  {%- set found = {'type': cuped.cuped__column_type(relation, column)} -%}
  {%- if cuped.cuped__is_zoned_type(found['type']) -%}
    {{ return(cuped.cuped__instant_to_utc(sql)) }}
  {%- endif -%}
  {%- if cuped.cuped__is_text_type(found['type']) -%}
    {%- do cuped.cuped__check_text_times(relation, column, sql) -%}
  {%- endif -%}
  {{ return(cuped.cuped__wall_time_to_utc('cast(' ~ sql ~ ' as ' ~ dbt.type_timestamp() ~ ')', timezone)) }}
{% endmacro %}

{#- Whether a (lower-cased) warehouse data type holds instants, a time zone or offset attached:
    `timestamp with time zone`, DuckDB's TIMESTAMPTZ and TIMESTAMPTZ_NS (nanoseconds: what
    tz-aware pandas and Parquet columns become), Snowflake's TIMESTAMP_TZ and TIMESTAMP_LTZ. -#}
{% macro cuped__is_zoned_type(data_type) %}
  {{- return('with time zone' in data_type or modules.re.match('^(timestamptz|timestamp_tz|timestamp_ltz)\\b|^timestamptz_', data_type) is not none) -}}
{% endmacro %}

{#- An instant (a time-zone-aware timestamp) as a naive UTC TIMESTAMP. -#}
{% macro cuped__instant_to_utc(sql) %}
  {{- return('cast((' ~ sql ~ ") at time zone 'UTC' as " ~ dbt.type_timestamp() ~ ')') -}}
{% endmacro %}

{#- An instant as a naive TIMESTAMP of its wall-clock time in `timezone`. -#}
{% macro cuped__instant_to_wall_time(sql, timezone) %}
  {{- return('cast((' ~ sql ~ ') at time zone ' ~ cuped.cuped__literal(timezone) ~ ' as ' ~ dbt.type_timestamp() ~ ')') -}}
{% endmacro %}

{#- A naive TIMESTAMP holding wall-clock time in `timezone`, as a naive UTC TIMESTAMP. -#}
{% macro cuped__wall_time_to_utc(sql, timezone) %}
  {%- if timezone == 'UTC' -%}{{ return(sql) }}{%- endif -%}
  {{- return('cast(((' ~ sql ~ ') at time zone ' ~ cuped.cuped__literal(timezone) ~ ") at time zone 'UTC' as " ~ dbt.type_timestamp() ~ ')') -}}
{% endmacro %}

{#- The day, in `timezone`, of a naive UTC TIMESTAMP. -#}
{% macro cuped__local_date(sql, timezone) %}
  {%- if timezone == 'UTC' -%}{{ return('cast(' ~ sql ~ ' as date)') }}{%- endif -%}
  {{- return('cast(cast(((' ~ sql ~ ") at time zone 'UTC') at time zone " ~ cuped.cuped__literal(timezone) ~ ' as ' ~ dbt.type_timestamp() ~ ') as date)') -}}
{% endmacro %}

{#-
  A text column of times must hold wall-clock times: stop, naming the relation, the column and a
  value, if one carries a UTC offset or a zone name after its time (`...14:00:00+05:00`, `...Z`,
  `... UTC`, `... Asia/Karachi`), which a cast to TIMESTAMP would drop, or if one does not read as
  a time at all (`12/03/2026 10:00`, `last tuesday`: DuckDB would fail with a conversion error
  naming neither the metric nor the key, Spark would read it as null and lose the row; found with
  cuped__try_cast, so not on PostgreSQL, whose own error quotes the value). `where`, when given,
  names the key that names the column. One query per relation and column per run (it scans the
  column: only text columns pay it).
-#}
{% macro cuped__check_text_times(relation, column, sql, where=none) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set key = '__cuped_text_times__' ~ relation ~ '|' ~ column -%}
  {%- if graph.get(key) -%}{{ return('') }}{%- endif -%}
  {%- set pattern = '[0-9]:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)? *([zZ]|[+-][0-9]{1,2}(:?[0-9]{2})?|[A-Za-z][A-Za-z0-9_/+-]*)$' -%}
  {%- set offset = cuped.cuped__regex_matches('trim(' ~ sql ~ ')', pattern) -%}
  {%- set cast = cuped.cuped__try_cast(sql, dbt.type_timestamp()) -%}
  {%- set unreadable = (sql ~ ' is not null and ' ~ cast ~ ' is null') if cast else '' -%}
  {%- set found = run_query('select ' ~ sql ~ ', case when ' ~ offset ~ ' then 1 else 0 end from ' ~ relation ~ ' where ' ~ offset ~ ((' or (' ~ unreadable ~ ')') if unreadable else '') ~ ' limit 1') -%}
  {%- if found.rows | length > 0 -%}
    {%- set prefix = "cuped: " ~ ((where ~ ": ") if where else "") ~ "column '" ~ column ~ "' of " ~ relation ~ " is text, and its value '" ~ found.rows[0][0] ~ "' " -%}
    {%- if found.rows[0][1] == 1 -%}
      {{ exceptions.raise_compiler_error(prefix ~ "has a UTC offset or time zone after the time, which a cast to a timestamp drops (the instant would be read hours off). Store the column as a timestamp with time zone (e.g. cast it in a model over the relation), or write wall-clock times in `timezone` without an offset.") }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error(prefix ~ "does not read as a time; a time column is needed (timestamp, timestamp with time zone, date, or text of such values, e.g. '2026-03-12 10:00:00' or '2026-03-12'); parse the text in a model of yours (e.g. with strptime or to_timestamp).") }}
  {%- endif -%}
  {%- do graph.update({key: true}) -%}
  {{ return('') }}
{% endmacro %}

{#- SQL: whether text `expression` matches the regular expression `pattern` (POSIX ERE/RE2 syntax). -#}
{% macro cuped__regex_matches(expression, pattern) %}
  {{- return(adapter.dispatch('cuped__regex_matches', 'cuped')(expression, pattern)) -}}
{% endmacro %}

{% macro default__cuped__regex_matches(expression, pattern) %}
  {{- return('regexp_matches(' ~ expression ~ ', ' ~ cuped.cuped__literal(pattern) ~ ')') -}}
{% endmacro %}

{% macro postgres__cuped__regex_matches(expression, pattern) %}
  {{- return('(' ~ expression ~ ' ~ ' ~ cuped.cuped__literal(pattern) ~ ')') -}}
{% endmacro %}

{% macro spark__cuped__regex_matches(expression, pattern) %}
  {{- return('(' ~ expression ~ ' rlike ' ~ cuped.cuped__literal(pattern) ~ ')') -}}
{% endmacro %}

{% macro snowflake__cuped__regex_matches(expression, pattern) %}
  {{- return('regexp_like(' ~ expression ~ ', ' ~ cuped.cuped__literal('.*' ~ pattern) ~ ')') -}}
{% endmacro %}

{% macro bigquery__cuped__regex_matches(expression, pattern) %}
  {{- return('regexp_contains(' ~ expression ~ ', ' ~ cuped.cuped__literal(pattern) ~ ')') -}}
{% endmacro %}

{#-
  The lower-case data type of the SQL expression `sql` over `relation` ('' before execution, for an
  empty relation, or on a warehouse without a type function): whether a Semantic Layer time
  dimension's `expr` holds instants. One query per relation and expression per run.
-#}
{% macro cuped__expression_type(relation, sql) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set key = '__cuped_expression_type__' ~ relation ~ '|' ~ sql -%}
  {%- if graph.get(key) is none -%}
    {%- set function = cuped.cuped__type_of() -%}
    {%- set found = '' -%}
    {%- if function -%}
      {%- set rows = run_query('select ' ~ function ~ '(' ~ sql ~ ') from ' ~ relation ~ ' limit 1').rows -%}
      {%- set found = (rows[0][0] | string | lower) if rows | length > 0 else '' -%}
    {%- endif -%}
    {%- do graph.update({key: found}) -%}
  {%- endif -%}
  {{ return(graph.get(key)) }}
{% endmacro %}

{#- The SQL function naming a value's data type ('' where there is none to call). -#}
{% macro cuped__type_of() %}{{ return(adapter.dispatch('cuped__type_of', 'cuped')()) }}{% endmacro %}
{% macro default__cuped__type_of() %}{{ return('') }}{% endmacro %}
{% macro duckdb__cuped__type_of() %}{{ return('typeof') }}{% endmacro %}
{% macro postgres__cuped__type_of() %}{{ return('pg_typeof') }}{% endmacro %}
{% macro spark__cuped__type_of() %}{{ return('typeof') }}{% endmacro %}

{#- `computed_at` of the public tables: the start of the dbt run, as a naive UTC TIMESTAMP (the same
    in every table of a run; the warehouse's current time would be wall-clock time in the session's
    zone once cast to a TIMESTAMP on PostgreSQL and DuckDB). -#}
{% macro cuped__computed_at() %}
  {{ return(cuped.cuped__timestamp_literal(cuped.cuped__naive_utc(run_started_at))) }}
{% endmacro %}
