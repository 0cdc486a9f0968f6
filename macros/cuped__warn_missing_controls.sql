{#-
  Post-hook of cuped_health: warn, naming the variants found, about every experiment whose
  control variant has no analysed unit (a forgotten `control_variant`, arms named e.g. `ctrl`),
  whose every result would otherwise be a quiet `missing_control`. With --warn-error it fails.
-#}
{% macro cuped__warn_missing_controls() %}
  {#- `dbt run --empty` reads no rows: nothing to warn about -#}
  {%- if not execute or invocation_args_dict.get('empty') -%}{{ return('') }}{%- endif -%}
  {%- set query -%}
    select health.experiment_id, health.variant, health.n_units, experiments.control_variant
    from {{ this }} as health
    inner join {{ ref('cuped__experiments') }} as experiments
        on experiments.experiment_id = health.experiment_id
    where health.segment_name = 'all'
    order by health.experiment_id, health.variant
  {%- endset -%}
  {%- set experiments = {} -%}
  {%- for row in run_query(query).rows -%}
    {%- do experiments.setdefault(row[0], []).append(row) -%}
  {%- endfor -%}
  {%- for experiment_id, rows in experiments.items() -%}
    {%- set control = rows[0][3] -%}
    {%- set control_units = rows | selectattr(1, 'equalto', control) | map(attribute=2) | sum -%}
    {%- set found = [] -%}
    {%- for row in rows if row[2] > 0 -%}{%- do found.append(row[1] ~ " (" ~ row[2] ~ " units)") -%}{%- endfor -%}
    {%- if control_units == 0 and found -%}
      {%- do exceptions.warn("cuped: experiment '" ~ experiment_id ~ "' has no analysed unit in its control variant '"
          ~ control ~ "', so every result is `missing_control`; its variants are " ~ (found | join(', '))
          ~ ". Set `control_variant` in the `cuped` var, or the experiment's row of the `experiments` relation, to the control's name.") -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
