{#-
  One row per experiment × segment × variant × metric × pair of the metric's variables (diagonal
  included): the unit count, both means and the sample covariance. This long form is what the
  statistics core reads; the outcome variables come first ('@y', or '@numerator' and '@denominator' for
  a ratio), then the covariates in order (a ratio covariate as '<name>@numerator', '<name>@denominator').
-#}
{%- set config = cuped__config() -%}

with arm_moments as (

    select * from {{ ref('cuped__arm_moments') }}

)
{% for metric in config['metrics'] %}
{%- set variables = cuped__metric_variables(config, loop.index0) %}
{%- set outer_last = loop.last %}
{%- for a in variables %}
{%- set i = loop.index0 %}
{%- for b in variables[i:] %}
select
    experiment_id,
    segment_name,
    segment_value,
    variant,
    {{ cuped__literal(metric['name']) }} as metric_name,
    {{ cuped__literal(a['name']) }} as variable_1,
    {{ cuped__literal(b['name']) }} as variable_2,
    {{ i }} as index_1,
    {{ i + loop.index0 }} as index_2,
    n_units as n,
    mean__{{ a['key'] }} as mean_1,
    mean__{{ b['key'] }} as mean_2,
    {{ cuped__covariance_column(a, b) }} as covariance
from arm_moments
{% if not (outer_last and loop.last and i == variables | length - 1) %}union all{% endif %}
{%- endfor %}
{%- endfor %}
{%- endfor %}
