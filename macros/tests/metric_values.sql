{#-
  Pins what a metric means: hand-made rows of its source and units, and the per-unit values the
  metric must give them. The rows go through the package's own SQL for that metric (its value,
  filter, aggregation, window and pre-period, as configured now: cuped__scan_events and
  cuped__per_unit_aggregates, the code cuped__unit_values runs), so a change to the metric's
  definition that changes a value fails the test in CI, naming the unit.

  Put it on any model (the metric's source is natural). Arguments:
    metric    the metric's name in the `cuped` var (not a ratio: pin its parts)
    units     rows {unit_id, assigned_at} (and `experiment_id` when `experiment_settings`
              gives an experiment its own `pre_period_days`); times are wall-clock in `timezone`
    events    rows of the metric's source, by column name (the columns its unit, time, value and
              filter read; a column missing from a row is null); times are wall-clock in `timezone`
    expected  rows {unit_id, post} and optionally `pre`: the per-unit value in the post window and
              in the pre-period window, before any `cap`; `post: null` for a unit without a value
              of a `missing: exclude` metric
  Fails with one row per expected unit whose values differ (relative tolerance 1e-9), each also
  logged as a `cuped:` line with the expected and actual values (cuped__log_failing_rows). Give it a
  `name:` (dbt otherwise names it after every argument). (The body calls the package's macros as
  `cuped.<macro>`: a generic test renders in the project that uses it.)
-#}
{% test metric_values(model, metric, units, events, expected) %}
{%- set config = cuped.cuped__config() -%}
{%- set where = "cuped.metric_values: metric '" ~ metric ~ "'" -%}
{%- if metric not in config['metric_indices'] -%}
  {{ exceptions.raise_compiler_error(where ~ " is not in the `cuped` var; metrics are: " ~ (config['metric_indices'].keys() | join(', '))) }}
{%- endif -%}
{%- set i = config['metric_indices'][metric] -%}
{%- set definition = config['metrics'][i] -%}
{%- if definition['type'] == 'ratio' -%}
  {{ exceptions.raise_compiler_error(where ~ " is a ratio metric; pin its numerator and denominator metrics instead.") }}
{%- endif -%}
{%- for name, rows in [['units', units], ['events', events], ['expected', expected]] -%}
  {%- if rows is string or rows is mapping or rows is not iterable or rows | length == 0 or (rows | reject('mapping') | list | length) > 0 -%}
    {{ exceptions.raise_compiler_error(where ~ ": `" ~ name ~ "` must be a non-empty list of rows (mappings of column to value), got: " ~ rows) }}
  {%- endif -%}
{%- endfor -%}
{%- set scan = config['scans'][definition['scan_index']] -%}
{%- set scan = {'source': scan['source'], 'unit_sql': scan['unit_sql'], 'timestamp_sql': scan['timestamp_sql'],
                'timestamp_column': scan['timestamp_column'], 'timestamp_is_sql': scan['timestamp_is_sql'],
                'metrics': [{'index': i, 'metric': definition}]} -%}
{%- set columns = [] -%}
{%- for row in events -%}{%- for column in row if column not in columns -%}{%- do columns.append(column) -%}{%- endfor -%}{%- endfor -%}
{%- set fixture = [] -%}
{%- for row in events -%}
  {%- set cells = [] -%}
  {%- for column in columns -%}{%- do cells.append(cuped.cuped__fixture_literal(row.get(column)) ~ ' as ' ~ cuped.cuped__column(column)) -%}{%- endfor -%}
  {%- do fixture.append('select ' ~ (cells | join(', '))) -%}
{%- endfor -%}
{%- set timezone = config['timezone'] -%}
{%- set timestamp = dbt.type_timestamp() -%}
{%- set double = cuped.cuped__type_double() -%}

{%- set failing %}
with units as (
    {%- for row in units %}
    {%- for key in ['unit_id', 'assigned_at'] if row.get(key) is none %}
    {{ exceptions.raise_compiler_error(where ~ ": each row of `units` needs `" ~ key ~ "`, got: " ~ row) }}
    {%- endfor %}
    select
        {{ cuped.cuped__fixture_literal(row.get('experiment_id', 'fixture')) }} as experiment_id,
        {{ cuped.cuped__fixture_literal(row['unit_id']) }} as unit_id,
        {{ cuped.cuped__wall_time_to_utc('cast(' ~ cuped.cuped__fixture_literal(row['assigned_at']) ~ ' as ' ~ timestamp ~ ')', timezone) }} as assigned_at,
        cast(null as {{ timestamp }}) as analysis_end_at
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

events as (

{{ cuped.cuped__scan_events(scan, fixture | join('\n    union all\n    ')) }}

),

per_unit as (

{{ cuped.cuped__per_unit_aggregates(config, scan, 'units', 'events') }}

),

actual as (

    select
        units.unit_id,
        {%- if definition['missing'] == 'exclude' %}
        case when coalesce(per_unit.metric_{{ i }}_rows, 0) > 0 then cast(per_unit.metric_{{ i }}_post as {{ double }}) end as post,
        {%- else %}
        cast(coalesce(per_unit.metric_{{ i }}_post, 0) as {{ double }}) as post,
        {%- endif %}
        cast(coalesce(per_unit.metric_{{ i }}_pre, 0) as {{ double }}) as pre
    from units
    left join per_unit
        on per_unit.experiment_id = units.experiment_id and per_unit.unit_id = units.unit_id

),

expected as (
    {%- for row in expected %}
    {%- if row.get('unit_id') is none or 'post' not in row %}
    {{ exceptions.raise_compiler_error(where ~ ": each row of `expected` needs `unit_id` and `post`, got: " ~ row) }}
    {%- endif %}
    select
        {{ cuped.cuped__fixture_literal(row['unit_id']) }} as unit_id,
        cast({{ cuped.cuped__fixture_literal(row['post']) }} as {{ double }}) as post,
        cast({{ cuped.cuped__fixture_literal(row.get('pre')) }} as {{ double }}) as pre,
        {{ 1 if 'pre' in row else 0 }} as check_pre
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    {{ cuped.cuped__literal(metric) }} as metric_name,
    expected.unit_id,
    expected.post as expected_post,
    actual.post as actual_post,
    expected.pre as expected_pre,
    actual.pre as actual_pre
from expected
left join actual
    on actual.unit_id = expected.unit_id
where actual.unit_id is null
    or not coalesce(abs(actual.post - expected.post) <= 1e-9 * greatest(1, abs(expected.post)),
                    actual.post is null and expected.post is null)
    or (expected.check_pre = 1
        and not coalesce(abs(actual.pre - expected.pre) <= 1e-9 * greatest(1, abs(expected.pre)), false))
{%- endset %}
{{- cuped.cuped__log_failing_rows('metric_values', model, failing, [['metric_name', 'metric '], ['unit_id', 'unit '], ['expected_post', 'expected post '], ['actual_post', 'actual post '], ['expected_pre', 'expected pre '], ['actual_pre', 'actual pre ']]) }}
{{ failing }}

{% endtest %}

{#- A SQL literal for a YAML value of a fixture row: null, true/false, a number or a string. -#}
{% macro cuped__fixture_literal(value) %}
  {%- if value is none -%}{{ return('null') }}
  {%- elif value is boolean -%}{{ return('true' if value else 'false') }}
  {%- elif value is number -%}{{ return(value | string) }}
  {%- endif -%}
  {{ return(cuped.cuped__literal(value | string)) }}
{% endmacro %}
