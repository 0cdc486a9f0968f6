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
    {%- set aggregate = cuped__aggregate_where(function, value, in_window) -%}
  {%- endif -%}
  {{- 'coalesce(' ~ aggregate ~ ', 0)' if metric['agg'] == 'any' else aggregate -}}
{% endmacro %}

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
