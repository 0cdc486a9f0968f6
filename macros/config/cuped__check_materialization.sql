{#-
  A model the package needs in one materialization: cuped_results_history incremental (a table
  would erase every past day on each run), cuped__statistics a table (dbt runs Python models as
  tables or incrementals only; an incremental would append every run's statistics). A project's
  `dbt_project.yml` overrides an installed package's own configs, so a project-wide default
  (`models: +materialized: table`) reaches them: stop at run time with what to change, instead
  of erasing the history silently or failing in dbt's own words. `node_id` is the model's unique
  id; nothing is checked for a disabled model or at parse time.
-#}
{% macro cuped__check_materialization(node_id, expected) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set node = graph.nodes.get(node_id) -%}
  {%- if node is none -%}{{ return('') }}{%- endif -%}
  {%- set found = node['config']['materialized'] -%}
  {%- if found != expected -%}
    {{ exceptions.raise_compiler_error("cuped: the package's model " ~ node['name'] ~ " is materialized as '" ~ found ~ "', not '" ~ expected ~ "': a `+materialized` in your dbt_project.yml reaches it (a default under `models:` applies to installed packages too, and overrides their own configs). " ~ ("As a table, every run would erase the days it keeps. " if expected == 'incremental' else "") ~ "Put the default under your own project's name (`models: <your project>: +materialized: ...`), or give the model back its own: `models: cuped: " ~ node['name'] ~ ": +materialized: " ~ expected ~ "`.") }}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}
