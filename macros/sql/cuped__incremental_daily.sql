{#-
  cuped__unit_daily_values in an incremental build (`incremental:` and `daily_series: true`): the
  same rows (each unit's cumulative post-period values at the end of every day they change), kept
  from run to run. It runs before cuped__unit_settled and reads that table's boundary as it was
  left by the previous run: the rows of days before it are final (their events were settled), the
  rows from its day on are recomputed from the events from it on, on top of the unit's last final
  row. So the series counts exactly the events cuped__unit_settled counts, late ones included.

  - Units it has no row for, or whose assignment time or analysis end changed, get every row from
    their events (the units' post windows only); so do the units cuped__unit_settled computes from
    every event on this run (no stored row over their current windows, their pre-period start
    included: a changed `pre_period_days`, units excluded for a run and back), so the series and
    the results count the same rows of each unit.
  - Units with an event from the boundary on get their final rows back and the later days anew
    (delete+insert by unit); the others are not touched.
  - With a backfill (dbt's `--event-time-start/--event-time-end`), the units with an event in it
    before the boundary get every row again, as new units do (cuped__backfill_range).
  - Everything is rebuilt on the first run, on `--full-refresh`, when the metrics' definitions
    change (cuped__incremental_fingerprint) and when cuped__unit_settled was rebuilt since (it
    read rows this table did not).
  Besides each value (`metric_<i>_post`, 0 before any event) it keeps the running aggregate itself
  (`metric_<i>_total`, null before any event), which a maximum needs to continue from.
-#}
{% macro cuped__incremental_unit_daily_values(config) %}
  {%- set scans = config['scans'] -%}
  {%- set fingerprint = cuped.cuped__incremental_fingerprint(config) if execute else '' -%}
  {%- set state = {'rebuild': true, 'boundary': none} -%}
  {%- if execute -%}
    {%- set own = cuped.cuped__stored_state(this if is_incremental() else none, 'min(rebuilt_at)') -%}
    {%- set settled_node = graph.nodes.get('model.cuped.cuped__unit_settled') -%}
    {%- set settled = adapter.get_relation(settled_node.database, settled_node.schema, settled_node.alias) if settled_node else none -%}
    {%- set stored = cuped.cuped__stored_state(settled, 'max(settled_until), min(rebuilt_at)') -%}
    {%- if own is not none and own['fingerprint'] == fingerprint and stored is not none and stored['fingerprint'] == fingerprint
          and stored['values'][0] is not none and stored['values'][1] <= own['values'][0] -%}
      {%- do state.update({'rebuild': false, 'boundary': stored['values'][0], 'settled': settled}) -%}
    {%- endif -%}
    {%- do cuped.cuped__check_incremental_pair('cuped__unit_daily_values') -%}
  {%- endif -%}
  {%- set boundary = cuped.cuped__timestamp_literal(state['boundary']) -%}
  {%- set boundary_day = cuped.cuped__local_date(boundary, config['timezone']) -%}
  {#- a backfill: the units with an event in it get every row again, as fresh units (cuped__backfill_range) -#}
  {%- set backfill = cuped.cuped__backfill_range(state['boundary'], state['rebuild']) if execute else none %}

with units as (

    select experiment_id, unit_id, variant, assigned_at, analysis_end_at
    from {{ ref('cuped__units') }}
    where exclusion_reason is null

),
{%- if state['rebuild'] %}

fresh_units as (

    select * from units

),
{%- else %}

stored as (

    select * from {{ this }}

),
{%- if backfill is not none %}
{%- set backfill_sql = cuped.cuped__backfill_sql(scans, backfill, 'units') %}

{{ backfill_sql['ctes'] }}
{%- endif %}

{#- the units whose rows were computed over the same windows (and that have no event in the backfill):
    one row each (every unit has a row, on its assignment day) -#}
known_units as (

    select units.*, stored_units.rebuilt_at
    from units
    inner join (
        select distinct experiment_id, unit_id, assigned_at, analysis_end_at, rebuilt_at from stored
    ) as stored_units
        on stored_units.experiment_id = units.experiment_id
        and stored_units.unit_id = units.unit_id
        and {{ cuped.cuped__same_windows('stored_units', 'units') }}
    {#- and known to cuped__unit_settled, which runs next: its stored row (left by the previous run)
        is over the same windows, the pre-period start included (cuped__unit_settled.sql) -#}
    inner join {{ state['settled'] }} as settled
        on settled.experiment_id = units.experiment_id
        and settled.unit_id = units.unit_id
        and {{ cuped.cuped__same_windows('settled', 'units', cuped.cuped__pre_period_start(config, 'units')) }}
        and settled.variant = units.variant
    {%- if backfill is not none %}
    {{ backfill_sql['joins'] }}
    where {{ backfill_sql['outside'] }}
    {%- endif %}

),

fresh_units as (

    select units.*
    from units
    left join known_units
        on known_units.experiment_id = units.experiment_id
        and known_units.unit_id = units.unit_id
    where known_units.unit_id is null

),
{%- endif %}
{% for scan in scans %}
{%- set k = scan['index'] %}

source_{{ k }}_events as (

{{ cuped.cuped__scan_events(scan) }}

),

source_{{ k }}_fresh_daily as (

{{ cuped.cuped__unit_day_aggregates(config, scan, 'fresh_units', 'source_' ~ k ~ '_events') }}

),
{%- if not state['rebuild'] %}

source_{{ k }}_open_events as (

    select * from source_{{ k }}_events where event_at >= {{ boundary }}

),

source_{{ k }}_open_daily as (

{{ cuped.cuped__unit_day_aggregates(config, scan, 'known_units', 'source_' ~ k ~ '_open_events') }}

),
{%- endif %}
{%- endfor %}

{{ cuped.cuped__cumulative_days(config, 'fresh', 'fresh_units', 'fresh_daily', none) }}
{%- if not state['rebuild'] %},

{#- known units with events from the boundary on: their final rows, and the days from the boundary anew -#}
touched as (
    {%- for scan in scans %}
    select distinct experiment_id, unit_id from source_{{ scan['index'] }}_open_daily
    {%- if not loop.last %}
    union
    {%- endif %}
    {%- endfor %}
),

touched_units as (

    select known_units.*
    from known_units
    inner join touched
        on touched.experiment_id = known_units.experiment_id
        and touched.unit_id = known_units.unit_id

),

final_rows as (

    select stored.*
    from stored
    inner join touched
        on touched.experiment_id = stored.experiment_id
        and touched.unit_id = stored.unit_id
    where stored.day < {{ boundary_day }}

),

{#- each touched unit's values at the boundary: its last final row -#}
base as (

    select * from (
        select
            final_rows.*,
            row_number() over (partition by experiment_id, unit_id order by day desc) as latest
        from final_rows
    ) as ranked
    where latest = 1

),

{{ cuped.cuped__cumulative_days(config, 'open', 'touched_units', 'open_daily', boundary_day) }}
{%- endif %}

{#- the columns of a row, in order (the cumulative CTEs have them in this order too) -#}
{%- set columns = ['experiment_id', 'unit_id', 'day'] -%}
{%- for entry in cuped.cuped__daily_metrics(config) -%}
  {%- do columns.extend(['metric_' ~ entry['index'] ~ '_post', 'metric_' ~ entry['index'] ~ '_total']) -%}
  {%- if entry['metric']['missing'] == 'exclude' -%}
    {%- do columns.extend(['metric_' ~ entry['index'] ~ '_observed', 'metric_' ~ entry['index'] ~ '_rows_total']) -%}
  {%- endif -%}
{%- endfor -%}
{%- do columns.extend(['assigned_at', 'analysis_end_at', 'rebuilt_at']) %}

select
    {{ columns | join(', ') }},
    {{ cuped.cuped__literal(fingerprint) }} as definition_fingerprint
from (
    select * from fresh_cumulative
    {%- if not state['rebuild'] %}
    union all
    select * from open_cumulative
    union all
    select {{ columns | join(', ') }}
    from final_rows
    {%- endif %}
) as rows_written
{%- endmacro %}


{#- The metrics of the daily series, in order: every metric read from events (all but ratios). -#}
{% macro cuped__daily_metrics(config) %}
  {%- set metrics = [] -%}
  {%- for scan in config['scans'] -%}{%- for entry in scan['metrics'] -%}{%- do metrics.append(entry) -%}{%- endfor -%}{%- endfor -%}
  {{ return(metrics | sort(attribute='index')) }}
{% endmacro %}


{#-
  One scan's per-unit, per-day parts of the post-period values: a select over `units`
  (experiment_id, unit_id, assigned_at, analysis_end_at) joined to `events` (the scan's rows) in
  each unit's post window, one row per experiment × unit × day (in `timezone`) with events, with
  each metric's aggregate of the day `metric_<i>_day` (and `metric_<i>_rows_day` for
  `missing: exclude`). Counts of distinct values are not parts of a sum: the caller handles them.
-#}
{% macro cuped__unit_day_aggregates(config, scan, units, events) %}
    select
        units.experiment_id,
        units.unit_id,
        {{ cuped.cuped__local_date('events.event_at', config['timezone']) }} as day,
        {%- for entry in scan['metrics'] if entry['metric']['agg'] != 'count_distinct' %}
        {{ cuped.cuped__unit_aggregate(entry['metric'], entry['index'], cuped.cuped__window_end(entry['metric'])) }} as metric_{{ entry['index'] }}_day,
        {%- endfor %}
        {%- for entry in scan['metrics'] if entry['metric']['missing'] == 'exclude' %}
        {{ cuped.cuped__unit_aggregate({'agg': 'count'}, entry['index'], cuped.cuped__window_end(entry['metric'])) }} as metric_{{ entry['index'] }}_rows_day,
        {%- endfor %}
        1 as has_events
    from {{ units }} as units
    inner join {{ events }} as events
        on events.unit_id = units.unit_id
    where events.event_at >= units.assigned_at
        and (units.analysis_end_at is null or events.event_at <= units.analysis_end_at)
    group by units.experiment_id, units.unit_id, {{ cuped.cuped__local_date('events.event_at', config['timezone']) }}
{%- endmacro %}


{#-
  CTEs `<name>_days` and `<name>_cumulative`: for the units of `units`, the rows of each day from
  `from_day` on (every day when none) that is the unit's assignment day or has events in the
  scans' `source_<k>_<daily>` parts, with each metric's value at the end of the day: the running
  aggregate of its parts, continued from the unit's row in `base` when `from_day` is given.
-#}
{% macro cuped__cumulative_days(config, name, units, daily, from_day) %}
  {%- set scans = config['scans'] -%}
  {%- set double = cuped.cuped__type_double() -%}
{{ name }}_days as (

    select
        unit_days.experiment_id,
        unit_days.unit_id,
        unit_days.day
        {%- for scan in scans %}
        {%- for entry in scan['metrics'] %},
        source_{{ scan['index'] }}_{{ daily }}.metric_{{ entry['index'] }}_day
        {%- if entry['metric']['missing'] == 'exclude' %},
        source_{{ scan['index'] }}_{{ daily }}.metric_{{ entry['index'] }}_rows_day
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
    from (
        select experiment_id, unit_id, {{ cuped.cuped__local_date('assigned_at', config['timezone']) }} as day from {{ units }}
        {%- if from_day is not none %}
        where {{ cuped.cuped__local_date('assigned_at', config['timezone']) }} >= {{ from_day }}
        {%- endif %}
        {%- for scan in scans %}
        union
        select experiment_id, unit_id, day from source_{{ scan['index'] }}_{{ daily }}
        {%- endfor %}
    ) as unit_days
    {%- for scan in scans %}
    left join source_{{ scan['index'] }}_{{ daily }}
        on source_{{ scan['index'] }}_{{ daily }}.experiment_id = unit_days.experiment_id
        and source_{{ scan['index'] }}_{{ daily }}.unit_id = unit_days.unit_id
        and source_{{ scan['index'] }}_{{ daily }}.day = unit_days.day
    {%- endfor %}

),

{{ name }}_running as (

    select
        experiment_id,
        unit_id,
        day
        {%- for entry in cuped.cuped__daily_metrics(config) %},
        {{ cuped.cuped__daily_accumulation(entry['metric']) }}(metric_{{ entry['index'] }}_day) over (
            partition by experiment_id, unit_id order by day rows between unbounded preceding and current row
        ) as metric_{{ entry['index'] }}_running
        {%- if entry['metric']['missing'] == 'exclude' %},
        sum(metric_{{ entry['index'] }}_rows_day) over (
            partition by experiment_id, unit_id order by day rows between unbounded preceding and current row
        ) as metric_{{ entry['index'] }}_rows_running
        {%- endif %}
        {%- endfor %}
    from {{ name }}_days

),

{{ name }}_cumulative as (

    select
        running.experiment_id,
        running.unit_id,
        running.day,
        {%- for entry in cuped.cuped__daily_metrics(config) %}
        {%- set i = entry['index'] %}
        {%- set total = cuped.cuped__merge_aggregate(entry['metric'], 'base.metric_' ~ i ~ '_total', 'running.metric_' ~ i ~ '_running') if from_day is not none else 'running.metric_' ~ i ~ '_running' %}
        cast(coalesce({{ total }}, 0) as {{ double }}) as metric_{{ i }}_post,
        {{ total }} as metric_{{ i }}_total,
        {%- if entry['metric']['missing'] == 'exclude' %}
        {%- set rows = cuped.cuped__merge_aggregate({'agg': 'count'}, 'base.metric_' ~ i ~ '_rows_total', 'running.metric_' ~ i ~ '_rows_running') if from_day is not none else 'running.metric_' ~ i ~ '_rows_running' %}
        case when coalesce({{ rows }}, 0) > 0 then 1 else 0 end as metric_{{ i }}_observed,
        {{ rows }} as metric_{{ i }}_rows_total,
        {%- endif %}
        {%- endfor %}
        units.assigned_at,
        units.analysis_end_at,
        {{ ('units.rebuilt_at' if from_day is not none else cuped.cuped__timestamp_literal(run_started_at)) }} as rebuilt_at
    from {{ name }}_running as running
    inner join {{ units }} as units
        on units.experiment_id = running.experiment_id
        and units.unit_id = running.unit_id
    {%- if from_day is not none %}
    left join base
        on base.experiment_id = running.experiment_id
        and base.unit_id = running.unit_id
    {%- endif %}

)
{%- endmacro %}
