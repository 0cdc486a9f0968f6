{#-
  The per-unit variables of the analysis, as columns of cuped__unit_values.

  Each metric i has its post-period value `metric_<i>_post` and pre-period value `metric_<i>_pre`;
  each scan k of a source has `source_<k>_had_pre_period` (any row of the source in the unit's
  pre-period window, before any metric filter); unit attribute j is `attribute_<j>`. Internal names
  are positional, so user names never need quoting inside the package's own SQL.
-#}

{#- The scans of event sources: one per (relation, unit column, timestamp column), each holding the metrics read from it. -#}
{% macro cuped__source_scans(config) %}
  {%- set scans = [] -%}
  {%- set keys = [] -%}
  {%- for metric in config['metrics'] -%}
    {%- set key = metric['source'] ~ '|' ~ metric['unit_column'] ~ '|' ~ metric['timestamp_column'] -%}
    {%- if key not in keys -%}
      {%- do keys.append(key) -%}
      {%- do scans.append({'index': keys | length - 1, 'source': metric['source'], 'unit_column': metric['unit_column'],
                           'timestamp_column': metric['timestamp_column'], 'metrics': []}) -%}
    {%- endif -%}
    {%- do scans[keys.index(key)]['metrics'].append({'index': loop.index0, 'metric': metric}) -%}
  {%- endfor -%}
  {{ return(scans) }}
{% endmacro %}

{% macro cuped__metric_index(config, name) %}
  {%- for metric in config['metrics'] -%}
    {%- if metric['name'] == name -%}{{ return(loop.index0) }}{%- endif -%}
  {%- endfor -%}
  {{ exceptions.raise_compiler_error("cuped: internal error: no metric named '" ~ name ~ "'") }}
{% endmacro %}

{#- The scan index of the source a metric is read from. -#}
{% macro cuped__metric_scan_index(config, metric_index) %}
  {%- for scan in cuped__source_scans(config) -%}
    {%- for entry in scan['metrics'] -%}
      {%- if entry['index'] == metric_index -%}{{ return(scan['index']) }}{%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
{% endmacro %}

{#-
  The ordered variables of one metric's analysis: [outcome, covariates..., pre-period indicator].
  Each is {'name': name passed to the statistics core, 'column': column of cuped__unit_values}.
  The outcome is named '@y'; covariates keep their configured names.
-#}
{% macro cuped__metric_variables(config, metric_index) %}
  {%- set metric = config['metrics'][metric_index] -%}
  {%- set variables = [{'name': '@y', 'column': 'metric_' ~ metric_index ~ '_post'}] -%}
  {%- for covariate in metric['covariates'] -%}
    {%- if covariate['kind'] == 'pre_period' -%}
      {%- do variables.append({'name': covariate['name'], 'column': 'metric_' ~ metric_index ~ '_pre'}) -%}
    {%- elif covariate['kind'] == 'metric' -%}
      {%- do variables.append({'name': covariate['name'], 'column': 'metric_' ~ cuped__metric_index(config, covariate['metric']) ~ '_pre'}) -%}
    {%- else -%}
      {%- do variables.append({'name': covariate['name'], 'column': 'attribute_' ~ config['unit_attributes']['columns'].index(covariate['column'])}) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if config['pre_period_indicator'] and metric['covariates'] | length > 0 -%}
    {%- do variables.append({'name': 'pre_period_indicator', 'column': 'source_' ~ cuped__metric_scan_index(config, metric_index) ~ '_had_pre_period'}) -%}
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
