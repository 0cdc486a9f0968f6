{#-
  Every unit is assigned to one variant per experiment. Put it on your assignments relation:
  fails with one row per (experiment, unit) seen in more than one variant. cuped excludes such
  units from the analysis and counts them in cuped_health; this test makes the problem loud.
-#}
{% test one_variant_per_unit(model, column_name, experiment_column='experiment_id', variant_column='variant') %}

select
    {{ experiment_column }} as experiment_id,
    {{ column_name }} as unit_id,
    count(distinct {{ variant_column }}) as n_variants
from {{ model }}
where {{ column_name }} is not null
group by {{ experiment_column }}, {{ column_name }}
having count(distinct {{ variant_column }}) > 1

{% endtest %}
