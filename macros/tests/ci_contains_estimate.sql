{#-
  Each confidence interval [lower, upper] contains its point estimate: on the estimate's column
  with `lower` and `upper`, or on a model with `intervals: [[estimate, lower, upper], ...]` to
  check several in one scan. Rows where any of the three is null pass.
-#}
{% test ci_contains_estimate(model, column_name=none, lower=none, upper=none, intervals=none) %}
{%- set checked = [[column_name, lower, upper]] if column_name is not none else intervals -%}
{%- if not checked or (column_name is not none and (lower is none or upper is none)) -%}
  {{ exceptions.raise_compiler_error("cuped.ci_contains_estimate: put it on an estimate column with `lower` and `upper`, or give `intervals`, a list of [estimate, lower, upper] columns.") }}
{%- endif %}

select *
from {{ model }}
where
{%- for estimate, low, high in checked %}
    {% if not loop.first %}or {% endif %}({{ estimate }} is not null and {{ low }} is not null and {{ high }} is not null
        and not ({{ low }} <= {{ estimate }} and {{ estimate }} <= {{ high }}))
{%- endfor %}

{% endtest %}
