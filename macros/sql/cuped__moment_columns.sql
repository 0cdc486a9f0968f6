{#-
  The moments every metric's analysis needs, deduplicated across metrics:
  {'means': [column...], 'pairs': [[column_a, column_b]...]} over cuped__unit_values columns, plus
  the name under which cuped__arm_moments stores each (`mean__<column>`, `cov__<a>__<b>`).
-#}
{% macro cuped__moment_columns(config) %}
  {%- set means = [] -%}
  {%- set pairs = [] -%}
  {%- for metric in config['metrics'] -%}
    {%- set variables = cuped__metric_variables(config, loop.index0) -%}
    {%- for a in variables -%}
      {%- if a['column'] not in means -%}{%- do means.append(a['column']) -%}{%- endif -%}
      {%- for b in variables[loop.index0:] -%}
        {%- set pair = cuped__moment_pair(a['column'], b['column']) -%}
        {%- if pair not in pairs -%}{%- do pairs.append(pair) -%}{%- endif -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return({'means': means, 'pairs': pairs}) }}
{% endmacro %}

{#- A pair of columns in canonical order, so cov(a, b) and cov(b, a) are computed once. -#}
{% macro cuped__moment_pair(a, b) %}
  {{ return([a, b] | sort) }}
{% endmacro %}

{% macro cuped__covariance_column(a, b) %}
  {%- set pair = cuped__moment_pair(a, b) -%}
  {{ return('cov__' ~ pair[0] ~ '__' ~ pair[1]) }}
{% endmacro %}
