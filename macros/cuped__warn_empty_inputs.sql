{#-
  Post-hook of cuped_health: warn about inputs that matched nothing, which would otherwise build
  green tables of nulls and zeros with no word in the log (with --warn-error they fail):
  - assignments without a row: every output table is empty;
  - every analysed unit of an experiment lacking a value of an attribute covariate
    (cuped_health.n_units_missing_attributes: no row in `unit_attributes`, or a null in a
    covariate column): a wrong `unit_column`, ids written another way, an empty column;
  - a segment of more than 50 values (a continuous column): a result row per value and metric;
  - an event source none of whose metrics counts anything for any analysed unit of an
    experiment (an empty source, ids that never match, exposures after its events); a metric
    that is 0 for every unit while its source's other metrics are not is a note in the log, not
    a warning (no conversion yet and a rare event are data; a filter that keeps nothing or a
    value null on every row are not). An experiment's metrics are those `experiment_settings`
    lists and the parts of the ratios it lists (all metrics without a list); ratio metrics are
    covered by their parts; quantile metrics have no moments and are not checked.
  Two queries over small tables (this one and cuped__arm_moments, a row per arm), one more
  (`limit 1`) only when no experiment has health rows.
-#}
{% macro cuped__warn_empty_inputs() %}
  {%- if not execute or invocation_args_dict.get('empty') -%}{{ return('') }}{%- endif -%}
  {%- set config = cuped.cuped__config() -%}
  {%- set query -%}
    select 'experiment' as kind, experiment_id as name, sum(n_units) as n, sum(n_units_missing_attributes) as missing
    from {{ this }}
    where segment_name = 'all' and segment_value = 'all'
    group by experiment_id
    union all
    select 'segment' as kind, segment_name as name, count(distinct segment_value) as n, 0 as missing
    from {{ this }}
    where segment_name <> 'all'
    group by segment_name
    order by 1, 2
  {%- endset -%}
  {%- set rows = run_query(query).rows -%}
  {%- for row in rows if row[0] == 'segment' and row[2] > 50 -%}
    {%- do exceptions.warn("cuped: segment '" ~ row[1] ~ "' has " ~ row[2] ~ " values, so every metric gets a result row for each, most with too few units to compare: segments are meant for a few groups. Bucket the column in a model of yours, or leave it out of `segments`.") -%}
  {%- endfor -%}
  {%- set experiments = [] -%}
  {%- for row in rows if row[0] == 'experiment' -%}
    {%- do experiments.append([row[1], row[2], row[3]]) -%}
  {%- endfor -%}
  {%- if experiments | length == 0 -%}
    {%- set any_row = run_query('select 1 from ' ~ ref('cuped__assignment_rows') ~ ' limit 1').rows -%}
    {%- if any_row | length == 0 -%}
      {%- do exceptions.warn("cuped: the assignments relation " ~ config['assignments'] ~ " has no rows, so every table of the package is empty. Check `assignments` in the `cuped` var, and that the relation is built with its data.") -%}
    {%- endif -%}
    {{ return('') }}
  {%- endif -%}
  {%- set analysed = {} -%}
  {%- for row in experiments if row[1] > 0 -%}
    {%- do analysed.update({row[0]: row[1]}) -%}
    {%- if config['unit_attributes'] and row[2] == row[1] -%}
      {%- set attributes = config['unit_attributes'] -%}
      {%- do exceptions.warn("cuped: every analysed unit of experiment '" ~ row[0] ~ "' (" ~ row[1] ~ " units) lacks a value of an attribute covariate from the `unit_attributes` relation " ~ attributes['relation'] ~ " (no row for the unit by its column '" ~ attributes['unit_column'] ~ "', or a null in a covariate column), so such a covariate is 0 for every unit. Check `unit_attributes.unit_column`, that its ids are written as the assignments' are, and the covariate columns.") -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set checked = [] -%}
  {%- for metric in config['metrics'] if metric['type'] not in ['ratio', 'quantile'] and metric['variables'] -%}
    {%- do checked.append(metric) -%}
  {%- endfor -%}
  {%- if not checked or not analysed -%}{{ return('') }}{%- endif -%}
  {%- set columns = [] -%}
  {%- for metric in checked -%}
    {%- set outcome = metric['variables'][0] -%}
    {%- do columns.append('mean__' ~ outcome['key']) -%}
    {%- do columns.append(cuped.cuped__covariance_column(outcome, outcome)) -%}
  {%- endfor -%}
  {%- set query -%}
    select experiment_id, {{ columns | join(', ') }}
    from {{ ref('cuped__arm_moments') }}
    where segment_name = 'all' and segment_value = 'all' and n_units > 0
  {%- endset -%}
  {%- set nonzero = {} -%}
  {%- for row in run_query(query).rows -%}
    {%- for metric in checked -%}
      {%- set mean, variance = row[1 + 2 * loop.index0], row[2 + 2 * loop.index0] -%}
      {%- if (mean is not none and mean != 0) or (variance is not none and variance != 0) -%}
        {%- do nonzero.update({row[0] ~ '|' ~ metric['name']: true}) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {#- an experiment's analysed metrics: all, or those `experiment_settings` lists and the parts
      of the ratios it lists -#}
  {%- set parts = {} -%}
  {%- for metric in config['metrics'] if metric['type'] == 'ratio' and metric['numerator'] -%}
    {%- do parts.update({metric['name']: [metric['numerator'], metric['denominator']]}) -%}
  {%- endfor -%}
  {%- for experiment_id, n_units in analysed.items() -%}
    {%- set listed = (config['experiment_settings'].get(experiment_id) or {}).get('metrics') -%}
    {%- set names = [] -%}
    {%- for name in listed or [] -%}{%- do names.extend([name] + parts.get(name, [])) -%}{%- endfor -%}
    {%- set by_scan = {} -%}
    {%- for metric in checked if listed is none or metric['name'] in names -%}
      {%- do by_scan.setdefault(metric['scan_index'], []).append(metric) -%}
    {%- endfor -%}
    {%- for scan_index, metrics in by_scan.items() -%}
      {%- set zero = [] -%}
      {%- for metric in metrics if (experiment_id ~ '|' ~ metric['name']) not in nonzero -%}{%- do zero.append(metric) -%}{%- endfor -%}
      {%- if zero and zero | length == metrics | length -%}
        {#- nothing of the source counted for any of its metrics: the source or its join -#}
        {%- do exceptions.warn("cuped: no row of " ~ metrics[0]['source'] ~ " counted for any analysed unit of experiment '" ~ experiment_id ~ "' (" ~ n_units ~ " units): its metrics " ~ (metrics | map(attribute='name') | join(', ')) ~ " are 0 for every unit. Check that the source has rows in the experiment's windows, its `unit_column` (ids written as the assignments' are) and `timestamp_column`.") -%}
      {%- else -%}
        {#- the source is read, but these metrics count nothing: maybe so (no conversion yet, a
            rare event), maybe a filter that keeps nothing or a value null on every row -#}
        {%- for metric in zero -%}
          {%- do log("cuped: note: metric '" ~ metric['name'] ~ "' is 0 for every analysed unit of experiment '" ~ experiment_id ~ "' (" ~ n_units ~ " units), while other metrics of " ~ metric['source'] ~ " are not; if it should not be, check its `filter` and `value` (a value null on every row counts as 0).", info=true) -%}
        {%- endfor -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
