{#-
  Post-hook of the latest version of a versioned public model: a view under the unversioned name
  (e.g. `cuped_results` over `cuped_results_v1`), so BI tools can read the latest version by a
  stable name while `<name>_v<N>` stays pinned.
-#}
{% macro cuped__create_latest_view() %}
  {%- if model.get('version') is none or model.get('version') != model.get('latest_version') -%}
    {{ return('') }}
  {%- endif -%}
  {%- set view = api.Relation.create(database=this.database, schema=this.schema, identifier=model['name'], type='view') -%}
  {{ return('create or replace view ' ~ view ~ ' as select * from ' ~ this) }}
{% endmacro %}
