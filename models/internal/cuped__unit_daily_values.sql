{#-
  One row per experiment × analysed unit × day on which the unit's metrics can change (its
  assignment day and every day with post-period events): each (non-ratio) metric's cumulative
  post-period value as of the end of that day, `metric_<i>_post` (and for a metric with
  `missing: exclude`, `metric_<i>_observed`: 1 from the day of its first row with a value). Built from per-unit-per-day
  aggregates in one scan of each source and running sums/maxima over days, so the cumulative
  series costs one pass, not one recomputation per day. Empty unless `daily_series: true`. In an
  incremental build, kept from run to run (macros/sql/cuped__incremental_daily.sql).
-#}
{%- set cuped_config = cuped.cuped__config() -%}
{%- set incremental = cuped_config['incremental'] is not none and cuped_config['daily_series'] -%}
{{ config(
    materialized=('incremental' if incremental else 'table'),
    unique_key=['experiment_id', 'unit_id'],
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    pre_hook="{{ cuped.cuped__join_planner_hook() }}",
    post_hook="{{ cuped.cuped__incremental_cleanup() }}",
) }}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__units'], (cuped_config['scans'] | map(attribute='source') | list) if cuped_config['daily_series'] else []) }}
{%- else %}
{%- if incremental %}
{{ cuped.cuped__incremental_unit_daily_values(cuped_config) }}
{%- else %}
{%- set config = cuped_config -%}
{%- set scans = config['scans'] -%}
{%- set double = cuped__type_double() -%}
{%- set metrics = [] -%}
{%- for scan in scans -%}{%- for entry in scan['metrics'] -%}{%- do metrics.append(entry) -%}{%- endfor -%}{%- endfor -%}

with units as (

    select experiment_id, unit_id, assigned_at, analysis_end_at
    from {{ ref('cuped__units') }}
    where exclusion_reason is null
    {%- if not config['daily_series'] %}
        and 1 = 0
    {%- endif %}

),
{%- if config['daily_series'] %}
{% for scan in scans %}
{%- set k = scan['index'] %}

source_{{ k }}_events as (

{{ cuped__scan_events(scan) }}

),

source_{{ k }}_post_events as (

    select
        units.experiment_id,
        units.unit_id,
        units.assigned_at,
        events.event_at,
        {{ cuped__local_date('events.event_at', config['timezone']) }} as day
        {%- for entry in scan['metrics'] %},
        events.value_{{ entry['index'] }}
        {%- endfor %}
    from units
    inner join source_{{ k }}_events as events
        on events.unit_id = units.unit_id
    where events.event_at >= units.assigned_at
        and (units.analysis_end_at is null or events.event_at <= units.analysis_end_at)

),

source_{{ k }}_daily as (

    select
        experiment_id,
        unit_id,
        day,
        {%- for entry in scan['metrics'] if entry['metric']['agg'] != 'count_distinct' %}
        {{ cuped__unit_aggregate(entry['metric'], entry['index'], cuped__window_end(entry['metric'], units='events')) }} as metric_{{ entry['index'] }}_day,
        {%- endfor %}
        {%- for entry in scan['metrics'] if entry['metric']['missing'] == 'exclude' %}
        {{ cuped__unit_aggregate({'agg': 'count'}, entry['index'], cuped__window_end(entry['metric'], units='events')) }} as metric_{{ entry['index'] }}_rows_day,
        {%- endfor %}
        1 as has_events
    from source_{{ k }}_post_events as events
    group by experiment_id, unit_id, day

),
{%- for entry in scan['metrics'] if entry['metric']['agg'] == 'count_distinct' %}
{%- set i = entry['index'] %}

metric_{{ i }}_first_seen as (

    select experiment_id, unit_id, first_day as day, count(*) as metric_{{ i }}_day
    from (
        select experiment_id, unit_id, value_{{ i }}, min(day) as first_day
        from source_{{ k }}_post_events as events
        where value_{{ i }} is not null
        {%- if entry['metric']['window_days'] is not none %}
            and {{ cuped__window_end(entry['metric'], units='events') }}
        {%- endif %}
        group by experiment_id, unit_id, value_{{ i }}
    ) as first_seen
    group by experiment_id, unit_id, first_day

),
{%- endfor %}
{%- endfor %}

unit_days as (

    select experiment_id, unit_id, {{ cuped__local_date('assigned_at', config['timezone']) }} as day from units
    {%- for scan in scans %}
    union
    select experiment_id, unit_id, day from source_{{ scan['index'] }}_daily
    {%- endfor %}

),

daily as (

    select
        unit_days.experiment_id,
        unit_days.unit_id,
        unit_days.day
        {%- for scan in scans %}
        {%- for entry in scan['metrics'] %}
        {%- if entry['metric']['agg'] == 'count_distinct' %},
        metric_{{ entry['index'] }}_first_seen.metric_{{ entry['index'] }}_day
        {%- else %},
        source_{{ scan['index'] }}_daily.metric_{{ entry['index'] }}_day
        {%- endif %}
        {%- if entry['metric']['missing'] == 'exclude' %},
        source_{{ scan['index'] }}_daily.metric_{{ entry['index'] }}_rows_day
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
    from unit_days
    {%- for scan in scans %}
    left join source_{{ scan['index'] }}_daily
        on source_{{ scan['index'] }}_daily.experiment_id = unit_days.experiment_id
        and source_{{ scan['index'] }}_daily.unit_id = unit_days.unit_id
        and source_{{ scan['index'] }}_daily.day = unit_days.day
    {%- for entry in scan['metrics'] if entry['metric']['agg'] == 'count_distinct' %}
    left join metric_{{ entry['index'] }}_first_seen
        on metric_{{ entry['index'] }}_first_seen.experiment_id = unit_days.experiment_id
        and metric_{{ entry['index'] }}_first_seen.unit_id = unit_days.unit_id
        and metric_{{ entry['index'] }}_first_seen.day = unit_days.day
    {%- endfor %}
    {%- endfor %}

)

select
    experiment_id,
    unit_id,
    day
    {%- for entry in metrics %},
    cast(coalesce({{ cuped__daily_accumulation(entry['metric']) }}(metric_{{ entry['index'] }}_day) over (
        partition by experiment_id, unit_id order by day rows between unbounded preceding and current row
    ), 0) as {{ double }}) as metric_{{ entry['index'] }}_post
    {%- if entry['metric']['missing'] == 'exclude' %},
    case when coalesce(sum(metric_{{ entry['index'] }}_rows_day) over (
        partition by experiment_id, unit_id order by day rows between unbounded preceding and current row
    ), 0) > 0 then 1 else 0 end as metric_{{ entry['index'] }}_observed
    {%- endif %}
    {%- endfor %}
from daily
{%- else %}

empty as (

    select
        experiment_id,
        unit_id,
        {{ cuped__local_date('assigned_at', config['timezone']) }} as day
        {%- for entry in metrics %},
        cast(0 as {{ double }}) as metric_{{ entry['index'] }}_post
        {%- if entry['metric']['missing'] == 'exclude' %},
        0 as metric_{{ entry['index'] }}_observed
        {%- endif %}
        {%- endfor %}
    from units

)

select * from empty
{%- endif %}
{%- endif %}
{%- endif %}
