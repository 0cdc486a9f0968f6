{#-
  The per-unit variables of the analysis, laid out once per configuration.

  cuped__unit_values holds, per experiment × unit, each (non-ratio) metric i's post-period value
  `metric_<i>_post` and pre-period value `metric_<i>_pre`, each event-source scan k's
  `source_<k>_had_pre_period`, and unit attribute j as `attribute_<j>`. Internal names are
  positional, so user names never need quoting inside the package's own SQL.

  A variable is {'name': what the statistics core calls it, 'key': an identifier naming its
  moments, 'sql': its expression over cuped__unit_values joined with the experiment's caps}.

  cuped__layout(config) adds to the validated configuration everything the models derive from
  it, computed once (linear in the number of metrics), so no model recomputes it per metric:
    config['metric_indices']  name → position in config['metrics']
    config['scans']           the event-source scans: one per (relation, unit SQL, timestamp
                              SQL), each {'index', 'source', 'unit_sql', 'timestamp_sql',
                              'metrics': [{'index', 'metric'}]}; a hand-written metric's columns
                              are names (quoted when needed), a Semantic Layer metric's are its
                              entity's and time dimension's SQL `expr`, and both kinds share a
                              scan when they read the same relation the same way
    metric['scan_index']      the scan a (non-ratio) metric is read from
    metric['variables']       the ordered variables of the metric's analysis (none for the hidden
                              parts of an SL ratio metric, metric['part_of'] set)
    config['moments']         {'means': [variable], 'pairs': [[variable_a, variable_b]]}, every
                              moment any metric needs, once
    config['capped']          indices of the metrics with a `cap`
    config['excluding']       indices of the metrics with `missing: exclude`: cuped__unit_values
                              has `metric_<i>_observed` (1 when the unit has a value), their
                              variables are null elsewhere and their moments count
                              `n_units__x<i>` units (a variable's 'n' names its count column)
    config['covariate_attributes']  unit-attribute columns used as covariates or strata
    config['strata_attributes']     the `strata` columns (global and per experiment)
    config['categorical_levels']    the levels of categorical attributes (cuped__categorical.sql;
                                    empty before execution and in cuped__config() without levels)
    config['quantiles']       indices of the `type: quantile` metrics (no moments; their per-arm
                              inputs are cuped__quantile_arms)
-#}
{% macro cuped__layout(config, levels=none) %}
  {%- set strata_attributes = [] -%}
  {%- for column in [config['strata']] + (config['experiment_settings'].values() | map(attribute='strata') | list) -%}
    {%- if column is not none and column not in strata_attributes -%}{%- do strata_attributes.append(column) -%}{%- endif -%}
  {%- endfor -%}
  {%- do config.update({'strata_attributes': strata_attributes, 'categorical_levels': levels or {}}) -%}
  {%- set metrics = config['metrics'] -%}
  {%- set indices = {} -%}
  {%- for metric in metrics -%}{%- do indices.update({metric['name']: loop.index0}) -%}{%- endfor -%}
  {%- do config.update({'metric_indices': indices}) -%}

  {%- set scans = [] -%}
  {%- set scan_of = {} -%}
  {%- set capped = [] -%}
  {%- set excluding = [] -%}
  {%- set covariate_attributes = [] -%}
  {%- for metric in metrics -%}
    {%- if metric['type'] != 'ratio' -%}
      {%- if metric['columns_are_sql'] -%}
        {%- set unit_sql = metric['unit_column'] -%}
        {%- set timestamp_sql = metric['timestamp_column'] -%}
      {%- else -%}
        {%- set unit_sql = cuped.cuped__column(metric['unit_column']) -%}
        {%- set timestamp_sql = cuped.cuped__column(metric['timestamp_column']) -%}
      {%- endif -%}
      {%- set key = cuped.cuped__relation_key(metric['source']) ~ '|' ~ unit_sql ~ '|' ~ timestamp_sql -%}
      {%- if key not in scan_of -%}
        {%- do scan_of.update({key: scans | length}) -%}
        {%- do scans.append({'index': scans | length, 'source': metric['source'], 'unit_sql': unit_sql,
                             'timestamp_sql': timestamp_sql, 'timestamp_column': metric['timestamp_column'],
                             'timestamp_is_sql': metric['columns_are_sql'], 'metrics': []}) -%}
      {%- elif metric['semantic'] is none -%}
        {#- a scan shared by hand-written and Semantic Layer metrics reads its relation through ref() -#}
        {%- do scans[scan_of[key]].update({'source': metric['source']}) -%}
      {%- endif -%}
      {%- do scans[scan_of[key]]['metrics'].append({'index': loop.index0, 'metric': metric}) -%}
      {%- do metric.update({'scan_index': scan_of[key]}) -%}
    {%- endif -%}
    {%- if metric['cap'] is not none -%}{%- do capped.append(loop.index0) -%}{%- endif -%}
    {%- if metric.get('missing') == 'exclude' -%}{%- do excluding.append(loop.index0) -%}{%- endif -%}
    {%- for covariate in metric['covariates'] -%}
      {%- if covariate['kind'] == 'attribute' and covariate['column'] not in covariate_attributes -%}
        {%- do covariate_attributes.append(covariate['column']) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- for column in strata_attributes if column not in covariate_attributes -%}
    {%- do covariate_attributes.append(column) -%}
  {%- endfor -%}
  {%- do config.update({'scans': scans, 'capped': capped, 'excluding': excluding, 'covariate_attributes': covariate_attributes}) -%}

  {%- set means = [] -%}
  {%- set pairs = [] -%}
  {%- set quantiles = [] -%}
  {%- set seen = {} -%}
  {%- for metric in metrics -%}
    {#- the hidden parts of an SL ratio metric are analysed only through their ratio -#}
    {%- if metric['type'] == 'quantile' -%}{%- do quantiles.append(loop.index0) -%}{%- endif -%}
    {#- a quantile metric has no moments: its arms come from cuped__quantile_arms -#}
    {%- set variables = [] if metric['part_of'] is not none or metric['type'] == 'quantile' else cuped.cuped__metric_variables(config, loop.index0) -%}
    {%- do metric.update({'variables': variables}) -%}
    {%- for a in variables -%}
      {%- if ('mean ' ~ a['key']) not in seen -%}
        {%- do seen.update({'mean ' ~ a['key']: true}) -%}
        {%- do means.append(a) -%}
      {%- endif -%}
      {%- for b in variables[loop.index0:] -%}
        {%- set name = cuped.cuped__covariance_column(a, b) -%}
        {%- if name not in seen -%}
          {%- do seen.update({name: true}) -%}
          {%- do pairs.append([a, b]) -%}
        {%- endif -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- do config.update({'moments': {'means': means, 'pairs': pairs}, 'quantiles': quantiles}) -%}
  {{ return(config) }}
{% endmacro %}

{#-
  `value`, an expression over cuped__unit_values (whose columns carry `prefix`, e.g. 'unit_values.'),
  where metric i is analysed: everywhere, or with `missing: exclude` only on the units with a value
  of it (null elsewhere: every aggregate skips nulls).
-#}
{% macro cuped__analysed_value(config, metric_index, value, prefix='') %}
  {%- if metric_index in config['excluding'] -%}
    {{ return('case when ' ~ prefix ~ 'metric_' ~ metric_index ~ '_observed = 1 then ' ~ value ~ ' end') }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{#- The column holding cov(a, b), the same for (a, b) and (b, a). -#}
{% macro cuped__covariance_column(a, b) %}
  {%- set keys = [a['key'], b['key']] | sort -%}
  {{ return('cov__' ~ keys[0] ~ '__' ~ keys[1]) }}
{% endmacro %}

{#- Metric i's per-unit value in a period ('post' or 'pre'), winsorized at its experiment's thresholds when it has a cap. -#}
{% macro cuped__value_variable(config, name, metric_index, period) %}
  {%- set column = 'metric_' ~ metric_index ~ '_' ~ period -%}
  {%- set sql = column -%}
  {%- if config['metrics'][metric_index]['cap'] is not none -%}
    {%- set lower = column ~ '_lower' -%}
    {%- set upper = column ~ '_upper' -%}
    {%- set sql = 'case when ' ~ column ~ ' < ' ~ lower ~ ' then ' ~ lower ~ ' when ' ~ column ~ ' > ' ~ upper ~ ' then ' ~ upper ~ ' else ' ~ column ~ ' end' -%}
  {%- endif -%}
  {{ return({'name': name, 'key': column, 'sql': sql}) }}
{% endmacro %}

{#- A metric's pre-period value as covariate variables: one for a mean/proportion, a numerator/denominator pair for a ratio. -#}
{% macro cuped__pre_period_variables(config, name, metric_index) %}
  {%- set metric = config['metrics'][metric_index] -%}
  {%- if metric['type'] == 'ratio' -%}
    {{ return([
      cuped.cuped__value_variable(config, name ~ '@numerator', config['metric_indices'][metric['numerator']], 'pre'),
      cuped.cuped__value_variable(config, name ~ '@denominator', config['metric_indices'][metric['denominator']], 'pre'),
    ]) }}
  {%- endif -%}
  {{ return([cuped.cuped__value_variable(config, name, metric_index, 'pre')]) }}
{% endmacro %}

{#- The pre-period indicator of a metric: activity in its source (for a ratio, in either source). -#}
{% macro cuped__indicator_variable(config, metric_index) %}
  {%- set metric = config['metrics'][metric_index] -%}
  {%- if metric['type'] == 'ratio' -%}
    {%- set scans = [config['metrics'][config['metric_indices'][metric['numerator']]]['scan_index'],
                     config['metrics'][config['metric_indices'][metric['denominator']]]['scan_index']] | unique | list -%}
  {%- else -%}
    {%- set scans = [metric['scan_index']] -%}
  {%- endif -%}
  {%- if scans | length == 1 -%}
    {%- set column = 'source_' ~ scans[0] ~ '_had_pre_period' -%}
    {{ return({'name': 'pre_period_indicator', 'key': column, 'sql': column}) }}
  {%- endif -%}
  {%- set columns = [] -%}
  {%- for scan in scans | sort -%}{%- do columns.append('source_' ~ scan ~ '_had_pre_period') -%}{%- endfor -%}
  {{ return({'name': 'pre_period_indicator', 'key': 'had_pre_period_' ~ (scans | sort | join('_')),
             'sql': 'greatest(' ~ (columns | join(', ')) ~ ')'}) }}
{% endmacro %}

{#-
  The ordered variables of one metric's analysis: outcome(s) first ('@y', or '@numerator' and
  '@denominator' for a ratio), then the covariates in configured order (a ratio covariate as a
  '<name>@numerator', '<name>@denominator' pair; a categorical attribute as its indicators), then
  the indicators of `strata` columns that are not covariates (the statistics step keeps them only
  for the experiments stratified on them), then the pre-period indicator. Called by
  cuped__layout once per metric; models read metric['variables'].
-#}
{% macro cuped__metric_variables(config, metric_index) %}
  {%- set metric = config['metrics'][metric_index] -%}
  {%- set indices = config['metric_indices'] -%}
  {%- if metric['type'] == 'ratio' -%}
    {%- set variables = [
      cuped.cuped__value_variable(config, '@numerator', indices[metric['numerator']], 'post'),
      cuped.cuped__value_variable(config, '@denominator', indices[metric['denominator']], 'post'),
    ] -%}
  {%- else -%}
    {%- set variables = [cuped.cuped__value_variable(config, '@y', metric_index, 'post')] -%}
  {%- endif -%}
  {%- for covariate in metric['covariates'] -%}
    {%- if covariate['kind'] == 'pre_period' -%}
      {%- set found = cuped.cuped__pre_period_variables(config, 'pre_period', metric_index) -%}
    {%- elif covariate['kind'] == 'metric' -%}
      {%- set found = cuped.cuped__pre_period_variables(config, covariate['name'], indices[covariate['metric']]) -%}
    {%- elif covariate['column'] in config['categorical_levels'] or covariate['column'] in config['strata_attributes'] -%}
      {%- set found = cuped.cuped__categorical_variables(config, covariate['column']) -%}
    {%- else -%}
      {%- set column = 'attribute_' ~ config['unit_attributes']['columns'].index(covariate['column']) -%}
      {%- set found = [{'name': covariate['name'], 'key': column, 'sql': column}] -%}
    {%- endif -%}
    {%- for variable in found -%}{%- do variables.append(variable) -%}{%- endfor -%}
  {%- endfor -%}
  {#- the indicators of the strata columns that are not covariates, for the experiments stratified on them -#}
  {%- set covariate_columns = metric['covariates'] | selectattr('kind', 'equalto', 'attribute') | map(attribute='column') | list -%}
  {%- for column in config['strata_attributes'] if column not in covariate_columns -%}
    {%- for variable in cuped.cuped__categorical_variables(config, column) -%}{%- do variables.append(variable) -%}{%- endfor -%}
  {%- endfor -%}
  {%- if config['pre_period_indicator'] and metric['covariates'] | length > 0 -%}
    {%- do variables.append(cuped.cuped__indicator_variable(config, metric_index)) -%}
  {%- endif -%}
  {%- if metric.get('missing') != 'exclude' -%}
    {%- for variable in variables -%}{%- do variable.update({'n': 'n_units'}) -%}{%- endfor -%}
    {{ return(variables) }}
  {%- endif -%}
  {#- `missing: exclude`: every variable of the metric is its own, null on the units without a
      value (`metric_<i>_observed` = 0); avg, var_samp and covar_samp skip nulls, so its moments
      are those of its observed units, counted in `n_units__x<i>` -#}
  {%- set own = [] -%}
  {%- for variable in variables -%}
    {%- do own.append({'name': variable['name'], 'key': 'x' ~ metric_index ~ '__' ~ variable['key'],
                       'sql': cuped.cuped__analysed_value(config, metric_index, variable['sql']),
                       'n': 'n_units__x' ~ metric_index}) -%}
  {%- endfor -%}
  {{ return(own) }}
{% endmacro %}

{#-
  What identifies a metric's relation for sharing scans: the graph node a model or seed name
  refers to (so a hand-written `source: orders` and a Semantic Layer metric over ref('orders')
  share one scan), else the configured name itself.
-#}
{% macro cuped__relation_key(source) %}
  {%- if source.startswith('@node:') -%}{{ return(source) }}{%- endif -%}
  {%- if not execute or source.startswith('@') or source.startswith('source:') -%}{{ return(source) }}{%- endif -%}
  {%- set parts = source.split('.') if '.' in source else [project_name, source] -%}
  {%- for node in graph.nodes.values() if node['resource_type'] in ['model', 'seed', 'snapshot']
        and node['package_name'] == parts[0] and node['name'] == parts[1] -%}
    {{ return('@node:' ~ node['unique_id']) }}
  {%- endfor -%}
  {{ return(source) }}
{% endmacro %}
