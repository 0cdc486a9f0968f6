{#-
  Staged per-unit aggregation: cuped__unit_values computed one event source at a time.

  In one statement, a warehouse runs every source's per-unit aggregation together and holds each
  source's wide result in a join's hash table while it joins them to the units. With many metrics
  that is several gigabytes at 1M units (100 metrics over two sources: DuckDB needs between 3.3
  and 4 GB under a memory limit, and 8 GB without one). Staged, each source is aggregated and
  joined to the units in a select of its own, which carries the previous sources' columns along
  (a chain, so only one source's result is ever hashed): every source but the last into a
  temporary table, the last one in the model's own statement, which reads the chain's last table
  (one wide copy fewer: at 100 metrics over two sources and a 2.8 GB limit the model took 21-24 s
  this way against 27-36 s with the last source in a temporary table of its own). The same build
  completes under a 2 GB limit.

  When: on DuckDB, by the var `cuped_stage_sources`: `auto` (the default) stages a full build
  that scans two or more sources for more than 16 metrics in all; `true` stages every full build
  of two or more sources, `false` none. Incremental builds and other adapters build the model in
  one statement (`true` is refused on other adapters). The temporary tables are created by the
  model's pre-hook and dropped by its post-hook; the model's SQL is otherwise the same, so the
  values are the same (tests/test_staged_sources.py compares both builds column by column).
-#}
{% macro cuped__stage_sources(config) %}
  {%- set setting = var('cuped_stage_sources', 'auto') -%}
  {%- if setting not in ['auto', true, false] -%}
    {{ exceptions.raise_compiler_error("cuped: the var `cuped_stage_sources` is " ~ setting ~ "; it takes auto, true or false.") }}
  {%- endif -%}
  {%- set available = adapter.dispatch('cuped__stages_available', 'cuped')() -%}
  {%- if setting == true and not available -%}
    {{ exceptions.raise_compiler_error("cuped: the var `cuped_stage_sources` is true, but the per-unit aggregation is staged by source on DuckDB only (this target is " ~ target.type ~ "); set it to auto or false.") }}
  {%- endif -%}
  {%- if not available or setting == false or config['incremental'] or config['scans'] | length < 2 -%}{{ return(false) }}{%- endif -%}
  {%- if setting == true -%}{{ return(true) }}{%- endif -%}
  {%- set n_metrics = config['scans'] | map(attribute='metrics') | map('length') | sum -%}
  {{ return(n_metrics > 16) }}
{% endmacro %}

{#- Where staging is built and tested: DuckDB, which holds a statement's hash tables in its own process. -#}
{% macro default__cuped__stages_available() %}{{ return(false) }}{% endmacro %}
{% macro duckdb__cuped__stages_available() %}{{ return(true) }}{% endmacro %}


{#- The temporary table of stage k: the units with the per-unit aggregates of scans 0..k. -#}
{% macro cuped__stage_relation(k) %}
  {{- return('cuped__unit_values__stage_' ~ k) -}}
{% endmacro %}

{#- The name of scan k's column `column` in the stages. -#}
{% macro cuped__stage_column(k, column) %}
  {{- return('source_' ~ k ~ '__' ~ column) -}}
{% endmacro %}

{#- The analysed units of cuped__unit_values (the first relation of the chain). -#}
{% macro cuped__analysed_units_sql() %}
    select experiment_id, unit_id, variant, assigned_at, analysis_end_at
    from {{ ref('cuped__units') }}
    where exclusion_reason is null
{%- endmacro %}

{#-
  The per-unit aggregates of one scan, as two CTEs over `units` (a CTE's name, or a relation or
  subquery): `source_<k>_events` (the scan,
  cuped__scan_events) and `source_<k>_<suffix>` (one row per experiment × unit with events,
  cuped__per_unit_aggregates over the events `events_filter` keeps, a SQL predicate or none).
-#}
{% macro cuped__source_ctes(config, scan, suffix='per_unit', events_filter=none, units='units', narrow_counts=false, every_unit=false, periods_apart=false) %}
{%- set k = scan['index'] %}
source_{{ k }}_events as {{ 'not materialized ' if periods_apart }}(

{{ cuped.cuped__scan_events(scan) }}

),
{%- set events = 'source_' ~ k ~ '_events' %}
{%- if events_filter is not none %}

source_{{ k }}_open_events as (

    select * from source_{{ k }}_events
    where {{ events_filter }}

),
{%- set events = 'source_' ~ k ~ '_open_events' %}
{%- endif %}

source_{{ k }}_{{ suffix }} as (

{{ cuped.cuped__per_unit_aggregates(config, scan, units, events, narrow_counts, every_unit, periods_apart) }}

)
{%- endmacro %}

{#- The columns scan `scan` adds to a unit: each metric's aggregates and had_pre_period. -#}
{% macro cuped__scan_columns(scan) %}
  {%- set columns = [] -%}
  {%- for entry in scan['metrics'] -%}
    {%- do columns.extend(cuped.cuped__settled_columns(entry)) -%}
  {%- endfor -%}
  {%- do columns.append('had_pre_period') -%}
  {{ return(columns) }}
{% endmacro %}

{#-
  The select of stage `position` of the chain: the previous stage's table left-joined to scan
  `scan`'s per-unit aggregates, named by cuped__stage_column. The first stage joins no wide
  result: its per-unit aggregates have a row for every analysed unit (`every_unit`,
  cuped__per_unit_aggregates), which it renames. After the first stage, the scan's join to the
  units reads only the units' columns of the previous table and the final select reads that
  table itself: a `units` CTE of the whole wide table, read twice, would be materialized by
  DuckDB, a copy of every column of every unit (at 100 metrics, 1M units and a 2.8 GB limit the
  model's statement took 11.3-13.1 s without it against 14.1-15.4 s with it).
-#}
{% macro cuped__stage_sql(config, scan, position) %}
{%- set k = scan['index'] %}
{%- set previous = cuped.cuped__stage_relation(position - 1) if position > 0 else none %}
with units as (
{% if previous is none %}
{{ cuped.cuped__analysed_units_sql() }}
{%- else %}
    select experiment_id, unit_id, variant, assigned_at, analysis_end_at
    from {{ previous }}
{%- endif %}
),
{{ cuped.cuped__source_ctes(config, scan, narrow_counts=true, every_unit=previous is none, periods_apart=true) }}
{%- if previous is none %}

select
    experiment_id, unit_id, variant, assigned_at, analysis_end_at
    {%- for column in cuped.cuped__scan_columns(scan) %},
    {{ column }} as {{ cuped.cuped__stage_column(k, column) }}
    {%- endfor %}
from source_{{ k }}_per_unit
{%- else %}

select
    units.*
    {%- for column in cuped.cuped__scan_columns(scan) %},
    source_{{ k }}_per_unit.{{ column }} as {{ cuped.cuped__stage_column(k, column) }}
    {%- endfor %}
from {{ previous }} as units
left join source_{{ k }}_per_unit
    on source_{{ k }}_per_unit.experiment_id = units.experiment_id
    and source_{{ k }}_per_unit.unit_id = units.unit_id
{%- endif %}
{%- endmacro %}

{#-
  Pre-hook of cuped__unit_values: when staged, one temporary table per scan but the last (which
  the model's statement joins itself, cuped__stage_sql), each dropped once the next is built.
-#}
{% macro cuped__create_stages() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set config = cuped.cuped__config() -%}
  {%- if not cuped.cuped__stage_sources(config) -%}{{ return('') }}{%- endif -%}
  {%- for scan in config['scans'][:-1] -%}
    {%- set position = loop.index0 -%}
    {%- do run_query(cuped.cuped__drop_temp_table(cuped.cuped__stage_relation(position))) -%}
    {%- do run_query(cuped.cuped__create_temp_table(cuped.cuped__stage_relation(position), cuped.cuped__stage_sql(config, scan, position))) -%}
    {%- if position > 0 -%}
      {%- do run_query(cuped.cuped__drop_temp_table(cuped.cuped__stage_relation(position - 1))) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}

{#- Post-hook of cuped__unit_values: drop the chain's last table (the others are dropped as the chain grows). -#}
{% macro cuped__drop_stages() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set config = cuped.cuped__config() -%}
  {%- if cuped.cuped__stage_sources(config) -%}
    {%- do run_query(cuped.cuped__drop_temp_table(cuped.cuped__stage_relation(config['scans'] | length - 2))) -%}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}

{% macro cuped__create_temp_table(name, sql) %}
  {{- return('create temporary table ' ~ name ~ ' as ' ~ sql) -}}
{% endmacro %}

{% macro cuped__drop_temp_table(name) %}
  {{- return('drop table if exists ' ~ name) -}}
{% endmacro %}
