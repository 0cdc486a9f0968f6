{#-
  The rows of one event source as the package reads them: unit, event time, and for each metric
  read from it the value expression (`value_<i>`) and whether the row passes its filter
  (`passes_<i>`), both evaluated in the source's own scope, so user expressions can never clash
  with the package's column names. Checks first that the configured columns exist.

  With `all_scans`, the rows also carry `source_index` and the value/passes columns of every
  other source's metrics (null and 0), so the sources can be stacked with `union all`.
-#}
{% macro cuped__scan_events(scan, all_scans=none) %}
  {%- set relation = cuped__relation(scan['source']) -%}
  {%- set checks = [] -%}
  {%- for entry in scan['metrics'] -%}
    {%- do checks.append([scan['unit_column'], "metric '" ~ entry['metric']['name'] ~ "': `unit_column`"]) -%}
    {%- do checks.append([scan['timestamp_column'], "metric '" ~ entry['metric']['name'] ~ "': `timestamp_column`"]) -%}
  {%- endfor -%}
  {{- cuped__check_columns(relation, checks) -}}
    select
        {%- if all_scans is not none %}
        {{ scan['index'] }} as source_index,
        {%- endif %}
        {{ cuped__column(scan['unit_column']) }} as unit_id,
        cast({{ cuped__column(scan['timestamp_column']) }} as {{ dbt.type_timestamp() }}) as event_at
        {%- for other in (all_scans or [scan]) %}
        {%- for entry in other['metrics'] %}
        {%- set metric = entry['metric'] %}
        {%- if other['index'] != scan['index'] %},
        null as value_{{ entry['index'] }},
        0 as passes_{{ entry['index'] }}
        {%- else %},
        {% if metric['value'] is not none -%}
        {{ metric['value'] }}
        {%- else -%}
        1
        {%- endif %} as value_{{ entry['index'] }},
        {% if metric['filter'] is not none -%}
        case when ({{ metric['filter'] }}) then 1 else 0 end
        {%- else -%}
        1
        {%- endif %} as passes_{{ entry['index'] }}
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
    from {{ relation }}
{%- endmacro %}

{#- The post-period window of a metric, as a predicate on joined rows (`units.assigned_at`, `events.event_at`). -#}
{% macro cuped__post_window(metric, units='units', events='events') %}
  {%- set post_window = events ~ '.event_at >= ' ~ units ~ '.assigned_at' -%}
  {%- if metric['window_days'] is not none -%}
    {%- set post_window = post_window ~ ' and ' ~ events ~ '.event_at < ' ~ cuped__add_days(units ~ '.assigned_at', metric['window_days']) -%}
  {%- endif -%}
  {{ return(post_window) }}
{% endmacro %}
