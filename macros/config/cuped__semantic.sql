{#-
  Experiment metrics read from the dbt Semantic Layer (`semantic_metric: <name>` in the `cuped` var).

  dbt's `graph` is empty while it parses, so a semantic metric is resolved in two steps:
  - at parse time it is a dependency only: its relation is '@semantic:<name>', and
    cuped__relation() calls metric(<name>) for it in every model that scans events, which gives
    those models a DAG edge to the metric (and through it to its semantic model and the user's
    model under it);
  - at compile and run time the definition is read from graph.metrics and graph.semantic_models
    and laid out exactly like the equivalent hand-written metric: relation (the semantic model's
    model, as '@node:<unique_id>'), unit column (the unit entity's expr), timestamp column (the
    agg_time_dimension's expr), agg, value (the expr) and filter (the metric's and, in the legacy
    spec, the measure input's filters, rendered to SQL over the semantic model's relation). agg,
    expr and agg_time_dimension are the measure's in the legacy spec and the metric's own in the
    1.12 latest spec (cuped__sl_simple_metric).
  An SL ratio metric becomes a `type: ratio` metric over two hidden parts, '<name>@numerator' and
  '<name>@denominator', which are scanned like any metric but get no results rows of their own.
-#}

{#- The keys a `semantic_metric` entry may have; the others come from the Semantic Layer. -#}
{% macro cuped__semantic_metric_keys() %}
  {{ return(['name', 'label', 'description', 'semantic_metric', 'semantic_unit_entity', 'type',
             'window_days', 'cap', 'covariates', 'higher_is_better', 'missing']) }}
{% endmacro %}


{% macro cuped__normalize_semantic_metric(metric, metric_names, attribute_columns, config) %}
  {%- set name = metric['name'] -%}
  {%- set where = "metric '" ~ name ~ "'" -%}
  {%- set sl_name = metric['semantic_metric'] -%}
  {%- if sl_name is not string or not modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', sl_name) -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `semantic_metric` must be the name of a dbt Semantic Layer metric, got: " ~ sl_name) }}
  {%- endif -%}
  {%- for key in ['source', 'unit_column', 'timestamp_column', 'agg', 'value', 'filter', 'numerator', 'denominator'] -%}
    {%- if metric.get(key) is not none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `" ~ key ~ "` cannot be combined with `semantic_metric`: the Semantic Layer metric '" ~ sl_name ~ "' defines the relation, unit entity, time dimension, aggregation, expression and filters, and neither side would win. Remove `" ~ key ~ "`, or write the metric by hand without `semantic_metric`.") }}
    {%- endif -%}
  {%- endfor -%}
  {%- do cuped.cuped__check_keys(metric, cuped.cuped__semantic_metric_keys(), where) -%}
  {%- set requested_type = metric.get('type', 'mean') -%}
  {%- if requested_type not in ['mean', 'proportion'] -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `type` of a `semantic_metric` entry must be mean or proportion (a ratio comes from an SL ratio metric), got: " ~ requested_type) }}
  {%- endif -%}
  {%- set entity = metric.get('semantic_unit_entity', config.get('semantic_unit_entity')) -%}
  {%- if entity is none -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `semantic_metric` needs the Semantic Layer entity that is the randomization unit: set `semantic_unit_entity` in the `cuped` var (or on the metric).") }}
  {%- endif -%}
  {%- set entity = cuped.cuped__check_string(entity, where ~ ": `semantic_unit_entity`") -%}
  {%- set window_days = metric.get('window_days') -%}
  {%- if window_days is not none -%}
    {%- set window_days = cuped.cuped__check_integer(window_days, where ~ ": `window_days`", minimum=1, unit=' of days') -%}
  {%- endif -%}
  {%- set common = {
    'name': name,
    'description_given': metric.get('description'),
    'label_given': metric.get('label'),
    'window_days': window_days,
    'missing': cuped.cuped__normalize_missing(metric, requested_type, where),
    'cap': cuped.cuped__normalize_cap(metric.get('cap'), where),
    'covariates': cuped.cuped__normalize_covariates(metric, metric_names, attribute_columns),
    'higher_is_better': cuped.cuped__check_boolean(metric.get('higher_is_better', true), where ~ ": `higher_is_better`"),
  } -%}

  {%- if not execute -%}
    {#- Parse time: a dependency on the SL metric only (see the top of this file). -#}
    {{ return(cuped.cuped__semantic_metric_dict(common, requested_type, {
      'source': '@semantic:' ~ sl_name, 'unit_column': 'unit_id', 'timestamp_column': 'event_at',
      'columns_are_sql': false, 'agg': 'any' if requested_type == 'proportion' else 'count',
      'value': none, 'filter': none, 'label': sl_name, 'description': '',
      'semantic': {'metric': sl_name}}, where)) }}
  {%- endif -%}

  {%- set node = cuped.cuped__sl_metric_node(sl_name, where) -%}
  {%- set label = node.get('label') or name -%}
  {%- set description = node.get('description') or '' -%}
  {%- if node['type'] == 'simple' -%}
    {%- set resolved = cuped.cuped__sl_simple_metric(node, none, entity, where) -%}
    {%- do resolved.update({'label': label, 'description': description}) -%}
    {{ return(cuped.cuped__semantic_metric_dict(common, requested_type, resolved, where)) }}
  {%- elif node['type'] == 'ratio' -%}
    {%- if requested_type == 'proportion' -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `type: proportion` does not apply to the SL ratio metric '" ~ sl_name ~ "'; a proportion is the share of units with any qualifying event of a simple metric.") }}
    {%- endif -%}
    {%- if common['missing'] != 'zero' -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `missing: exclude` does not apply to the SL ratio metric '" ~ sl_name ~ "'; a ratio's units are those of its numerator and denominator.") }}
    {%- endif -%}
    {%- if common['cap'] is not none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": `cap` does not apply to the SL ratio metric '" ~ sl_name ~ "' (a ratio metric is not capped; cap its parts by listing them as their own metrics).") }}
    {%- endif -%}
    {%- set own_filters = cuped.cuped__sl_where_filters(node.get('filter')) -%}
    {%- set parts = [] -%}
    {%- for role in ['numerator', 'denominator'] -%}
      {%- set input = node['type_params'][role] -%}
      {%- if input.get('offset_window') or input.get('offset_to_grain') -%}
        {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the " ~ role ~ " of the SL ratio metric '" ~ sl_name ~ "' has an offset (offset_window / offset_to_grain); an experiment metric counts events in the experiment's own windows, so offsets are not supported.") }}
      {%- endif -%}
      {%- set input_node = cuped.cuped__sl_metric_node(input['name'], where ~ " (" ~ role ~ " of the SL ratio metric '" ~ sl_name ~ "')") -%}
      {%- if input_node['type'] != 'simple' -%}
        {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the " ~ role ~ " of the SL ratio metric '" ~ sl_name ~ "' is the " ~ input_node['type'] ~ " metric '" ~ input['name'] ~ "'; only simple metrics are supported as ratio parts.") }}
      {%- endif -%}
      {%- set extra = [] -%}
      {%- for template in own_filters -%}{%- do extra.append([template, "the SL ratio metric '" ~ sl_name ~ "'"]) -%}{%- endfor -%}
      {%- for template in cuped.cuped__sl_where_filters(input.get('filter')) -%}
        {%- do extra.append([template, "the " ~ role ~ " input '" ~ input['name'] ~ "' of the SL ratio metric '" ~ sl_name ~ "'"]) -%}
      {%- endfor -%}
      {%- set resolved = cuped.cuped__sl_simple_metric(input_node, extra, entity, where) -%}
      {%- do resolved.update({'label': name ~ ' (' ~ role ~ ')', 'description': ''}) -%}
      {%- set part_common = {
        'name': name ~ '@' ~ role, 'description_given': none, 'label_given': none,
        'window_days': window_days, 'missing': 'zero', 'quantile': none, 'cap': none, 'covariates': [], 'higher_is_better': common['higher_is_better'],
      } -%}
      {%- set part = cuped.cuped__semantic_metric_dict(part_common, 'mean', resolved, where) -%}
      {%- do part.update({'part_of': name}) -%}
      {%- do parts.append(part) -%}
    {%- endfor -%}
    {{ return({
      'name': name,
      'label': cuped.cuped__check_string(metric.get('label', label), where ~ ": `label`"),
      'description': cuped.cuped__check_string(metric.get('description', description), where ~ ": `description`", allow_empty=true),
      'type': 'ratio',
      'source': none, 'unit_column': none, 'timestamp_column': none, 'columns_are_sql': false,
      'agg': none, 'value': none, 'filter': none, 'window_days': none, 'missing': 'zero', 'quantile': none, 'cap': none,
      'covariates': common['covariates'],
      'higher_is_better': common['higher_is_better'],
      'numerator': name ~ '@numerator',
      'denominator': name ~ '@denominator',
      'part_of': none,
      'semantic': {'metric': sl_name, 'type': 'ratio'},
      'semantic_parts': parts,
    }) }}
  {%- elif node['type'] == 'conversion' -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the SL metric '" ~ sl_name ~ "' is a conversion metric, which is not supported: its conversion window is measured from each base event, not from the unit's exposure, so it has no exact per-unit equivalent here. Use a simple metric over the conversion events with `type: proportion` and `window_days`.") }}
  {%- else -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the SL metric '" ~ sl_name ~ "' is a " ~ node['type'] ~ " metric; supported are simple metrics (agg sum, count, count_distinct, max, sum_boolean) and ratio metrics of two simple metrics. " ~ ("A cumulative metric's window is measured over metric_time, not from the unit's exposure: use the simple metric under it with `window_days`." if node['type'] == 'cumulative' else "A derived metric is an arbitrary expression of other metrics, which has no per-unit mean the package can analyse.")) }}
  {%- endif -%}
{% endmacro %}


{#- The metric dict of a resolved simple SL metric, in the layout of a hand-written one. -#}
{% macro cuped__semantic_metric_dict(common, metric_type, resolved, where) %}
  {%- set filter = resolved['filter'] -%}
  {%- if metric_type == 'proportion' -%}
    {%- set agg = 'any' -%}
    {%- set value = none -%}
    {#- a qualifying event is a row the measure counts: a true sum_boolean, a non-null count -#}
    {%- if resolved.get('qualifying') is not none -%}
      {%- set filter = resolved['qualifying'] if filter is none else '(' ~ filter ~ ') and ' ~ resolved['qualifying'] -%}
    {%- endif -%}
  {%- else -%}
    {%- set agg = resolved['agg'] -%}
    {%- set value = resolved['value'] -%}
  {%- endif -%}
  {{ return({
    'name': common['name'],
    'label': cuped.cuped__check_string(common['label_given'] if common['label_given'] is not none else resolved['label'], where ~ ": `label`"),
    'description': cuped.cuped__check_string(common['description_given'] if common['description_given'] is not none else resolved['description'], where ~ ": `description`", allow_empty=true),
    'type': metric_type,
    'source': resolved['source'],
    'unit_column': resolved['unit_column'],
    'timestamp_column': resolved['timestamp_column'],
    'columns_are_sql': resolved['columns_are_sql'],
    'agg': agg,
    'value': value,
    'filter': filter,
    'window_days': common['window_days'],
    'missing': common['missing'],
    'quantile': none,
    'cap': common['cap'],
    'covariates': common['covariates'],
    'higher_is_better': common['higher_is_better'],
    'numerator': none,
    'denominator': none,
    'part_of': none,
    'semantic': resolved['semantic'],
    'filter_times': resolved.get('filter_times') or [],
  }) }}
{% endmacro %}


{#- The graph node of an enabled SL metric, by name; stops with the known names if there is none. -#}
{% macro cuped__sl_metric_node(sl_name, where) %}
  {%- set names = [] -%}
  {%- for node in graph.metrics.values() -%}
    {%- if node['name'] == sl_name -%}{{ return(node) }}{%- endif -%}
    {%- do names.append(node['name']) -%}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": unknown Semantic Layer metric '" ~ sl_name ~ "'; the project's metrics are: " ~ (names | sort | join(', ') or 'none') ~ ".") }}
{% endmacro %}


{#- The where_sql_template strings of a WhereFilterIntersection (or none). -#}
{% macro cuped__sl_where_filters(filter) %}
  {%- set templates = [] -%}
  {%- if filter is mapping -%}
    {%- for item in filter.get('where_filters') or [] -%}
      {%- do templates.append(item['where_sql_template']) -%}
    {%- endfor -%}
  {%- endif -%}
  {{ return(templates) }}
{% endmacro %}


{#-
  A simple SL metric as {source, unit_column, timestamp_column, columns_are_sql, agg, value,
  filter, semantic}, in either YAML spec:
  - legacy (dbt 1.6 to 1.12): `type_params.measure` names a measure of a top-level semantic
    model, which holds agg, expr, agg_time_dimension and non_additive_dimension; the measure
    input may add a filter;
  - latest (dbt 1.12): the metric is declared on its model's YAML entry (`semantic_model:` on
    the model) and holds them itself: `type_params.metric_aggregation_params` {semantic_model,
    agg, agg_time_dimension, non_additive_dimension} and `type_params.expr` (default: the
    metric's name, as MetricFlow reads it). dbt synthesises no measure for it.
  `extra_filters`: [template, owner] pairs of the filters a ratio metric adds (its own and its
  input's), the owner as the error messages name it.
-#}
{% macro cuped__sl_simple_metric(node, extra_filters, entity_name, where) %}
  {%- set sl_name = node['name'] -%}
  {%- set measure_input = node['type_params'].get('measure') -%}
  {%- set aggregation = node['type_params'].get('metric_aggregation_params') -%}
  {%- if measure_input is not none -%}
    {%- set measure_name = measure_input['name'] -%}
    {%- set found = [] -%}
    {%- for model in graph.semantic_models.values() -%}
      {%- for measure in model['measures'] if measure['name'] == measure_name -%}
        {%- do found.append([model, measure]) -%}
      {%- endfor -%}
    {%- endfor -%}
    {%- if found | length != 1 -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the measure '" ~ measure_name ~ "' of the SL metric '" ~ sl_name ~ "' is in " ~ (found | length) ~ " semantic models; it must be in exactly one.") }}
    {%- endif -%}
    {%- set model = found[0][0] -%}
    {%- set measure = found[0][1] -%}
    {%- set in_model = "the semantic model '" ~ model['name'] ~ "' (SL metric '" ~ sl_name ~ "', measure '" ~ measure_name ~ "')" -%}
    {%- set measure_filters = cuped.cuped__sl_where_filters(measure_input.get('filter')) -%}
    {%- set expr = measure.get('expr') or measure_name -%}
  {%- elif aggregation is mapping -%}
    {%- set measure_name = none -%}
    {#- dbt names it in the metric's own package (the model's YAML entry that declares both) -#}
    {%- set model = graph.semantic_models.get('semantic_model.' ~ node['package_name'] ~ '.' ~ aggregation['semantic_model']) -%}
    {%- if model is none -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the SL metric '" ~ sl_name ~ "' aggregates the semantic model '" ~ aggregation['semantic_model'] ~ "', which is not an enabled semantic model of the package '" ~ node['package_name'] ~ "'.") }}
    {%- endif -%}
    {%- set in_model = "the semantic model '" ~ model['name'] ~ "' (SL metric '" ~ sl_name ~ "')" -%}
    {#- the metric is its own measure: the same fields, on the metric -#}
    {%- set measure = {
      'agg': aggregation['agg'],
      'non_additive_dimension': aggregation.get('non_additive_dimension'),
      'agg_time_dimension': aggregation.get('agg_time_dimension'),
    } -%}
    {%- set measure_filters = [] -%}
    {%- set expr = node['type_params'].get('expr') or sl_name -%}
  {%- else -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the simple SL metric '" ~ sl_name ~ "' has neither a measure (legacy spec) nor an aggregation of its own (latest spec, `agg` on the metric); the package cannot tell what it aggregates.") }}
  {%- endif -%}

  {#- aggregation -#}
  {%- set aggs = {'sum': 'sum', 'count': 'count', 'count_distinct': 'count_distinct', 'max': 'max', 'sum_boolean': 'sum'} -%}
  {%- if measure['agg'] not in aggs -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the aggregation `" ~ measure['agg'] ~ "` of " ~ in_model ~ " is not supported; supported are sum, count, count_distinct, max, sum_boolean. (" ~ ("A per-unit " ~ measure['agg'] ~ " has no value for units without events, which the package counts as 0." if measure['agg'] in ['min', 'average', 'median', 'percentile'] else "") ~ ")") }}
  {%- endif -%}
  {%- if measure.get('non_additive_dimension') -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": " ~ in_model ~ " is non-additive (semi-additive, `non_additive_dimension`); a per-unit total over the experiment window of such a measure is not defined, so it is not supported.") }}
  {%- endif -%}
  {%- set value = cuped.cuped__check_expression(expr | string, where ~ ": the expr of " ~ in_model) -%}
  {#- the rows a proportion of this metric counts as qualifying events (none: every row) -#}
  {%- set qualifying = none -%}
  {%- if measure['agg'] == 'sum_boolean' -%}
    {%- set qualifying = '(' ~ value ~ ')' -%}
    {%- set value = 'case when (' ~ value ~ ') then 1 else 0 end' -%}
  {%- elif measure['agg'] in ['count', 'count_distinct'] -%}
    {%- set qualifying = '(' ~ value ~ ') is not null' -%}
  {%- endif -%}

  {#- relation -#}
  {%- set model_ids = model['depends_on']['nodes'] -%}
  {%- if model_ids | length != 1 -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": " ~ in_model ~ " must be over exactly one model, found: " ~ (model_ids | join(', ') or 'none')) }}
  {%- endif -%}
  {%- set relation_node = graph.nodes.get(model_ids[0]) -%}
  {%- if relation_node is none -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": " ~ in_model ~ " is over '" ~ model_ids[0] ~ "', which is not a model, seed or snapshot of this project.") }}
  {%- endif -%}
  {%- if relation_node['config'].get('materialized') == 'ephemeral' -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": " ~ in_model ~ " is over the ephemeral model '" ~ relation_node['name'] ~ "'; the package reads the semantic model's relation from another model, so it must be materialized (view, table or incremental).") }}
  {%- endif -%}

  {#- unit entity -#}
  {%- set entities = {} -%}
  {%- for entity in model['entities'] -%}{%- do entities.update({entity['name']: entity}) -%}{%- endfor -%}
  {%- if entity_name not in entities -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": " ~ in_model ~ " has no entity '" ~ entity_name ~ "' (`semantic_unit_entity`); its entities are: " ~ (entities.keys() | sort | join(', ')) ~ ".") }}
  {%- endif -%}
  {%- set unit_sql = cuped.cuped__check_expression((entities[entity_name].get('expr') or entity_name) | string, where ~ ": the expr of the entity '" ~ entity_name ~ "' of " ~ in_model) -%}

  {#- time dimension -#}
  {%- set time_name = measure.get('agg_time_dimension') or (model.get('defaults') or {}).get('agg_time_dimension') -%}
  {%- set dimensions = {} -%}
  {%- for dimension in model['dimensions'] -%}{%- do dimensions.update({dimension['name']: dimension}) -%}{%- endfor -%}
  {%- if time_name is none or time_name not in dimensions or dimensions[time_name]['type'] != 'time' -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": " ~ in_model ~ " has no time dimension to compare with the exposure time (agg_time_dimension: " ~ time_name ~ ").") }}
  {%- endif -%}
  {%- set time_sql = cuped.cuped__check_expression((dimensions[time_name].get('expr') or time_name) | string, where ~ ": the expr of the time dimension '" ~ time_name ~ "' of " ~ in_model) -%}

  {#- filters: the metric's, the measure input's (legacy spec), and those a ratio adds, ANDed -#}
  {%- set templates = [] -%}
  {%- for template in cuped.cuped__sl_where_filters(node.get('filter')) + measure_filters -%}
    {%- do templates.append([template, "the SL metric '" ~ sl_name ~ "'"]) -%}
  {%- endfor -%}
  {%- set templates = templates + (extra_filters or []) -%}
  {#- a dimension of this model is reached through an entity it is the model of (MetricFlow joins
      through any other): its primary, unique or natural entities, or its `primary_entity` -#}
  {%- set local_entities = [] -%}
  {%- for entity in model['entities'] if entity.get('type') in ['primary', 'unique', 'natural'] -%}
    {%- do local_entities.append(entity['name']) -%}
  {%- endfor -%}
  {%- if model.get('primary_entity') -%}{%- do local_entities.append(model['primary_entity']) -%}{%- endif -%}
  {%- set context = {'model': model, 'entities': entities, 'local_entities': local_entities, 'dimensions': dimensions, 'time_name': time_name, 'sl_name': sl_name, 'metric_grain': node.get('time_granularity'), 'filter_times': []} -%}
  {%- set predicates = [] -%}
  {%- for template in templates -%}
    {%- do context.update({'filter_owner': template[1]}) -%}
    {%- do predicates.append(cuped.cuped__sl_render_filter(template[0], context, where)) -%}
  {%- endfor -%}
  {%- set filter = none -%}
  {%- if predicates | length == 1 -%}
    {%- set filter = predicates[0] -%}
  {%- elif predicates | length > 1 -%}
    {%- set filter = '(' ~ (predicates | join(') and (')) ~ ')' -%}
  {%- endif -%}
  {%- if filter is not none -%}
    {%- set filter = cuped.cuped__check_expression(filter, where ~ ": the filter of the SL metric '" ~ sl_name ~ "'") -%}
  {%- endif -%}

  {{ return({
    'source': '@node:' ~ relation_node['unique_id'],
    'unit_column': unit_sql | string,
    'timestamp_column': time_sql | string,
    'columns_are_sql': true,
    'agg': aggs[measure['agg']],
    'value': value,
    'filter': filter,
    'qualifying': qualifying,
    'label': sl_name,
    'description': '',
    'semantic': {'metric': sl_name, 'semantic_model': model['name'], 'measure': measure_name,
                 'unit_entity': entity_name, 'time_dimension': time_name},
    'filter_times': context['filter_times'],
  }) }}
{% endmacro %}


{#-
  A MetricFlow where-filter template rendered to SQL over the semantic model's own columns.
  Supported inside `{{ ... }}`: Dimension('<entity>__<dimension>') and Dimension('metric_time')
  with an optional .grain('<grain>'), TimeDimension('<entity>__<dimension>' | 'metric_time'[,
  '<grain>']), Entity('<entity>'), where entity and dimension belong to the measure's semantic
  model. Anything else (a join to another semantic model, Metric(...), multi-hop paths,
  date_part, keyword arguments) stops with a message naming the metric.
-#}
{% macro cuped__sl_render_filter(template, context, where) %}
  {%- set re = modules.re -%}
  {%- set block = '\\{\\{\\s*(Dimension|TimeDimension|Entity)\\(\\s*([\'"])([A-Za-z0-9_]+)\\2\\s*(?:,\\s*([\'"])([A-Za-z_]+)\\4\\s*)?\\)\\s*(?:\\.grain\\(\\s*([\'"])([A-Za-z_]+)\\6\\s*\\))?\\s*\\}\\}' -%}
  {%- set supported = "supported are {{ Dimension('<entity>__<dimension>') }} (optionally .grain('<grain>')), {{ TimeDimension('<entity>__<dimension>', '<grain>') }}, {{ Entity('<entity>') }} and metric_time, over the measure's own semantic model '" ~ context['model']['name'] ~ "'" -%}
  {%- set pieces = [] -%}
  {%- set position = namespace(at=0) -%}
  {%- for match in re.finditer(block, template) -%}
    {%- do pieces.append(template[position.at:match.start()]) -%}
    {%- do pieces.append(cuped.cuped__sl_render_reference(match.group(1), match.group(3), match.group(5) or match.group(7), match.group(5) is not none and match.group(7) is not none, context, where, template, supported)) -%}
    {%- set position.at = match.end() -%}
  {%- endfor -%}
  {%- do pieces.append(template[position.at:]) -%}
  {%- set sql = pieces | join('') -%}
  {%- if '{{' in sql or '}}' in sql or '{%' in sql -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": the filter `" ~ template ~ "` of " ~ context['filter_owner'] ~ " uses syntax the package cannot translate to SQL (e.g. Metric(...), date_part, keyword arguments); " ~ supported ~ ".") }}
  {%- endif -%}
  {{ return(sql) }}
{% endmacro %}


{% macro cuped__sl_render_reference(kind, path, grain, two_grains, context, where, template, supported) %}
  {%- set refuse = "cuped: " ~ where ~ ": the filter `" ~ template ~ "` of " ~ context['filter_owner'] ~ " " -%}
  {%- if two_grains -%}
    {{ exceptions.raise_compiler_error(refuse ~ "gives a grain twice.") }}
  {%- endif -%}
  {%- if kind == 'Entity' -%}
    {%- if grain is not none or path not in context['entities'] -%}
      {{ exceptions.raise_compiler_error(refuse ~ "references Entity('" ~ path ~ "'), which is not an entity of the semantic model '" ~ context['model']['name'] ~ "' (its entities: " ~ (context['entities'].keys() | sort | join(', ')) ~ "); " ~ supported ~ ".") }}
    {%- endif -%}
    {{ return(cuped.cuped__sl_value(context['entities'][path].get('expr') or path)) }}
  {%- endif -%}
  {%- if path == 'metric_time' -%}
    {%- set dimension_name = context['time_name'] -%}
  {%- else -%}
    {%- set parts = path.split('__') -%}
    {%- if parts | length != 2 or parts[0] not in context['local_entities'] or parts[1] not in context['dimensions'] -%}
      {{ exceptions.raise_compiler_error(refuse ~ "references " ~ kind ~ "('" ~ path ~ "'), which is not '<entity>__<dimension>' with a dimension of the semantic model '" ~ context['model']['name'] ~ "' reached through an entity it is the model of (a join to another semantic model is not supported, and any other entity is one; its own entities: " ~ (context['local_entities'] | sort | join(', ') or 'none') ~ "; dimensions: " ~ (context['dimensions'].keys() | sort | join(', ')) ~ "); " ~ supported ~ ".") }}
    {%- endif -%}
    {%- set dimension_name = parts[1] -%}
  {%- endif -%}
  {%- set dimension = context['dimensions'][dimension_name] -%}
  {%- set sql = dimension.get('expr') or dimension_name -%}
  {%- if dimension['type'] != 'time' -%}
    {%- if grain is not none or kind == 'TimeDimension' -%}
      {{ exceptions.raise_compiler_error(refuse ~ "asks for a time grain of the categorical dimension '" ~ dimension_name ~ "'.") }}
    {%- endif -%}
    {{ return(cuped.cuped__sl_value(sql)) }}
  {%- endif -%}
  {#- metric_time without a grain is at the metric's `time_granularity` when it has one -#}
  {%- set grain = grain or (context['metric_grain'] if path == 'metric_time' else none) or (dimension.get('type_params') or {}).get('time_granularity') or 'day' -%}
  {%- set grains = ['day', 'week', 'month', 'quarter', 'year'] -%}
  {%- if grain | lower not in grains -%}
    {{ exceptions.raise_compiler_error(refuse ~ "uses the time grain '" ~ grain ~ "'; supported grains are " ~ (grains | join(', ')) ~ ".") }}
  {%- endif -%}
  {#- truncated in `timezone`, whatever the column's type: cuped__metric_filter puts the value as
      wall-clock time in place of the marker when it knows the relation -#}
  {%- if sql not in context['filter_times'] -%}{%- do context['filter_times'].append(sql) -%}{%- endif -%}
  {{ return(dbt.date_trunc(grain | lower, cuped.cuped__local_time_marker(sql))) }}
{% endmacro %}


{#- An entity's or dimension's SQL as one value: an `expr` (`a or b`, `x > 50`) in parentheses, as
    MetricFlow computes it before the filter compares it; a column name as it is. -#}
{% macro cuped__sl_value(sql) %}
  {{- return(sql if modules.re.match('^[A-Za-z_][A-Za-z0-9_]*$', sql | string) else '(' ~ sql ~ ')') -}}
{% endmacro %}


{#-
  A Semantic Layer metric marked for experiments (`meta: {cuped: ...}`, in its `config.meta` or
  `meta`) must be listed in the `cuped` var with `semantic_metric:`, so a metric the team means
  to analyse is not silently left out. Checked from compile time on (the graph is empty while
  dbt parses).
-#}
{% macro cuped__check_marked_semantic_metrics(raw_metrics) %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set listed = raw_metrics | map(attribute='semantic_metric') | select('string') | list -%}
  {%- for node in graph.metrics.values() | sort(attribute='name') -%}
    {%- set meta = (node.get('config') or {}).get('meta') or node.get('meta') or {} -%}
    {%- if 'cuped' in meta and node['name'] not in listed -%}
      {{ exceptions.raise_compiler_error("cuped: the Semantic Layer metric '" ~ node['name'] ~ "' is marked for experiments (`meta.cuped`) but no metric of the `cuped` var reads it; add `- {name: ..., semantic_metric: " ~ node['name'] ~ "}` to `metrics`, or remove `meta.cuped` from the metric.") }}
    {%- endif -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
