{#-
  A user's column name as SQL: left as written when it is a plain lower-case identifier (so
  warehouses that fold case resolve it as usual), quoted with the adapter's quoting otherwise
  (spaces, mixed case, SQL keywords: the words DuckDB reserves or keeps for types and functions,
  categories `reserved` and `type_function` of `duckdb_keywords()`; PostgreSQL's reserved words
  that name values, `current_date` and the like, which PostgreSQL would read as the function
  instead of the column; and `variant`, `timestamp`, `date`, `grant`, `user`).
-#}
{% macro cuped__column(name) %}
    {%- set keywords = ['all', 'analyse', 'analyze', 'and', 'anti', 'any', 'array', 'as', 'asc', 'asof',
                      'asymmetric', 'at', 'authorization', 'between', 'binary', 'both', 'by', 'case',
                      'cast', 'check', 'collate', 'collation', 'column', 'columns', 'concurrently',
                      'constraint', 'create', 'cross', 'current_catalog', 'current_date',
                      'current_role', 'current_schema', 'current_time', 'current_timestamp',
                      'current_user', 'date', 'default', 'deferrable', 'desc', 'describe', 'distinct',
                      'do', 'else', 'end', 'except', 'false', 'fetch', 'for', 'foreign', 'freeze',
                      'from', 'full', 'generated', 'glob', 'grant', 'group', 'having', 'ilike', 'in',
                      'initially', 'inner', 'intersect', 'into', 'is', 'isnull', 'join', 'lambda',
                      'lateral', 'leading', 'left', 'like', 'limit', 'localtime', 'localtimestamp',
                      'map', 'natural', 'not', 'notnull', 'null', 'offset', 'on', 'only', 'or',
                      'order', 'outer', 'overlaps', 'pivot', 'pivot_longer', 'pivot_wider', 'placing',
                      'positional', 'primary', 'qualify', 'references', 'returning', 'right', 'select',
                      'semi', 'session_user', 'show', 'similar', 'some', 'struct', 'summarize',
                      'symmetric', 'table', 'tablesample', 'then', 'timestamp', 'to', 'trailing',
                      'true', 'try_cast', 'tuple', 'union', 'unique', 'unpack', 'unpivot', 'user',
                      'using', 'variadic', 'variant', 'verbose', 'when', 'where', 'window', 'with'] -%}
  {%- if modules.re.match('^[a-z_][a-z0-9_]*$', name) and name not in keywords -%}
    {{- return(name) -}}
  {%- endif -%}
  {{- return(adapter.quote(name)) -}}
{% endmacro %}
