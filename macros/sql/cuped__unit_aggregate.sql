{#-
  The per-unit aggregate of one metric over one window, as a SQL aggregate expression over the
  joined (units, events) rows. `in_window` is a SQL predicate on those rows; the metric's filter was
  evaluated beside its value in the source's own scope (`passes_<i>`, `value_<i>`). The result is
  null when no row qualifies (callers coalesce to 0), except for proportions, which are 0 or 1.
-#}
{% macro cuped__unit_aggregate(metric, metric_index, in_window) %}
  {%- set when = '(' ~ in_window ~ ') and events.passes_' ~ metric_index ~ ' = 1' -%}
  {%- set value = 'events.value_' ~ metric_index -%}
  {%- if metric['agg'] == 'any' -%}
    {{ cuped__aggregate_where('flag', '1', when) }}
  {%- elif metric['agg'] == 'sum' -%}
    {{ cuped__aggregate_where('sum', value, when) }}
  {%- elif metric['agg'] == 'count' and metric['value'] is none -%}
    {{ cuped__aggregate_where('count', '1', when) }}
  {%- elif metric['agg'] == 'count' -%}
    {{ cuped__aggregate_where('count', value, when) }}
  {%- elif metric['agg'] == 'count_distinct' -%}
    {{ cuped__aggregate_where('count_distinct', value, when) }}
  {%- elif metric['agg'] == 'max' -%}
    {{ cuped__aggregate_where('max', value, when) }}
  {%- endif -%}
{% endmacro %}

{#-
  An aggregate over the rows where `condition` holds: `sum`, `count`, `count_distinct`, `max` of
  `value`, or `flag` (1 when any row holds, else 0). Warehouses with the SQL-standard FILTER
  clause use it (it skips the rows instead of evaluating a CASE per aggregate); the default is
  the portable CASE form, with the same results.
-#}
{% macro cuped__aggregate_where(function, value, condition) %}
  {{- return(adapter.dispatch('cuped__aggregate_where', 'cuped')(function, value, condition)) -}}
{% endmacro %}

{% macro default__cuped__aggregate_where(function, value, condition) -%}
  {%- if function == 'flag' -%}
    max(case when {{ condition }} then 1 else 0 end)
  {%- elif function == 'count_distinct' -%}
    count(distinct case when {{ condition }} then {{ value }} end)
  {%- else -%}
    {{ function }}(case when {{ condition }} then {{ value }} end)
  {%- endif -%}
{%- endmacro %}

{% macro duckdb__cuped__aggregate_where(function, value, condition) -%}
  {%- if function == 'flag' -%}
    coalesce(max(1) filter (where {{ condition }}), 0)
  {%- elif function == 'count_distinct' -%}
    count(distinct {{ value }}) filter (where {{ condition }})
  {%- else -%}
    {{ function }}({{ value }}) filter (where {{ condition }})
  {%- endif -%}
{%- endmacro %}

{% macro postgres__cuped__aggregate_where(function, value, condition) -%}
  {{ duckdb__cuped__aggregate_where(function, value, condition) }}
{%- endmacro %}
