{#- timestamp + n days (n may be negative), through dbt's cross-database dateadd. -#}
{% macro cuped__add_days(timestamp_sql, days) %}
  {{- return(dbt.dateadd('day', days, timestamp_sql)) -}}
{% endmacro %}
