{#-
  `experiment_settings`: the optional per-experiment block of the `cuped` var, keyed by experiment
  id. It says which metrics the experiment is analysed on, in roles (`primary`, `secondary`,
  `guardrails` with a non-inferiority margin each), which segments apply, and overrides `alpha`,
  `theta`, `relative_ci`, `pre_period_days` and `control_variant`. An experiment it does not list
  keeps the global settings, every metric, role `secondary`.

  Returns {experiment id: {roles: {metric: role}, margins: {metric: {value, kind}}, metrics: [names
  in the configuration's metric order] or none (all metrics), segments: list or none (the global
  list), alpha, theta, relative_ci, pre_period_days, strata (effective values; strata: a
  `unit_attributes` column or none), control_variant (none: the `experiments` relation or the
  global default)}}.
-#}
{% macro cuped__normalize_experiment_settings(raw, config, attribute_columns) %}
  {%- if raw is none -%}{{ return({}) }}{%- endif -%}
  {%- if raw is not mapping -%}
    {{ exceptions.raise_compiler_error("cuped: `experiment_settings` must be a mapping of experiment id to its settings, got: " ~ raw ~ " (" ~ cuped.cuped__type_name(raw) ~ ")") }}
  {%- endif -%}
  {%- set settings = cuped.cuped__settings() -%}
  {%- set metric_names = config['metrics'] | map(attribute='name') | list -%}
  {%- set directions = {} -%}
  {%- for metric in config['metrics'] -%}{%- do directions.update({metric['name']: metric['higher_is_better']}) -%}{%- endfor -%}
  {%- set allowed = ['primary', 'secondary', 'guardrails', 'segments', 'alpha', 'theta', 'relative_ci',
                     'pre_period_days', 'control_variant', 'strata'] -%}
  {%- set out = {} -%}
  {%- for experiment_id, block in raw.items() -%}
    {%- if experiment_id is not string or experiment_id | trim == '' -%}
      {{ exceptions.raise_compiler_error("cuped: `experiment_settings`: each key must be an experiment id as a string (quote ids that YAML reads as numbers), got: " ~ experiment_id ~ " (" ~ cuped.cuped__type_name(experiment_id) ~ ")") }}
    {%- endif -%}
    {%- set where = "experiment_settings '" ~ experiment_id ~ "'" -%}
    {%- if block is none -%}{%- set block = {} -%}{%- endif -%}
    {%- if block is not mapping -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a mapping (primary, secondary, guardrails, segments, alpha, ...), got: " ~ block) }}
    {%- endif -%}
    {%- do cuped.cuped__check_keys(block, allowed, where) -%}

    {#- overrides, validated as the global keys are -#}
    {%- set alpha = cuped.cuped__check_alpha(block.get('alpha', config['alpha']), settings['alpha_bounds'], where ~ ": `alpha`") -%}
    {%- set theta = cuped.cuped__check_choice(block.get('theta', config['theta']), settings['choices']['theta'], where ~ ": `theta`") -%}
    {%- set relative_ci = cuped.cuped__check_choice(block.get('relative_ci', config['relative_ci']), settings['choices']['relative_ci'], where ~ ": `relative_ci`") -%}
    {%- set pre_period_days = cuped.cuped__check_integer(block.get('pre_period_days', config['pre_period_days']), where ~ ": `pre_period_days`", minimum=1, unit=' of days') -%}
    {%- set control_variant = none -%}
    {%- if block.get('control_variant') is not none -%}
      {%- set control_variant = cuped.cuped__check_string(block.get('control_variant'), where ~ ": `control_variant`") -%}
    {%- endif -%}

    {#- segments: unit_attributes columns; none keeps the global list -#}
    {%- set segments = none -%}
    {%- if 'segments' in block -%}
      {%- set segments = cuped.cuped__check_list(block.get('segments') if block.get('segments') is not none else [], where ~ ": `segments`") -%}
      {%- for segment in segments -%}
        {%- if segment not in attribute_columns -%}
          {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `segments`: unknown segment '" ~ segment ~ "'; a segment must be a `unit_attributes` column: " ~ (attribute_columns | join(', ') or '(no unit_attributes configured)') ~ ".") }}
        {%- endif -%}
      {%- endfor -%}
      {%- do cuped.cuped__check_unique(segments, where ~ ": `segments`") -%}
    {%- endif -%}

    {#- roles -#}
    {%- set roles = {} -%}
    {%- set margins = {} -%}
    {%- for role in ['primary', 'secondary'] if block.get(role) is not none -%}
      {%- for name in cuped.cuped__check_list(block.get(role), where ~ ": `" ~ role ~ "`") -%}
        {%- do cuped.cuped__check_role_metric(name, metric_names, roles, where ~ ": `" ~ role ~ "`") -%}
        {%- do roles.update({name: role}) -%}
      {%- endfor -%}
    {%- endfor -%}
    {%- if block.get('guardrails') is not none -%}
      {%- for guardrail in cuped.cuped__check_list(block.get('guardrails'), where ~ ": `guardrails`") -%}
        {%- set at = where ~ ": `guardrails` #" ~ loop.index -%}
        {%- if guardrail is not mapping -%}
          {{ exceptions.raise_compiler_error("cuped: " ~ at ~ " must be a mapping {metric, margin} (relative) or {metric, margin_absolute}, got: " ~ guardrail) }}
        {%- endif -%}
        {%- do cuped.cuped__check_keys(guardrail, ['metric', 'margin', 'margin_absolute'], at) -%}
        {%- set name = guardrail.get('metric') -%}
        {%- do cuped.cuped__check_role_metric(name, metric_names, roles, at ~ ": `metric`") -%}
        {%- set at = where ~ ": guardrail '" ~ name ~ "'" -%}
        {%- if (guardrail.get('margin') is none) == (guardrail.get('margin_absolute') is none) -%}
          {{ exceptions.raise_compiler_error("cuped: " ~ at ~ ": give exactly one of `margin` (relative: a fraction of the control mean, e.g. 0.02 tolerates 2% worse) and `margin_absolute` (in the metric's units).") }}
        {%- endif -%}
        {%- set kind = 'relative' if guardrail.get('margin') is not none else 'absolute' -%}
        {%- set key = 'margin' if kind == 'relative' else 'margin_absolute' -%}
        {%- set value = guardrail.get(key) -%}
        {%- if value is boolean or value is not number or not (value >= 0 and value < 1e300) -%}
          {{ exceptions.raise_compiler_error("cuped: " ~ at ~ ": `" ~ key ~ "` must be a finite number >= 0, got: " ~ value ~ " (" ~ cuped.cuped__type_name(value) ~ ")") }}
        {%- endif -%}
        {%- if kind == 'relative' and directions[name] and value >= 1 -%}
          {{ exceptions.raise_compiler_error("cuped: " ~ at ~ ": a relative `margin` is a fraction of the control mean and must be below 1 for a metric where higher is better, got: " ~ value ~ " (use `margin_absolute` for a margin in the metric's units).") }}
        {%- endif -%}
        {%- if kind == 'relative' and relative_ci == 'fieller' -%}
          {{ exceptions.raise_compiler_error("cuped: " ~ at ~ ": a relative `margin` is tested on the delta-method or log scale, and this experiment's `relative_ci` is fieller, whose interval has no standard error to test with; set `relative_ci: delta` or `log` for the experiment, or use `margin_absolute`.") }}
        {%- endif -%}
        {%- do roles.update({name: 'guardrail'}) -%}
        {%- do margins.update({name: {'value': value | float, 'kind': kind}}) -%}
      {%- endfor -%}
    {%- endif -%}
    {%- for name, role in roles.items() if role in ['primary', 'guardrail'] -%}
      {%- for metric in config['metrics'] if metric['name'] == name and metric['type'] == 'quantile' -%}
        {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": quantile metric '" ~ name ~ "' can only be `secondary`: the decision rule's one-sided tests use t intervals with degrees of freedom, and a quantile's interval is normal (outer-CI), which the rule does not take yet.") }}
      {%- endfor -%}
    {%- endfor -%}
    {%- set metrics = none -%}
    {%- if roles | length > 0 -%}
      {%- set metrics = metric_names | select('in', roles) | list -%}
    {%- elif block.get('primary') is not none or block.get('secondary') is not none or block.get('guardrails') is not none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `primary`, `secondary` and `guardrails` list no metric; list the metrics the experiment is analysed on, or remove the keys to analyse every metric.") }}
    {%- endif -%}

    {%- do out.update({experiment_id: {
      'roles': roles,
      'margins': margins,
      'metrics': metrics,
      'segments': segments,
      'alpha': alpha,
      'theta': theta,
      'relative_ci': relative_ci,
      'pre_period_days': pre_period_days,
      'control_variant': control_variant,
      'strata': cuped.cuped__check_strata(block.get('strata'), attribute_columns, where ~ ": `strata`") if 'strata' in block else config['strata'],
    }}) -%}
  {%- endfor -%}
  {{ return(out) }}
{% endmacro %}


{#- A metric named in a role list: a configured metric, in no other role of the experiment. -#}
{% macro cuped__check_role_metric(name, metric_names, roles, where) %}
  {%- if name is not string or name not in metric_names -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": unknown metric '" ~ name ~ "'; metrics are: " ~ (metric_names | join(', ')) ~ ".") }}
  {%- endif -%}
  {%- if name in roles -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": metric '" ~ name ~ "' is already " ~ roles[name] ~ "; a metric has one role per experiment.") }}
  {%- endif -%}
{% endmacro %}


{#-
  SQL of the first day of a unit's pre-period window, `assigned_at − pre_period_days` of its
  experiment (`alias`: the relation with experiment_id and assigned_at). One constant interval per
  experiment whose `pre_period_days` differs from the global one.
-#}
{% macro cuped__pre_period_start(config, alias) %}
  {%- set default = cuped.cuped__add_days(alias ~ '.assigned_at', -config['pre_period_days']) -%}
  {%- set overrides = [] -%}
  {%- for experiment_id, settings in config['experiment_settings'].items() if settings['pre_period_days'] != config['pre_period_days'] -%}
    {%- do overrides.append('when ' ~ cuped.cuped__literal(experiment_id) ~ ' then ' ~ cuped.cuped__add_days(alias ~ '.assigned_at', -settings['pre_period_days'])) -%}
  {%- endfor -%}
  {%- if overrides | length == 0 -%}{{ return(default) }}{%- endif -%}
  {{ return('case ' ~ alias ~ '.experiment_id ' ~ (overrides | join(' ')) ~ ' else ' ~ default ~ ' end') }}
{% endmacro %}


{#-
  SQL predicate on (experiment_id, segment_name) keeping each experiment's segments: those of its
  `experiment_settings` block, else the global `segments`. Empty when every experiment has every
  computed segment (no filter needed).
-#}
{% macro cuped__segment_filter(config) %}
  {%- set custom = {} -%}
  {%- for experiment_id, settings in config['experiment_settings'].items() if settings['segments'] is not none -%}
    {%- do custom.update({experiment_id: settings['segments']}) -%}
  {%- endfor -%}
  {%- if custom | length == 0 and config['default_segments'] | length == config['segments'] | length -%}
    {{ return('') }}
  {%- endif -%}
  {%- set clauses = [] -%}
  {%- for experiment_id, segments in custom.items() if segments | length > 0 -%}
    {%- set literals = [] -%}
    {%- for segment in segments -%}{%- do literals.append(cuped.cuped__literal(segment)) -%}{%- endfor -%}
    {%- do clauses.append('(experiment_id = ' ~ cuped.cuped__literal(experiment_id) ~ ' and segment_name in ('
        ~ (literals | join(', ')) ~ '))') -%}
  {%- endfor -%}
  {%- set defaults = config['default_segments'] -%}
  {%- if defaults | length > 0 -%}
    {%- set in_custom = [] -%}
    {%- for experiment_id in custom -%}{%- do in_custom.append(cuped.cuped__literal(experiment_id)) -%}{%- endfor -%}
    {%- set literals = [] -%}
    {%- for segment in defaults -%}{%- do literals.append(cuped.cuped__literal(segment)) -%}{%- endfor -%}
    {%- do clauses.append('(' ~ (('experiment_id not in (' ~ (in_custom | join(', ')) ~ ') and ') if in_custom else '')
        ~ 'segment_name in (' ~ (literals | join(', ')) ~ '))') -%}
  {%- endif -%}
  {{ return('(' ~ (clauses | join(' or ') or '1 = 0') ~ ')') }}
{% endmacro %}


{#-
  SQL predicate keeping the (experiment, metric) pairs that are analysed: for an experiment whose
  `experiment_settings` list metrics, those metrics; for any other, every metric. Empty when no
  experiment lists metrics. `experiment_sql`, `metric_sql`: the two columns.
-#}
{% macro cuped__analysed_metrics_filter(config, experiment_sql, metric_sql) %}
  {%- set listed = [] -%}
  {%- set clauses = [] -%}
  {%- for experiment_id, settings in config['experiment_settings'].items() if settings['metrics'] is not none -%}
    {%- do listed.append(cuped.cuped__literal(experiment_id)) -%}
    {%- set names = [] -%}
    {%- for name in settings['metrics'] -%}{%- do names.append(cuped.cuped__literal(name)) -%}{%- endfor -%}
    {%- do clauses.append('(' ~ experiment_sql ~ ' = ' ~ cuped.cuped__literal(experiment_id) ~ ' and ' ~ metric_sql ~ ' in (' ~ (names | join(', ')) ~ '))') -%}
  {%- endfor -%}
  {%- if listed | length == 0 -%}{{ return('') }}{%- endif -%}
  {{ return('(' ~ experiment_sql ~ ' not in (' ~ (listed | join(', ')) ~ ') or ' ~ (clauses | join(' or ')) ~ ')') }}
{% endmacro %}
