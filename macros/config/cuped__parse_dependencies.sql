{#-
  What a package model renders when dbt parses the project (`execute` is false), instead of its
  SQL. dbt renders a model at parse time only to learn its config and the relations it reads; it
  never runs that SQL. Rendering the real SQL there cost every full parse the compilation of the
  SQL macros and a pass over every metric, covariate and pair of variables, which grows with the
  number of metrics. A model renders this instead:

    nodes      the package models it reads, each through ref();
    relations  the configured relations it reads (`assignments`, `experiments`,
               `variant_weights`, `unit_attributes.relation`, each event source, a Semantic
               Layer metric's '@semantic:<name>'), each through cuped__relation(), which calls
               source(), ref() or metric() as the SQL does; empty values are skipped.

  So the DAG edges are the ones the SQL records: the suite checks, on the builds of the demo,
  of an incremental and of a quantile configuration, that every relation a compiled model reads
  is among its dependencies (tests/test_parse_dependencies.py). The calls below are never
  rendered: dbt reads them statically, so each model still depends on every SQL macro, and
  `state:modified` still selects it when one of them changes (after upgrading the package).
-#}
{% macro cuped__parse_dependencies(nodes=[], relations=[]) %}
  {%- for name in nodes -%}
    {%- do ref(name) -%}
  {%- endfor -%}
  {%- for name in relations if name -%}
    {%- do cuped.cuped__relation(name) -%}
  {%- endfor -%}
  {%- if false -%}
    {{ cuped.cuped__analysed_metrics_filter() }} {{ cuped.cuped__analysed_units_sql() }}
    {{ cuped.cuped__analysed_value() }} {{ cuped.cuped__capped_unit_values() }}
    {{ cuped.cuped__categorical_attributes() }} {{ cuped.cuped__check_columns() }}
    {{ cuped.cuped__check_finite_values() }} {{ cuped.cuped__check_inputs() }}
    {{ cuped.cuped__check_numeric_columns() }} {{ cuped.cuped__codegen_hook() }} {{ cuped.cuped__column() }}
    {{ cuped.cuped__config() }} {{ cuped.cuped__covariance_column() }}
    {{ cuped.cuped__create_latest_view() }} {{ cuped.cuped__create_stages() }}
    {{ cuped.cuped__daily_accumulation() }} {{ cuped.cuped__drop_stages() }}
    {{ cuped.cuped__incremental_boundary() }} {{ cuped.cuped__incremental_cleanup() }}
    {{ cuped.cuped__incremental_fingerprint() }} {{ cuped.cuped__incremental_unit_daily_values() }}
    {{ cuped.cuped__join_planner_hook() }} {{ cuped.cuped__literal() }}
    {{ cuped.cuped__local_date() }} {{ cuped.cuped__long_moments() }}
    {{ cuped.cuped__merge_aggregate() }} {{ cuped.cuped__narrow_count() }} {{ cuped.cuped__per_unit_aggregates() }}
    {{ cuped.cuped__percentile() }} {{ cuped.cuped__pre_period_start() }}
    {{ cuped.cuped__quantile_inputs() }} {{ cuped.cuped__relation() }}
    {{ cuped.cuped__same_windows() }} {{ cuped.cuped__scan_events() }}
    {{ cuped.cuped__segment_filter() }} {{ cuped.cuped__select_contract() }}
    {{ cuped.cuped__settled_boundary() }} {{ cuped.cuped__settled_columns() }}
    {{ cuped.cuped__source_ctes() }} {{ cuped.cuped__stage_column() }}
    {{ cuped.cuped__stage_relation() }} {{ cuped.cuped__stage_sources() }} {{ cuped.cuped__stage_sql() }}
    {{ cuped.cuped__statistics_relation() }} {{ cuped.cuped__stored_state() }} {{ cuped.cuped__settled_is_current() }} {{ cuped.cuped__row_hash_sum() }}
    {{ cuped.cuped__timestamp_literal() }} {{ cuped.cuped__timestamp_utc() }}
    {{ cuped.cuped__today() }} {{ cuped.cuped__type_double() }}
    {{ cuped.cuped__unit_aggregate() }} {{ cuped.cuped__values() }}
    {{ cuped.cuped__warn_missing_controls() }} {{ cuped.cuped__warn_unknown_experiment_settings() }}
    {{ cuped.cuped__naive_utc() }} {{ cuped.cuped__is_text_type() }}
    {{ cuped.cuped__expression_type() }} {{ cuped.cuped__type_of() }} {{ cuped.cuped__check_incremental_pair() }} {{ cuped.cuped__check_text_times() }} {{ cuped.cuped__sl_value() }} {{ cuped.cuped__regex_matches() }}
    {{ cuped.cuped__warn_null_event_keys() }} {{ cuped.cuped__warn_unknown_configured_experiments() }} {{ cuped.cuped__warn_empty_inputs() }}
    {{ cuped.cuped__window_end() }} {{ cuped.cuped__event_at() }} {{ cuped.cuped__time_in_range() }} {{ cuped.cuped__event_time_kept() }}
    {{ cuped.cuped__user_columns() }} {{ cuped.cuped__column_type() }} {{ cuped.cuped__check_unit_type() }} {{ cuped.cuped__unit_id_kind() }} {{ cuped.cuped__try_cast() }}
    {{ cuped.cuped__check_time_column() }} {{ cuped.cuped__is_time_type() }} {{ cuped.cuped__scan_where() }}
    {{ cuped.cuped__inputs_build() }} {{ cuped.cuped__python_statistics() }} {{ cuped.cuped__local_day_start() }} {{ cuped.cuped__metric_filter() }} {{ cuped.cuped__instant_to_wall_time() }}
    {{ dbt.current_timestamp() }} {{ dbt.datediff() }} {{ dbt.type_bigint() }} {{ dbt.type_int() }}
    {{ dbt.type_string() }} {{ dbt.type_timestamp() }}
  {%- endif -%}
  {{ return('select 1 as parsed') }}
{% endmacro %}
