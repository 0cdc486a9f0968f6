{#-
  One row per experiment × segment × variant × metric × pair of the metric's variables (diagonal
  included): the unit count, both means and the sample covariance. This long form is what the
  statistics core reads; the outcome variables come first ('@y', or '@numerator' and
  '@denominator' for a ratio), then the covariates in order (a ratio covariate as
  '<name>@numerator', '<name>@denominator').
-#}
{%- set config = cuped__config() -%}
{%- if config['experiment_settings'] %}
{#- only the experiment × metric pairs of the analysis plan (experiment_settings lists metrics) -#}
select moments.*
from (
{{ cuped__long_moments(config, ref('cuped__arm_moments'), ['experiment_id', 'segment_name', 'segment_value', 'variant']) }}
) as moments
where exists (
    select 1 from {{ ref('cuped__analysis_plan') }} as plan
    where plan.experiment_id = moments.experiment_id
        and plan.metric_name = moments.metric_name
)
{%- else %}
{{ cuped__long_moments(config, ref('cuped__arm_moments'), ['experiment_id', 'segment_name', 'segment_value', 'variant']) }}
{%- endif %}
