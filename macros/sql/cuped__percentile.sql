{#- The continuous q-quantile of an expression, as an aggregate (interpolated, like numpy's default). -#}
{% macro cuped__percentile(expression, quantile) %}
  {{- return(adapter.dispatch('cuped__percentile', 'cuped')(expression, quantile)) -}}
{% endmacro %}

{% macro default__cuped__percentile(expression, quantile) -%}
percentile_cont({{ quantile }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__cuped__percentile(expression, quantile) -%}
quantile_cont({{ expression }}, {{ quantile }})
{%- endmacro %}
