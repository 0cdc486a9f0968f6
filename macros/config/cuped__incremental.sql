{#-
  Incremental builds (`incremental:` in the `cuped` var). Off by default: every build reads every
  event. With `incremental: true` (or `{lookback_days: N}`, default 2) each unit's values before a
  boundary are kept in cuped__unit_settled and each run reads only the events from that boundary
  on (plus, once, the whole windows of units it has not seen). See the README's "Incremental
  builds" and models/internal/cuped__unit_settled.sql.
-#}
{% macro cuped__check_incremental(value) %}
  {%- if value is none or value is sameas false -%}{{ return(none) }}{%- endif -%}
  {%- if target.type == 'spark' -%}
    {{ exceptions.raise_compiler_error("cuped: `incremental` is not supported on Spark (dbt-spark): the stored per-unit values are updated by delete+insert on (experiment_id, unit_id), which dbt-spark does not offer; use `incremental: false` (every build reads every event).") }}
  {%- endif -%}
  {%- if value is sameas true -%}{%- set value = {} -%}{%- endif -%}
  {%- if value is not mapping -%}
    {{ exceptions.raise_compiler_error("cuped: `incremental` must be true, false or a mapping {lookback_days: N}, got: " ~ value) }}
  {%- endif -%}
  {%- do cuped.cuped__check_keys(value, ['lookback_days'], "`incremental`") -%}
  {{ return({'lookback_days': cuped.cuped__check_integer(value.get('lookback_days', 2), "`incremental.lookback_days`", minimum=0, unit=' of days', maximum=365)}) }}
{% endmacro %}


{#-
  What an incremental build cannot keep from run to run is refused when the var is read: a count of
  distinct values is not the sum of its days' counts, and the quantile of events needs every event.
-#}
{% macro cuped__check_incremental_metrics(config) %}
  {%- if config['incremental'] is none -%}{{ return(none) }}{%- endif -%}
  {%- for metric in config['metrics'] -%}
    {%- if metric.get('agg') == 'count_distinct' -%}
      {{ exceptions.raise_compiler_error("cuped: metric '" ~ metric['name'] ~ "': `agg: count_distinct` cannot be built incrementally (a count of distinct values is not the sum of each day's count); use `incremental: false`, or `agg: count` over a model with one row per unit and value.") }}
    {%- endif -%}
    {%- if metric['type'] == 'quantile' and metric['quantile']['level'] == 'event' -%}
      {{ exceptions.raise_compiler_error("cuped: metric '" ~ metric['name'] ~ "': a `level: event` quantile reads every event of the experiment on each run, which `incremental: true` exists to avoid; use `level: unit`, or `incremental: false`.") }}
    {%- endif -%}
  {%- endfor -%}
{% endmacro %}


{#-
  A fingerprint of everything the stored per-unit values depend on besides each unit's own windows
  (which cuped__unit_settled stores per unit): every event source scan with its metrics' aggregate,
  value, filter, window and missing rule, their order, the time zone, and whether the daily series
  is on. A change of any of them rebuilds the stored values.
-#}
{% macro cuped__incremental_fingerprint(config) %}
  {#- the daily series too: turned on, it computes every unit's rows from every event, which the
      stored values must then count as well (rows that arrived too late included). And the layout
      of the stored rows (`variant` since 0.7.0): rows of an older layout are all computed again
      and the rest deleted, units no longer analysed included, as on a change of definitions -#}
  {%- set parts = ['layout 2', config['timezone']] + (['daily_series'] if config['daily_series'] else []) -%}
  {%- for scan in config['scans'] -%}
    {%- set metrics = [] -%}
    {%- for entry in scan['metrics'] -%}
      {%- set metric = entry['metric'] -%}
      {%- do metrics.append([entry['index'], metric['agg'], metric['value'], metric['filter'], metric['window_days'], metric.get('missing')]) -%}
    {%- endfor -%}
    {%- do parts.append([cuped.cuped__relation_key(scan['source']), scan['unit_sql'], scan['timestamp_sql'], scan['timestamp_is_sql'], metrics]) -%}
  {%- endfor -%}
  {{ return(local_md5(tojson(parts))) }}
{% endmacro %}


{#-
  SQL predicate: the stored row `stored` was computed over the windows the unit `units` has now:
  the same exposure time, analysis end (null-safe) and, given its SQL, pre-period start. The
  null-safe comparison is an equality of coalesced values, not an `or`, so that PostgreSQL can
  hash-join on it (see also cuped__join_planner_hook). An analysis end at the sentinel equals
  none, which is the same window.
-#}
{% macro cuped__same_windows(stored, units, pre_period_start=none) %}
  {%- set parts = [stored ~ '.assigned_at = ' ~ units ~ '.assigned_at'] -%}
  {%- if pre_period_start is not none -%}
    {%- do parts.append(stored ~ '.pre_period_start = ' ~ pre_period_start) -%}
  {%- endif -%}
  {%- set never = "cast('9999-12-31 00:00:00' as " ~ dbt.type_timestamp() ~ ")" -%}
  {%- do parts.append('coalesce(' ~ stored ~ '.analysis_end_at, ' ~ never ~ ') = coalesce(' ~ units ~ '.analysis_end_at, ' ~ never ~ ')') -%}
  {{ return(parts | join(' and ')) }}
{% endmacro %}


{#- A datetime (or none) as a naive UTC datetime: an aware one converted, a naive one as it is. -#}
{% macro cuped__naive_utc(value) %}
  {%- if value is none or value.tzinfo is none -%}{{ return(value) }}{%- endif -%}
  {{ return(value.astimezone(modules.pytz.utc).replace(tzinfo=none)) }}
{% endmacro %}


{#- A UTC timestamp literal from a value run_query returned (a datetime, or none). -#}
{% macro cuped__timestamp_literal(value) %}
  {%- if value is none -%}{{ return('cast(null as ' ~ dbt.type_timestamp() ~ ')') }}{%- endif -%}
  {{ return('cast(' ~ cuped.cuped__literal(value.strftime('%Y-%m-%d %H:%M:%S.%f')) ~ ' as ' ~ dbt.type_timestamp() ~ ')') }}
{% endmacro %}


{#-
  The boundary an incremental run settles values to: the start (in `timezone`) of the day
  `lookback_days` before the day of the latest event of any source, as a UTC timestamp (a datetime),
  or none when no source has an event. Events before it are folded into cuped__unit_settled; events
  from it on are read again by every run, so rows that arrive late within the lookback count once.
  Events dated after the run started (a wrong clock, a placeholder year) do not move it: one such
  row would otherwise settle every later day, and rows of those days that arrive afterwards would
  never be read. They are read again on every run (counted as a full build counts them), and each
  run warns, naming the metrics; so does a run whose stored boundary is already past its start.
  {'boundary', 'latest'}: `latest` is the latest event of any source, future or not.
-#}
{% macro cuped__incremental_boundary(config, previous=none) %}
  {%- set started = cuped.cuped__naive_utc(run_started_at) -%}
  {%- set now = cuped.cuped__timestamp_literal(started) -%}
  {%- set latest = [] -%}
  {%- for scan in config['scans'] -%}
    {%- do latest.append('select ' ~ scan['index'] ~ ' as source_index, max(event_at) as event_at, max(case when event_at <= ' ~ now ~ ' then event_at end) as past_event_at from (' ~ cuped.cuped__scan_events(scan) ~ ') as source_' ~ scan['index']) -%}
  {%- endfor -%}
  {%- set day = cuped.cuped__local_date('max(past_event_at)', config['timezone']) -%}
  {%- set result = run_query('with latest_events as (' ~ (latest | join(' union all ')) ~ ') select source_index, event_at, (select ' ~ day ~ ' from latest_events) as latest_day from latest_events order by source_index') -%}
  {%- set found = {'boundary': none, 'latest': none} -%}
  {%- for row in result.rows -%}
    {%- set event_at = cuped.cuped__naive_utc(row[1]) -%}
    {%- if row[2] is not none -%}
      {%- set latest_day = modules.datetime.date.fromisoformat(row[2] | string) if row[2] is string else row[2] -%}
      {%- do found.update({'boundary': cuped.cuped__local_day_start(latest_day - modules.datetime.timedelta(days=config['incremental']['lookback_days']), config['timezone'])}) -%}
    {%- endif -%}
    {%- if event_at is not none and (found['latest'] is none or event_at > found['latest']) -%}
      {%- do found.update({'latest': event_at}) -%}
    {%- endif -%}
    {%- if event_at is not none and event_at > started -%}
      {%- set scan = config['scans'] | selectattr('index', 'equalto', row[0]) | first -%}
      {%- set names = [] -%}
      {%- for entry in scan['metrics'] -%}{%- do names.append("'" ~ entry['metric']['name'] ~ "'") -%}{%- endfor -%}
      {%- do exceptions.warn("cuped: the events of metric " ~ (names | join(', ')) ~ " go up to " ~ event_at ~ " (UTC), after this run started (" ~ started.strftime('%Y-%m-%d %H:%M:%S') ~ " UTC). Events dated in the future do not move the incremental boundary; they are read again on every run and count as in a full build. Check the source's `timestamp_column` (a wrong clock, a placeholder date).") -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set previous = cuped.cuped__naive_utc(previous) -%}
  {%- if previous is not none and previous > started -%}
    {%- do exceptions.warn("cuped: the stored values of the incremental build were settled up to " ~ previous ~ " (UTC), after this run started (" ~ started.strftime('%Y-%m-%d %H:%M:%S') ~ " UTC): a run before this version counted events dated in the future, and rows of the days since then that arrived later were not read. Run `dbt build --full-refresh` once.") -%}
  {%- endif -%}
  {{ return(found) }}
{% endmacro %}


{#-
  The first instant of the local day `day` (a date) in `timezone`, as a naive UTC datetime. Where
  the clocks go back over midnight (Atlantic/Azores, America/Havana), midnight happens twice and
  the day starts at the first; SQL's AT TIME ZONE reads a repeated time as one of the two (DuckDB
  the second), which would leave the day's first hour before a boundary set at the start of the
  day. Where they go forward over midnight, the day starts when the clocks jump.
-#}
{% macro cuped__local_day_start(day, timezone) %}
  {%- set zone = modules.pytz.timezone(timezone) -%}
  {%- set midnight = modules.datetime.datetime(day.year, day.month, day.day) -%}
  {%- set starts = [] -%}
  {%- for is_dst in [true, false] -%}
    {%- set instant = zone.localize(midnight, is_dst=is_dst).astimezone(modules.pytz.utc) -%}
    {%- if instant.astimezone(zone).date() == midnight.date() -%}
      {%- do starts.append(instant.replace(tzinfo=none)) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(starts | min if starts else zone.localize(midnight, is_dst=false).astimezone(modules.pytz.utc).replace(tzinfo=none)) }}
{% endmacro %}


{#-
  A backfill: dbt's `--event-time-start` and `--event-time-end` (UTC) given to an incremental
  run. Every unit with an event in that range, in any metric's source, has its stored values
  computed again from all its events, as a new unit's are, so rows that arrived after the boundary
  of their day had passed are counted. Only the part of the range before `boundary` (where the
  previous run left the stored values) needs it: the run reads the events from there on anyway.
  {'start', 'end'} as naive UTC datetimes, or none: no range given, none of it before `boundary`,
  or every unit computed from every event on this run anyway (`rebuild`). With the daily series
  on, the run builds both incremental models (cuped__check_incremental_pair). cuped__unit_settled
  (`announce`) logs what the range does.
-#}
{% macro cuped__backfill_range(boundary, rebuild, announce=false) %}
  {%- set given = [invocation_args_dict.get('event_time_start'), invocation_args_dict.get('event_time_end')] -%}
  {%- if given[0] is none or given[1] is none -%}{{ return(none) }}{%- endif -%}
  {%- set bounds = [] -%}
  {%- for value in given + [boundary] -%}
    {%- set value = modules.datetime.datetime.fromisoformat(value | string) if value is string else value -%}
    {%- do bounds.append(cuped.cuped__naive_utc(value)) -%}
  {%- endfor -%}
  {%- set start, end = bounds[0], (bounds[1] if bounds[2] is none else [bounds[1], bounds[2]] | min) -%}
  {%- if rebuild or bounds[2] is none -%}
    {%- do log("cuped: nothing to backfill from " ~ bounds[0] ~ " to " ~ bounds[1] ~ " (UTC): this run computes every analysed unit from all its events (the first incremental run, --full-refresh, or changed metric definitions).", info=true) if announce -%}
    {{ return(none) }}
  {%- endif -%}
  {%- if start >= end -%}
    {%- do log("cuped: nothing to backfill from " ~ bounds[0] ~ " to " ~ bounds[1] ~ " (UTC): the stored values end at " ~ bounds[2] ~ ", and every run reads the events from there on.", info=true) if announce -%}
    {{ return(none) }}
  {%- endif -%}
  {{ return({'start': start, 'end': end}) }}
{% endmacro %}


{#-
  The SQL of a backfill (cuped__backfill_range) around `units` (the alias of a relation with
  unit_id): {'ctes': a CTE per scan with each unit that has an event in the range once, each
  followed by a comma; 'joins': their left joins to `units`; 'outside': the predicate "no event
  in the range"}. One per scan, as the per-unit aggregates join each source to the units: the
  sources' unit columns need not share a type.
-#}
{% macro cuped__backfill_sql(scans, backfill, units) %}
  {%- set ctes, joins, outside = [], [], [] -%}
  {%- for scan in scans -%}
    {%- set name = 'backfill_units_' ~ scan['index'] -%}
    {%- set cte -%}
{{ name }} as (

    select distinct events.unit_id
    from (
{{ cuped.cuped__scan_events(scan) }}
    ) as events
    where events.event_at >= {{ cuped.cuped__timestamp_literal(backfill['start']) }}
        and events.event_at < {{ cuped.cuped__timestamp_literal(backfill['end']) }}

),
    {%- endset -%}
    {%- do ctes.append(cte) -%}
    {%- do joins.append('left join ' ~ name ~ '\n        on ' ~ name ~ '.unit_id = ' ~ units ~ '.unit_id') -%}
    {%- do outside.append(name ~ '.unit_id is null') -%}
  {%- endfor -%}
  {{ return({'ctes': ctes | join('\n\n'), 'joins': joins | join('\n    '), 'outside': outside | join(' and ')}) }}
{% endmacro %}


{#- The stored aggregate columns of one metric in cuped__unit_settled (as cuped__per_unit_aggregates names them). -#}
{% macro cuped__settled_columns(entry) %}
  {%- set i = entry['index'] -%}
  {%- set columns = ['metric_' ~ i ~ '_rows'] if entry['metric']['missing'] == 'exclude' else [] -%}
  {{ return(columns + ['metric_' ~ i ~ '_post', 'metric_' ~ i ~ '_pre']) }}
{% endmacro %}


{#-
  One aggregate over two disjoint sets of a unit's events, from each set's aggregate (null for a set
  without a qualifying event): sums and counts add, maxima (and a proportion's any) take the larger.
-#}
{% macro cuped__merge_aggregate(metric, left, right) %}
  {%- if metric['agg'] in ['max', 'any'] -%}
    {{- return('case when ' ~ right ~ ' is null or ' ~ left ~ ' >= ' ~ right ~ ' then coalesce(' ~ left ~ ', ' ~ right ~ ') else ' ~ right ~ ' end') -}}
  {%- elif metric['agg'] in ['sum', 'count'] -%}
    {{- return('case when ' ~ left ~ ' is null then ' ~ right ~ ' when ' ~ right ~ ' is null then ' ~ left ~ ' else ' ~ left ~ ' + ' ~ right ~ ' end') -}}
  {%- endif -%}
  {{ exceptions.raise_compiler_error("cuped: `agg: " ~ metric['agg'] ~ "` has no incremental merge.") }}
{% endmacro %}


{#-
  After an incremental run of cuped__unit_settled or cuped__unit_daily_values: rows of other
  definitions are left only when the definitions changed and every analysed unit was written
  again; they go. So do the stored rows of units no longer analysed (excluded since, or gone from
  the assignments), when cuped__unit_settled counted some.
-#}
{% macro cuped__incremental_cleanup() %}
  {%- set config = cuped.cuped__config() -%}
  {%- if not execute or config['incremental'] is none or model['config']['materialized'] != 'incremental' -%}{{ return('') }}{%- endif -%}
  {%- set orphans = model['name'] == 'cuped__unit_settled' and graph.get('__cuped_settled_orphans__', 0) > 0 -%}
  {%- set tables = [this] -%}
  {#- the daily series' rows of those units go with them (it ran before, and cannot know) -#}
  {%- set daily_node = graph.nodes.get('model.cuped.cuped__unit_daily_values') -%}
  {%- set daily = adapter.get_relation(daily_node.database, daily_node.schema, daily_node.alias) if orphans and config['daily_series'] and daily_node else none -%}
  {%- if daily is not none -%}{%- do tables.append(daily) -%}{%- endif -%}
  {%- for table in tables %}
  delete from {{ table }} where {{ 'definition_fingerprint <> ' ~ cuped.cuped__literal(cuped.cuped__incremental_fingerprint(config)) if table == this else '1 = 0' }}
  {%- if orphans %}
      or not exists (
      select 1 from {{ ref('cuped__units') }} as units
      where units.exclusion_reason is null
          and units.experiment_id = {{ table }}.experiment_id
          and units.unit_id = {{ table }}.unit_id
  )
  {%- endif %}{{ ';' if not loop.last }}
  {%- endfor %}
{% endmacro %}


{#-
  With the daily series on, an incremental run must build cuped__unit_settled and
  cuped__unit_daily_values together: each reads what the other left, and one without the other
  would make the results and the daily series count different rows for good (`dbt run --select
  cuped__unit_settled` moved the boundary the series continues from). Checked when `model` is
  run or built.
-#}
{% macro cuped__check_incremental_pair(model) %}
  {%- if not execute or not cuped.cuped__config()['daily_series'] or invocation_args_dict.get('which') not in ['run', 'build'] -%}{{ return('') }}{%- endif -%}
  {%- for other in ['cuped__unit_settled', 'cuped__unit_daily_values'] if other != model and 'model.cuped.' ~ other not in selected_resources -%}
    {{ exceptions.raise_compiler_error("cuped: with the daily series on, an incremental run builds cuped__unit_settled and cuped__unit_daily_values together, and this run selects " ~ model ~ " without " ~ other ~ ": the results and the daily series would count different rows. Select both (e.g. --select cuped__unit_daily_values+)" ~ (", or leave the package out of the backfill (--exclude package:cuped)" if invocation_args_dict.get('event_time_start') is not none else "") ~ ".") }}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}


{#-
  For cuped__unit_values in an incremental build: the boundary cuped__unit_settled holds values to,
  as a SQL literal (none when no event was settled). That every analysed unit has a stored row
  over its current windows and definitions is checked after the build (`has_settled_values`,
  cuped__check_finite_values): it does unless cuped__unit_settled was left out of a run that
  changed them (e.g. `dbt build -s cuped_results` after new assignments).
-#}
{% macro cuped__settled_boundary() %}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set boundary = run_query('select max(settled_until) from ' ~ ref('cuped__unit_settled')).rows[0][0] -%}
  {{ return(cuped.cuped__timestamp_literal(boundary) if boundary is not none else none) }}
{% endmacro %}


{#-
  What an incremental model stored: none when `relation` is none or lacks the columns of an
  incremental build (it was built with `incremental: false`), else {'fingerprint': the stored
  definitions' fingerprint (none when rows of several, or no row), 'values': the values of
  `aggregates` (SQL aggregates over its rows, comma-separated)}.
-#}
{% macro cuped__stored_state(relation, aggregates) %}
  {%- if relation is none -%}{{ return(none) }}{%- endif -%}
  {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
  {%- if 'definition_fingerprint' not in names or 'rebuilt_at' not in names -%}{{ return(none) }}{%- endif -%}
  {%- set row = run_query('select min(definition_fingerprint), max(definition_fingerprint), ' ~ aggregates ~ ' from ' ~ relation).rows[0] -%}
  {{ return({'fingerprint': row[0] if row[0] == row[1] else none, 'values': row[2:] | list}) }}
{% endmacro %}


{#-
  Pre-hook of the models that join stored per-unit rows (incremental runs). PostgreSQL estimates
  a join of the stored rows with the units at a row or two and plans nested loops that re-run a
  window over the stored rows for every unit (21 s for the demo's daily series, 0.7 s with hash
  joins); `set local` turns nested loops off for that model's transaction only. Nothing elsewhere.
-#}
{% macro cuped__join_planner_hook() %}
  {{ return(adapter.dispatch('cuped__join_planner_hook', 'cuped')()) }}
{% endmacro %}

{% macro default__cuped__join_planner_hook() %}{{ return('') }}{% endmacro %}

{% macro postgres__cuped__join_planner_hook() %}{{ return('set local enable_nestloop = off') }}{% endmacro %}


{#-
  Whether cuped__unit_settled (`settled`, a relation) holds exactly one row per analysed unit, each
  over the unit's current variant and windows (exposure time, pre-period start, analysis end) and
  of the current metric definitions: then a run can take the analysed units from it instead of
  joining every unit to its stored row (at 10M units that join is a fifth of a daily run). Decided
  by counting the rows of both and summing a hash of each row's key, variant and windows (two
  scans, 0.1-0.2 s at 10M units, against 1 s for the join): equal multisets give equal sums, and
  different ones the same sum only by a 64-bit hash collision. False where no hash is dispatched
  (the join is then made, as before) and when `settled` lacks a column this needs.
-#}
{% macro cuped__settled_is_current(settled, config) %}
  {%- if not execute or settled is none -%}{{ return(false) }}{%- endif -%}
  {%- set names = adapter.get_columns_in_relation(settled) | map(attribute='name') | map('lower') | list -%}
  {%- if 'variant' not in names or 'pre_period_start' not in names or 'definition_fingerprint' not in names -%}{{ return(false) }}{%- endif -%}
  {%- set never = "cast('9999-12-31 00:00:00' as " ~ dbt.type_timestamp() ~ ")" -%}
  {%- set units_hash = cuped.cuped__row_hash_sum(['units.experiment_id', 'units.unit_id', 'units.variant', 'units.assigned_at', cuped.cuped__pre_period_start(config, 'units'), 'coalesce(units.analysis_end_at, ' ~ never ~ ')']) -%}
  {%- set settled_hash = cuped.cuped__row_hash_sum(['settled.experiment_id', 'settled.unit_id', 'settled.variant', 'settled.assigned_at', 'settled.pre_period_start', 'coalesce(settled.analysis_end_at, ' ~ never ~ ')']) -%}
  {%- if units_hash is none -%}{{ return(false) }}{%- endif -%}
  {%- set fingerprint = cuped.cuped__literal(cuped.cuped__incremental_fingerprint(config)) -%}
  {%- set row = run_query(
      'select (select count(*) from ' ~ ref('cuped__units') ~ ' as units where units.exclusion_reason is null), '
      ~ '(select ' ~ units_hash ~ ' from ' ~ ref('cuped__units') ~ ' as units where units.exclusion_reason is null), '
      ~ '(select count(*) from ' ~ settled ~ ' as settled), '
      ~ '(select ' ~ settled_hash ~ ' from ' ~ settled ~ ' as settled), '
      ~ '(select count(*) from ' ~ settled ~ ' as settled where settled.definition_fingerprint is null or settled.definition_fingerprint <> ' ~ fingerprint ~ ')'
  ).rows[0] -%}
  {{ return(row[0] == row[2] and (row[1] | string) == (row[3] | string) and row[4] == 0) }}
{% endmacro %}


{#- SQL: the sum over a relation's rows of a 64-bit hash of `expressions` (a list), exact (no
    overflow); none on an adapter without one (the caller then compares rows by a join). -#}
{% macro cuped__row_hash_sum(expressions) %}
  {{ return(adapter.dispatch('cuped__row_hash_sum', 'cuped')(expressions)) }}
{% endmacro %}

{% macro default__cuped__row_hash_sum(expressions) %}{{ return(none) }}{% endmacro %}

{#- DuckDB: hash() takes every value as it is; its UBIGINTs are summed as a HUGEINT. hash() of
    several values is the XOR of a mix of the first ones with the last one's hash, so a sum of them
    is not a 64-bit multiset hash: two rows that swap their last value (the analysis end) keep the
    sum whenever their mixed prefixes agree on the ~32 bits where the two values' hashes differ
    (a pair among 300k units is found in a second). Hashed once more, each row's hash is a full
    64-bit mix of all its values. -#}
{% macro duckdb__cuped__row_hash_sum(expressions) %}
  {{ return('sum(hash(hash(' ~ (expressions | join(', ')) ~ ')))') }}
{% endmacro %}

{#- PostgreSQL: hashtextextended (11+) of the values as text, each prefixed by its length (so no
    two rows of different values make the same text; a null is `n`); bigints summed as a numeric. -#}
{% macro postgres__cuped__row_hash_sum(expressions) %}
  {%- set parts = [] -%}
  {%- for expression in expressions -%}
    {%- set text = "cast(" ~ expression ~ " as text)" -%}
    {%- do parts.append("coalesce(length(" ~ text ~ ") || ':' || " ~ text ~ ", 'n')") -%}
  {%- endfor -%}
  {{ return("sum(hashtextextended(" ~ (parts | join(" || '|' || ")) ~ ", 0)::numeric)") }}
{% endmacro %}
