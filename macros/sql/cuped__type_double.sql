{#- A 64-bit float type. dbt.type_float() is a 32-bit REAL on some warehouses (DuckDB), too coarse for moments. -#}
{% macro cuped__type_double() %}
  {{- return(adapter.dispatch('cuped__type_double', 'cuped')()) -}}
{% endmacro %}

{% macro default__cuped__type_double() %}double precision{% endmacro %}

{% macro bigquery__cuped__type_double() %}float64{% endmacro %}

{#- Spark SQL (Databricks) has no `double precision`. -#}
{% macro spark__cuped__type_double() %}double{% endmacro %}
