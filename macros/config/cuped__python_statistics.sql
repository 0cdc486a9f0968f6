{#-
  Whether the adapter runs dbt Python models, so the statistics step is the Python model
  `cuped__statistics`. Elsewhere (PostgreSQL, Redshift, Trino...) both Python models are disabled
  and the `cuped-stats statistics` command writes the same table between two dbt builds (README "PostgreSQL
  and other warehouses without Python models"). The list is also python_models/_python_models.yml's `enabled`.
-#}
{% macro cuped__python_statistics() %}
  {{ return(target.type in ['duckdb', 'spark', 'databricks', 'snowflake', 'bigquery']) }}
{% endmacro %}

{#-
  The table of every statistic the public models read: the Python model's relation, or on a
  SQL-only adapter the table `cuped__statistics` that the `cuped-stats statistics` command writes
  beside `cuped__moments` (a ref of it gives the public models their place in the DAG). There,
  a run checks first that the table exists and was computed from the inputs the project has now
  (cuped__check_statistics_inputs).
-#}
{% macro cuped__statistics_relation() %}
  {%- if cuped.cuped__python_statistics() -%}
    {{ return(ref('cuped__statistics')) }}
  {%- else -%}
    {%- set moments = ref('cuped__moments') -%}
    {%- set relation = api.Relation.create(database=moments.database, schema=moments.schema, identifier='cuped__statistics', type='table') -%}
    {%- do cuped.cuped__check_statistics_inputs(relation, ref('cuped__analysis_plan')) -%}
    {{ return(relation) }}
  {%- endif -%}
{% endmacro %}

{#-
  Which build of the statistics' inputs a row comes from, on a SQL-only adapter: cuped__analysis_plan
  holds the build that wrote it (the run's start in UTC and dbt's invocation id), and the
  `cuped-stats statistics` command copies the plan's value into every row it writes.
-#}
{% macro cuped__inputs_build() %}
  {{ return(run_started_at.strftime('%Y-%m-%d %H:%M:%S') ~ ' UTC, dbt invocation ' ~ invocation_id) }}
{% endmacro %}

{#-
  On a SQL-only adapter, before a public model reads `cuped__statistics` in a run (`dbt run`,
  `build`, `retry`; not `compile` or `docs generate`): the table must exist, and its rows must come
  from the build of the inputs that cuped__analysis_plan holds now. Otherwise a build would publish
  statistics of older moments under a new `computed_at`: after `dbt build` alone (the statistics
  step skipped), after a failed `cuped-stats statistics`, or one run on another target. Checked
  once per run: the table does not change while dbt runs.
-#}
{% macro cuped__check_statistics_inputs(relation, plan) %}
  {%- if not execute or invocation_args_dict.get('which') not in ['run', 'build', 'retry'] -%}{{ return('') }}{%- endif -%}
  {%- set key = '__cuped_statistics_checked__' ~ invocation_id -%}
  {%- if graph.get(key) -%}{{ return('') }}{%- endif -%}
  {%- set steps = "`dbt build --select +tag:cuped_statistics_input`, then `cuped-stats statistics` (with the same --target and --vars), then `dbt build --exclude +tag:cuped_statistics_input` (README section 'PostgreSQL and other warehouses without Python models')" -%}
  {%- if adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) is none -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ relation ~ " does not exist. dbt runs no Python models on " ~ target.type ~ ", so the statistics are a step of their own between two builds: " ~ steps ~ ".") }}
  {%- endif -%}
  {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
  {%- if 'inputs_build' not in names -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ relation ~ " was written by an older `cuped-stats statistics`, which does not record the build of the moments it read; run it again: " ~ steps ~ ".") }}
  {%- endif -%}
  {%- set found = run_query("select (select count(*) from " ~ plan ~ ") as plan_rows, (select min(inputs_build) from " ~ plan ~ ") as plan_build, (select count(*) from " ~ relation ~ ") as statistics_rows, (select min(inputs_build) from " ~ relation ~ ") as first_build, (select max(inputs_build) from " ~ relation ~ ") as last_build").rows[0] -%}
  {%- if found[1] != found[3] or found[3] != found[4] or (found[0] > 0 and found[2] == 0) -%}
    {%- set read = found[3] if found[3] == found[4] else found[3] ~ ' to ' ~ found[4] -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ relation ~ " was computed from another build of the moments (" ~ (read or 'none') ~ ") than the one this target has now (" ~ (found[1] or 'none') ~ "), so this run would publish old statistics as new. Run `cuped-stats statistics` after the moments are built and before the public tables: " ~ steps ~ ".") }}
  {%- endif -%}
  {%- do graph.update({key: true}) -%}
  {{ return('') }}
{% endmacro %}
