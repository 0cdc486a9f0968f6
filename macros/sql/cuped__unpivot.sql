{#-
  One row per row of `relation` and column of `columns` (all numeric): the `keys` columns, the
  column's name as `name_column` and its value, cast to a 64-bit float, as `value_column`. Null
  values are kept.
-#}
{% macro cuped__unpivot(relation, keys, columns, name_column, value_column) %}
  {{- return(adapter.dispatch('cuped__unpivot', 'cuped')(relation, keys, columns, name_column, value_column)) -}}
{% endmacro %}

{#- Portable: one branch per column (fine for a few columns; the warehouses below unpivot natively). -#}
{% macro default__cuped__unpivot(relation, keys, columns, name_column, value_column) -%}
{%- for column in columns %}
    select {{ keys | join(', ') }}, '{{ column }}' as {{ name_column }}, cast({{ column }} as {{ cuped.cuped__type_double() }}) as {{ value_column }}
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
{%- endmacro %}

{% macro duckdb__cuped__unpivot(relation, keys, columns, name_column, value_column) -%}
    select {{ keys | join(', ') }}, {{ name_column }}, {{ value_column }}
    from (
        select {{ keys | join(', ') }}, {% for column in columns %}cast({{ column }} as {{ cuped.cuped__type_double() }}) as {{ column }}{{ ', ' if not loop.last }}{% endfor %}
        from {{ relation }}
    ) unpivot include nulls ({{ value_column }} for {{ name_column }} in ({{ columns | join(', ') }}))
{%- endmacro %}

{% macro postgres__cuped__unpivot(relation, keys, columns, name_column, value_column) -%}
    select {% for key in keys %}source.{{ key }}, {% endfor %}cells.{{ name_column }}, cells.{{ value_column }}
    from {{ relation }} as source
    cross join lateral (
        values
        {%- for column in columns %}
            ('{{ column }}', cast(source.{{ column }} as {{ cuped.cuped__type_double() }})){{ ',' if not loop.last }}
        {%- endfor %}
    ) as cells ({{ name_column }}, {{ value_column }})
{%- endmacro %}

{% macro spark__cuped__unpivot(relation, keys, columns, name_column, value_column) -%}
    select {{ keys | join(', ') }}, stack({{ columns | length }}
        {%- for column in columns %}, '{{ column }}', cast({{ column }} as {{ cuped.cuped__type_double() }}){% endfor %}) as ({{ name_column }}, {{ value_column }})
    from {{ relation }}
{%- endmacro %}
