{#-
  The per-unit aggregate of one metric, as a SQL aggregate expression over the joined (units,
  events) rows of one group, restricted to the rows where `in_window` holds (a SQL predicate, or
  none for every row). The scan set `value_<i>` to null on rows that fail the metric's filter
  (cuped__scan_events), so the aggregates skip them as they skip nulls. The result is null when
  no row qualifies (callers coalesce to 0), except for proportions, which are 0 or 1.
-#}
{% macro cuped__unit_aggregate(metric, metric_index, in_window=none) %}
  {%- set value = 'events.value_' ~ metric_index -%}
  {%- set function = {'any': 'max', 'sum': 'sum', 'count': 'count', 'count_distinct': 'count_distinct', 'max': 'max'}[metric['agg']] -%}
  {%- if in_window is none -%}
    {%- set aggregate = 'count(distinct ' ~ value ~ ')' if function == 'count_distinct' else function ~ '(' ~ value ~ ')' -%}
  {%- else -%}
    {%- set aggregate = cuped.cuped__aggregate_where(function, value, in_window) -%}
  {%- endif -%}
  {{- 'coalesce(' ~ aggregate ~ ', 0)' if metric['agg'] == 'any' else aggregate -}}
{% endmacro %}

{#-
  The per-unit aggregates of one event-source scan: a select over `units` (experiment_id, unit_id,
  assigned_at, analysis_end_at) joined to `events` (the scan's rows, cuped__scan_events), one row
  per experiment × unit × period (`is_pre`) with each metric i's aggregate `metric_<i>` (and for
  `missing: exclude`, its rows with a value `metric_<i>_rows`) over
  [assigned_at − pre_period_days, analysis end]. cuped__unit_values reads it per source; the
  shipped test cuped.metric_values runs it on fixture rows, so the two cannot disagree.
-#}
{% macro cuped__per_unit_aggregates(config, scan, units, events) %}
    select
        units.experiment_id,
        units.unit_id,
        events.event_at < units.assigned_at as is_pre,
        {%- for entry in scan['metrics'] %}
        {%- if entry['metric']['missing'] == 'exclude' %}
        {{ cuped.cuped__unit_aggregate({'agg': 'count'}, entry['index'], cuped.cuped__window_end(entry['metric'])) }} as metric_{{ entry['index'] }}_rows,
        {%- endif %}
        {{ cuped.cuped__unit_aggregate(entry['metric'], entry['index'], cuped.cuped__window_end(entry['metric'])) }} as metric_{{ entry['index'] }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ units }} as units
    inner join {{ events }} as events
        on events.unit_id = units.unit_id
    where events.event_at >= {{ cuped.cuped__pre_period_start(config, 'units') }}
        and (units.analysis_end_at is null or events.event_at <= units.analysis_end_at)
    group by units.experiment_id, units.unit_id, events.event_at < units.assigned_at
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
