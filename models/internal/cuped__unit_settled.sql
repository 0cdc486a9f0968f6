{#-
  The stored half of an incremental build (`incremental:` in the `cuped` var; empty otherwise): one
  row per experiment × analysed unit with each metric's post- and pre-period aggregate over the
  unit's events before `settled_until`, the boundary of the run that wrote the row
  (cuped__incremental_boundary: the start of the day `lookback_days` before the latest event).
  cuped__unit_values adds the events from the boundary on, read again on every run, so an event that
  arrives late but within the lookback counts once.

  A run
  - keeps the rows of units whose windows are unchanged (same assigned_at, pre-period start and
    analysis end) and folds into them, by their aggregate (sums and counts add, maxima take the
    larger), the events between the previous boundary and the new one: the new day, not history;
  - computes from every event before the boundary the units it has no valid row for: new units,
    and units whose assignment time, `pre_period_days` or analysis end changed;
  - with a backfill (dbt's `--event-time-start` and `--event-time-end`), computes the units with an
    event in that range before the previous boundary again from every event, as new units: rows
    that arrived after their day had settled are counted (cuped__backfill_range);
  - rebuilds every row when the metrics' definitions change (cuped__incremental_fingerprint, stored
    with each row), and on `--full-refresh`.
  Sums, counts and maxima are kept as they are, in the type the aggregate has (an exact decimal
  stays exact): a unit's aggregate is the same however its events are split between runs. Counts of distinct values are refused with `incremental`
  (cuped__check_incremental_metrics). Events before a boundary that arrive after it has passed are
  not read until a backfill of their days or `--full-refresh`; cuped_incremental_state reports each
  experiment's boundary.
-#}
{%- set cuped_config = cuped.cuped__config() -%}
{%- set incremental = cuped_config['incremental'] -%}
{{ config(
    materialized=('incremental' if incremental else 'table'),
    unique_key=['experiment_id', 'unit_id'],
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    pre_hook="{{ cuped.cuped__join_planner_hook() }}",
    post_hook="{{ cuped.cuped__incremental_cleanup() }}",
) }}
/* depends_on: {{ ref('cuped__unit_daily_values') }} */
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__units'], (cuped_config['scans'] | map(attribute='source') | list) if incremental else []) }}
{%- else %}
{#- the daily series reads the boundary this table was left at by the previous run (cuped__incremental_daily.sql) -#}
{%- set scans = cuped_config['scans'] -%}
{%- set fingerprint = cuped.cuped__incremental_fingerprint(cuped_config) if execute else '' -%}

{#- the analysed units and their windows; `lean_units_select` without the variant (below) -#}
{%- set unit_columns = ['units.experiment_id', 'units.unit_id', 'units.variant', 'units.assigned_at', 'units.analysis_end_at', cuped.cuped__pre_period_start(cuped_config, 'units') ~ ' as pre_period_start'] -%}
{%- set units_where = '\n    from ' ~ ref('cuped__units') ~ ' as units\n    where units.exclusion_reason is null' -%}
{%- set units_select = '    select\n        ' ~ (unit_columns | join(',\n        ')) ~ units_where -%}
{%- set lean_units_select = '    select\n        ' ~ (unit_columns | reject('equalto', 'units.variant') | join(',\n        ')) ~ units_where -%}
{%- set units_cte = 'units as (\n\n' ~ units_select ~ '\n\n)' -%}
{#- the known units as each source's fold reads them: the CTE, or (below) the units themselves -#}
{%- set known_from = 'known_units' -%}

{%- if not incremental %}
{#- incremental builds are off: no stored values (and none left over to be read if they are turned on) -#}
{%- if execute and invocation_args_dict.get('event_time_start') is not none %}
{%- do log("cuped: nothing to backfill: `incremental` is off, so every build reads every event.", info=true) %}
{%- endif %}
{#- the documented columns (dbt's `persist_docs` warns about a documented column the table lacks) -#}
select
    cast(null as {{ dbt.type_string() }}) as experiment_id,
    cast(null as {{ dbt.type_string() }}) as unit_id,
    cast(null as {{ dbt.type_string() }}) as variant,
    cast(null as {{ dbt.type_timestamp() }}) as settled_until,
    cast(null as {{ dbt.type_timestamp() }}) as rebuilt_at,
    cast(null as {{ dbt.type_string() }}) as definition_fingerprint
where 1 = 0
{%- else %}

{#- what is stored, and whether it can be kept: an incremental run over rows of the same definitions -#}
{%- set state = {'rebuild': true, 'previous': none, 'boundary': none, 'latest': none} -%}
{%- if execute -%}
  {#- none when the table was built with `incremental: false` (no stored values) -#}
  {#- rows stored before they carried their variant (0.7.0) have another fingerprint (its
      `layout`): they are all computed again once -#}
  {%- set stored = cuped.cuped__stored_state(this if is_incremental() else none, 'max(settled_until)') -%}
  {%- if stored is not none and stored['fingerprint'] == fingerprint -%}
    {%- do state.update({'rebuild': false, 'previous': stored['values'][0]}) -%}
  {%- endif -%}
  {%- set found = cuped.cuped__incremental_boundary(cuped_config, state['previous']) -%}
  {%- set boundary = found['boundary'] -%}
  {#- the boundary never moves back: rows already settled past it stay valid -#}
  {%- if state['previous'] is not none and (boundary is none or boundary < state['previous']) -%}
    {%- set boundary = state['previous'] -%}
  {%- endif -%}
  {%- do state.update({'boundary': boundary, 'latest': found['latest']}) -%}
{%- endif -%}
{%- set boundary = cuped.cuped__timestamp_literal(state['boundary']) -%}
{%- set previous = cuped.cuped__timestamp_literal(state['previous']) -%}
{%- set fold = not state['rebuild'] and state['boundary'] is not none and (state['previous'] is none or state['boundary'] > state['previous']) -%}
{#- a backfill (`--event-time-start/--event-time-end`): the units with an event in it are computed again, as fresh units -#}
{%- set backfill = cuped.cuped__backfill_range(state['previous'], state['rebuild'], announce=true) if execute else none -%}
{%- do cuped.cuped__check_incremental_pair('cuped__unit_settled') -%}

{#- the analysed units, and which of them have a stored row computed over the same windows -#}
{%- set unit_sets -%}
{{ units_cte }},
{%- if state['rebuild'] %}

fresh_units as (

    select * from units

)
{%- else %}

{%- set backfill_sql = cuped.cuped__backfill_sql(scans, backfill, 'units') if backfill is not none else none -%}
{%- if backfill is not none %}

{{ backfill_sql['ctes'] }}
{%- endif %}

{#- the stored rows are read where they are joined, never through a CTE: read twice, a CTE is
    materialized, a copy of every stored row (at 10M units 1.2 s of the run's 5.3 s statement) -#}
{#- each analysed unit, known when its stored row was computed over the same windows (and it has no
    event in the backfill): one join -#}
classified as (

    select
        units.*,
        case when stored.unit_id is not null
            and {{ cuped.cuped__same_windows('stored', 'units', 'units.pre_period_start') }}
            and stored.variant = units.variant
            {%- if backfill is not none %}
            and {{ backfill_sql['outside'] }}
            {%- endif %}
        then 1 else 0 end as is_known,
        case when stored.unit_id is null then 0 else 1 end as is_stored
    from units
    left join {{ this }} as stored
        on stored.experiment_id = units.experiment_id
        and stored.unit_id = units.unit_id
    {%- if backfill is not none %}
    {{ backfill_sql['joins'] }}
    {%- endif %}

),

known_units as (

    select experiment_id, unit_id, variant, assigned_at, analysis_end_at, pre_period_start
    from classified
    where is_known = 1

),

fresh_units as (

    select experiment_id, unit_id, variant, assigned_at, analysis_end_at, pre_period_start
    from classified
    where is_known = 0

)
{%- endif %}
{%- endset %}
{#- the earliest event a fresh unit needs, so the scan of history skips what no fresh unit reads;
    and stored rows of units no longer analysed, which go before the run -#}
{%- set fresh = {'start': none, 'count': 0, 'counted': false} -%}
{#- the stored rows are every analysed unit's, over its current variant and windows (assignments
    unchanged since the previous run): no fresh unit and no row to delete, found without joining
    every unit to its stored row (cuped__settled_is_current) -#}
{%- if execute and state['boundary'] is not none and not state['rebuild'] and backfill is none
      and cuped.cuped__settled_is_current(this, cuped_config) -%}
  {%- do fresh.update({'counted': true}) -%}
  {%- do graph.update({'__cuped_settled_orphans__': 0}) -%}
{%- elif execute and state['boundary'] is not none -%}
  {%- set sql -%}
    with {{ unit_sets }}
    {%- if state['rebuild'] %}
    select count(*), min(pre_period_start), 0 from fresh_units
    {%- else %}
    select
        sum(case when is_known = 0 then 1 else 0 end),
        min(case when is_known = 0 then pre_period_start end),
        (select count(*) from {{ this }}) - sum(is_stored)
    from classified
    {%- endif %}
  {%- endset -%}
  {%- set result = run_query(sql) -%}
  {%- do fresh.update({'count': result.rows[0][0] or 0, 'start': result.rows[0][1], 'counted': true}) -%}
  {%- if backfill is not none -%}
    {%- do log("cuped: backfill of the events from " ~ backfill['start'] ~ " to " ~ backfill['end'] ~ " (UTC): " ~ fresh['count'] ~ " analysed units computed from all their events (those with an event in it, and any new unit)", info=true) -%}
  {%- endif -%}
  {#- the post-hook (cuped__incremental_cleanup) deletes them, after the run: compiling changes nothing -#}
  {%- do graph.update({'__cuped_settled_orphans__': result.rows[0][2] or 0}) -%}
{%- endif %}
{%- set scan_fresh = execute and fresh['count'] > 0 and fresh['start'] is not none -%}
{#- no fresh unit (counted above: the usual daily run): every analysed unit has a stored row over
    its current windows, so the known units are the analysed units, and the statement does not
    join every unit to the stored rows again (at 10M units the model took 4.7 s instead of 6.4 s) -#}
{%- if not state['rebuild'] and fresh['counted'] and fresh['count'] == 0 %}
{#- each source's fold reads the units where it joins them, not through a CTE that DuckDB would
    materialize (read by every source's fold: 2.3-2.9 s instead of 2.0 s for the fold's statement
    at 10M units), and without their variant (the folded rows keep their stored one) -#}
{%- set known_from = '(\n' ~ lean_units_select ~ '\n    ) as known_units' -%}
{%- set unit_sets -%}
units as (

{{ lean_units_select }}

),

known_units as (

    select * from units

),

fresh_units as (

    select *, cast(null as {{ dbt.type_string() }}) as variant
    from units
    where 1 = 0

)
{%- endset -%}
{%- endif %}

with {{ unit_sets }},
{% for scan in scans %}
{%- set k = scan['index'] %}

source_{{ k }}_events as (

{{ cuped.cuped__scan_events(scan) }}

),

source_{{ k }}_fresh_events as (

    select * from source_{{ k }}_events
    {%- if scan_fresh %}
    where event_at >= {{ cuped.cuped__timestamp_literal(fresh['start']) }}
        and event_at < {{ boundary }}
    {%- else %}
    {#- no unit to compute, or no event before the boundary: no row, the columns typed as always #}
    where 1 = 0
    {%- endif %}

),

source_{{ k }}_fresh as (

{{ cuped.cuped__per_unit_aggregates(cuped_config, scan, 'fresh_units', 'source_' ~ k ~ '_fresh_events') }}

),
{%- if fold %}

source_{{ k }}_fold_events as (

    select * from source_{{ k }}_events
    where event_at < {{ boundary }}
    {%- if state['previous'] is not none %}
        and event_at >= {{ previous }}
    {%- endif %}

),

{#- the known units with an event in those days, first: the join to the events then builds on them,
    not on every unit (at 10M units 4.5 s less); an inner join to the distinct units of those days
    hashes them, where `unit_id in (...)` hashed every known unit (0.2-0.3 s more at 10M units) -#}
source_{{ k }}_fold_units as (

    select known_units.*
    from {{ known_from }}
    inner join (select distinct unit_id from source_{{ k }}_fold_events) as fold_ids
        on fold_ids.unit_id = known_units.unit_id

),

source_{{ k }}_fold as (

{{ cuped.cuped__per_unit_aggregates(cuped_config, scan, 'source_' ~ k ~ '_fold_units', 'source_' ~ k ~ '_fold_events') }}

),
{%- endif %}
{%- endfor %}

fresh_rows as (

    select
        units.experiment_id,
        units.unit_id,
        units.variant,
        units.assigned_at,
        units.pre_period_start,
        units.analysis_end_at,
        {%- for scan in scans %}
        {%- for entry in scan['metrics'] %}
        {%- set i = entry['index'] %}
        {%- for column in cuped.cuped__settled_columns(entry) %}
        source_{{ scan['index'] }}_fresh.{{ column }},
        {%- endfor %}
        {%- endfor %}
        cast(coalesce(source_{{ scan['index'] }}_fresh.had_pre_period, 0) as integer) as source_{{ scan['index'] }}_had_pre_period,
        {%- endfor %}
        {{ cuped.cuped__timestamp_literal(run_started_at) }} as rebuilt_at
    from fresh_units as units
    {%- for scan in scans %}
    left join source_{{ scan['index'] }}_fresh
        on source_{{ scan['index'] }}_fresh.experiment_id = units.experiment_id
        and source_{{ scan['index'] }}_fresh.unit_id = units.unit_id
    {%- endfor %}

){%- if fold %},

{#- known units with events in the days that settle on this run: their stored row plus those days -#}
touched as (
    {%- for scan in scans %}
    select experiment_id, unit_id from source_{{ scan['index'] }}_fold
    {%- if not loop.last %}
    union
    {%- endif %}
    {%- endfor %}
),

folded_rows as (

    select
        stored.experiment_id,
        stored.unit_id,
        stored.variant,
        stored.assigned_at,
        stored.pre_period_start,
        stored.analysis_end_at,
        {%- for scan in scans %}
        {%- set k = scan['index'] %}
        {%- for entry in scan['metrics'] %}
        {%- for column in cuped.cuped__settled_columns(entry) %}
        {{ cuped.cuped__merge_aggregate({'agg': 'count'} if column.endswith('_rows') else entry['metric'], 'stored.' ~ column, 'source_' ~ k ~ '_fold.' ~ column) }} as {{ column }},
        {%- endfor %}
        {%- endfor %}
        cast(case when stored.source_{{ k }}_had_pre_period = 1 or source_{{ k }}_fold.had_pre_period = 1 then 1 else 0 end as integer) as source_{{ k }}_had_pre_period,
        {%- endfor %}
        stored.rebuilt_at
    from touched
    inner join {{ this }} as stored
        on stored.experiment_id = touched.experiment_id
        and stored.unit_id = touched.unit_id
    {%- for scan in scans %}
    left join source_{{ scan['index'] }}_fold
        on source_{{ scan['index'] }}_fold.experiment_id = touched.experiment_id
        and source_{{ scan['index'] }}_fold.unit_id = touched.unit_id
    {%- endfor %}

)
{%- endif %}

select
    *,
    {{ boundary }} as settled_until,
    {{ cuped.cuped__timestamp_literal(state['latest']) }} as latest_event_at,
    {{ cuped.cuped__literal(fingerprint) }} as definition_fingerprint
from fresh_rows
{%- if fold %}
union all
select
    *,
    {{ boundary }} as settled_until,
    {{ cuped.cuped__timestamp_literal(state['latest']) }} as latest_event_at,
    {{ cuped.cuped__literal(fingerprint) }} as definition_fingerprint
from folded_rows
{%- endif %}
{%- endif %}
{%- endif %}
