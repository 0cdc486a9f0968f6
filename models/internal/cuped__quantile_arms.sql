{#-
  One row per experiment × segment × variant × quantile metric: the per-arm inputs of the
  quantile comparison (cuped_stats.quantile.QuantileArm; cuped__quantile_inputs computes them in
  SQL from a few order statistics and per-unit counts, so no unit row reaches Python).

  `level: unit`: the quantile of the analysed units' per-unit values (cuped__unit_values, units
  without events at 0, or with `missing: exclude` left out of the values but counted in
  n_units). `level: event`: of the events' values in each unit's post window, clustered by unit;
  a unit without such an event is one row without a value, so it counts in n_units. The overall
  row has segment_name = segment_value = 'all'; every segment adds its values' rows, for the
  experiments it applies to, like cuped__arm_moments. Empty (typed) without quantile metrics.
-#}
{%- set config = cuped__config() -%}
{%- if not execute %}
{%- set event_sources = [] %}
{%- for i in config['quantiles'] if config['metrics'][i]['quantile']['level'] == 'event' %}
  {%- do event_sources.append(config['scans'][config['metrics'][i]['scan_index']]['source']) %}
{%- endfor %}
{#- without quantile metrics it reads nothing; a ref of cuped__unit_values runs it beside the models after the event scans: dbt starts the ready models of a DAG level in name order, and before the scans it went ahead of them -#}
{{ cuped.cuped__parse_dependencies((['cuped__unit_values'] + (['cuped__units'] if event_sources else [])) if config['quantiles'] else ['cuped__unit_values'], event_sources) }}
{%- else %}
{%- set quantiles = config['quantiles'] -%}
{%- set double = cuped__type_double() -%}
{%- set bigint = dbt.type_bigint() -%}
{%- set inputs = ['n_units', 'n_values', 'quantile_value', 'band_lower', 'band_upper', 'value_lower',
                  'value_upper', 'sum_below', 'sum_at', 'sum_events_squared', 'sum_below_squared',
                  'sum_at_squared', 'sum_below_events', 'sum_at_events', 'sum_below_at'] -%}
{%- set keys = ['experiment_id', 'segment_name', 'segment_value', 'variant'] -%}
{%- if quantiles | length == 0 %}
select
    cast(null as {{ dbt.type_string() }}) as experiment_id,
    cast(null as {{ dbt.type_string() }}) as segment_name,
    cast(null as {{ dbt.type_string() }}) as segment_value,
    cast(null as {{ dbt.type_string() }}) as variant,
    cast(null as {{ dbt.type_string() }}) as metric_name
    {%- for column in inputs %},
    cast(null as {{ bigint if column.startswith('n_') or column.startswith('sum_') else double }}) as {{ column }}
    {%- endfor %}
where 1 = 0
{%- else %}

with unit_values as (

    select * from {{ ref('cuped__unit_values') }}

),
{%- set event_level = [] %}
{%- for i in quantiles if config['metrics'][i]['quantile']['level'] == 'event' %}{% do event_level.append(i) %}{% endfor %}
{%- if event_level %}

units as (

    select experiment_id, unit_id, assigned_at, analysis_end_at
    from {{ ref('cuped__units') }}
    where exclusion_reason is null

),
{%- endif %}
{%- for i in quantiles %}
{%- set metric = config['metrics'][i] %}
{%- if metric['quantile']['level'] == 'event' %}
{%- set scan = config['scans'][metric['scan_index']] %}

metric_{{ i }}_events as (

{{ cuped__scan_events({'source': scan['source'], 'unit_sql': scan['unit_sql'], 'timestamp_sql': scan['timestamp_sql'],
                       'timestamp_column': scan['timestamp_column'], 'timestamp_is_sql': scan['timestamp_is_sql'],
                       'metrics': [{'index': i, 'metric': metric}]}) }}

),

{#- each analysed unit's events in its post window; a unit without any, one row without a value -#}
metric_{{ i }}_unit_events as (

    select
        unit_values.experiment_id,
        unit_values.unit_id,
        unit_values.variant,
        {%- for segment in config['segments'] %}
        unit_values.segment_{{ loop.index0 }},
        {%- endfor %}
        events.value_{{ i }} as value
    from unit_values
    inner join units
        on units.experiment_id = unit_values.experiment_id
        and units.unit_id = unit_values.unit_id
    left join metric_{{ i }}_events as events
        on events.unit_id = units.unit_id
        and events.event_at >= units.assigned_at
        and (units.analysis_end_at is null or events.event_at <= units.analysis_end_at)
        {%- if metric['window_days'] is not none %}
        and {{ cuped__window_end(metric) }}
        {%- endif %}

),
{%- endif %}

metric_{{ i }}_rows as (
    {%- set segment_names = ['all'] + config['segments'] %}
    {%- for segment_name in segment_names %}
    {%- set segment_value = "'all'" if loop.first else 'segment_' ~ (loop.index0 - 1) %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        experiment_id,
        {{ cuped__literal(segment_name) }} as segment_name,
        {{ segment_value }} as segment_value,
        variant,
        unit_id,
        {%- if metric['quantile']['level'] == 'event' %}
        value
    from metric_{{ i }}_unit_events
        {%- else %}
        {{ cuped__analysed_value(config, i, 'metric_' ~ i ~ '_post') }} as value
    from unit_values
        {%- endif %}
    {%- endfor %}

),

metric_{{ i }}_arms as (

    select
        {{ keys | join(', ') }},
        {{ cuped__literal(metric['name']) }} as metric_name
        {%- for column in inputs %},
        {{ column }}
        {%- endfor %}
    from (
{{ cuped__quantile_inputs('metric_' ~ i ~ '_rows', keys, 'value', metric['quantile']['q'], metric['quantile']['level']) }}
    ) as inputs

),
{%- endfor %}

quantile_arms as (
    {%- for i in quantiles %}
    select * from metric_{{ i }}_arms
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select
    experiment_id,
    segment_name,
    segment_value,
    variant,
    metric_name
    {%- for column in inputs %},
    cast({{ column }} as {{ bigint if column.startswith('n_') or column.startswith('sum_') else double }}) as {{ column }}
    {%- endfor %}
from quantile_arms
{%- set filters = [] %}
{%- set segment_filter = cuped__segment_filter(config) %}
{%- if segment_filter %}{% do filters.append("(segment_name = 'all' or " ~ segment_filter ~ ")") %}{% endif %}
{%- set analysed = cuped__analysed_metrics_filter(config, 'experiment_id', 'metric_name') %}
{%- if analysed %}{% do filters.append(analysed) %}{% endif %}
{%- if filters %}
where {{ filters | join(' and ') }}
{%- endif %}
{%- endif %}
{%- endif %}
