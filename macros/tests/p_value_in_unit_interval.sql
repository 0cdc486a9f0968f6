{#- A p-value column holds numbers in [0, 1] (nulls pass: they are degenerate rows with a status). -#}
{% test p_value_in_unit_interval(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0 or {{ column_name }} > 1

{% endtest %}
