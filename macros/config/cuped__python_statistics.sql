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
  beside `cuped__moments` (a ref of it gives the public models their place in the DAG).
-#}
{% macro cuped__statistics_relation() %}
  {%- if cuped.cuped__python_statistics() -%}
    {{ return(ref('cuped__statistics')) }}
  {%- else -%}
    {%- set moments = ref('cuped__moments') -%}
    {{ return(api.Relation.create(database=moments.database, schema=moments.schema, identifier='cuped__statistics', type='table')) }}
  {%- endif -%}
{% endmacro %}
