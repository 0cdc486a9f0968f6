{#-
  A user's column name as SQL: left as written when it is a plain lower-case identifier (so
  warehouses that fold case resolve it as usual), quoted with the adapter's quoting otherwise
  (spaces, mixed case, SQL keywords: the words DuckDB reserves or keeps for types and functions,
  categories `reserved` and `type_function` of `duckdb_keywords()`, which hold PostgreSQL's
  reserved words, and `variant`, `timestamp`, `date`, `grant`, `user`).
-#}
{% macro cuped__column(name) %}
  {%- set keywords = ['all', 'analyse', 'analyze', 'and', 'anti', 'any', 'array', 'as', 'asc', 'asof',
                      'asymmetric', 'at', 'authorization', 'between', 'binary', 'both', 'by', 'case',
                      'cast', 'check', 'collate', 'collation', 'column', 'columns', 'concurrently',
                      'constraint', 'create', 'cross', 'date', 'default', 'deferrable', 'desc',
                      'describe', 'distinct', 'do', 'else', 'end', 'except', 'false', 'fetch', 'for',
                      'foreign', 'freeze', 'from', 'full', 'generated', 'glob', 'grant', 'group',
                      'having', 'ilike', 'in', 'initially', 'inner', 'intersect', 'into', 'is',
                      'isnull', 'join', 'lambda', 'lateral', 'leading', 'left', 'like', 'limit', 'map',
                      'natural', 'not', 'notnull', 'null', 'offset', 'on', 'only', 'or', 'order',
                      'outer', 'overlaps', 'pivot', 'pivot_longer', 'pivot_wider', 'placing',
                      'positional', 'primary', 'qualify', 'references', 'returning', 'right', 'select',
                      'semi', 'show', 'similar', 'some', 'struct', 'summarize', 'symmetric', 'table',
                      'tablesample', 'then', 'timestamp', 'to', 'trailing', 'true', 'try_cast',
                      'tuple', 'union', 'unique', 'unpack', 'unpivot', 'user', 'using', 'variadic',
                      'variant', 'verbose', 'when', 'where', 'window', 'with'] -%}
  {%- if modules.re.match('^[a-z_][a-z0-9_]*$', name) and name not in keywords -%}
    {{- return(name) -}}
  {%- endif -%}
  {{- return(adapter.quote(name)) -}}
{% endmacro %}
