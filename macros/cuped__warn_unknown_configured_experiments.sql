{#-
  Post-hook of the model that reads the `experiments` relation (cuped__experiments) or the
  `variant_weights` relation (cuped__arm_counts): warn, naming the relation, about every experiment
  id it has that no assignment row has (a misspelt id, or an experiment not started yet), so that
  an analysis end, a control or planned weights cannot go silently unused; as
  cuped__warn_unknown_experiment_settings does for `experiment_settings`. With --warn-error it fails.
  `key` is 'experiments' or 'variant_weights'.
-#}
{% macro cuped__warn_unknown_configured_experiments(key) %}
  {#- `dbt run --empty` reads no rows: nothing to warn about -#}
  {%- if not execute or invocation_args_dict.get('empty') -%}{{ return('') }}{%- endif -%}
  {%- set name = cuped.cuped__config()[key] -%}
  {%- if not name -%}{{ return('') }}{%- endif -%}
  {%- set query -%}
    select distinct cast(configured.experiment_id as {{ dbt.type_string() }})
    from {{ cuped.cuped__relation(name) }} as configured
    where configured.experiment_id is not null
        and cast(configured.experiment_id as {{ dbt.type_string() }}) not in (
            select experiment_id from {{ this if key == 'experiments' else ref('cuped__experiments') }}
            where experiment_id is not null
        )
    order by 1
    limit 6
  {%- endset -%}
  {%- set unknown = run_query(query).columns[0].values() | list -%}
  {%- if unknown | length > 0 -%}
    {%- do exceptions.warn("cuped: the `" ~ key ~ "` relation " ~ name ~ " has rows for experiment "
        ~ ("'" ~ (unknown[:5] | join("', '")) ~ "'") ~ (" and more" if unknown | length > 5 else "")
        ~ ", which no assignment row has, so those rows apply to nothing. Fix the id, or remove the rows.") -%}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}
