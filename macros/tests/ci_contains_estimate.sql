{#- Each confidence interval [lower, upper] contains its point estimate (the column the test is on). -#}
{% test ci_contains_estimate(model, column_name, lower, upper) %}

select {{ column_name }}, {{ lower }}, {{ upper }}
from {{ model }}
where {{ column_name }} is not null
    and {{ lower }} is not null
    and {{ upper }} is not null
    and not ({{ lower }} <= {{ column_name }} and {{ column_name }} <= {{ upper }})

{% endtest %}
