{#-
  cuped__config(): the validated `cuped` var with every default filled in.

  All configuration is read here and only here. A wrong key, type or reference stops compilation
  with a message that names the metric, the key and what is allowed.

  Every model calls it, so one parse (and one run) would validate and lay out the configuration
  once per model; the result is kept in dbt's `graph` context, a dict that every node of one
  invocation shares, under a key that holds the var it was built from. The configuration is
  read-only once built: no model changes it.

  A run does not validate it again: the parse stores it (cuped__parsed_config_record) and a
  run reads it back (cuped__parsed_config), see below.
-#}
{% macro cuped__config(levels=false) %}
  {#- levels=true: the layout with the levels of categorical attributes (cuped__config_with_levels) -#}
  {%- if levels and execute -%}{{ return(cuped.cuped__config_with_levels()) }}{%- endif -%}
  {%- set key = (var('cuped', none) | string) ~ '|' ~ project_name ~ '|' ~ execute -%}
  {%- set cached = graph.get('__cuped_config__') -%}
  {%- if cached is mapping and cached.get('key') == key -%}
    {{ return(cached['config']) }}
  {%- endif -%}
  {%- set config = cuped.cuped__parsed_config() if execute else none -%}
  {%- if config is none -%}
    {%- set config = cuped.cuped__build_config() -%}
  {%- endif -%}
  {%- do graph.update({'__cuped_config__': {'key': key, 'config': config}}) -%}
  {{ return(config) }}
{% endmacro %}


{#-
  The configuration validated when dbt parsed the project, carried to the run.

  Validating and laying out the `cuped` var compiles and runs most of the configuration macros,
  0.5-2 s of a dbt process, once per dbt thread in a run (the `graph` cache above is per
  thread's first model) after once in the parse. So the parse stores the result, as JSON, in
  the `meta` of cuped__assignment_rows (under `cuped_parsed_config`, with the var it was built
  from), and a run, compile or run-operation reads it from the manifest instead of building it
  again. dbt parses again whenever the var, the profile or the package's macros change (a
  changed macro re-parses every model that calls it, cuped__config included), and the stored
  key is a hash of the var, the project and the adapter type, so the stored configuration is the one
  the run would build.

  Stored but not used, so built at run time as before: a configuration with Semantic Layer
  metrics (they are resolved from the graph, which is empty while dbt parses), and one that
  JSON would not give back as it is. What a run checks against the graph (Semantic Layer
  metrics marked for experiments) is still checked. Either way the stored text changes with the
  var, so `state:modified` selects cuped__assignment_rows (and `state:modified+` the package)
  after a change to the `cuped` var.
-#}
{% macro cuped__parsed_config_key() %}
  {#- not the target's name: the same configuration on another target of the same adapter (slim CI
      against production's manifest) must not look modified -#}
  {{- return(local_md5((var('cuped', none) | string) ~ '|' ~ project_name ~ '|' ~ target.type)) -}}
{% endmacro %}

{#- At parse time (cuped__assignment_rows): the record to store. -#}
{% macro cuped__parsed_config_record() %}
  {%- set config = cuped.cuped__config() -%}
  {%- set text = tojson(config) -%}
  {%- set semantic = var('cuped')['metrics'] | selectattr('semantic_metric', 'defined') | list -%}
  {%- set complete = semantic | length == 0 and text is not none and fromjson(text) == config -%}
  {{ return({'key': cuped.cuped__parsed_config_key(), 'config': text, 'complete': complete}) }}
{% endmacro %}

{#- At run time: the configuration the parse stored for this var, or none. -#}
{% macro cuped__parsed_config() %}
  {%- set node = graph.nodes.get('model.cuped.cuped__assignment_rows') or {} -%}
  {%- set record = ((node.get('config') or {}).get('meta') or {}).get('cuped_parsed_config') -%}
  {%- if record is not mapping or not record.get('complete') or record.get('key') != cuped.cuped__parsed_config_key() -%}
    {{ return(none) }}
  {%- endif -%}
  {%- do cuped.cuped__check_marked_semantic_metrics(var('cuped')['metrics']) -%}
  {{ return(fromjson(record['config'])) }}
{% endmacro %}


{#- The configuration itself, built from the `cuped` var (see cuped__config). -#}
{% macro cuped__build_config(levels=none) %}
  {%- set raw = var('cuped', none) -%}
  {%- if raw is none -%}
    {{ exceptions.raise_compiler_error(
      "cuped: the `cuped` var is not set. Add `vars: {cuped: {assignments: ..., metrics: [...]}}` to "
      ~ "your dbt_project.yml (see the README's configuration reference).") }}
  {%- endif -%}
  {%- if raw is not mapping -%}
    {{ exceptions.raise_compiler_error("cuped: the `cuped` var must be a mapping of settings, got: " ~ raw) }}
  {%- endif -%}
  {%- if project_name != 'cuped' and raw.get('assignments') == 'demo_assignments' -%}
    {{ exceptions.raise_compiler_error(
      "cuped: the `cuped` var is not set in your project, so the package's own demo configuration "
      ~ "is in effect (its demo seeds are not built in your project). Add `vars: {cuped: {assignments: ..., "
      ~ "metrics: [...]}}` to your dbt_project.yml (see the README's configuration reference).") }}
  {%- endif -%}

  {%- set allowed = ['assignments', 'assignment_columns', 'experiments', 'variant_weights',
                     'control_variant', 'pre_period_days', 'alpha', 'theta', 'pre_period_indicator',
                     'metrics', 'unit_attributes', 'segments', 'relative_ci', 'daily_series',
                     'power', 'target_relative_mde', 'planned_units', 'bayes_prior', 'experiment_settings', 'decision_tests',
                     'timezone', 'semantic_unit_entity', 'strata', 'categorical_min_units', 'incremental'] -%}
  {%- do cuped.cuped__check_keys(raw, allowed, "the `cuped` var") -%}

  {%- set assignment_columns = raw.get('assignment_columns', {}) or {} -%}
  {%- if assignment_columns is not mapping -%}
    {{ exceptions.raise_compiler_error("cuped: `assignment_columns` must map experiment_id, unit_id, variant, assigned_at to your column names, got: " ~ assignment_columns) }}
  {%- endif -%}
  {%- do cuped.cuped__check_keys(assignment_columns, ['experiment_id', 'unit_id', 'variant', 'assigned_at'], "`assignment_columns`") -%}
  {%- set columns = {} -%}
  {%- for key in ['experiment_id', 'unit_id', 'variant', 'assigned_at'] -%}
    {%- do columns.update({key: cuped.cuped__check_identifier(assignment_columns.get(key, key), "`assignment_columns." ~ key ~ "`")}) -%}
  {%- endfor -%}

  {%- set settings = cuped.cuped__settings() -%}
  {%- set choices = settings['choices'] -%}
  {%- set defaults = settings['defaults'] -%}
  {%- set config = {
    'assignments': cuped.cuped__check_relation_name(raw.get('assignments'), "`assignments`", required=true),
    'assignment_columns': columns,
    'experiments': cuped.cuped__check_relation_name(raw.get('experiments'), "`experiments`"),
    'variant_weights': cuped.cuped__check_relation_name(raw.get('variant_weights'), "`variant_weights`"),
    'control_variant': cuped.cuped__check_string(raw.get('control_variant', defaults['control_variant']), "`control_variant`"),
    'pre_period_days': cuped.cuped__check_integer(raw.get('pre_period_days', defaults['pre_period_days']), "`pre_period_days`", minimum=1, unit=' of days', maximum=36500, note=' (100 years)'),
    'alpha': cuped.cuped__check_alpha(raw.get('alpha', defaults['alpha']), settings['alpha_bounds']),
    'theta': cuped.cuped__check_choice(raw.get('theta', defaults['theta']), choices['theta'], "`theta`"),
    'relative_ci': cuped.cuped__check_choice(raw.get('relative_ci', defaults['relative_ci']), choices['relative_ci'], "`relative_ci`"),
    'pre_period_indicator': cuped.cuped__check_boolean(raw.get('pre_period_indicator', defaults['pre_period_indicator']), "`pre_period_indicator`"),
    'daily_series': cuped.cuped__check_boolean(raw.get('daily_series', defaults['daily_series']), "`daily_series`"),
    'power': cuped.cuped__check_fraction(raw.get('power', defaults['power']), "`power`"),
    'target_relative_mde': cuped.cuped__check_fraction(raw.get('target_relative_mde', defaults['target_relative_mde']), "`target_relative_mde`"),
    'planned_units': cuped.cuped__check_integer(raw.get('planned_units', defaults['planned_units']), "`planned_units`", minimum=2, maximum=1000000000000000, note=' (a thousand trillion)'),
    'bayes_prior': cuped.cuped__check_bayes_prior(raw.get('bayes_prior', defaults['bayes_prior'])),
    'timezone': cuped.cuped__check_timezone(raw.get('timezone', defaults['timezone']), "`timezone`"),
    'semantic_unit_entity': none if raw.get('semantic_unit_entity') is none else cuped.cuped__check_string(raw.get('semantic_unit_entity'), "`semantic_unit_entity`"),
    'categorical_min_units': cuped.cuped__check_integer(raw.get('categorical_min_units', 100), "`categorical_min_units`", minimum=1, unit=' of units', maximum=1000000000000000, note=' (a thousand trillion)'),
    'incremental': cuped.cuped__check_incremental(raw.get('incremental')),
  } -%}

  {#- the shipped tests on cuped_decisions, read by models/public/_public.yml: error, warn or off -#}
  {%- set decision_tests = raw.get('decision_tests', {}) or {} -%}
  {%- if decision_tests is not mapping -%}
    {{ exceptions.raise_compiler_error("cuped: `decision_tests` must be a mapping {guardrails_hold, control_present} of error, warn or off (and `guardrails_require_non_inferior`: true or false), got: " ~ decision_tests) }}
  {%- endif -%}
  {%- do cuped.cuped__check_keys(decision_tests, ['guardrails_hold', 'control_present', 'guardrails_require_non_inferior'], "`decision_tests`") -%}
  {#- `off` unquoted is YAML's false: the same choice -#}
  {%- for key, severity in decision_tests.items() if key != 'guardrails_require_non_inferior' and severity is not sameas false -%}
    {%- do cuped.cuped__check_choice(severity, ['error', 'warn', 'off'], "`decision_tests." ~ key ~ "`") -%}
  {%- endfor -%}
  {%- do cuped.cuped__check_boolean(decision_tests.get('guardrails_require_non_inferior', false), "`decision_tests.guardrails_require_non_inferior`") -%}

  {#- unit attributes: pre-treatment columns usable as covariates and segments -#}
  {%- set attributes = raw.get('unit_attributes') -%}
  {%- if attributes is none -%}
    {%- do config.update({'unit_attributes': none}) -%}
  {%- else -%}
    {%- if attributes is not mapping -%}
      {{ exceptions.raise_compiler_error("cuped: `unit_attributes` must be a mapping {relation, unit_column, columns}, got: " ~ attributes) }}
    {%- endif -%}
    {%- do cuped.cuped__check_keys(attributes, ['relation', 'unit_column', 'columns'], "`unit_attributes`") -%}
    {%- set attribute_columns = cuped.cuped__check_list(attributes.get('columns'), "`unit_attributes.columns`") -%}
    {%- if attribute_columns | length == 0 -%}
      {{ exceptions.raise_compiler_error("cuped: `unit_attributes.columns` lists no column; name the pre-treatment columns to use as covariates or segments.") }}
    {%- endif -%}
    {%- for column in attribute_columns -%}
      {%- do cuped.cuped__check_identifier(column, "`unit_attributes.columns`") -%}
    {%- endfor -%}
    {%- do cuped.cuped__check_unique(attribute_columns, "`unit_attributes.columns`") -%}
    {%- do config.update({'unit_attributes': {
      'relation': cuped.cuped__check_relation_name(attributes.get('relation'), "`unit_attributes.relation`", required=true),
      'unit_column': cuped.cuped__check_identifier(attributes.get('unit_column', columns['unit_id']), "`unit_attributes.unit_column`"),
      'columns': attribute_columns,
    }}) -%}
  {%- endif -%}
  {%- set attribute_columns = config['unit_attributes']['columns'] if config['unit_attributes'] else [] -%}

  {#- segments -#}
  {%- set segments = cuped.cuped__check_list(raw.get('segments', []) or [], "`segments`") -%}
  {%- for segment in segments -%}
    {%- if segment == 'all' -%}
      {{ exceptions.raise_compiler_error("cuped: segment 'all' collides with the overall rows (segment_name = segment_value = 'all'); rename the `unit_attributes` column, e.g. in a model over the relation.") }}
    {%- endif -%}
    {%- if segment not in attribute_columns -%}
      {{ exceptions.raise_compiler_error("cuped: segment '" ~ segment ~ "' is not a `unit_attributes` column; segments must be one of: " ~ (attribute_columns | join(', ') or '(no unit_attributes configured)')) }}
    {%- endif -%}
  {%- endfor -%}
  {%- do cuped.cuped__check_unique(segments, "`segments`") -%}
  {%- do config.update({'segments': segments}) -%}
  {%- do config.update({'strata': cuped.cuped__check_strata(raw.get('strata'), attribute_columns, "`strata`")}) -%}

  {#- metrics -#}
  {%- if raw.get('metrics') is none -%}
    {{ exceptions.raise_compiler_error("cuped: `metrics` is required: a list of metric definitions (see the README's Configuration reference).") }}
  {%- endif -%}
  {%- set raw_metrics = cuped.cuped__check_list(raw.get('metrics'), "`metrics`") -%}
  {%- if raw_metrics | length == 0 -%}
    {{ exceptions.raise_compiler_error("cuped: `metrics` is required and lists no metric; add at least one metric definition.") }}
  {%- endif -%}
  {%- set metric_names = [] -%}
  {%- for metric in raw_metrics -%}
    {%- if metric is not mapping or metric.get('name') is none -%}
      {{ exceptions.raise_compiler_error("cuped: metric #" ~ loop.index ~ " must be a mapping with a `name`, got: " ~ metric) }}
    {%- endif -%}
    {%- set name = cuped.cuped__check_metric_name(metric.get('name'), loop.index) -%}
    {%- if name in metric_names -%}
      {{ exceptions.raise_compiler_error("cuped: metric '" ~ name ~ "' is defined twice; metric names must be unique.") }}
    {%- endif -%}
    {#- a categorical covariate's levels are the variables '<column>[<level>]' -#}
    {%- set bracket = modules.re.match('^(.*)\\[.*\\]$', name) -%}
    {%- if bracket and bracket.group(1) in attribute_columns -%}
      {{ exceptions.raise_compiler_error("cuped: metric '" ~ name ~ "': `name` has the form '<column>[<level>]' of the indicators of a categorical `unit_attributes` column ('" ~ bracket.group(1) ~ "'), so it could collide with one of them; rename the metric.") }}
    {%- endif -%}
    {%- do metric_names.append(name) -%}
  {%- endfor -%}

  {%- do config.update({'raw_metrics': raw_metrics}) -%}
  {%- set metrics = [] -%}
  {%- set parts = [] -%}
  {%- for metric in raw_metrics -%}
    {%- set normalized = cuped.cuped__normalize_metric(metric, metric_names, attribute_columns, columns, config) -%}
    {%- for part in normalized.pop('semantic_parts', []) -%}
      {%- if part['name'] in metric_names -%}
        {{ exceptions.raise_compiler_error("cuped: metric '" ~ normalized['name'] ~ "': the name '" ~ part['name'] ~ "' of its hidden " ~ part['name'].split('@')[-1] ~ " part is taken by another metric; rename that metric.") }}
      {%- endif -%}
      {%- do parts.append(part) -%}
    {%- endfor -%}
    {%- do metrics.append(normalized) -%}
  {%- endfor -%}
  {#- an SL ratio metric's parts come last: user metrics keep their positions -#}
  {%- set metrics = metrics + parts -%}
  {%- for metric in metrics if metric['type'] == 'ratio' and metric['part_of'] is none and metric['semantic'] is none -%}
    {%- for key in ['numerator', 'denominator'] -%}
      {%- for other in metrics if other['name'] == metric[key] and other['type'] == 'ratio' -%}
        {{ exceptions.raise_compiler_error("cuped: metric '" ~ metric['name'] ~ "': `" ~ key ~ "` names '" ~ other['name'] ~ "', which is a ratio metric (its `semantic_metric` is an SL ratio metric); numerator and denominator must be `mean` or `proportion` metrics.") }}
      {%- endfor -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- for metric in metrics -%}
    {%- for key in ['numerator', 'denominator'] -%}
      {%- for other in metrics if other['name'] == metric[key] and other['type'] == 'quantile' -%}
        {{ exceptions.raise_compiler_error("cuped: metric '" ~ metric['name'] ~ "': `" ~ key ~ "` names '" ~ other['name'] ~ "', a quantile metric; numerator and denominator must be `mean` or `proportion` metrics.") }}
      {%- endfor -%}
    {%- endfor -%}
    {%- for covariate in metric['covariates'] if covariate['kind'] == 'metric' -%}
      {%- for other in metrics if other['name'] == covariate['metric'] and other['type'] == 'quantile' -%}
        {{ exceptions.raise_compiler_error("cuped: metric '" ~ metric['name'] ~ "': covariate '" ~ other['name'] ~ "' is a quantile metric, which has no per-unit pre-period value; use a mean metric over the same events.") }}
      {%- endfor -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- do config.update({'metrics': metrics}) -%}

  {#- per-experiment settings; the segments computed are the global ones and every experiment's -#}
  {#- not called without the key: its first call compiles 8 KB of Jinja (about 40 ms of a full parse) -#}
  {%- set experiment_settings = {} if raw.get('experiment_settings') is none
        else cuped.cuped__normalize_experiment_settings(raw.get('experiment_settings'), config, attribute_columns) -%}
  {%- do config.update({'experiment_settings': experiment_settings, 'default_segments': segments}) -%}
  {%- set all_segments = segments | list -%}
  {%- for experiment_id, settings_block in experiment_settings.items() -%}
    {%- for segment in settings_block['segments'] or [] if segment not in all_segments -%}
      {%- do all_segments.append(segment) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- do config.update({'segments': all_segments}) -%}
  {%- do cuped.cuped__check_marked_semantic_metrics(raw_metrics) -%}
  {%- do cuped.cuped__check_incremental_metrics(config) -%}
  {{ return(cuped.cuped__layout(config, levels)) }}
{% endmacro %}


{#- One metric definition, validated, with defaults. -#}
{% macro cuped__normalize_metric(metric, metric_names, attribute_columns, assignment_columns, config) %}
  {%- if metric.get('semantic_metric') is not none -%}
    {{ return(cuped.cuped__normalize_semantic_metric(metric, metric_names, attribute_columns, config)) }}
  {%- endif -%}
  {%- set name = metric['name'] -%}
  {%- set where = "metric '" ~ name ~ "'" -%}
  {%- set allowed = ['name', 'label', 'description', 'source', 'unit_column', 'timestamp_column', 'type',
                     'agg', 'value', 'filter', 'window_days', 'cap', 'covariates', 'higher_is_better',
                     'numerator', 'denominator', 'missing', 'quantile', 'level', 'semantic_metric'] -%}
  {#- `semantic_metric` (a Semantic Layer metric, cuped__normalize_semantic_metric) is listed so that
      a misspelt key's message names both ways to define a metric -#}
  {%- do cuped.cuped__check_keys(metric, allowed, where) -%}
  {%- set metric_type = cuped.cuped__check_choice(metric.get('type', cuped.cuped__settings()['defaults']['metric_type']), cuped.cuped__settings()['choices']['metric_type'], where ~ ": `type`") -%}
  {%- if metric_type == 'ratio' -%}
    {{ return(cuped.cuped__normalize_ratio_metric(metric, metric_names, attribute_columns, config)) }}
  {%- endif -%}
  {%- for key in ['numerator', 'denominator'] -%}
    {%- if metric.get(key) is not none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` applies only to `type: ratio` metrics.") }}
    {%- endif -%}
  {%- endfor -%}
  {%- set quantile = cuped.cuped__normalize_quantile(metric, metric_type, where) -%}

  {%- if metric.get('source') is none -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `source` is required: the model, seed or `source:<source>.<table>` that holds its events.") }}
  {%- endif -%}
  {%- if metric.get('timestamp_column') is none -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `timestamp_column` is required: the event time compared with each unit's exposure time.") }}
  {%- endif -%}

  {#- per-unit aggregate -#}
  {%- if metric_type == 'proportion' -%}
    {%- for key in ['agg', 'value'] -%}
      {%- if metric.get(key) is not none -%}
        {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` does not apply to `type: proportion` (a unit counts 1 when it has any event passing `filter`); remove it, or use `type: mean`.") }}
      {%- endif -%}
    {%- endfor -%}
    {%- set agg = 'any' -%}
    {%- set value = none -%}
  {%- elif quantile is not none and quantile['level'] == 'event' -%}
    {%- if metric.get('agg') is not none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `agg` does not apply to `level: event` (the quantile is over the events' `value` itself); remove it, or use `level: unit` for the quantile of a per-unit aggregate.") }}
    {%- endif -%}
    {%- if metric.get('value') is none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `level: event` needs `value`, the SQL expression whose quantile over events is compared.") }}
    {%- endif -%}
    {#- the per-unit sum is computed with the other metrics but not analysed -#}
    {%- set agg = 'sum' -%}
    {%- set value = cuped.cuped__check_expression(metric.get('value'), where ~ ": `value`") -%}
  {%- else -%}
    {%- set agg = cuped.cuped__check_choice(metric.get('agg', cuped.cuped__settings()['defaults']['agg']), cuped.cuped__settings()['choices']['agg'], where ~ ": `agg`") -%}
    {%- set value = metric.get('value') -%}
    {%- if value is not none -%}
      {%- set value = cuped.cuped__check_expression(value, where ~ ": `value`") -%}
    {%- elif agg != 'count' -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `agg: " ~ agg ~ "` needs `value`, the SQL expression to aggregate (e.g. `value: revenue`). Only `agg: count` may omit it.") }}
    {%- endif -%}
  {%- endif -%}
  {%- set filter = metric.get('filter') -%}
  {%- if filter is not none -%}
    {%- set filter = cuped.cuped__check_expression(filter, where ~ ": `filter`") -%}
  {%- endif -%}

  {%- if quantile is not none -%}
    {%- for key in ['cap', 'covariates'] if metric.get(key) is not none and metric.get(key) != [] -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` does not apply to `type: quantile`: quantiles are compared without CUPED (no covariate adjustment of a quantile is shown calibrated) and without winsorization (a quantile is robust to the tail already).") }}
    {%- endfor -%}
    {%- set resolved = [] -%}
  {%- else -%}
    {%- set resolved = cuped.cuped__normalize_covariates(metric, metric_names, attribute_columns) -%}
  {%- endif -%}

  {%- set window_days = metric.get('window_days') -%}
  {%- if window_days is not none -%}
    {%- set window_days = cuped.cuped__check_integer(window_days, where ~ ": `window_days`", minimum=1, unit=' of days', maximum=36500, note=' (100 years)') -%}
  {%- endif -%}
  {%- set missing = cuped.cuped__normalize_missing(metric, metric_type, where) -%}

  {{ return({
    'name': name,
    'label': cuped.cuped__check_string(metric.get('label', name), where ~ ": `label`"),
    'description': cuped.cuped__check_string(metric.get('description', ''), where ~ ": `description`", allow_empty=true),
    'type': metric_type,
    'source': cuped.cuped__check_relation_name(metric.get('source'), where ~ ": `source`", required=true),
    'unit_column': cuped.cuped__check_identifier(metric.get('unit_column', assignment_columns['unit_id']), where ~ ": `unit_column`"),
    'timestamp_column': cuped.cuped__check_identifier(metric.get('timestamp_column'), where ~ ": `timestamp_column`"),
    'columns_are_sql': false,
    'agg': agg,
    'value': value,
    'filter': filter,
    'window_days': window_days,
    'missing': missing,
    'quantile': quantile,
    'cap': none if quantile is not none else cuped.cuped__normalize_cap(metric.get('cap'), where),
    'covariates': resolved,
    'higher_is_better': cuped.cuped__check_boolean(metric.get('higher_is_better', true), where ~ ": `higher_is_better`"),
    'numerator': none,
    'denominator': none,
    'part_of': none,
    'semantic': none,
  }) }}
{% endmacro %}


{#-
  A ratio metric: Σ numerator / Σ denominator over units, both other (non-ratio) metrics. It reads
  no events itself; its `pre_period` covariate is the pre-period ratio of the same two metrics.
-#}
{% macro cuped__normalize_ratio_metric(metric, metric_names, attribute_columns, config) %}
  {%- set name = metric['name'] -%}
  {%- set where = "metric '" ~ name ~ "'" -%}
  {%- for key in ['source', 'unit_column', 'timestamp_column', 'agg', 'value', 'filter', 'window_days', 'cap', 'missing', 'quantile', 'level'] -%}
    {%- if metric.get(key) is not none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` does not apply to `type: ratio`; a ratio metric is built from its `numerator` and `denominator` metrics, so set `" ~ key ~ "` on those.") }}
    {%- endif -%}
  {%- endfor -%}
  {%- set raw_metrics = config['raw_metrics'] -%}
  {%- set parts = {} -%}
  {%- for key in ['numerator', 'denominator'] -%}
    {%- set part = metric.get(key) -%}
    {%- if part is none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `type: ratio` needs `" ~ key ~ "`, the name of another metric (one of: " ~ (metric_names | reject('equalto', name) | join(', ')) ~ ").") }}
    {%- endif -%}
    {%- if part == name -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` names the ratio metric itself; it must name another metric.") }}
    {%- endif -%}
    {%- if part not in metric_names -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` names an unknown metric '" ~ part ~ "'; metrics are: " ~ (metric_names | reject('equalto', name) | join(', ')) ~ ".") }}
    {%- endif -%}
    {%- for other in raw_metrics if other.get('name') == part and other.get('type', 'mean') == 'ratio' -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` names '" ~ part ~ "', which is itself a ratio metric; numerator and denominator must be `mean` or `proportion` metrics.") }}
    {%- endfor -%}
    {%- for other in raw_metrics if other.get('name') == part and other.get('missing') == 'exclude' -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` names '" ~ part ~ "', which has `missing: exclude`; a ratio sums its numerator and denominator over the same units, so its parts count a unit without rows as 0. Use a metric without `missing: exclude`.") }}
    {%- endfor -%}
    {%- do parts.update({key: part}) -%}
  {%- endfor -%}
  {{ return({
    'name': name,
    'label': cuped.cuped__check_string(metric.get('label', name), where ~ ": `label`"),
    'description': cuped.cuped__check_string(metric.get('description', ''), where ~ ": `description`", allow_empty=true),
    'type': 'ratio',
    'source': none,
    'unit_column': none,
    'timestamp_column': none,
    'columns_are_sql': false,
    'agg': none,
    'value': none,
    'filter': none,
    'window_days': none,
    'missing': 'zero',
    'quantile': none,
    'cap': none,
    'covariates': cuped.cuped__normalize_covariates(metric, metric_names, attribute_columns),
    'higher_is_better': cuped.cuped__check_boolean(metric.get('higher_is_better', true), where ~ ": `higher_is_better`"),
    'numerator': parts['numerator'],
    'denominator': parts['denominator'],
    'part_of': none,
    'semantic': none,
  }) }}
{% endmacro %}


{#-
  A quantile metric's {'q', 'level'}: `quantile` q in (0, 1) and `level` `unit` (the quantile of the
  units' per-unit values, `agg` as for a mean) or `event` (of the events' `value`, clustered by
  unit). None for other types, which may not set either key.
-#}
{% macro cuped__normalize_quantile(metric, metric_type, where) %}
  {%- if metric_type != 'quantile' -%}
    {%- for key in ['quantile', 'level'] if metric.get(key) is not none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` applies only to `type: quantile` metrics.") }}
    {%- endfor -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set q = metric.get('quantile') -%}
  {%- if q is none -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `type: quantile` needs `quantile`, the q in (0, 1) to compare (e.g. 0.9 for p90).") }}
  {%- endif -%}
  {%- if q is boolean or q is not number or not (0 < q < 1) -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `quantile` must be a number strictly between 0 and 1, got: " ~ q) }}
  {%- endif -%}
  {%- set level = cuped.cuped__check_choice(metric.get('level', 'unit'), ['unit', 'event'], where ~ ": `level`") -%}
  {{ return({'q': q, 'level': level}) }}
{% endmacro %}


{#-
  A metric's `missing`: `zero` (a unit without a qualifying row in the post window has value 0:
  events) or `exclude` (it is left out of the metric: outcomes that are not events, such as a
  survey score). Only `type: mean` metrics read their own rows.
-#}
{% macro cuped__normalize_missing(metric, metric_type, where) %}
  {%- set missing = cuped.cuped__check_choice(metric.get('missing', cuped.cuped__settings()['defaults']['missing']), cuped.cuped__settings()['choices']['missing'], where ~ ": `missing`") -%}
  {%- if missing == 'exclude' and metric_type == 'quantile' and metric.get('level', 'unit') != 'unit' -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `missing: exclude` applies to `level: unit` quantiles only (at `level: event` the quantile is over events, and a unit without events adds none).") }}
  {%- elif missing == 'exclude' and metric_type not in ['mean', 'quantile'] -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `missing: exclude` applies only to `type: mean` and `type: quantile` metrics (a proportion counts a unit without events as 0 by definition; a ratio's units are those of its numerator and denominator).") }}
  {%- endif -%}
  {{ return(missing) }}
{% endmacro %}


{#- A metric's `covariates`, each resolved to {'name', 'kind': pre_period | metric | attribute, ...}. -#}
{% macro cuped__normalize_covariates(metric, metric_names, attribute_columns) %}
  {%- set name = metric['name'] -%}
  {%- set where = "metric '" ~ name ~ "'" -%}
  {%- set covariates = cuped.cuped__check_list(metric.get('covariates', ['pre_period']), where ~ ": `covariates`") -%}
  {%- set resolved = [] -%}
  {%- for covariate in covariates -%}
    {%- if covariate is not string -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": each entry of `covariates` must be a string, got: " ~ covariate) }}
    {%- endif -%}
    {%- if covariate == 'pre_period' -%}
      {%- do resolved.append({'name': 'pre_period', 'kind': 'pre_period', 'metric': name}) -%}
    {%- elif covariate == 'pre_period_indicator' -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `pre_period_indicator` is added automatically (the `pre_period_indicator` setting); remove it from `covariates`.") }}
    {%- elif covariate in metric_names and covariate in attribute_columns -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": covariate '" ~ covariate ~ "' is both a metric and a `unit_attributes` column; rename one of them so the covariate is unambiguous.") }}
    {%- elif covariate in metric_names -%}
      {%- if covariate == name -%}
        {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": covariate '" ~ covariate ~ "' is the metric itself; use `pre_period` for its own pre-period value.") }}
      {%- endif -%}
      {%- do resolved.append({'name': covariate, 'kind': 'metric', 'metric': covariate}) -%}
    {%- elif covariate in attribute_columns -%}
      {%- do resolved.append({'name': covariate, 'kind': 'attribute', 'column': covariate}) -%}
    {%- else -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": unknown covariate '" ~ covariate ~ "'. A covariate is `pre_period`, the name of another metric (" ~ (metric_names | reject('equalto', name) | join(', ') or 'none defined') ~ ") or a `unit_attributes` column (" ~ (attribute_columns | join(', ') or 'none configured') ~ ").") }}
    {%- endif -%}
  {%- endfor -%}
  {%- do cuped.cuped__check_unique(covariates, where ~ ": `covariates`") -%}
  {{ return(resolved) }}
{% endmacro %}


{#-
  Winsorization: {lower | lower_quantile, upper | upper_quantile}. Absolute bounds are numbers;
  quantile bounds are pooled over all arms of the experiment, for the post value and the
  pre-period value separately. Returns none or {lower, upper, lower_quantile, upper_quantile}.
-#}
{% macro cuped__normalize_cap(cap, where) %}
  {%- if cap is none -%}{{ return(none) }}{%- endif -%}
  {%- if cap is not mapping -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap` must be a mapping with lower/upper or lower_quantile/upper_quantile, got: " ~ cap) }}
  {%- endif -%}
  {%- do cuped.cuped__check_keys(cap, ['lower', 'upper', 'lower_quantile', 'upper_quantile'], where ~ ": `cap`") -%}
  {%- if cap | length == 0 -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap` sets no bound; give lower, upper, lower_quantile or upper_quantile.") }}
  {%- endif -%}
  {%- for side in ['lower', 'upper'] -%}
    {%- if cap.get(side) is not none and cap.get(side ~ '_quantile') is not none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap` sets both `" ~ side ~ "` and `" ~ side ~ "_quantile`; choose one.") }}
    {%- endif -%}
  {%- endfor -%}
  {%- for key in ['lower', 'upper'] if cap.get(key) is not none -%}
    {%- if cap[key] is boolean or cap[key] is not number -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap." ~ key ~ "` must be a number, got: " ~ cap[key] ~ " (" ~ cuped.cuped__type_name(cap[key]) ~ ")") }}
    {%- endif -%}
    {%- if not cuped.cuped__is_finite_number(cap[key]) -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap." ~ key ~ "` must be a finite number within double range (leave the side out for no bound), got: " ~ cap[key]) }}
    {%- endif -%}
  {%- endfor -%}
  {%- for key in ['lower_quantile', 'upper_quantile'] if cap.get(key) is not none -%}
    {%- if cap[key] is boolean or cap[key] is not number or cap[key] <= 0 or cap[key] >= 1 -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap." ~ key ~ "` must be a number strictly between 0 and 1 (e.g. 0.99), got: " ~ cap[key]) }}
    {%- endif -%}
  {%- endfor -%}
  {%- if cap.get('lower') is not none and cap.get('upper') is not none and cap['lower'] >= cap['upper'] -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap.lower` (" ~ cap['lower'] ~ ") must be below `cap.upper` (" ~ cap['upper'] ~ ").") }}
  {%- endif -%}
  {%- if cap.get('lower_quantile') is not none and cap.get('upper_quantile') is not none and cap['lower_quantile'] >= cap['upper_quantile'] -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap.lower_quantile` must be below `cap.upper_quantile`.") }}
  {%- endif -%}
  {{ return({'lower': cap.get('lower'), 'upper': cap.get('upper'),
             'lower_quantile': cap.get('lower_quantile'), 'upper_quantile': cap.get('upper_quantile')}) }}
{% endmacro %}


{#-
  `dbt run-operation cuped__print_metric_layout`: metric name → its position in the layout (the
  `metric_<i>_*` columns of cuped__unit_values), as JSON, for tests and tools. It includes the
  hidden '<name>@numerator' / '<name>@denominator' parts of Semantic Layer ratio metrics.
-#}
{% macro cuped__print_metric_layout() %}
  {{ print(tojson(cuped.cuped__config()['metric_indices'])) }}
{% endmacro %}


{#- `dbt run-operation cuped__print_metrics`: the normalized, laid-out metrics as JSON, for tests and tools. -#}
{% macro cuped__print_metrics() %}
  {{ print(tojson(cuped.cuped__config()['metrics'])) }}
{% endmacro %}
