{#-
  cuped_decisions: fails with the rows of every experiment whose configured control variant has
  no analysed unit (a misspelt `control_variant`: every result would be `missing_control`, every
  statistic null, and the build otherwise green).
-#}
{% test control_present(model, column_name='control_present') %}
{%- set failing %}
select *
from {{ model }}
where not {{ column_name }}
{%- endset %}
{{- cuped.cuped__log_failing_rows('control_present', model, failing, [['experiment_id', 'experiment '], ['variant', 'variant '], ['reasons', '']]) }}
{{ failing }}

{% endtest %}
