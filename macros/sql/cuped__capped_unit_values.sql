{#-
  cuped__unit_values with each capped metric's thresholds for its experiment beside every row
  (`metric_<i>_<period>_lower`, `_upper`), which the variables' winsorizing expressions use.
-#}
{% macro cuped__capped_unit_values(config) %}
  {%- set capped = config['capped'] -%}
    select
        unit_values.*
        {%- for i in capped %}{% for period in ['post', 'pre'] %},
        caps.metric_{{ i }}_{{ period }}_lower,
        caps.metric_{{ i }}_{{ period }}_upper
        {%- endfor %}{% endfor %}
    from {{ ref('cuped__unit_values') }} as unit_values
    left join {{ ref('cuped__experiment_caps') }} as caps
        on caps.experiment_id = unit_values.experiment_id
{%- endmacro %}
