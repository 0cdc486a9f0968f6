{#-
  One row per experiment × segment × variant: the unit count, and the mean and sample covariance
  of every per-unit variable any metric's analysis needs (avg, var_samp, covar_samp: numerically
  stable, and in every major warehouse). Capped metrics are winsorized here, at their
  experiment's thresholds (cuped__metric_caps). The overall row has segment_name =
  segment_value = 'all'; each configured segment adds one row per value.
-#}
{%- set config = cuped__config() -%}
{%- set moments = cuped__moment_columns(config) -%}
{%- set capped = cuped__capped_metrics(config) -%}
{%- set groupings = [{'name': 'all', 'column': none}] -%}
{%- for segment in config['segments'] -%}
  {%- do groupings.append({'name': segment, 'column': 'segment_' ~ loop.index0}) -%}
{%- endfor -%}

with unit_values as (

    select * from {{ ref('cuped__unit_values') }}

),

capped_unit_values as (

    select unit_values.*{% for i in capped %}{% for period in ['post', 'pre'] %}, caps.metric_{{ i }}_{{ period }}_lower, caps.metric_{{ i }}_{{ period }}_upper{% endfor %}{% endfor %}
    from unit_values
    left join {{ ref('cuped__experiment_caps') }} as caps
        on caps.experiment_id = unit_values.experiment_id

),
{% for grouping in groupings %}
{{ 'overall' if grouping['column'] is none else 'segment_' ~ (loop.index0 - 1) }}_moments as (

    select
        experiment_id,
        {{ cuped__literal(grouping['name']) }} as segment_name,
        {% if grouping['column'] is none -%}
        'all'
        {%- else -%}
        {{ grouping['column'] }}
        {%- endif %} as segment_value,
        variant,
        count(*) as n_units,
        {%- for variable in moments['means'] %}
        avg({{ variable['sql'] }}) as mean__{{ variable['key'] }},
        {%- endfor %}
        {%- for pair in moments['pairs'] %}
        {% if pair[0]['key'] == pair[1]['key'] -%}
        var_samp({{ pair[0]['sql'] }})
        {%- else -%}
        covar_samp({{ pair[0]['sql'] }}, {{ pair[1]['sql'] }})
        {%- endif %} as {{ cuped__covariance_column(pair[0], pair[1]) }}{{ ',' if not loop.last }}
        {%- endfor %}
    from capped_unit_values
    group by experiment_id, variant{% if grouping['column'] is not none %}, {{ grouping['column'] }}{% endif %}

){{ ',' if not loop.last }}
{% endfor %}
{% for grouping in groupings %}
select * from {{ 'overall' if grouping['column'] is none else 'segment_' ~ (loop.index0 - 1) }}_moments
{% if not loop.last %}union all{% endif %}
{%- endfor %}
