{#-
  One row per experiment × analysed metric: what the statistics core needs besides the moments.
  An experiment of `experiment_settings` is analysed on the metrics it lists, in their roles (a
  guardrail with its non-inferiority margin), at its own alpha, theta and relative CI; any other
  experiment on every metric, role `secondary`, with the global settings. `strata_attribute` is
  the experiment's `strata` column (its indicators are the design's strata in the statistics).
-#}
{%- set config = cuped__config() -%}
{%- if not execute %}
{{ cuped.cuped__parse_dependencies(['cuped__experiments', 'cuped__units'], []) }}
{%- else %}
{%- set double = cuped__type_double() -%}
{%- set experiment_settings = config['experiment_settings'] -%}

with experiments as (

    select experiment_id, control_variant
    from {{ ref('cuped__experiments') }}

),

{#- the days of `timezone` from the first assignment's to the last's, both counted (assigned_at is
    a UTC instant) -#}
arrivals as (

    select
        experiment_id,
        {{ dbt.datediff(cuped.cuped__local_date('min(assigned_at)', config['timezone']), cuped.cuped__local_date('max(assigned_at)', config['timezone']), 'day') }} + 1 as assignment_days
    from {{ ref('cuped__units') }}
    where exclusion_reason is null
    group by experiment_id

),

metrics as (
    {% for metric in config['metrics'] if metric['part_of'] is none %}
    select
        {{ cuped__literal(metric['name']) }} as metric_name,
        {{ cuped__literal(metric['label']) }} as metric_label,
        {{ cuped__literal(metric['type']) }} as metric_type,
        {{ 'true' if metric['higher_is_better'] else 'false' }} as higher_is_better,
        cast({{ metric['quantile']['q'] if metric['quantile'] else 'null' }} as {{ double }}) as quantile,
        cast({{ cuped__literal(metric['quantile']['level']) if metric['quantile'] else 'null' }} as {{ dbt.type_string() }}) as quantile_level,
        {%- set covariate_columns = metric['covariates'] | selectattr('kind', 'equalto', 'attribute') | map(attribute='column') | list %}
        {{ cuped__literal(tojson(config['strata_attributes'] | reject('in', covariate_columns) | list)) }} as strata_only_attributes
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

{#- the configured experiments' settings, and their metrics in roles (all metrics when unlisted) -#}
{%- set setting_rows = [] -%}
{%- set role_rows = [] -%}
{%- for experiment_id, settings in experiment_settings.items() -%}
  {%- do setting_rows.append([cuped__literal(experiment_id),
        'cast(' ~ settings['alpha'] ~ ' as ' ~ double ~ ')',
        cuped__literal(settings['theta']), cuped__literal(settings['relative_ci']),
        cuped__literal(settings['strata'])]) -%}
  {%- for metric in config['metrics'] -%}
    {%- set name = metric['name'] -%}
    {%- if settings['metrics'] is none or name in settings['metrics'] -%}
      {%- set margin = settings['margins'].get(name) -%}
      {%- do role_rows.append([cuped__literal(experiment_id), cuped__literal(name),
            cuped__literal(settings['roles'].get(name, 'secondary')),
            'cast(' ~ (margin['value'] if margin else 'null') ~ ' as ' ~ double ~ ')',
            cuped__literal(margin['kind'] if margin else none)]) -%}
    {%- endif -%}
  {%- endfor -%}
{%- endfor %}

experiment_settings as (
    {{ cuped__values(setting_rows, ['experiment_id', 'alpha', 'theta_method', 'relative_ci_method', 'strata_attribute']) }}
),

metric_roles as (
    {{ cuped__values(role_rows, ['experiment_id', 'metric_name', 'metric_role', 'non_inferiority_margin', 'non_inferiority_margin_kind']) }}
)

select
    experiments.experiment_id,
    metrics.metric_name,
    metrics.metric_label,
    metrics.metric_type,
    experiments.control_variant,
    coalesce(cast(experiment_settings.alpha as {{ double }}), cast({{ config['alpha'] }} as {{ double }})) as alpha,
    coalesce(experiment_settings.theta_method, {{ cuped__literal(config['theta']) }}) as theta_method,
    coalesce(experiment_settings.relative_ci_method, {{ cuped__literal(config['relative_ci']) }}) as relative_ci_method,
    metrics.higher_is_better,
    metrics.quantile,
    metrics.quantile_level,
    coalesce(metric_roles.metric_role, 'secondary') as metric_role,
    cast(metric_roles.non_inferiority_margin as {{ double }}) as non_inferiority_margin,
    metric_roles.non_inferiority_margin_kind,
    {{ config['planned_units'] }} as planned_units,
    cast({{ config['power'] }} as {{ double }}) as power,
    cast({{ config['target_relative_mde'] }} as {{ double }}) as target_relative_mde,
    {#- null: the prior is fitted from the metric's other experiments (empirical Bayes) -#}
    cast({{ 'null' if config['bayes_prior']['mean'] is none else config['bayes_prior']['mean'] }} as {{ double }}) as bayes_prior_mean,
    cast({{ 'null' if config['bayes_prior']['sd'] is none else config['bayes_prior']['sd'] }} as {{ double }}) as bayes_prior_sd,
    arrivals.assignment_days,
    {#- the experiment's stratification (`strata`), and the strata columns whose indicators the
        metric's moments hold only for the experiments stratified on them -#}
    cast(case
        when experiment_settings.experiment_id is null then {{ cuped__literal(config['strata']) }}
        else experiment_settings.strata_attribute
    end as {{ dbt.type_string() }}) as strata_attribute,
    metrics.strata_only_attributes
    {%- if not cuped.cuped__python_statistics() %},
    {#- on a SQL-only adapter, the build the `cuped-stats statistics` command reads (cuped__check_statistics_inputs) -#}
    cast({{ cuped__literal(cuped.cuped__inputs_build()) }} as {{ dbt.type_string() }}) as inputs_build
    {%- endif %}
from experiments
cross join metrics
left join experiment_settings
    on experiment_settings.experiment_id = experiments.experiment_id
left join metric_roles
    on metric_roles.experiment_id = experiments.experiment_id
    and metric_roles.metric_name = metrics.metric_name
left join arrivals
    on arrivals.experiment_id = experiments.experiment_id
where experiment_settings.experiment_id is null
    or metric_roles.metric_name is not null
{%- endif %}
