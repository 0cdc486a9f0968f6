{#-
  The per-unit variables of the analysis.

  cuped__unit_values holds, per experiment × unit, each (non-ratio) metric i's post-period value
  `metric_<i>_post` and pre-period value `metric_<i>_pre`, each event-source scan k's
  `source_<k>_had_pre_period`, and unit attribute j as `attribute_<j>`. Internal names are
  positional, so user names never need quoting inside the package's own SQL.

  A variable is {'name': what the statistics core calls it, 'key': an identifier naming its
  moments, 'sql': its expression over cuped__unit_values joined with the experiment's caps}.
-#}

{#- The scans of event sources: one per (relation, unit column, timestamp column), each holding the metrics read from it. -#}
{% macro cuped__source_scans(config) %}
  {%- set scans = [] -%}
  {%- set keys = [] -%}
  {%- for metric in config['metrics'] if metric['type'] != 'ratio' -%}
    {%- set key = metric['source'] ~ '|' ~ metric['unit_column'] ~ '|' ~ metric['timestamp_column'] -%}
    {%- if key not in keys -%}
      {%- do keys.append(key) -%}
      {%- do scans.append({'index': keys | length - 1, 'source': metric['source'], 'unit_column': metric['unit_column'],
                           'timestamp_column': metric['timestamp_column'], 'metrics': []}) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- for metric in config['metrics'] -%}
    {%- if metric['type'] != 'ratio' -%}
      {%- set key = metric['source'] ~ '|' ~ metric['unit_column'] ~ '|' ~ metric['timestamp_column'] -%}
      {%- do scans[keys.index(key)]['metrics'].append({'index': loop.index0, 'metric': metric}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(scans) }}
{% endmacro %}

{% macro cuped__metric_index(config, name) %}
  {%- for metric in config['metrics'] -%}
    {%- if metric['name'] == name -%}{{ return(loop.index0) }}{%- endif -%}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("cuped: internal error: no metric named '" ~ name ~ "'") }}
{% endmacro %}

{#- The scan index of the source a (non-ratio) metric is read from. -#}
{% macro cuped__metric_scan_index(config, metric_index) %}
  {%- for scan in cuped__source_scans(config) -%}
    {%- for entry in scan['metrics'] -%}
      {%- if entry['index'] == metric_index -%}{{ return(scan['index']) }}{%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("cuped: internal error: metric #" ~ metric_index ~ " has no source scan") }}
{% endmacro %}

{#- Metrics with a `cap`, as their indices. -#}
{% macro cuped__capped_metrics(config) %}
  {%- set capped = [] -%}
  {%- for metric in config['metrics'] -%}
    {%- if metric['cap'] is not none -%}{%- do capped.append(loop.index0) -%}{%- endif -%}
  {%- endfor -%}
  {{ return(capped) }}
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
      cuped__value_variable(config, name ~ '@numerator', cuped__metric_index(config, metric['numerator']), 'pre'),
      cuped__value_variable(config, name ~ '@denominator', cuped__metric_index(config, metric['denominator']), 'pre'),
    ]) }}
  {%- endif -%}
  {{ return([cuped__value_variable(config, name, metric_index, 'pre')]) }}
{% endmacro %}

{#- The pre-period indicator of a metric: activity in its source (for a ratio, in either source). -#}
{% macro cuped__indicator_variable(config, metric_index) %}
  {%- set metric = config['metrics'][metric_index] -%}
  {%- if metric['type'] == 'ratio' -%}
    {%- set scans = [cuped__metric_scan_index(config, cuped__metric_index(config, metric['numerator'])),
                     cuped__metric_scan_index(config, cuped__metric_index(config, metric['denominator']))] | unique | list -%}
  {%- else -%}
    {%- set scans = [cuped__metric_scan_index(config, metric_index)] -%}
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
  '<name>@numerator', '<name>@denominator' pair), then the pre-period indicator.
-#}
{% macro cuped__metric_variables(config, metric_index) %}
  {%- set metric = config['metrics'][metric_index] -%}
  {%- if metric['type'] == 'ratio' -%}
    {%- set variables = [
      cuped__value_variable(config, '@numerator', cuped__metric_index(config, metric['numerator']), 'post'),
      cuped__value_variable(config, '@denominator', cuped__metric_index(config, metric['denominator']), 'post'),
    ] -%}
  {%- else -%}
    {%- set variables = [cuped__value_variable(config, '@y', metric_index, 'post')] -%}
  {%- endif -%}
  {%- for covariate in metric['covariates'] -%}
    {%- if covariate['kind'] == 'pre_period' -%}
      {%- set found = cuped__pre_period_variables(config, 'pre_period', metric_index) -%}
    {%- elif covariate['kind'] == 'metric' -%}
      {%- set found = cuped__pre_period_variables(config, covariate['name'], cuped__metric_index(config, covariate['metric'])) -%}
    {%- else -%}
      {%- set column = 'attribute_' ~ config['unit_attributes']['columns'].index(covariate['column']) -%}
      {%- set found = [{'name': covariate['name'], 'key': column, 'sql': column}] -%}
    {%- endif -%}
    {%- for variable in found -%}{%- do variables.append(variable) -%}{%- endfor -%}
  {%- endfor -%}
  {%- if config['pre_period_indicator'] and metric['covariates'] | length > 0 -%}
    {%- do variables.append(cuped__indicator_variable(config, metric_index)) -%}
  {%- endif -%}
  {{ return(variables) }}
{% endmacro %}

{#- Attribute columns used as covariates (cast to a number) by any metric. -#}
{% macro cuped__covariate_attributes(config) %}
  {%- set used = [] -%}
  {%- for metric in config['metrics'] -%}
    {%- for covariate in metric['covariates'] -%}
      {%- if covariate['kind'] == 'attribute' and covariate['column'] not in used -%}
        {%- do used.append(covariate['column']) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(used) }}
{% endmacro %}
