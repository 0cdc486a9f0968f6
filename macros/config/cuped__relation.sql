{#- The relation for a configured name: `source:<source>.<table>` through source(), anything else through ref(). -#}
{% macro cuped__relation(name) %}
  {%- if name.startswith('source:') -%}
    {%- set parts = name[7:].split('.') -%}
    {{ return(source(parts[0], parts[1])) }}
  {%- else -%}
    {{ return(ref(name)) }}
  {%- endif -%}
{% endmacro %}
