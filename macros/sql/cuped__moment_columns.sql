{#-
  The moments every metric's analysis needs, deduplicated across metrics:
  {'means': [variable...], 'pairs': [[variable_a, variable_b]...]} (variables as in
  cuped__metric_variables), and the column names cuped__arm_moments stores them under
  (`mean__<key>`, `cov__<key_a>__<key_b>`).
-#}
{% macro cuped__moment_columns(config) %}
  {%- set means = [] -%}
  {%- set mean_keys = [] -%}
  {%- set pairs = [] -%}
  {%- set pair_keys = [] -%}
  {%- for metric in config['metrics'] -%}
    {%- set variables = cuped__metric_variables(config, loop.index0) -%}
    {%- for a in variables -%}
      {%- if a['key'] not in mean_keys -%}
        {%- do mean_keys.append(a['key']) -%}
        {%- do means.append(a) -%}
      {%- endif -%}
      {%- for b in variables[loop.index0:] -%}
        {%- set name = cuped__covariance_column(a, b) -%}
        {%- if name not in pair_keys -%}
          {%- do pair_keys.append(name) -%}
          {%- do pairs.append([a, b]) -%}
        {%- endif -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return({'means': means, 'pairs': pairs}) }}
{% endmacro %}

{#- The column holding cov(a, b), the same for (a, b) and (b, a). -#}
{% macro cuped__covariance_column(a, b) %}
  {%- set keys = [a['key'], b['key']] | sort -%}
  {{ return('cov__' ~ keys[0] ~ '__' ~ keys[1]) }}
{% endmacro %}
