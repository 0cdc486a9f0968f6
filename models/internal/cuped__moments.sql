{#-
  One row per experiment × segment × variant × metric × pair of the metric's variables (diagonal
  included): the unit count, both means and the sample covariance. This long form is what the
  statistics core reads; the outcome variables come first ('@y', or '@numerator' and
  '@denominator' for a ratio), then the covariates in order (a ratio covariate as
  '<name>@numerator', '<name>@denominator').
-#}
{%- set config = cuped__config(levels=true) -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__arm_moments'], []) }}
{%- else %}
{{ cuped__long_moments(config, ref('cuped__arm_moments'), ['experiment_id', 'segment_name', 'segment_value', 'variant']) }}
{%- endif %}
