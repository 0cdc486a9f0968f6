{#-
  One row per experiment × variant × day of the experiment: the arm's unit count, means and
  covariances as of the end of that day (overall only): on day d an arm holds the units assigned
  by d, with their metrics accumulated through d. The wide form of cuped__daily_moments.

  One pass: each unit contributes, on each day its values change, the change of its centred
  values z = v − c and of their products z_a·z_b (the first row of a unit contributes them whole);
  running sums over days give Σz and Σz_a·z_b per arm and day, hence means and covariances. The
  centring constant c (each variable's mean over the experiment's final unit values) keeps the
  sums small, so the covariance is numerically as sound as covar_samp's. Means come from the
  running sums of the values themselves: a variable that is 0 for every unit on a day has mean
  exactly 0 (c + Σz/n would leave rounding noise of order 1e-16·c, and a relative effect over
  noise). A covariance within 1e-12 of its Cauchy–Schwarz scale √(Σz_a²·Σz_b²)/(n − 1) is
  cancellation noise and is 0. Covariates (pre-period values, attributes) are fixed at
  assignment; outcomes use the final winsorization thresholds. A metric with `missing: exclude`
  has its own running count, `n_units__x<i>`: a unit enters it on the day of its first value (its
  variables add 0 to every sum before that).
-#}
{%- set config = cuped__config(levels=true) -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__unit_daily_changes'] if config['daily_series'] else ['cuped__arm_moments'], []) }}
{%- else %}
{%- set moments = config['moments'] -%}
{%- if not config['daily_series'] %}
{#- daily_series is off: the same columns, no rows, and no pass over the unit values -#}
select
    experiment_id,
    'all' as segment_name,
    'all' as segment_value,
    cast(null as date) as as_of_date,
    variant,
    n_units
    {%- for i in config['excluding'] %},
    n_units__x{{ i }}
    {%- endfor %}
    {%- for variable in moments['means'] %},
    mean__{{ variable['key'] }}
    {%- endfor %}
    {%- for pair in moments['pairs'] %},
    {{ cuped__covariance_column(pair[0], pair[1]) }}
    {%- endfor %}
from {{ ref('cuped__arm_moments') }}
where 1 = 0
{%- else %}

{%- set sums = cuped__daily_sum_columns(moments) %}

{#- what each arm's units add to its running sums on each day some of them change -#}
with daily_sums as (

    select * from {{ ref('cuped__unit_daily_changes') }}

),

days as (

    select distinct experiment_id, day from daily_sums

),

arms as (

    select distinct experiment_id, variant from daily_sums

),

running_sums as (

    select
        days.experiment_id,
        arms.variant,
        days.day,
        sum(coalesce(daily_sums.d_n, 0)) over (
            partition by days.experiment_id, arms.variant order by days.day
            rows between unbounded preceding and current row) as n_units
        {%- for i in config['excluding'] %},
        sum(coalesce(daily_sums.d_n__x{{ i }}, 0)) over (
            partition by days.experiment_id, arms.variant order by days.day
            rows between unbounded preceding and current row) as n_units__x{{ i }}
        {%- endfor %}
        {%- for column in sums %},
        sum(coalesce(daily_sums.d_{{ column }}, 0)) over (
            partition by days.experiment_id, arms.variant order by days.day
            rows between unbounded preceding and current row) as {{ column }}
        {%- endfor %}
    from days
    inner join arms
        on arms.experiment_id = days.experiment_id
    left join daily_sums
        on daily_sums.experiment_id = days.experiment_id
        and daily_sums.variant = arms.variant
        and daily_sums.day = days.day

),

daily_arm_moments as (

    select
        running_sums.experiment_id,
        'all' as segment_name,
        'all' as segment_value,
        running_sums.day as as_of_date,
        running_sums.variant,
        cast(running_sums.n_units as {{ dbt.type_bigint() }}) as n_units,
        {%- for i in config['excluding'] %}
        cast(running_sums.n_units__x{{ i }} as {{ dbt.type_bigint() }}) as n_units__x{{ i }},
        {%- endfor %}
        {%- for variable in moments['means'] %}
        r__{{ variable['key'] }} / nullif(running_sums.{{ variable['n'] }}, 0) as mean__{{ variable['key'] }},
        {%- endfor %}
        {%- for pair in moments['pairs'] %}
        {%- set name = cuped__covariance_column(pair[0], pair[1]) %}
        {%- set n = 'running_sums.' ~ pair[0]['n'] %}
        {%- set products = 's__' ~ name %}
        {%- set deviation = '(' ~ products ~ ' - s__' ~ pair[0]['key'] ~ ' * s__' ~ pair[1]['key'] ~ ' / ' ~ n ~ ')' %}
        {%- set scale = 'sqrt(s__' ~ cuped__covariance_column(pair[0], pair[0]) ~ ' * s__' ~ cuped__covariance_column(pair[1], pair[1]) ~ ')' %}
        case
            when {{ n }} < 2 then null
            when abs({{ deviation }}) <= 1e-12 * {{ scale }} then 0.0
            else {{ deviation }} / ({{ n }} - 1)
        end as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from running_sums
    where running_sums.n_units > 0

)

select * from daily_arm_moments
{%- endif %}
{%- endif %}
