{#-
  How a metric's per-day parts accumulate into its value as of a day: 'sum' (agg sum, count,
  and count_distinct counted on the day each value is first seen) or 'max' (agg max, proportions).
-#}
{% macro cuped__daily_accumulation(metric) %}
  {{ return('max' if metric['agg'] in ['max', 'any'] else 'sum') }}
{% endmacro %}
