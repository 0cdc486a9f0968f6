{#- cuped_health: fails with the variant rows of every experiment (and segment) whose sample-ratio-mismatch test is flagged. -#}
{% test no_sample_ratio_mismatch(model, column_name='srm_flag') %}
{%- set failing %}
select *
from {{ model }}
where {{ column_name }}
{%- endset %}
{{- cuped.cuped__log_failing_rows('no_sample_ratio_mismatch', model, failing, [['experiment_id', 'experiment '], ['segment_name', 'segment '], ['segment_value', 'value '], ['variant', 'variant '], ['n_units', 'units '], ['srm_p_value', 'sample ratio mismatch p = ']]) }}
{{ failing }}

{% endtest %}
