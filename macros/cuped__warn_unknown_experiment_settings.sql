{#-
  Post-hook of cuped_health: warn, naming it, about every experiment id of `experiment_settings`
  that no assignment row has (a typo, or an experiment not started yet), so that a misspelt id
  cannot pass unnoticed with its settings silently unused. With --warn-error it fails.
-#}
{% macro cuped__warn_unknown_experiment_settings() %}
  {#- `dbt run --empty` reads no rows: nothing to warn about -#}
  {%- if not execute or invocation_args_dict.get('empty') -%}{{ return('') }}{%- endif -%}
  {%- set configured = cuped.cuped__config()['experiment_settings'] -%}
  {%- if configured | length == 0 -%}{{ return('') }}{%- endif -%}
  {%- set query -%}
    select experiment_id from {{ ref('cuped__experiments') }} order by experiment_id
  {%- endset -%}
  {%- set found = [] -%}
  {%- for row in run_query(query).rows -%}{%- do found.append(row[0]) -%}{%- endfor -%}
  {%- for experiment_id in configured if experiment_id not in found -%}
    {%- do exceptions.warn("cuped: `experiment_settings` configures experiment '" ~ experiment_id
        ~ "', which no assignment row has, so its settings apply to nothing; experiments in the assignments are "
        ~ (found | join(', ') or '(none)') ~ ". Fix the id, or remove the block.") -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
