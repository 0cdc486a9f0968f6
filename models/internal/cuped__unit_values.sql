{#-
  One row per experiment × analysed unit: every metric's post-period and pre-period value, whether
  the unit had pre-period activity in each event source, and its unit attributes (numeric
  covariates as numbers, 0 when missing; categorical covariates and strata as text, '(missing)'
  when null or without an attributes row: their levels are read from this table,
  macros/sql/cuped__categorical.sql).

  Each event source is scanned once for all of its metrics and both windows: events are joined to
  units over [assigned_at − pre_period_days, analysis end] and grouped per unit and period, the
  pre-period window [assigned_at − pre_period_days, assigned_at) and the post window
  [assigned_at, analysis end] (or [assigned_at, assigned_at + window_days) for metrics with
  `window_days`), by cuped__per_unit_aggregates (which picks a query shape by the number of the
  source's metrics). Units without events keep value 0: they are analysed, not dropped. A
  metric with `missing: exclude` also gets `metric_<i>_observed`, 1 when the unit has a row with
  a value in its post window (its variables are null on the other units, cuped__metric_variables).
  An experiment's `pre_period_days` in `experiment_settings` sets its own pre-period window. (Stacking the sources into one join and one group
  by was measured slower and 1.7× the memory at 10M units: one hash table holding every metric's
  aggregate state for every unit, instead of one source's at a time.) With many metrics over
  several sources the pre-hook computes the sources but the last one at a time into temporary
  tables and this model joins the last source to them (macros/sql/cuped__staged_sources.sql).
-#}
{{ config(
    pre_hook=["{{ cuped.cuped__join_planner_hook() }}", "{{ cuped.cuped__create_stages() }}"],
    post_hook=["{{ cuped.cuped__drop_stages() }}", "{{ cuped__check_finite_values() }}", "{{ cuped__warn_null_event_keys() }}"]
) }}
{%- set config = cuped__config() -%}
{%- if not execute %}
{#- On DuckDB, with the daily series on, after cuped__unit_daily_values (as an incremental build
    orders them anyway, through cuped__unit_settled): the two scans of every event source each
    use every core and share one memory limit, so run together both are slower than one after
    the other (100 metrics, 1M units, 2.8 GB: 83 s and 60 s side by side, 51 s and 16 s alone).
    Elsewhere the warehouse runs them side by side. -#}
{%- set daily_first = ['cuped__unit_daily_values'] if config['daily_series'] and target.type == 'duckdb' else [] %}
{{ cuped.cuped__parse_dependencies(['cuped__units'] + (['cuped__unit_settled'] if config['incremental'] else []) + daily_first, config['scans'] | map(attribute='source') | list + [config['unit_attributes']['relation'] if config['unit_attributes'] else none]) }}
{%- else %}
{%- set scans = config['scans'] -%}
{%- set attributes = config['unit_attributes'] -%}
{%- set covariate_attributes = config['covariate_attributes'] -%}
{%- set double = cuped__type_double() -%}
{#- many metrics over several sources: the per-unit aggregates are computed by the pre-hook, one source at a time (macros/sql/cuped__staged_sources.sql) -#}
{%- set staged = execute and cuped.cuped__stage_sources(config) %}
{#- incremental: the analysed units are read where they are joined (by each source's events from
    the boundary on, and by the select), not through a CTE, which DuckDB materializes when it is
    read several times (at 10M units 9.0-10.5 s instead of 10.1-11.9 s for the statement, four
    runs each; in a full build the same change measured no faster, so the CTE stays there) -#}
{#- incremental, after cuped__unit_settled (the usual run): its rows are the analysed units, each over
    its current variant and windows (cuped__settled_is_current), so they are read as the units and
    no unit is joined to its stored row (at 10M units that join was 2.5 s of the 10 s statement);
    otherwise (cuped__unit_settled left out of a run that changed the units) the units are joined
    to their stored rows and the post-hook stops a run that lacks them -#}
{%- set settled_base = config['incremental'] is not none and cuped.cuped__settled_is_current(ref('cuped__unit_settled'), config) %}
{%- set base = 'settled' if settled_base else 'units' %}
{%- if settled_base %}
{%- set units_from = '(\n    select experiment_id, unit_id, variant, assigned_at, analysis_end_at\n    from ' ~ ref('cuped__unit_settled') ~ '\n    )' %}
{%- else %}
{%- set units_from = '(' ~ cuped.cuped__analysed_units_sql() ~ '\n    )' if config['incremental'] is not none else 'units' %}
{%- endif %}

with
{%- if config['incremental'] is none %} units as (
{% if staged %}
{{ cuped.cuped__stage_sql(config, scans | last, scans | length - 1) }}
{%- else %}
{{ cuped.cuped__analysed_units_sql() }}
{%- endif %}

),
{%- endif %}
{%- set settled = cuped.cuped__settled_boundary() if config['incremental'] else none %}
{%- for scan in scans if not staged %}
{%- if config['incremental'] is none %}
{{ cuped.cuped__source_ctes(config, scan, narrow_counts=true) }},
{%- else %}
{#- incremental: the stored values before the boundary (cuped__unit_settled) and the events from it on -#}
{{ cuped.cuped__source_ctes(config, scan, 'open', ('event_at >= ' ~ settled) if settled is not none else none, units_from) }},
{%- endif %}
{% endfor %}
{%- if attributes %}
{%- set attributes_relation = cuped__relation(attributes['relation']) %}
{%- set checks = [[attributes['unit_column'], "`unit_attributes.unit_column`"]] %}
{%- for column in attributes['columns'] %}
  {%- do checks.append([column, "`unit_attributes.columns`"]) %}
{%- endfor %}
{{- cuped__check_columns(attributes_relation, checks, "`unit_attributes.relation` (" ~ attributes['relation'] ~ ")") }}
{#- categorical covariates and strata are held as text, their levels read downstream (cuped__categorical.sql) -#}
{%- set categorical = cuped__categorical_attributes(config, attributes_relation) %}
{%- set numeric_checks = [] %}
{%- for metric in config['metrics'] %}
  {%- for covariate in metric['covariates'] if covariate['kind'] == 'attribute' and covariate['column'] not in categorical %}
    {%- do numeric_checks.append([covariate['column'], "metric '" ~ metric['name'] ~ "': covariate '" ~ covariate['name'] ~ "'"]) %}
  {%- endfor %}
{%- endfor %}
{{- cuped__check_numeric_columns(attributes_relation, numeric_checks) }}
unit_attributes as (

    select
        {{ cuped__column(attributes['unit_column']) }} as unit_id,
        {%- for column in attributes['columns'] %}
        {%- set j = loop.index0 %}
        {%- if column in categorical %}
        cast({{ cuped__column(column) }} as {{ dbt.type_string() }}) as attribute_{{ j }},
        {%- elif column in covariate_attributes %}
        cast({{ cuped__column(column) }} as {{ double }}) as attribute_{{ j }},
        {%- endif %}
        {%- if column in config['segments'] %}
        cast({{ cuped__column(column) }} as {{ dbt.type_string() }}) as segment_{{ config['segments'].index(column) }},
        {%- endif %}
        {%- endfor %}
        1 as has_attributes_row
    from {{ attributes_relation }}

),
{%- endif %}

{#- each source's per-unit aggregates: in an incremental build, the stored ones and those of the events from the boundary on, merged -#}
{%- set value_of = {} %}
{%- for scan in scans %}
  {%- set k = scan['index'] %}
  {%- for entry in scan['metrics'] %}
    {%- for column in cuped.cuped__settled_columns(entry) %}
      {%- if staged %}
        {%- do value_of.update({column: 'units.' ~ cuped.cuped__stage_column(k, column)}) %}
      {%- elif config['incremental'] %}
        {%- do value_of.update({column: cuped.cuped__merge_aggregate({'agg': 'count'} if column.endswith('_rows') else entry['metric'], 'settled.' ~ column, 'source_' ~ k ~ '_open.' ~ column)}) %}
      {%- else %}
        {%- do value_of.update({column: 'source_' ~ k ~ '_per_unit.' ~ column}) %}
      {%- endif %}
    {%- endfor %}
  {%- endfor %}
  {%- if staged %}
    {%- do value_of.update({'had_pre_period_' ~ k: 'units.' ~ cuped.cuped__stage_column(k, 'had_pre_period')}) %}
  {%- elif config['incremental'] %}
    {%- do value_of.update({'had_pre_period_' ~ k: 'case when settled.source_' ~ k ~ '_had_pre_period = 1 or source_' ~ k ~ '_open.had_pre_period = 1 then 1 else 0 end'}) %}
  {%- else %}
    {%- do value_of.update({'had_pre_period_' ~ k: 'source_' ~ k ~ '_per_unit.had_pre_period'}) %}
  {%- endif %}
{%- endfor %}

unit_values as (

    select
        {{ base }}.experiment_id,
        {{ base }}.unit_id,
        {{ base }}.variant,
        {%- for scan in scans %}
        {%- set k = scan['index'] %}
        {%- for entry in scan['metrics'] %}
        cast(coalesce({{ value_of['metric_' ~ entry['index'] ~ '_post'] }}, 0) as {{ double }}) as metric_{{ entry['index'] }}_post,
        cast(coalesce({{ value_of['metric_' ~ entry['index'] ~ '_pre'] }}, 0) as {{ double }}) as metric_{{ entry['index'] }}_pre,
        {%- if entry['metric']['missing'] == 'exclude' %}
        case when coalesce({{ value_of['metric_' ~ entry['index'] ~ '_rows'] }}, 0) > 0 then 1 else 0 end as metric_{{ entry['index'] }}_observed,
        {%- endif %}
        {%- endfor %}
        cast(coalesce({{ value_of['had_pre_period_' ~ k] }}, 0) as {{ double }}) as source_{{ k }}_had_pre_period,
        {%- endfor %}
        {%- if attributes %}
        {%- for column in attributes['columns'] %}
        {%- if column in categorical %}
        coalesce(unit_attributes.attribute_{{ loop.index0 }}, '(missing)') as attribute_{{ loop.index0 }},
        {%- elif column in covariate_attributes %}
        coalesce(unit_attributes.attribute_{{ loop.index0 }}, 0) as attribute_{{ loop.index0 }},
        {%- endif %}
        {%- endfor %}
        {%- for segment in config['segments'] %}
        coalesce(unit_attributes.segment_{{ loop.index0 }}, '(missing)') as segment_{{ loop.index0 }},
        {%- endfor %}
        {%- endif %}
        {%- if covariate_attributes | length > 0 %}
        case when
            {%- for column in attributes['columns'] if column in covariate_attributes %}
            {% if not loop.first %}or {% endif %}unit_attributes.attribute_{{ attributes['columns'].index(column) }} is null
            {%- endfor %}
        then 1 else 0 end as missing_attributes,
        {%- else %}
        0 as missing_attributes,
        {%- endif %}
        case when
            {%- for scan in scans %}
            {% if not loop.first %}or {% endif %}coalesce({{ value_of['had_pre_period_' ~ scan['index']] }}, 0) = 1
            {%- endfor %}
        then 1 else 0 end as had_pre_period
        {%- if config['incremental'] %},
        {#- checked after the build (cuped__check_finite_values): the stored row is over the unit's current windows and definitions -#}
        {%- if settled_base %}
        1 as has_settled_values
        {%- else %}
        case when settled.unit_id is not null
            and {{ cuped.cuped__same_windows('settled', 'units', cuped.cuped__pre_period_start(config, 'units')) }}
            and settled.definition_fingerprint = {{ cuped.cuped__literal(cuped.cuped__incremental_fingerprint(config) if execute else '') }}
        then 1 else 0 end as has_settled_values
        {%- endif %}
        {%- endif %}
    {%- if settled_base %}
    from {{ ref('cuped__unit_settled') }} as settled
    {%- else %}
    from {{ units_from }} as units
    {%- if config['incremental'] %}
    left join {{ ref('cuped__unit_settled') }} as settled
        on settled.experiment_id = units.experiment_id
        and settled.unit_id = units.unit_id
    {%- endif %}
    {%- endif %}
    {%- for scan in scans if not staged %}
    {%- set joined = 'source_' ~ scan['index'] ~ ('_open' if config['incremental'] else '_per_unit') %}
    left join {{ joined }}
        on {{ joined }}.experiment_id = {{ base }}.experiment_id
        and {{ joined }}.unit_id = {{ base }}.unit_id
    {%- endfor %}
    {%- if attributes %}
    left join unit_attributes
        on unit_attributes.unit_id = {{ base }}.unit_id
    {%- endif %}

)

select * from unit_values
{%- endif %}
