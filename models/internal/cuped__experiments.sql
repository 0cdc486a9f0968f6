{#-
  One row per experiment found in the assignments: its control variant and optional analysis end.
  The control is the experiment's `control_variant` in `experiment_settings`, else its row of the
  `experiments` relation, else the global `control_variant`.

  It reads the assignments through cuped__assignment_rows (a view), so that view is the one
  package model a build starts with: the first model each dbt thread runs validates the `cuped`
  var (cuped__config, then cached for the run), and models started together validate it
  together, contending for Python's GIL (with 2 threads the first two took 1.1-1.6 s where one
  alone took 0.6 s; with 8 threads four took 2.6 s).
-#}
{{ config(post_hook="{{ cuped.cuped__warn_unknown_configured_experiments('experiments') }}") }}
{%- set config = cuped__config() -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__assignment_rows'], [config['experiments']]) }}
{%- else %}

with assigned_experiments as (

    select distinct experiment_id
    from {{ ref('cuped__assignment_rows') }}
    where experiment_id is not null

),

{% if config['experiments'] -%}
{%- set experiments_relation = cuped__relation(config['experiments']) -%}
{%- set has_end = false -%}
{%- if execute -%}
  {%- set names = cuped.cuped__user_columns(experiments_relation) | map(attribute='name') | map('lower') | list -%}
  {%- for required in ['experiment_id', 'control_variant'] -%}
    {%- if required not in names -%}
      {{ exceptions.raise_compiler_error("cuped: the `experiments` relation " ~ experiments_relation ~ " has no column `" ~ required ~ "`; it needs experiment_id, control_variant and optionally analysis_end_at (it has: " ~ (names | join(', ')) ~ ").") }}
    {%- endif -%}
  {%- endfor -%}
  {%- set has_end = 'analysis_end_at' in names -%}
{%- endif %}
configured_experiments as (

    select
        cast(experiment_id as {{ dbt.type_string() }}) as experiment_id,
        cast(control_variant as {{ dbt.type_string() }}) as control_variant,
        {% if has_end -%}
        {{ cuped__timestamp_utc(experiments_relation, 'analysis_end_at', config['timezone']) }} as analysis_end_at
        {%- else -%}
        cast(null as {{ dbt.type_timestamp() }}) as analysis_end_at
        {%- endif %}
    from {{ experiments_relation }}

),
{%- else %}
configured_experiments as (

    select
        cast(null as {{ dbt.type_string() }}) as experiment_id,
        cast(null as {{ dbt.type_string() }}) as control_variant,
        cast(null as {{ dbt.type_timestamp() }}) as analysis_end_at
    where 1 = 0

),
{%- endif %}

{%- set control_rows = [] -%}
{%- for experiment_id, settings in config['experiment_settings'].items() if settings['control_variant'] is not none -%}
  {%- do control_rows.append([cuped__literal(experiment_id), cuped__literal(settings['control_variant'])]) -%}
{%- endfor %}
control_settings as (
    {{ cuped__values(control_rows, ['experiment_id', 'control_variant']) }}
),

experiments as (

    select
        assigned_experiments.experiment_id,
        coalesce(
            control_settings.control_variant,
            configured_experiments.control_variant,
            {{ cuped__literal(config['control_variant']) }}
        ) as control_variant,
        configured_experiments.analysis_end_at
    from assigned_experiments
    left join configured_experiments
        on configured_experiments.experiment_id = assigned_experiments.experiment_id
    left join control_settings
        on control_settings.experiment_id = assigned_experiments.experiment_id

)

select experiment_id, control_variant, analysis_end_at
from experiments
{%- endif %}
