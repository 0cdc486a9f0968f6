{#-
  One row per experiment × variant × day on which some of the arm's units change: what those
  units add that day to the arm's running sums (the count of units on their first day, then the
  change of each value v, of each centred value z and of each product z_a·z_b). See
  cuped__daily_arm_moments for the method. Empty unless `daily_series: true`.

  A unit's change on a day is its state that day minus its state on its previous day, so the
  arm's change on day d is the sum of the states of its rows on d minus the sum of the states
  its units leave on d (each row's state is left on the unit's next day). Each row is read once,
  with its sign: + on its day, − on its next day (a narrow `lead` over the days alone). No
  window runs over the wide rows: with many metrics a `lag` of each of hundreds of columns
  sorted every value and ran out of memory (100 metrics, 1M units: 326 s and 20 GB).

  Only a unit's outcomes change from day to day. A variable fixed at assignment (a pre-period
  value, an attribute, an indicator; not the variables of a `missing: exclude` metric, which
  are 0 until its first value), and a product of two such variables, changes only on the unit's
  first day, by its whole value: those sums are taken once per unit, from its row of
  cuped__unit_values on its first day, not from every daily row twice with signs that cancel
  (with pre-period covariates and the indicator, about half of the columns; at 100 metrics and
  1M units, 6.0M daily rows of 1.28M units).
-#}

{%- set config = cuped__config(levels=true) -%}
{%- if not execute %}
{#- with `daily_series` off it reads nothing; a ref of cuped__unit_values runs it beside the models after the event scans: dbt starts the ready models of a DAG level in name order, and before the scans it went ahead of them -#}
{{ cuped.cuped__parse_dependencies(cuped.cuped__caps_dependency(config) + ['cuped__unit_daily_values'] if config['daily_series'] else ['cuped__unit_values'], []) }}
{%- else %}
{%- set moments = config['moments'] -%}
{%- set capped = config['capped'] -%}
{%- set post_columns = [] -%}
{%- for metric in config['metrics'] -%}
  {%- if metric['type'] != 'ratio' -%}{%- do post_columns.append('metric_' ~ loop.index0 ~ '_post') -%}{%- endif -%}
{%- endfor -%}
{#- the variables that can change after the unit's first day: outcomes (keyed by their post-period
    column, cuped__value_variable) and every variable of a `missing: exclude` metric -#}
{%- set changes = {} -%}
{%- for variable in moments['means'] -%}
  {%- do changes.update({variable['key']: variable['n'] != 'n_units' or variable['key'] in post_columns}) -%}
{%- endfor -%}
{%- set changing_pairs = [] -%}
{%- set fixed_pairs = [] -%}
{%- for pair in moments['pairs'] -%}
  {%- do (changing_pairs if changes[pair[0]['key']] or changes[pair[1]['key']] else fixed_pairs).append(pair) -%}
{%- endfor -%}
{%- set any_fixed = false in changes.values() | list -%}
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

{#- the centring constant of each variable: its mean over the experiment's final, winsorized unit
    values (its own read of them: a CTE read twice would be materialized) -#}
centres as (

    select
        experiment_id,
        {%- for variable in moments['means'] %}
        avg({{ variable['sql'] }}) as centre__{{ variable['key'] }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
{{ cuped__capped_unit_values(config) }}
    ) as unit_values
    group by experiment_id

),

{#- the next day each unit changes (null on its last): only the keys are sorted -#}
next_days as (

    select
        experiment_id,
        unit_id,
        day,
        lead(day) over (partition by experiment_id, unit_id order by day) as next_day
    from {{ ref('cuped__unit_daily_values') }}

),

{#- a unit's state at the end of each day it changes: cumulative outcomes, fixed covariates -#}
daily_state as (

    select
        daily.experiment_id,
        daily.unit_id,
        daily.day,
        next_days.next_day,
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
    inner join next_days
        on next_days.experiment_id = daily.experiment_id
        and next_days.unit_id = daily.unit_id
        and next_days.day = daily.day
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
        daily_state.next_day,
        {%- for i in config['excluding'] %}
        daily_state.metric_{{ i }}_observed,
        {%- endfor %}
        {#- the centred value of every variable (a fixed one's is in products with the changing
            ones), the value itself of the changing ones -#}
        {%- for variable in moments['means'] %}
        {%- if not changes[variable['key']] %}
        ({{ variable['sql'] }}) - centres.centre__{{ variable['key'] }} as z__{{ variable['key'] }}{{ ',' if not loop.last }}
        {%- elif variable['n'] == 'n_units' %}
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
        variant,
        day,
        next_day,
        {%- for i in config['excluding'] %}
        metric_{{ i }}_observed,
        {%- endfor %}
        {%- for variable in moments['means'] if changes[variable['key']] %}
        v__{{ variable['key'] }} as r__{{ variable['key'] }},
        z__{{ variable['key'] }} as s__{{ variable['key'] }}{{ ',' if not loop.last or changing_pairs }}
        {%- endfor %}
        {%- for pair in changing_pairs %}
        z__{{ pair[0]['key'] }} * z__{{ pair[1]['key'] }} as s__{{ cuped__covariance_column(pair[0], pair[1]) }}{{ ',' if not loop.last }}
        {%- endfor %}
    from centred

),

{#- each row with its sign: + on its day, − on the unit's next day -#}
signed as (

    select
        products.*,
        directions.direction,
        case when directions.direction = 1 then products.day else products.next_day end as change_day
    from products
    cross join (select 1 as direction union all select -1 as direction) as directions
    where directions.direction = 1 or products.next_day is not null

),

{%- set sums = cuped__daily_sum_columns(moments) %}
{#- the sums of the changing variables and products, as the keys of a dict (looked up per column below) -#}
{%- set changing_sums = {} %}
{%- for variable in moments['means'] if changes[variable['key']] %}{% do changing_sums.update({'r__' ~ variable['key']: true, 's__' ~ variable['key']: true}) %}{% endfor %}
{%- for pair in changing_pairs %}{% do changing_sums.update({'s__' ~ cuped__covariance_column(pair[0], pair[1]): true}) %}{% endfor %}

{#- what the arm's units add on each day to the running sums of the changing variables -#}
changed_sums as (

    select
        experiment_id,
        variant,
        change_day as day,
        sum(direction) as d_n
        {%- for i in config['excluding'] %},
        sum(direction * metric_{{ i }}_observed) as d_n__x{{ i }}
        {%- endfor %}
        {%- for column in changing_sums %},
        sum(direction * {{ column }}) as d_{{ column }}
        {%- endfor %}
    from signed
    group by experiment_id, variant, change_day

){{ ',' if any_fixed }}
{%- if any_fixed %}

{#- each unit's first day: its assignment day, where its daily rows start (cuped__unit_daily_values) -#}
first_days as (

    select experiment_id, unit_id, min(day) as day
    from {{ ref('cuped__unit_daily_values') }}
    group by experiment_id, unit_id

),

{#- the fixed variables and their products, whole on each unit's first day; their own read of the
    unit values (a CTE read twice would be materialized: every unit's row, copied) -#}
first_day_sums as (

    select
        first_days.experiment_id,
        unit_values.variant,
        first_days.day
        {%- for variable in moments['means'] if not changes[variable['key']] %},
        sum({{ variable['sql'] }}) as d_r__{{ variable['key'] }},
        sum(({{ variable['sql'] }}) - centres.centre__{{ variable['key'] }}) as d_s__{{ variable['key'] }}
        {%- endfor %}
        {%- for pair in fixed_pairs %},
        sum(
            (({{ pair[0]['sql'] }}) - centres.centre__{{ pair[0]['key'] }})
            * (({{ pair[1]['sql'] }}) - centres.centre__{{ pair[1]['key'] }})
        ) as d_s__{{ cuped__covariance_column(pair[0], pair[1]) }}
        {%- endfor %}
    from first_days
    inner join (
{{ cuped__capped_unit_values(config) }}
    ) as unit_values
        on unit_values.experiment_id = first_days.experiment_id
        and unit_values.unit_id = first_days.unit_id
    inner join centres
        on centres.experiment_id = first_days.experiment_id
    group by first_days.experiment_id, unit_values.variant, first_days.day

)
{%- endif %}

{#- what the arm's units add to its running sums on each day some of them change -#}
select
    changed_sums.experiment_id,
    changed_sums.variant,
    changed_sums.day,
    changed_sums.d_n
    {%- for i in config['excluding'] %},
    changed_sums.d_n__x{{ i }}
    {%- endfor %}
    {%- for column in sums %},
    {%- if column in changing_sums %}
    changed_sums.d_{{ column }}
    {%- else %}
    {#- every first day is a day of changed_sums: the unit's first row counts it in d_n -#}
    coalesce(first_day_sums.d_{{ column }}, 0) as d_{{ column }}
    {%- endif %}
    {%- endfor %}
from changed_sums
{%- if any_fixed %}
left join first_day_sums
    on first_day_sums.experiment_id = changed_sums.experiment_id
    and first_day_sums.variant = changed_sums.variant
    and first_day_sums.day = changed_sums.day
{%- endif %}
{%- endif %}
{%- endif %}
