{#-
  The moments of cuped__moments as of the end of each day of each experiment (overall only):
  the same long form with the day in `as_of_date`. Empty unless `daily_series: true`.
-#}
{%- set config = cuped__config() -%}
{%- if config['experiment_settings'] %}
{#- only the experiment × metric pairs of the analysis plan (experiment_settings lists metrics) -#}
select moments.*
from (
{{ cuped__long_moments(config, ref('cuped__daily_arm_moments'), ['experiment_id', 'segment_name', 'segment_value', 'as_of_date', 'variant']) }}
) as moments
where exists (
    select 1 from {{ ref('cuped__analysis_plan') }} as plan
    where plan.experiment_id = moments.experiment_id
        and plan.metric_name = moments.metric_name
)
{%- else %}
{{ cuped__long_moments(config, ref('cuped__daily_arm_moments'), ['experiment_id', 'segment_name', 'segment_value', 'as_of_date', 'variant']) }}
{%- endif %}
