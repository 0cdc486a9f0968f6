{#-
  cuped_decisions: fails (or warns, with `severity: warn`) with one row per experiment × treatment
  variant on which a guardrail metric is significantly worse than control (`guardrails_breached`,
  the decision rule's one-sided deterioration test, Holm-adjusted). With
  `require_non_inferior: true` it also fails where a guardrail is not yet shown non-inferior to
  its margin (what `ship` requires) or cannot be tested (`guardrails_undetermined`, which counts
  the guardrails of a variant without analysed units; on a model of the user's without that
  column, the check it had before). On a model of the user's, the columns it reads are these
  counts; the failing rows keep every column the model has.
-#}
{% test guardrails_hold(model, column_name='guardrails_breached', require_non_inferior=false) %}
{#- from the `cuped` var (`decision_tests.guardrails_require_non_inferior`) it arrives rendered as text -#}
{%- set require_non_inferior = require_non_inferior in [true, 'True', 'true'] %}
{%- set failing %}
select *
from {{ model }}
where {{ column_name }} > 0
{%- if require_non_inferior %}
    or guardrails_non_inferior < n_guardrails
    {#- a model of the user's written before guardrails_undetermined counted untestable
        guardrails may not have it: it keeps the check it had -#}
    {%- if not execute or 'guardrails_undetermined' in (adapter.get_columns_in_relation(model) | map(attribute='name') | map('lower') | list) %}
    or guardrails_undetermined > 0
    {%- endif %}
{%- endif %}
{%- endset %}
{{- cuped.cuped__log_failing_rows('guardrails_hold', model, failing, [['experiment_id', 'experiment '], ['variant', 'variant '], ['reasons', '']]) }}
{{ failing }}

{% endtest %}
