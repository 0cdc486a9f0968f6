{#-
  cuped_decisions: fails with the rows of every experiment whose configured control variant has
  no analysed unit (a misspelt `control_variant`: every result would be `missing_control`, every
  statistic null, and the build otherwise green).
-#}
{% test control_present(model, column_name='control_present') %}

select experiment_id, variant, control_variant, reasons
from {{ model }}
where not {{ column_name }}

{% endtest %}
