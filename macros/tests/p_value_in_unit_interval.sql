{#-
  A p-value column holds numbers in [0, 1] (nulls pass: they are degenerate rows with a status).
  On a column, or on a model with `columns: [...]` to check several p-value columns in one scan
  (one test node instead of one per column: fewer nodes to parse and run).
-#}
{% test p_value_in_unit_interval(model, column_name=none, columns=none) %}
{%- set names = [column_name] if column_name is not none else columns -%}
{%- if not names -%}
  {{ exceptions.raise_compiler_error("cuped.p_value_in_unit_interval: put it on a column, or give `columns`, the p-value columns to check.") }}
{%- endif %}

select {{ names | join(', ') }}
from {{ model }}
where
{%- for name in names %}
    {% if not loop.first %}or {% endif %}{{ name }} < 0 or {{ name }} > 1
{%- endfor %}

{% endtest %}
