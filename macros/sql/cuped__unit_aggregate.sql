{#-
  The per-unit aggregate of one metric, as a SQL aggregate expression over the joined (units,
  events) rows of one group, restricted to the rows where `in_window` holds (a SQL predicate, or
  none for every row). The scan set `value_<i>` to null on rows that fail the metric's filter
  (cuped__scan_events), so the aggregates skip them as they skip nulls. The result is null when
  no row qualifies (callers coalesce to 0), except for proportions, which are 0 or 1. The
  aggregate of a configured metric starts with a comment naming it: a `value` of the wrong type
  fails here, and the warehouse quotes this line.
-#}
{% macro cuped__unit_aggregate(metric, metric_index, in_window=none) %}
  {%- set value = 'events.value_' ~ metric_index -%}
  {%- set function = {'any': 'max', 'sum': 'sum', 'count': 'count', 'count_distinct': 'count_distinct', 'max': 'max'}[metric['agg']] -%}
  {%- if in_window is none -%}
    {%- set aggregate = 'count(distinct ' ~ value ~ ')' if function == 'count_distinct' else function ~ '(' ~ value ~ ')' -%}
  {%- else -%}
    {%- set aggregate = cuped.cuped__aggregate_where(function, value, in_window) -%}
  {%- endif -%}
  {%- set named = (cuped.cuped__sql_comment("cuped: metric '" ~ metric['name'] ~ "': `agg` of `value`") ~ ' ') if metric.get('name') is not none else '' -%}
  {{- named ~ ('coalesce(' ~ aggregate ~ ', 0)' if metric['agg'] == 'any' else aggregate) -}}
{% endmacro %}

{#-
  The per-unit aggregates of one event-source scan: a select over `units` (experiment_id, unit_id,
  assigned_at, analysis_end_at) joined to `events` (the scan's rows, cuped__scan_events) over
  [assigned_at − pre_period_days, analysis end], one row per experiment × unit with events, with
  each metric i's post-period `metric_<i>_post` and pre-period `metric_<i>_pre` aggregate (null
  without a qualifying row; for `missing: exclude` also `metric_<i>_rows`, its post-period rows
  with a value) and `had_pre_period` (1 with any pre-period row of the source). cuped__unit_values
  reads it per source; the shipped test cuped.metric_values runs it on fixture rows.

  Two shapes, measured on the benchmark's data (DuckDB): with few metrics one group by per unit,
  each aggregate filtered by its period (at 10M units and 3 metrics 12 s, against 15 s and more
  memory for the other shape); with many, the period is part of the group key, so each metric
  needs one aggregate with no filter (at 1M units and 50 metrics 7-9 s against 17-21 s), and the
  post and pre rows are joined back into one. They cross between 6 and 10 metrics per source.
  With `narrow_counts` (for callers that cast every value to a double) the second shape holds
  its counts as 32-bit integers on DuckDB (cuped__narrow_count; unchanged elsewhere).

  With `every_unit` (the first table of the staged chain, on DuckDB only:
  macros/sql/cuped__staged_sources.sql) the units are left-joined to the events, so every unit
  of `units` gets a row (a unit without events in its windows one post-period row of empty
  aggregates: counts 0, other aggregates null, as the callers' coalesce to 0 makes them anyway),
  carrying its variant, assigned_at and analysis_end_at: the caller needs no second join of the
  units to the wide result (at 100 metrics, 1M units and a 2.8 GB limit the first stage took
  7.3-7.6 s this way against 7.9-9.0 s).

  With `periods_apart` (the staged chain, DuckDB only; implied by `every_unit`) the second shape
  aggregates the post and the pre period in two group bys of their own, each over its own join of
  the units to the events (the caller's events CTE is not materialized: it is scanned twice),
  instead of one group by per unit and period whose rows are materialized and split again: two
  hash tables of half the groups, built one after the other, hold less under a memory limit (the
  first stage above took 5.8-5.9 s this way against 6.8-7.8 s).
-#}
{% macro cuped__per_unit_aggregates(config, scan, units, events, narrow_counts=false, every_unit=false, periods_apart=false) %}
  {%- set join -%}
    from {{ units }} as units
    {{ 'left' if every_unit else 'inner' }} join {{ events }} as events
        on events.unit_id = units.unit_id
    {{ 'and' if every_unit else 'where' }} events.event_at >= {{ cuped.cuped__pre_period_start(config, 'units') }}
        and (units.analysis_end_at is null or events.event_at <= units.analysis_end_at)
  {%- endset -%}
  {#- with every_unit, a unit without events has one row of nulls from the join: a post-period row -#}
  {%- set is_pre = 'coalesce(events.event_at < units.assigned_at, false)' if every_unit else 'events.event_at < units.assigned_at' -%}
  {%- set unit_columns = ['variant', 'assigned_at', 'analysis_end_at'] if every_unit else [] -%}
  {#- the only shape of many metrics built and tested with every_unit: its periods apart -#}
  {%- set periods_apart = periods_apart or every_unit -%}
  {%- if scan['metrics'] | length <= 8 %}
    select
        experiment_id,
        unit_id,
        {%- for column in unit_columns %}
        any_value({{ column }}) as {{ column }},
        {%- endfor %}
        {%- for entry in scan['metrics'] %}
        {%- set i = entry['index'] %}
        {%- set window = cuped.cuped__window_end(entry['metric'], units='events') %}
        {%- set post = 'not events.is_pre' ~ ((' and ' ~ window) if window else '') %}
        {%- if entry['metric']['missing'] == 'exclude' %}
        {{ cuped.cuped__unit_aggregate({'agg': 'count'}, i, post) }} as metric_{{ i }}_rows,
        {%- endif %}
        {{ cuped.cuped__unit_aggregate(entry['metric'], i, post) }} as metric_{{ i }}_post,
        {{ cuped.cuped__unit_aggregate(entry['metric'], i, 'events.is_pre') }} as metric_{{ i }}_pre,
        {%- endfor %}
        max(case when events.is_pre then 1 else 0 end) as had_pre_period
    from (
        select
            units.experiment_id,
            units.unit_id,
            units.assigned_at,
            {%- if every_unit %}
            units.variant,
            units.analysis_end_at,
            {%- endif %}
            events.event_at,
            {{ is_pre }} as is_pre
            {%- for entry in scan['metrics'] %},
            events.value_{{ entry['index'] }}
            {%- endfor %}
        {{ join }}
    ) as events
    group by experiment_id, unit_id
  {%- else %}
    {#- each metric's aggregate of one period, and the post-period rows with a value of `missing: exclude` -#}
    {%- set period_aggregates = [] %}
    {%- set rows_aggregates = [] %}
    {%- for entry in scan['metrics'] %}
      {%- set window = cuped.cuped__window_end(entry['metric']) %}
      {%- set name = entry['metric']['name'] %}
      {%- if entry['metric']['missing'] == 'exclude' %}
        {%- set rows = cuped.cuped__unit_aggregate({'agg': 'count'}, entry['index'], window) %}
        {%- do rows_aggregates.append((cuped.cuped__narrow_count(rows, name) if narrow_counts else rows) ~ ' as metric_' ~ entry['index'] ~ '_rows') %}
      {%- endif %}
      {%- set aggregate = cuped.cuped__unit_aggregate(entry['metric'], entry['index'], window) %}
      {%- do period_aggregates.append((cuped.cuped__narrow_count(aggregate, name) if narrow_counts and entry['metric']['agg'] in ['count', 'count_distinct'] else aggregate) ~ ' as metric_' ~ entry['index']) %}
    {%- endfor %}
    {%- set period_end = '(units.analysis_end_at is null or events.event_at <= units.analysis_end_at)' %}
    {#- a row's keys, and with every_unit its unit's columns -#}
    {%- set unit_keys -%}
            units.experiment_id,
            units.unit_id,
            {%- for column in unit_columns %}
            any_value(units.{{ column }}) as {{ column }},
            {%- endfor %}
    {%- endset %}
    {%- if periods_apart %}
    with post as (

        select
            {{ unit_keys }}
            {{ (rows_aggregates + period_aggregates) | join(',\n            ') }}
        from {{ units }} as units
        {{ 'left' if every_unit else 'inner' }} join {{ events }} as events
            on events.unit_id = units.unit_id
            and events.event_at >= units.assigned_at
            and {{ period_end }}
        group by units.experiment_id, units.unit_id

    ),

    pre as (

        select
            units.experiment_id,
            units.unit_id,
            {{ period_aggregates | join(',\n            ') }}
        from {{ units }} as units
        inner join {{ events }} as events
            on events.unit_id = units.unit_id
        where events.event_at >= {{ cuped.cuped__pre_period_start(config, 'units') }}
            and events.event_at < units.assigned_at
            and {{ period_end }}
        group by units.experiment_id, units.unit_id

    )
    {%- else %}
    with per_period as (

        select
            {{ unit_keys }}
            {{ is_pre }} as is_pre,
            {{ (rows_aggregates + period_aggregates) | join(',\n            ') }}
        {{ join }}
        group by units.experiment_id, units.unit_id, {{ is_pre }}

    )
    {%- endif %}

    select
        coalesce(post.experiment_id, pre.experiment_id) as experiment_id,
        coalesce(post.unit_id, pre.unit_id) as unit_id,
        {%- for column in unit_columns %}
        post.{{ column }},
        {%- endfor %}
        {%- for entry in scan['metrics'] %}
        {%- if entry['metric']['missing'] == 'exclude' %}
        post.metric_{{ entry['index'] }}_rows,
        {%- endif %}
        post.metric_{{ entry['index'] }} as metric_{{ entry['index'] }}_post,
        pre.metric_{{ entry['index'] }} as metric_{{ entry['index'] }}_pre,
        {%- endfor %}
        case when pre.unit_id is null then 0 else 1 end as had_pre_period
    {%- if periods_apart %}
    from post
    {{ 'left' if every_unit else 'full outer' }} join pre
    {%- else %}
    from (select * from per_period where not is_pre) as post
    full outer join (select * from per_period where is_pre) as pre
    {%- endif %}
        on pre.experiment_id = post.experiment_id
        and pre.unit_id = post.unit_id
  {%- endif %}
{%- endmacro %}

{#-
  An aggregate over the rows where `condition` holds: `sum`, `count`, `count_distinct` or `max` of
  `value`. Warehouses with the SQL-standard FILTER
  clause use it (it skips the rows instead of evaluating a CASE per aggregate); the default is
  the portable CASE form, with the same results.
-#}
{% macro cuped__aggregate_where(function, value, condition) %}
  {{- return(adapter.dispatch('cuped__aggregate_where', 'cuped')(function, value, condition)) -}}
{% endmacro %}

{% macro default__cuped__aggregate_where(function, value, condition) -%}
  {%- if function == 'count_distinct' -%}
    count(distinct case when {{ condition }} then {{ value }} end)
  {%- else -%}
    {{ function }}(case when {{ condition }} then {{ value }} end)
  {%- endif -%}
{%- endmacro %}

{% macro duckdb__cuped__aggregate_where(function, value, condition) -%}
  {%- if function == 'count_distinct' -%}
    count(distinct {{ value }}) filter (where {{ condition }})
  {%- else -%}
    {{ function }}({{ value }}) filter (where {{ condition }})
  {%- endif -%}
{%- endmacro %}

{% macro postgres__cuped__aggregate_where(function, value, condition) -%}
  {{ duckdb__cuped__aggregate_where(function, value, condition) }}
{%- endmacro %}

{#-
  A per-unit count (`aggregate`, of metric `metric_name`) in a narrower exact type where that is
  faster: on DuckDB a 32-bit integer, which halves what the many-metrics shape holds per count in
  its hash tables (at 100 metrics and 1M units, the statement joining 47 counting metrics' values
  to the other source's took 8.8-8.9 s instead of 10.7 s). A count beyond its range stops the
  build with a message naming the metric, the unit and the experiment, never a wrapped value.
  Elsewhere the count is left as it is.
-#}
{% macro cuped__narrow_count(aggregate, metric_name) %}
  {{- return(adapter.dispatch('cuped__narrow_count', 'cuped')(aggregate, metric_name)) -}}
{% endmacro %}

{% macro default__cuped__narrow_count(aggregate, metric_name) -%}
  {{ aggregate }}
{%- endmacro %}

{% macro duckdb__cuped__narrow_count(aggregate, metric_name) -%}
  case when {{ aggregate }} > 2147483647 then error({{ cuped.cuped__literal("cuped: metric '" ~ metric_name ~ "' counts more than 2,147,483,647 events of unit ") }} || cast(units.unit_id as {{ dbt.type_string() }}) || ' in experiment ' || units.experiment_id || ' in one period: such a unit is usually a placeholder id (anonymous or test traffic); leave its events out with the metric''s `filter`, or its rows out of the assignments') else cast({{ aggregate }} as integer) end
{%- endmacro %}
