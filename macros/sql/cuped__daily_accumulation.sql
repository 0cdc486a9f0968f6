{#-
  How a metric's per-day parts accumulate into its value as of a day: 'sum' (agg sum, count,
  and count_distinct counted on the day each value is first seen) or 'max' (agg max, proportions).
-#}
{% macro cuped__daily_accumulation(metric) %}
  {{ return('max' if metric['agg'] in ['max', 'any'] else 'sum') }}
{% endmacro %}

{#-
  The columns of an arm's running sums in the daily series, in order: per variable its values
  (`r__<key>`) and centred values (`s__<key>`), then per pair the products of centred values.
  cuped__unit_daily_changes writes each as the change `d_<column>`; cuped__daily_arm_moments sums
  those over days.
-#}
{% macro cuped__daily_sum_columns(moments) %}
  {%- set sums = [] %}
  {%- for variable in moments['means'] %}{% do sums.append('r__' ~ variable['key']) %}{% do sums.append('s__' ~ variable['key']) %}{% endfor %}
  {%- for pair in moments['pairs'] %}{% do sums.append('s__' ~ cuped__covariance_column(pair[0], pair[1])) %}{% endfor %}
  {{ return(sums) }}
{% endmacro %}
