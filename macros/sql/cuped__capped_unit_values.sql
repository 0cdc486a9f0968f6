{#-
  cuped__unit_values with each capped metric's thresholds for its experiment beside every row
  (`metric_<i>_<period>_lower`, `_upper`), which the variables' winsorizing expressions use.

  The thresholds are a subquery of this SQL, not an ephemeral model: dbt injects an ephemeral
  model's CTE by parsing the whole compiled statement with sqlparse, which at 100 metrics took
  most of the compilation of the models that read it (cuped__arm_moments, on every build's
  critical path, and cuped__unit_daily_changes). A model that calls this macro depends on
  cuped__metric_caps when a metric is capped (cuped__caps_dependency).
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
    {%- if capped | length > 0 %}
    left join (
        {#- one row per experiment with every capped metric's thresholds as columns -#}
        select
            experiment_id
            {%- for i in capped %}{% for period in ['post', 'pre'] %},
            max(case when metric_index = {{ i }} and period = '{{ period }}' then lower_threshold end) as metric_{{ i }}_{{ period }}_lower,
            max(case when metric_index = {{ i }} and period = '{{ period }}' then upper_threshold end) as metric_{{ i }}_{{ period }}_upper
            {%- endfor %}{% endfor %}
        from {{ ref('cuped__metric_caps') }}
        group by experiment_id
    ) as caps
        on caps.experiment_id = unit_values.experiment_id
    {%- endif %}
{%- endmacro %}

{#- The models a caller of cuped__capped_unit_values depends on (for cuped__parse_dependencies). -#}
{% macro cuped__caps_dependency(config) %}
  {{- return(['cuped__unit_values'] + (['cuped__metric_caps'] if config['capped'] | length > 0 else [])) -}}
{% endmacro %}
