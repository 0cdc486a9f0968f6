{#-
  A user's column name as SQL: left as written when it is a plain lower-case identifier (so
  warehouses that fold case resolve it as usual), quoted with the adapter's quoting otherwise
  (spaces, mixed case, SQL keywords).
-#}
{% macro cuped__column(name) %}
  {%- set keywords = ['all', 'and', 'any', 'as', 'asc', 'between', 'by', 'case', 'cast', 'check', 'column',
                      'constraint', 'create', 'cross', 'default', 'desc', 'distinct', 'do', 'else', 'end',
                      'except', 'false', 'fetch', 'for', 'foreign', 'from', 'full', 'grant', 'group', 'having',
                      'in', 'inner', 'intersect', 'into', 'is', 'join', 'lateral', 'left', 'like', 'limit',
                      'natural', 'not', 'null', 'offset', 'on', 'only', 'or', 'order', 'outer', 'primary',
                      'references', 'right', 'select', 'table', 'then', 'to', 'true', 'union', 'unique',
                      'user', 'using', 'when', 'where', 'window', 'with', 'order', 'variant', 'timestamp', 'date'] -%}
  {%- if modules.re.match('^[a-z_][a-z0-9_]*$', name) and name not in keywords -%}
    {{- return(name) -}}
  {%- endif -%}
  {{- return(adapter.quote(name)) -}}
{% endmacro %}
