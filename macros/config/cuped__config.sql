{#-
  cuped__config(): the validated `cuped` var with every default filled in.

  All configuration is read here and only here. A wrong key, type or reference stops compilation
  with a message that names the metric, the key and what is allowed.
-#}
{% macro cuped__config() %}
  {%- set raw = var('cuped', none) -%}
  {%- if raw is none -%}
    {{ exceptions.raise_compiler_error(
      "cuped: the `cuped` var is not set. Add `vars: {cuped: {assignments: ..., metrics: [...]}}` to "
      ~ "your dbt_project.yml (see the README's configuration reference).") }}
  {%- endif -%}
  {%- if raw is not mapping -%}
    {{ exceptions.raise_compiler_error("cuped: the `cuped` var must be a mapping of settings, got: " ~ raw) }}
  {%- endif -%}

  {%- set allowed = ['assignments', 'assignment_columns', 'experiments', 'variant_weights',
                     'control_variant', 'pre_period_days', 'alpha', 'theta', 'pre_period_indicator',
                     'metrics', 'unit_attributes', 'segments'] -%}
  {%- do cuped__check_keys(raw, allowed, "the `cuped` var") -%}

  {%- set assignment_columns = raw.get('assignment_columns', {}) or {} -%}
  {%- if assignment_columns is not mapping -%}
    {{ exceptions.raise_compiler_error("cuped: `assignment_columns` must map experiment_id, unit_id, variant, assigned_at to your column names, got: " ~ assignment_columns) }}
  {%- endif -%}
  {%- do cuped__check_keys(assignment_columns, ['experiment_id', 'unit_id', 'variant', 'assigned_at'], "`assignment_columns`") -%}
  {%- set columns = {} -%}
  {%- for key in ['experiment_id', 'unit_id', 'variant', 'assigned_at'] -%}
    {%- do columns.update({key: cuped__check_identifier(assignment_columns.get(key, key), "`assignment_columns." ~ key ~ "`")}) -%}
  {%- endfor -%}

  {%- set config = {
    'assignments': cuped__check_relation_name(raw.get('assignments'), "`assignments`", required=true),
    'assignment_columns': columns,
    'experiments': cuped__check_relation_name(raw.get('experiments'), "`experiments`"),
    'variant_weights': cuped__check_relation_name(raw.get('variant_weights'), "`variant_weights`"),
    'control_variant': cuped__check_string(raw.get('control_variant', 'control'), "`control_variant`"),
    'pre_period_days': cuped__check_integer(raw.get('pre_period_days', 14), "`pre_period_days`", minimum=1),
    'alpha': cuped__check_alpha(raw.get('alpha', 0.05)),
    'theta': cuped__check_choice(raw.get('theta', 'within'), ['within', 'total'], "`theta`"),
    'pre_period_indicator': cuped__check_boolean(raw.get('pre_period_indicator', true), "`pre_period_indicator`"),
  } -%}

  {#- unit attributes: pre-treatment columns usable as covariates and segments -#}
  {%- set attributes = raw.get('unit_attributes') -%}
  {%- if attributes is none -%}
    {%- do config.update({'unit_attributes': none}) -%}
  {%- else -%}
    {%- if attributes is not mapping -%}
      {{ exceptions.raise_compiler_error("cuped: `unit_attributes` must be a mapping {relation, unit_column, columns}, got: " ~ attributes) }}
    {%- endif -%}
    {%- do cuped__check_keys(attributes, ['relation', 'unit_column', 'columns'], "`unit_attributes`") -%}
    {%- set attribute_columns = cuped__check_list(attributes.get('columns'), "`unit_attributes.columns`") -%}
    {%- if attribute_columns | length == 0 -%}
      {{ exceptions.raise_compiler_error("cuped: `unit_attributes.columns` lists no column; name the pre-treatment columns to use as covariates or segments.") }}
    {%- endif -%}
    {%- for column in attribute_columns -%}
      {%- do cuped__check_identifier(column, "`unit_attributes.columns`") -%}
    {%- endfor -%}
    {%- do cuped__check_unique(attribute_columns, "`unit_attributes.columns`") -%}
    {%- do config.update({'unit_attributes': {
      'relation': cuped__check_relation_name(attributes.get('relation'), "`unit_attributes.relation`", required=true),
      'unit_column': cuped__check_identifier(attributes.get('unit_column', columns['unit_id']), "`unit_attributes.unit_column`"),
      'columns': attribute_columns,
    }}) -%}
  {%- endif -%}
  {%- set attribute_columns = config['unit_attributes']['columns'] if config['unit_attributes'] else [] -%}

  {#- segments -#}
  {%- set segments = cuped__check_list(raw.get('segments', []) or [], "`segments`") -%}
  {%- for segment in segments -%}
    {%- if segment not in attribute_columns -%}
      {{ exceptions.raise_compiler_error("cuped: segment '" ~ segment ~ "' is not a `unit_attributes` column; segments must be one of: " ~ (attribute_columns | join(', ') or '(no unit_attributes configured)')) }}
    {%- endif -%}
  {%- endfor -%}
  {%- do cuped__check_unique(segments, "`segments`") -%}
  {%- do config.update({'segments': segments}) -%}

  {#- metrics -#}
  {%- set raw_metrics = cuped__check_list(raw.get('metrics'), "`metrics`") -%}
  {%- if raw_metrics | length == 0 -%}
    {{ exceptions.raise_compiler_error("cuped: `metrics` is required and lists no metric; add at least one metric definition.") }}
  {%- endif -%}
  {%- set metric_names = [] -%}
  {%- for metric in raw_metrics -%}
    {%- if metric is not mapping or metric.get('name') is none -%}
      {{ exceptions.raise_compiler_error("cuped: metric #" ~ loop.index ~ " must be a mapping with a `name`, got: " ~ metric) }}
    {%- endif -%}
    {%- set name = cuped__check_metric_name(metric.get('name'), loop.index) -%}
    {%- if name in metric_names -%}
      {{ exceptions.raise_compiler_error("cuped: metric '" ~ name ~ "' is defined twice; metric names must be unique.") }}
    {%- endif -%}
    {%- do metric_names.append(name) -%}
  {%- endfor -%}

  {%- set metrics = [] -%}
  {%- for metric in raw_metrics -%}
    {%- do metrics.append(cuped__normalize_metric(metric, metric_names, attribute_columns, columns, config)) -%}
  {%- endfor -%}
  {%- do config.update({'metrics': metrics}) -%}
  {{ return(config) }}
{% endmacro %}


{#- One metric definition, validated, with defaults. -#}
{% macro cuped__normalize_metric(metric, metric_names, attribute_columns, assignment_columns, config) %}
  {%- set name = metric['name'] -%}
  {%- set where = "metric '" ~ name ~ "'" -%}
  {%- set allowed = ['name', 'label', 'description', 'source', 'unit_column', 'timestamp_column', 'type',
                     'agg', 'value', 'filter', 'window_days', 'cap', 'covariates', 'higher_is_better',
                     'numerator', 'denominator'] -%}
  {%- do cuped__check_keys(metric, allowed, where) -%}
  {%- set metric_type = cuped__check_choice(metric.get('type', 'mean'), ['mean', 'proportion', 'ratio'], where ~ ": `type`") -%}
  {%- if metric_type == 'ratio' -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `type: ratio` is not available in this version of the package; use `mean` or `proportion`.") }}
  {%- endif -%}
  {%- if metric.get('cap') is not none -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap` (winsorization) is not available in this version of the package; remove the key.") }}
  {%- endif -%}
  {%- for key in ['numerator', 'denominator'] -%}
    {%- if metric.get(key) is not none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` applies only to `type: ratio` metrics.") }}
    {%- endif -%}
  {%- endfor -%}

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
  {%- else -%}
    {%- set agg = cuped__check_choice(metric.get('agg', 'sum'), ['sum', 'count', 'count_distinct', 'max'], where ~ ": `agg`") -%}
    {%- set value = metric.get('value') -%}
    {%- if value is not none -%}
      {%- set value = cuped__check_expression(value, where ~ ": `value`") -%}
    {%- elif agg != 'count' -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `agg: " ~ agg ~ "` needs `value`, the SQL expression to aggregate (e.g. `value: revenue`). Only `agg: count` may omit it.") }}
    {%- endif -%}
  {%- endif -%}
  {%- set filter = metric.get('filter') -%}
  {%- if filter is not none -%}
    {%- set filter = cuped__check_expression(filter, where ~ ": `filter`") -%}
  {%- endif -%}

  {#- covariates -#}
  {%- set covariates = cuped__check_list(metric.get('covariates', ['pre_period']), where ~ ": `covariates`") -%}
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
  {%- do cuped__check_unique(covariates, where ~ ": `covariates`") -%}

  {%- set window_days = metric.get('window_days') -%}
  {%- if window_days is not none -%}
    {%- set window_days = cuped__check_integer(window_days, where ~ ": `window_days`", minimum=1) -%}
  {%- endif -%}

  {{ return({
    'name': name,
    'label': cuped__check_string(metric.get('label', name), where ~ ": `label`"),
    'description': cuped__check_string(metric.get('description', ''), where ~ ": `description`", allow_empty=true),
    'type': metric_type,
    'source': cuped__check_relation_name(metric.get('source'), where ~ ": `source`", required=true),
    'unit_column': cuped__check_identifier(metric.get('unit_column', assignment_columns['unit_id']), where ~ ": `unit_column`"),
    'timestamp_column': cuped__check_identifier(metric.get('timestamp_column'), where ~ ": `timestamp_column`"),
    'agg': agg,
    'value': value,
    'filter': filter,
    'window_days': window_days,
    'covariates': resolved,
    'higher_is_better': cuped__check_boolean(metric.get('higher_is_better', true), where ~ ": `higher_is_better`"),
  }) }}
{% endmacro %}
