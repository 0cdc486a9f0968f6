{#-
  Time zones. Every timestamp the package reads is turned into the same thing: the instant, as a
  naive TIMESTAMP in UTC, so comparisons are between instants and never depend on the time zone
  of the machine or session that runs dbt.

  - a column with a time zone (TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE) is an instant: converted to
    UTC;
  - a naive TIMESTAMP, or a DATE (its midnight), is wall-clock time in the configured `timezone`
    (default UTC): read in that zone, then converted to UTC;
  - any other type (text) is cast to TIMESTAMP and read as naive.

  Days (the daily series, `cuped_as_of`, a DATE `analysis_end_at`) are days of the configured
  `timezone`. Written with the SQL standard's AT TIME ZONE (DuckDB, Postgres, Snowflake, ...).
-#}

{#- The SQL of `column` of `relation`, normalized to a naive UTC TIMESTAMP as described above. -#}
{% macro cuped__timestamp_utc(relation, column, timezone) %}
  {%- set sql = cuped.cuped__column(column) -%}
  {%- set found = {'type': ''} -%}
  {%- if execute -%}
    {%- for candidate in adapter.get_columns_in_relation(relation) -%}
      {%- if candidate.name == column or (candidate.name | lower == column | lower and not found['type']) -%}
        {%- do found.update({'type': candidate.data_type | lower}) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {%- if cuped.cuped__is_zoned_type(found['type']) -%}
    {{ return(cuped.cuped__instant_to_utc(sql)) }}
  {%- endif -%}
  {{ return(cuped.cuped__wall_time_to_utc('cast(' ~ sql ~ ' as ' ~ dbt.type_timestamp() ~ ')', timezone)) }}
{% endmacro %}

{#- Whether a warehouse data type holds instants (a time zone or offset attached). -#}
{% macro cuped__is_zoned_type(data_type) %}
  {{- return('with time zone' in data_type or data_type in ['timestamptz', 'timestamp_tz', 'timestamp_ltz']) -}}
{% endmacro %}

{#- An instant (a time-zone-aware timestamp) as a naive UTC TIMESTAMP. -#}
{% macro cuped__instant_to_utc(sql) %}
  {{- return('cast((' ~ sql ~ ") at time zone 'UTC' as " ~ dbt.type_timestamp() ~ ')') -}}
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
