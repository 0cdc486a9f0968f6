{#-
  The relation for a configured name: `source:<source>.<table>` through source(); a model or
  seed name through a two-argument ref() to the root project (a package node that refs a root
  project node by name alone makes dbt warn, PackageNodeDependsOnRootProjectNode, on every
  parse); `<package>.<name>` through ref(package, name), for a model of another package.
-#}
{% macro cuped__relation(name) %}
  {%- if name.startswith('source:') -%}
    {%- set parts = name[7:].split('.') -%}
    {{ return(source(parts[0], parts[1])) }}
  {%- elif '.' in name -%}
    {%- set parts = name.split('.') -%}
    {{ return(ref(parts[0], parts[1])) }}
  {%- else -%}
    {{ return(ref(project_name, name)) }}
  {%- endif -%}
{% endmacro %}
