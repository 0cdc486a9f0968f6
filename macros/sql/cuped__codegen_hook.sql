{#-
  Hooks of cuped__arm_moments, which aggregates every variable of the analysis at once. Spark
  compiles a stage of a query into generated Java code only when its rows have at most
  `spark.sql.codegen.maxFields` fields (default 100); otherwise it interprets the stage row by
  row. The partial aggregate of the arm moments keeps several buffer
  fields per mean and covariance (about 160 for the benchmark's five metrics), so Spark ran it
  interpreted: 5.5-5.6 s, against 2.7-3.3 s for the same statement with the limit at 2000 (1M
  units, local[2], alternating runs in one JVM; the same rows).

  cuped__codegen_hook('pre') raises the limit to 2000 for the model when it is lower, and
  cuped__codegen_hook('post') puts the value it found back, so the rest of the run, the user's
  models included, keeps its settings (a model that fails skips its post-hook: the raised limit
  then lasts until the session ends). Only on dbt-spark: Databricks SQL warehouses refuse the
  setting, and Photon does not generate code this way; elsewhere the hooks are empty.
-#}
{% macro cuped__codegen_hook(phase) %}
  {{ return(adapter.dispatch('cuped__codegen_hook', 'cuped')(phase)) }}
{% endmacro %}

{% macro default__cuped__codegen_hook(phase) %}{{ return('') }}{% endmacro %}

{% macro databricks__cuped__codegen_hook(phase) %}{{ return('') }}{% endmacro %}

{% macro spark__cuped__codegen_hook(phase) %}
  {%- if not execute or target.type != 'spark' -%}{{ return('') }}{%- endif -%}
  {%- set key = 'spark.sql.codegen.maxFields' -%}
  {%- set wanted = 2000 -%}
  {%- set saved = graph.setdefault('__cuped_codegen_max_fields__', {}) -%}
  {%- if phase == 'pre' -%}
    {%- set found = run_query('set ' ~ key).rows[0][1] | string -%}
    {%- set numeric = modules.re.match('^[0-9]+$', found) is not none -%}
    {%- if numeric and found | int >= wanted -%}{{ return('') }}{%- endif -%}
    {%- do saved.update({model.unique_id: found}) -%}
    {{ return('set ' ~ key ~ ' = ' ~ wanted) }}
  {%- endif -%}
  {%- set found = saved.pop(model.unique_id, none) -%}
  {%- if found is none -%}{{ return('') }}{%- endif -%}
  {%- if modules.re.match('^[0-9]+$', found) is not none -%}{{ return('set ' ~ key ~ ' = ' ~ found) }}{%- endif -%}
  {{ return('reset ' ~ key) }}
{% endmacro %}
