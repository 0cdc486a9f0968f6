{#-
  One row per experiment × analysed unit × day its values change: what the unit adds that day to
  its arm's running sums (the count on its first day, then the change of each value v, of each
  centred value z and of each product z_a·z_b). See cuped__daily_arm_moments for the method. Empty unless `daily_series: true`.
-#}

{%- set config = cuped__config(levels=true) -%}
{%- if not execute %}
{#- with `daily_series` off it reads nothing; a ref of cuped__unit_values runs it beside the models after the event scans: dbt starts the ready models of a DAG level in name order, and before the scans it went ahead of them -#}
{{ cuped.cuped__parse_dependencies(['cuped__daily_centres', 'cuped__experiment_caps', 'cuped__unit_daily_values', 'cuped__unit_values'] if config['daily_series'] else ['cuped__unit_values'], []) }}
{%- else %}
{%- set moments = config['moments'] -%}
{%- set capped = config['capped'] -%}
{%- set post_columns = [] -%}
{%- for metric in config['metrics'] -%}
  {%- if metric['type'] != 'ratio' -%}{%- do post_columns.append('metric_' ~ loop.index0 ~ '_post') -%}{%- endif -%}
{%- endfor -%}
{%- if not config['daily_series'] %}
{#- daily_series is off: no rows, and no pass over the unit values -#}
select
    cast(null as {{ dbt.type_string() }}) as experiment_id,
    cast(null as {{ dbt.type_string() }}) as variant,
    cast(null as date) as day,
    0 as d_n
where 1 = 0
{%- else %}

with capped_unit_values as (

{{ cuped__capped_unit_values(config) }}

),

centres as (

    select * from {{ ref('cuped__daily_centres') }}

),

{#- a unit's state at the end of each day it changes: cumulative outcomes, fixed covariates -#}
daily_state as (

    select
        daily.experiment_id,
        daily.unit_id,
        daily.day,
        capped_unit_values.variant
        {%- for column in post_columns %},
        daily.{{ column }}
        {%- endfor %}
        {%- for i in config['excluding'] %},
        daily.metric_{{ i }}_observed
        {%- endfor %}
        {%- for column in post_columns %},
        capped_unit_values.{{ column[:-5] }}_pre
        {%- endfor %}
        {%- for scan in config['scans'] %},
        capped_unit_values.source_{{ scan['index'] }}_had_pre_period
        {%- endfor %}
        {%- if config['unit_attributes'] %}
        {%- for column in config['unit_attributes']['columns'] if column in config['covariate_attributes'] %},
        capped_unit_values.attribute_{{ config['unit_attributes']['columns'].index(column) }}
        {%- endfor %}
        {%- endif %}
        {%- for i in capped %}{% for period in ['post', 'pre'] %},
        capped_unit_values.metric_{{ i }}_{{ period }}_lower,
        capped_unit_values.metric_{{ i }}_{{ period }}_upper
        {%- endfor %}{% endfor %}
    from {{ ref('cuped__unit_daily_values') }} as daily
    inner join capped_unit_values
        on capped_unit_values.experiment_id = daily.experiment_id
        and capped_unit_values.unit_id = daily.unit_id

),

centred as (

    select
        daily_state.experiment_id,
        daily_state.unit_id,
        daily_state.variant,
        daily_state.day,
        {%- for i in config['excluding'] %}
        daily_state.metric_{{ i }}_observed,
        {%- endfor %}
        {%- for variable in moments['means'] %}
        {%- if variable['n'] == 'n_units' %}
        {{ variable['sql'] }} as v__{{ variable['key'] }},
        ({{ variable['sql'] }}) - centres.centre__{{ variable['key'] }} as z__{{ variable['key'] }}{{ ',' if not loop.last }}
        {%- else %}
        {#- a `missing: exclude` metric's variable: 0 in every sum until the unit has a value -#}
        coalesce({{ variable['sql'] }}, 0) as v__{{ variable['key'] }},
        coalesce(({{ variable['sql'] }}) - centres.centre__{{ variable['key'] }}, 0) as z__{{ variable['key'] }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from daily_state
    inner join centres
        on centres.experiment_id = daily_state.experiment_id

),

products as (

    select
        experiment_id,
        unit_id,
        variant,
        day,
        {%- for i in config['excluding'] %}
        metric_{{ i }}_observed,
        {%- endfor %}
        {%- for variable in moments['means'] %}
        v__{{ variable['key'] }} as r__{{ variable['key'] }},
        z__{{ variable['key'] }} as s__{{ variable['key'] }},
        {%- endfor %}
        {%- for pair in moments['pairs'] %}
        z__{{ pair[0]['key'] }} * z__{{ pair[1]['key'] }} as s__{{ cuped__covariance_column(pair[0], pair[1]) }}{{ ',' if not loop.last }}
        {%- endfor %}
    from centred

),

{#- what each unit adds to its arm's running sums on each day it changes -#}
changes as (

    select
        experiment_id,
        unit_id,
        variant,
        day,
        case when lag(day) over (partition by experiment_id, unit_id order by day) is null then 1 else 0 end as d_n
        {%- for i in config['excluding'] %},
        metric_{{ i }}_observed - coalesce(lag(metric_{{ i }}_observed) over (partition by experiment_id, unit_id order by day), 0) as d_n__x{{ i }}
        {%- endfor %}
        {%- set sums = [] %}
        {%- for variable in moments['means'] %}{% do sums.append('r__' ~ variable['key']) %}{% do sums.append('s__' ~ variable['key']) %}{% endfor %}
        {%- for pair in moments['pairs'] %}{% do sums.append('s__' ~ cuped__covariance_column(pair[0], pair[1])) %}{% endfor %}
        {%- for column in sums %},
        {{ column }} - coalesce(lag({{ column }}) over (partition by experiment_id, unit_id order by day), 0) as d_{{ column }}
        {%- endfor %}
    from products

)

select * from changes
{%- endif %}
{%- endif %}
