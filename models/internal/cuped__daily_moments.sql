{#-
  The moments of cuped__moments as of the end of each day of each experiment (overall only):
  the same long form with the day in `as_of_date`. Empty unless `daily_series: true`.
-#}
{%- set config = cuped__config(levels=true) -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__daily_arm_moments'], []) }}
{%- else %}
{{ cuped__long_moments(config, ref('cuped__daily_arm_moments'), ['experiment_id', 'segment_name', 'segment_value', 'as_of_date', 'variant']) }}
{%- endif %}
