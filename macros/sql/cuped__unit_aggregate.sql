{#-
  The per-unit aggregate of one metric over one window, as a SQL aggregate expression over the
  joined (units, events) rows. `in_window` is a SQL predicate on those rows; the metric's filter was
  evaluated beside its value in the source's own scope (`passes_<i>`, `value_<i>`).
-#}
{% macro cuped__unit_aggregate(metric, metric_index, in_window) %}
  {%- set when = '(' ~ in_window ~ ') and events.passes_' ~ metric_index ~ ' = 1' -%}
  {%- set value = 'events.value_' ~ metric_index -%}
  {%- if metric['agg'] == 'any' -%}
    max(case when {{ when }} then 1 else 0 end)
  {%- elif metric['agg'] == 'sum' -%}
    sum(case when {{ when }} then {{ value }} end)
  {%- elif metric['agg'] == 'count' and metric['value'] is none -%}
    sum(case when {{ when }} then 1 else 0 end)
  {%- elif metric['agg'] == 'count' -%}
    count(case when {{ when }} then {{ value }} end)
  {%- elif metric['agg'] == 'count_distinct' -%}
    count(distinct case when {{ when }} then {{ value }} end)
  {%- elif metric['agg'] == 'max' -%}
    max(case when {{ when }} then {{ value }} end)
  {%- endif -%}
{% endmacro %}
