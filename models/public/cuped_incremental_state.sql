{#-
  cuped_incremental_state (public, contract enforced): for each experiment of an incremental build
  (`incremental:` in the `cuped` var), what its stored values cover: when they were last computed
  from every event, the boundary before which events are final, and the latest event read. Empty
  when builds are not incremental.
-#}
{#- after cuped__unit_values, whose post-hook stops a run with a unit twice (a `unit_attributes`
    relation with a unit twice): like every public table, this one then keeps the previous run's
    rows -#}
/* depends_on: {{ ref('cuped__unit_values') }} */
{%- set config = cuped__config() -%}
{%- set lookback = config['incremental']['lookback_days'] if config['incremental'] else 0 %}

{#- one row per analysed unit: cuped__unit_settled keeps no other (cuped__incremental_cleanup); read
    where it is used, never through a CTE, which read three times would be materialized (a copy of
    every stored row) -#}
{%- set settled = ref('cuped__unit_settled') %}

with per_experiment as (

    {%- if config['incremental'] %}
    select
        experiment_id,
        count(*) as n_units,
        min(rebuilt_at) as values_rebuilt_at,
        max(rebuilt_at) as last_units_added_at,
        min(pre_period_start) as events_read_from,
        (select max(settled_until) from {{ settled }}) as settled_until,
        (select max(latest_event_at) from {{ settled }}) as latest_event_at
    from {{ settled }}
    group by experiment_id
    {%- else %}
    {#- not incremental: every build reads every event, nothing is stored -#}
    select
        experiment_id,
        0 as n_units,
        null as values_rebuilt_at,
        null as last_units_added_at,
        null as events_read_from,
        null as settled_until,
        null as latest_event_at
    from {{ settled }}
    where 1 = 0
    {%- endif %}

)

{{ cuped__select_contract('per_experiment', {'lookback_days': lookback, 'computed_at': cuped.cuped__computed_at()}) }}
