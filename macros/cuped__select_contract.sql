{#-
  `select` of every column of the current model's contract (its YAML `columns`, in order), each
  cast to its contracted `data_type`, from `relation`. A column is read from the column of the
  same name unless `expressions` maps it to a SQL expression. The contract is the one place a
  public table's columns are written; the model's SQL never repeats the list.
-#}
{% macro cuped__select_contract(relation, expressions={}, where=none) %}
  {%- set columns = model['columns'].values() | list -%}
  {%- if columns | length == 0 -%}
    {#- at parse time the YAML is not attached yet; only the refs of the SQL matter then -#}
    select * from {{ relation }}
  {%- else -%}
select
    {%- for column in columns %}
    cast({{ expressions.get(column['name'], column['name']) }} as {{ column['data_type'] }}) as {{ column['name'] }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ relation }}
{%- if where is not none %}
where {{ where }}
{%- endif %}
  {%- endif -%}
{% endmacro %}
