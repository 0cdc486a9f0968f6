{#- cuped_health: fails with the variant rows of every experiment (and segment) whose sample-ratio-mismatch test is flagged. -#}
{% test no_sample_ratio_mismatch(model, column_name='srm_flag') %}

select *
from {{ model }}
where {{ column_name }}

{% endtest %}
