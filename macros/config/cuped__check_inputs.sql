{#-
  At run time, before any model reads them: every configured relation that must hold one row per
  key does (`experiments`: one row per experiment_id; `variant_weights`: per experiment_id and
  variant; `unit_attributes`: per unit, checked after cuped__unit_values joins it, below), with
  the columns the configuration names. Called by
  cuped__assignment_rows, which every other model of the package (and so every public table)
  depends on: a duplicate stops `dbt run` and `dbt build` before any public table is rebuilt,
  with a `cuped:` message naming the relation and the duplicated key, instead of a join that
  silently multiplies rows.
-#}
{% macro cuped__check_inputs(config) %}
  {#- the relations are resolved at parse time too (their refs are this model's dependencies);
      the checks themselves query only at run time -#}
  {%- do cuped.cuped__check_session_time_zone() -%}
  {%- if config['experiments'] -%}
    {%- set relation = cuped.cuped__relation(config['experiments']) -%}
    {%- set where = "the `experiments` relation " ~ config['experiments'] -%}
    {%- do cuped.cuped__check_columns(relation, [['experiment_id', where], ['control_variant', where]]) -%}
    {#- its optional analysis_end_at must read as times, as assigned_at does -#}
    {%- if execute and cuped.cuped__column_type(relation, 'analysis_end_at') -%}
      {%- do cuped.cuped__check_time_column(relation, 'analysis_end_at', where) -%}
    {%- endif -%}
    {%- do cuped.cuped__check_unique_rows(relation, ['experiment_id'], where) -%}
  {%- endif -%}
  {%- if config['variant_weights'] -%}
    {%- set relation = cuped.cuped__relation(config['variant_weights']) -%}
    {%- set where = "the `variant_weights` relation " ~ config['variant_weights'] -%}
    {%- do cuped.cuped__check_columns(relation, [['experiment_id', where], ['variant', where], ['weight', where]]) -%}
    {%- do cuped.cuped__check_unique_rows(relation, ['experiment_id', 'variant'], where) -%}
    {%- if execute -%}
      {%- set weight = 'cast(weight as ' ~ cuped.cuped__type_double() ~ ')' -%}
      {%- set bad = run_query('select experiment_id, variant, cast(weight as ' ~ dbt.type_string() ~ ') from ' ~ relation ~ ' where weight is not null and not (' ~ cuped.cuped__is_finite(weight) ~ ' and ' ~ weight ~ ' >= 0) order by 1, 2 limit 1') -%}
      {%- if bad.rows | length > 0 -%}
        {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": column 'weight' must hold finite numbers >= 0, got " ~ bad.rows[0][2] ~ " for (" ~ bad.rows[0][0] ~ ", " ~ bad.rows[0][1] ~ ").") }}
      {%- endif -%}
      {#- the expected shares are the weights over their sum: an experiment's weights cannot all be 0 -#}
      {%- set zero = run_query('select experiment_id from ' ~ relation ~ ' group by experiment_id having count(weight) > 0 and max(' ~ weight ~ ') = 0 order by 1 limit 1') -%}
      {%- if zero.rows | length > 0 -%}
        {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": every weight of experiment '" ~ zero.rows[0][0] ~ "' is 0, so it has no expected shares. Give its arms their planned weights (any positive numbers in proportion), or remove its rows.") }}
      {%- endif -%}
    {%- endif -%}
  {%- endif -%}
  {%- set attributes = config['unit_attributes'] -%}
  {%- if attributes -%}
    {%- set relation = cuped.cuped__relation(attributes['relation']) -%}
    {%- set where = "the `unit_attributes` relation " ~ attributes['relation'] -%}
    {%- do cuped.cuped__check_columns(relation, [[attributes['unit_column'], "`unit_attributes.unit_column`"]], "`unit_attributes.relation` (" ~ attributes['relation'] ~ ")") -%}
    {%- do cuped.cuped__check_unit_type(relation, attributes['unit_column'], "`unit_attributes.unit_column`", cuped.cuped__relation(config['assignments'])) -%}
    {#- one row per unit is checked where the attributes are joined, after cuped__unit_values
        (cuped__check_finite_values): a duplicated unit adds a row there, which a count finds in
        the query that checks the values, where a group by over every attributes row cost a
        statement of its own on every build (0.8 s at 10M units; 1.3 s at 1M on a local Spark) -#}
    {#- '(missing)' and '(other)' are the package's own levels of a text attribute (no value, and
        the pooled rare values): a value spelt so would be merged with them without a word -#}
    {%- if execute -%}
      {%- set text = cuped.cuped__text_columns(relation) -%}
      {%- for column in attributes['columns'] if column | lower in text -%}
        {%- set found = run_query('select count(*) from ' ~ relation ~ ' where ' ~ cuped.cuped__column(column) ~ " in ('(missing)', '(other)')").rows[0][0] -%}
        {%- if found > 0 -%}
          {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": column '" ~ column ~ "' has " ~ found ~ " row(s) with the value '(missing)' or '(other)', the names the package gives to units without a value and to pooled rare values, so they would be merged with those. Rename the value in a model over the relation.") }}
        {%- endif -%}
      {%- endfor -%}
    {%- endif -%}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}


{#-
  On Spark the time zone of the session, not of the data, decides a timestamp's day (`cast(... as
  date)`), where a date or a text time without an offset falls, and how `date_add` counts days
  (dbt-spark's dateadd, for the windows). The package reads times as UTC instants (README "Time
  zones"), which on Spark holds only in a session whose zone is UTC: another zone stops the
  build at its first model, naming the zone and the setting, instead of moving days and windows
  by its offset. Checked on two dates, winter and summer, so that a zone at UTC+0 in one season
  only (Europe/London) is refused too. Other adapters: nothing to check.
-#}
{% macro cuped__check_session_time_zone() %}
  {{- return(adapter.dispatch('cuped__check_session_time_zone', 'cuped')()) -}}
{% endmacro %}

{% macro default__cuped__check_session_time_zone() %}{{ return('') }}{% endmacro %}

{% macro spark__cuped__check_session_time_zone() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set row = run_query("select current_timezone(), unix_timestamp('2026-01-01 00:00:00'), unix_timestamp('2026-07-01 00:00:00')").rows[0] -%}
  {%- if (row[1] | int) != 1767225600 or (row[2] | int) != 1782864000 -%}
    {{ exceptions.raise_compiler_error("cuped: the Spark session's time zone is '" ~ row[0] ~ "' (spark.sql.session.timeZone), but the package reads times on Spark as UTC: in another zone a timestamp's day, a date's midnight and a window of days move by the zone's offset. Run dbt in a session whose time zone is UTC: set spark.sql.session.timeZone to UTC in the cluster's Spark configuration, or in the SparkSession that dbt-spark's `session` method uses.") }}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}
