{#-
  Categorical unit attributes: a string `unit_attributes` column listed in a metric's
  `covariates`, and every `strata` column (whatever its type: stratum ids are labels), enter the
  analysis as indicator variables, one per level except the reference level.

  Levels are data, known only once cuped__unit_values is built: it holds such a column as text,
  `attribute_<j>`, with '(missing)' for a null value or a unit without an attributes row. The
  models that read the analysis variables (every one downstream of cuped__unit_values) call
  cuped__config(levels=true): the configuration laid out with the levels, queried once per
  invocation from the built cuped__unit_values and kept in dbt's `graph` context beside the plain
  configuration, so every model of one invocation sees the same levels (the query is
  deterministic, so a model compiled alone sees them too). At parse time nothing is queried and
  the layout is a placeholder (parse-time SQL is not run).

  Levels are counted over the rows of cuped__unit_values (experiment × analysed unit, every
  experiment together). A level with fewer than `categorical_min_units` rows is pooled into
  '(other)' (a data value '(other)' is pooled too); '(missing)' is never pooled. The reference
  level, which has no indicator, is the most frequent level after pooling (ties: the first name).
  The indicator of level L of column c is named `c[L]` (the statistics core's name; the JSON of
  `cuped_results.covariates`), e.g. `country[DE]`, `country[(other)]`.
-#}

{#- The strata setting: none, or a `unit_attributes` column. -#}
{% macro cuped__check_strata(value, attribute_columns, where) %}
  {%- if value is none -%}{{ return(none) }}{%- endif -%}
  {%- if value is not string or value not in attribute_columns -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": unknown strata column '" ~ value ~ "'; the strata of a stratified randomization must be a `unit_attributes` column: " ~ (attribute_columns | join(', ') or '(no unit_attributes configured)') ~ ".") }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}


{#- The lower-cased names of the text columns of a relation (none at parse time). -#}
{#- Whether a warehouse data type holds text (varchar, text, string, an enum). -#}
{% macro cuped__is_text_type(data_type) %}
  {{- return(modules.re.search('char|text|string|enum', data_type | lower) is not none) -}}
{% endmacro %}

{% macro cuped__text_columns(relation) %}
  {%- set found = [] -%}
  {%- if not execute -%}{{ return(found) }}{%- endif -%}
  {#- not cuped__user_columns: it is called on the package's own cuped__unit_values too -#}
  {%- for column in adapter.get_columns_in_relation(relation) -%}
    {%- if cuped.cuped__is_text_type(column.data_type) -%}
      {%- do found.append(column.name | lower) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(found) }}
{% endmacro %}


{#- The `unit_attributes` columns cuped__unit_values holds as categories: every strata column, and the covariate columns that are text in `relation` (the attributes relation). -#}
{% macro cuped__categorical_attributes(config, relation) %}
  {%- set text = cuped.cuped__text_columns(relation) -%}
  {%- set found = [] -%}
  {%- for column in config['covariate_attributes'] -%}
    {%- if column in config['strata_attributes'] or (column | lower) in text -%}
      {%- do found.append(column) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(found) }}
{% endmacro %}


{#- The configuration laid out with the levels of the categorical attributes (see the top of this file). -#}
{% macro cuped__config_with_levels() %}
  {%- set key = (var('cuped', none) | string) ~ '|' ~ project_name -%}
  {%- set cached = graph.get('__cuped_config_levels__') -%}
  {%- if cached is mapping and cached.get('key') == key -%}
    {{ return(cached['config']) }}
  {%- endif -%}
  {%- set base = cuped.cuped__config() -%}
  {%- set levels = cuped.cuped__categorical_levels(base) -%}
  {%- set config = cuped.cuped__build_config(levels) if levels | length > 0 else base -%}
  {%- do graph.update({'__cuped_config_levels__': {'key': key, 'config': config}}) -%}
  {{ return(config) }}
{% endmacro %}


{#- {column: {'levels': [{'name', 'n_units'}] in name order, 'reference': name, 'kept': [data values with their own level]}} for the categorical columns of the built cuped__unit_values. -#}
{% macro cuped__categorical_levels(config) %}
  {%- set out = {} -%}
  {%- if config['unit_attributes'] is none or config['covariate_attributes'] | length == 0 -%}{{ return(out) }}{%- endif -%}
  {%- set node = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') | selectattr('name', 'equalto', 'cuped__unit_values') | first -%}
  {%- set relation = cuped.cuped__node_relation(node['unique_id']) -%}
  {%- set text = cuped.cuped__text_columns(relation) -%}
  {%- set columns = config['unit_attributes']['columns'] -%}
  {#- per column: each level with at least `categorical_min_units` rows (and '(missing)'), and
      one row (level null) summing the others, so a column of many rare values stays small -#}
  {%- set queries = [] -%}
  {%- set keep = 'n_units >= ' ~ config['categorical_min_units'] ~ " and level <> '(other)' or level = '(missing)'" -%}
  {%- for column in config['covariate_attributes'] if ('attribute_' ~ columns.index(column)) in text -%}
    {%- set j = columns.index(column) -%}
    {%- do queries.append('select ' ~ j ~ ' as attribute_index, case when ' ~ keep ~ ' then level end as level, sum(n_units) as n_units'
                          ~ ' from (select attribute_' ~ j ~ ' as level, count(*) as n_units from ' ~ relation ~ ' group by attribute_' ~ j ~ ') as counts'
                          ~ ' group by 1, 2') -%}
  {%- endfor -%}
  {%- if queries | length == 0 -%}{{ return(out) }}{%- endif -%}
  {%- set counts = {} -%}
  {%- for row in run_query(queries | join(' union all ') ~ ' order by 1, 2').rows -%}
    {%- set column = columns[row[0] | int] -%}
    {%- if column not in counts -%}{%- do counts.update({column: []}) -%}{%- endif -%}
    {%- do counts[column].append({'name': '(other)' if row[1] is none else row[1] | string, 'n_units': row[2] | int}) -%}
  {%- endfor -%}
  {%- for column, levels in counts.items() -%}
    {%- set levels = levels | sort(attribute='name', case_sensitive=true) -%}
    {%- if levels | length > cuped.cuped__max_levels() + 1 -%}
      {{ exceptions.raise_compiler_error("cuped: `unit_attributes` column '" ~ column ~ "' (a categorical covariate or strata column) has " ~ (levels | length) ~ " levels once those with fewer than `categorical_min_units` (" ~ config['categorical_min_units'] ~ ") units are pooled; at most " ~ (cuped.cuped__max_levels() + 1) ~ " are analysed (each indicator adds a row and a column to every metric's moments). Raise `categorical_min_units` to pool the rare ones into '(other)', or group the values in a model over the relation.") }}
    {%- endif -%}
    {%- set kept = levels | map(attribute='name') | reject('equalto', '(other)') | list -%}
    {%- set reference = namespace(name=none, n=-1) -%}
    {%- for level in levels if level['n_units'] > reference.n -%}
      {%- set reference.name = level['name'] -%}
      {%- set reference.n = level['n_units'] -%}
    {%- endfor -%}
    {%- do out.update({column: {'levels': levels, 'reference': reference.name, 'kept': kept}}) -%}
  {%- endfor -%}
  {{ return(out) }}
{% endmacro %}


{#- The most indicators of one categorical column: each adds a variable to every metric that uses it, and its covariances with every other one to the moments. -#}
{% macro cuped__max_levels() %}{{ return(50) }}{% endmacro %}


{#- The indicator variables of categorical column `column` (none before its levels are known). -#}
{% macro cuped__categorical_variables(config, column) %}
  {%- set found = config['categorical_levels'].get(column) -%}
  {%- set variables = [] -%}
  {%- if found is none -%}{{ return(variables) }}{%- endif -%}
  {%- set attribute = 'attribute_' ~ config['unit_attributes']['columns'].index(column) -%}
  {%- for level in found['levels'] if level['name'] != found['reference'] -%}
    {%- if level['name'] == '(other)' -%}
      {%- set literals = [] -%}
      {%- for name in found['kept'] -%}{%- do literals.append(cuped.cuped__literal(name)) -%}{%- endfor -%}
      {%- set condition = attribute ~ ' not in (' ~ (literals | join(', ')) ~ ')' if literals else '1 = 1' -%}
    {%- else -%}
      {%- set condition = attribute ~ ' = ' ~ cuped.cuped__literal(level['name']) -%}
    {%- endif -%}
    {%- do variables.append({'name': column ~ '[' ~ level['name'] ~ ']', 'key': attribute ~ '__level_' ~ loop.index0,
                             'sql': 'cast(case when ' ~ condition ~ ' then 1 else 0 end as ' ~ cuped.cuped__type_double() ~ ')'}) -%}
  {%- endfor -%}
  {{ return(variables) }}
{% endmacro %}
