{#-
  One row per experiment × segment × variant × metric × pair of the metric's variables (diagonal
  included): the unit count, both means and the sample covariance. This long form is what the
  statistics core reads; the outcome variables come first ('@y', or '@numerator' and
  '@denominator' for a ratio), then the covariates in order (a ratio covariate as
  '<name>@numerator', '<name>@denominator').
-#}
{%- set config = cuped__config() -%}

with arm_moments as (

    select * from {{ ref('cuped__arm_moments') }}

)

{{ cuped__unpivot_moments(config, 'arm_moments') }}
