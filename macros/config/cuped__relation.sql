{#-
  The relation for a configured name: `source:<source>.<table>` through source(); a model or
  seed name through a two-argument ref() to the root project (a package node that refs a root
  project node by name alone makes dbt warn, PackageNodeDependsOnRootProjectNode, on every
  parse); `<package>.<name>` through ref(package, name), for a model of another package.

  Two internal forms come from Semantic Layer metrics (macros/config/cuped__semantic.sql):
  '@semantic:<metric>' at parse time calls metric(<metric>), which records the DAG edge from the
  calling model to the metric (the relation returned is never queried: parse-time SQL is not
  run); '@node:<unique_id>' at run time is the semantic model's model, read from the graph
  (cuped__node_relation).
-#}
{% macro cuped__relation(name) %}
  {%- if name.startswith('@semantic:') -%}
    {%- do metric(name[10:]) -%}
    {{ return(api.Relation.create(identifier='semantic_metric__' ~ name[10:])) }}
  {%- elif name.startswith('@node:') -%}
    {{ return(cuped.cuped__node_relation(name[6:])) }}
  {%- elif name.startswith('source:') -%}
    {%- set parts = name[7:].split('.') -%}
    {{ return(source(parts[0], parts[1])) }}
  {%- elif '.' in name -%}
    {%- set parts = name.split('.') -%}
    {{ return(ref(parts[0], parts[1])) }}
  {%- else -%}
    {{ return(ref(project_name, name)) }}
  {%- endif -%}
{% endmacro %}

{#-
  The relation of a graph node (a semantic model's model), as ref() would give it: the deferred
  relation under `--defer` when the node is not built in this target, or when `--favor-state` is
  on and the node is not selected (dbt's RuntimeRefResolver.create_relation, which a package
  cannot call for a node it did not ref() at parse time).
-#}
{% macro cuped__node_relation(unique_id) %}
  {%- set node = graph.nodes.get(unique_id) -%}
  {%- if node is none -%}
    {{ exceptions.raise_compiler_error("cuped: the node '" ~ unique_id ~ "' under a Semantic Layer metric is not in the project.") }}
  {%- endif -%}
  {%- set deferred = node.get('defer_relation') -%}
  {%- if deferred and invocation_args_dict.get('defer') -%}
    {%- set favor = invocation_args_dict.get('favor_state') and unique_id not in (selected_resources or []) -%}
    {%- if favor or adapter.get_relation(node['database'], node['schema'], node['alias']) is none -%}
      {{ return(api.Relation.create(database=deferred['database'], schema=deferred['schema'], identifier=deferred['alias'])) }}
    {%- endif -%}
  {%- endif -%}
  {{ return(api.Relation.create(database=node['database'], schema=node['schema'], identifier=node['alias'])) }}
{% endmacro %}
