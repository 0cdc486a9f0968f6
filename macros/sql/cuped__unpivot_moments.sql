{#-
  The long form the statistics core reads, from a wide relation of per-arm moments (columns
  experiment_id, segment_name, segment_value, variant, n_units, `mean__<key>`,
  `cov__<key_a>__<key_b>`): one row per metric × pair of the metric's variables (diagonal
  included) for every row of `wide`.
-#}
{% macro cuped__unpivot_moments(config, wide) %}
{%- for metric in config['metrics'] %}
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
from {{ wide }}
{% if not (outer_last and loop.last and i == variables | length - 1) %}union all{% endif %}
{%- endfor %}
{%- endfor %}
{%- endfor %}
{%- endmacro %}
