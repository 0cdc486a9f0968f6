{#- Today's date (YYYY-MM-DD) in time zone `timezone`, from the clock of the machine that runs dbt. -#}
{% macro cuped__today(timezone) %}
  {{- return(modules.datetime.datetime.now(modules.pytz.timezone(timezone)).date().isoformat()) -}}
{% endmacro %}
