{#- Small validators used by cuped__config(); each returns the value or stops compilation. -#}

{% macro cuped__check_keys(mapping, allowed, where) %}
  {%- for key in mapping -%}
    {%- if key not in allowed -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ ": unknown key `" ~ key ~ "`. Allowed keys: " ~ (allowed | join(', ')) ~ ".") }}
    {%- endif -%}
  {%- endfor -%}
{% endmacro %}

{% macro cuped__check_string(value, where, allow_empty=false) %}
  {%- if value is not string or (not allow_empty and value | trim == '') -%}
    {%- set hint = " (YAML reads an unquoted " ~ value ~ " as a " ~ cuped.cuped__type_name(value) ~ ": quote it, '" ~ value ~ "')" if value is number or value is boolean else "" -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a non-empty string, got: " ~ value ~ hint) }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{% macro cuped__check_choice(value, choices, where) %}
  {%- if value not in choices -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be one of " ~ (choices | join(', ')) ~ ", got: " ~ value) }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{% macro cuped__check_boolean(value, where) %}
  {%- if value is not boolean -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be true or false, got: " ~ value ~ " (" ~ cuped.cuped__type_name(value) ~ ")") }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{#- `maximum` bounds day counts: a window beyond it would reach past the timestamps a warehouse holds. -#}
{% macro cuped__check_integer(value, where, minimum, unit='', maximum=none, note='') %}
  {%- if value is boolean or value is not integer or value < minimum -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a whole number" ~ unit ~ " >= " ~ minimum ~ ", got: " ~ value ~ " (" ~ cuped.cuped__type_name(value) ~ ")") }}
  {%- endif -%}
  {%- if maximum is not none and value > maximum -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a whole number" ~ unit ~ " at most " ~ maximum ~ note ~ ", got: " ~ value) }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{#- A finite number within double range (not NaN, not ±infinity, not an integer too large for a double). -#}
{% macro cuped__is_finite_number(value) %}
  {{- return(value is number and value is not boolean and value == value
             and value <= 1.7976931348623157e308 and value >= -1.7976931348623157e308) -}}
{% endmacro %}

{#- The smallest `alpha` accepted: below it 1 − alpha/2 is not resolved in double precision, and intervals become infinite. -#}
{% macro cuped__alpha_minimum() %}{{ return(1e-10) }}{% endmacro %}

{% macro cuped__check_alpha(value, bounds, where="`alpha`") %}
  {%- if value is boolean or value is not number or not cuped.cuped__is_finite_number(value) or not (value > bounds[0] and value < bounds[1]) -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a number between " ~ bounds[0] ~ " and " ~ bounds[1] ~ " (e.g. 0.05), got: " ~ value ~ " (" ~ cuped.cuped__type_name(value) ~ ")") }}
  {%- endif -%}
  {%- if value < cuped.cuped__alpha_minimum() -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be at least " ~ cuped.cuped__alpha_minimum() ~ " (smaller levels are not resolved in double precision and give infinite intervals), got: " ~ value) }}
  {%- endif -%}
  {{ return(value | float) }}
{% endmacro %}

{% macro cuped__check_fraction(value, where) %}
  {%- if value is boolean or value is not number or not cuped.cuped__is_finite_number(value) or value <= 0 or value >= 1 -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a number strictly between 0 and 1, got: " ~ value ~ " (" ~ cuped.cuped__type_name(value) ~ ")") }}
  {%- endif -%}
  {{ return(value | float) }}
{% endmacro %}

{% macro cuped__check_list(value, where) %}
  {%- if value is none or value is string or value is mapping or value is not iterable -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a list, got: " ~ value ~ " (" ~ cuped.cuped__type_name(value) ~ ")") }}
  {%- endif -%}
  {{ return(value | list) }}
{% endmacro %}

{% macro cuped__check_unique(values, where) %}
  {%- set seen = [] -%}
  {%- for value in values -%}
    {%- if value in seen -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " lists '" ~ value ~ "' twice.") }}
    {%- endif -%}
    {%- do seen.append(value) -%}
  {%- endfor -%}
{% endmacro %}

{#- A column name: any string without control characters or quotes; quoted in SQL when it needs it. -#}
{% macro cuped__check_identifier(value, where) %}
  {%- if value is not string or value | trim == '' or modules.re.search('[\\x00-\\x1f"`]', value) -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a column name (a non-empty string without quotes or control characters), got: " ~ value) }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{#-
  A SQL expression written by the project's own engineers (`value`, `filter`, a Semantic Layer
  expr or filter): one expression. Scanned once, so that a mistake stops the parse naming the
  metric and key instead of failing in the warehouse on a line of the package's SQL: a string
  literal '...' (a quote inside written '') or quoted name "..." must be closed, parentheses
  outside them must balance, and `;`, `--` and `/*` (which could end the statement or hide the
  package's SQL after the expression) may not appear outside them.
-#}
{% macro cuped__check_expression(value, where) %}
  {%- if value is number and value is not boolean -%}
    {{ return(value | string) }}
  {%- endif -%}
  {%- if value is not string or value | trim == '' -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a SQL expression string, got: " ~ value) }}
  {%- endif -%}
  {#- one regular expression finds, left to right: a closed literal or quoted name (its closing
      quote is not followed by another: '' inside is a quote; E'...' escapes with backslashes,
      $$...$$ and `...` are PostgreSQL's and Spark's), or a character to check. On Spark
      and Databricks, BigQuery and Snowflake a backslash escapes the next character of a literal
      ('it\'s'); in standard SQL (DuckDB, PostgreSQL) it is text. -#}
  {%- if target.type in ['spark', 'databricks', 'bigquery', 'snowflake'] -%}
    {%- set pattern = "(?<![A-Za-z0-9_])[eE]'(?:[^'\\\\]|''|\\\\[\\s\\S])*'(?!')|\\$\\$[\\s\\S]*?\\$\\$|`(?:[^`]|``)*`|'(?:[^'\\\\]|''|\\\\[\\s\\S])*'(?!')|\"(?:[^\"\\\\]|\"\"|\\\\[\\s\\S])*\"(?!\")|--|/[*]|[;()'\"]" -%}
  {%- else -%}
    {%- set pattern = "(?<![A-Za-z0-9_])[eE]'(?:[^'\\\\]|''|\\\\[\\s\\S])*'(?!')|\\$\\$[\\s\\S]*?\\$\\$|`(?:[^`]|``)*`|'(?:[^']|'')*'(?!')|\"(?:[^\"]|\"\")*\"(?!\")|--|/[*]|[;()'\"]" -%}
  {%- endif -%}
  {%- set open = [] -%}
  {%- for token in modules.re.finditer(pattern, value) -%}
    {%- set text = token.group(0) -%}
    {%- set at = " at character " ~ (token.start() + 1) -%}
    {%- if text == "'" -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " has an unclosed quote: the '" ~ at ~ " starts a string literal that is never closed (a quote inside a literal is written ''), got: " ~ value) }}
    {%- elif text == '"' -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " has an unclosed quote: the \"" ~ at ~ " starts a quoted name that is never closed, got: " ~ value) }}
    {%- elif text in [';', '--', '/*'] -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a single SQL expression; it may not contain `;`, `--` or `/*` outside a string literal (`" ~ text ~ "`" ~ at ~ "), got: " ~ value) }}
    {%- elif text == '(' -%}
      {%- do open.append(token.start() + 1) -%}
    {%- elif text == ')' -%}
      {%- if not open -%}
        {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " has unbalanced parentheses: the )" ~ at ~ " closes no (, got: " ~ value) }}
      {%- endif -%}
      {%- do open.pop() -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if open -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " has unbalanced parentheses: " ~ (("the ( at character " ~ open[0] ~ " is") if open | length == 1 else ((open | length) ~ " ( (the last at character " ~ open[-1] ~ ") are")) ~ " never closed, got: " ~ value) }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{% macro cuped__check_metric_name(value, position) %}
  {%- if value is not string or value | trim == '' or value != value | trim or modules.re.search('[\\x00-\\x1f]', value) -%}
    {{ exceptions.raise_compiler_error("cuped: metric #" ~ position ~ ": `name` must be a non-empty string without leading/trailing spaces or control characters, got: " ~ value) }}
  {%- endif -%}
  {#- '@' marks the package's own variables (`@y`, a ratio covariate's `<name>@numerator` and
      `<name>@denominator`): a metric name with it could be merged into another's ratio pair -#}
  {%- if '@' in value -%}
    {{ exceptions.raise_compiler_error("cuped: metric '" ~ value ~ "': `name` may not contain '@' (the package names a ratio covariate's parts '<name>@numerator' and '<name>@denominator'); rename the metric.") }}
  {%- endif -%}
  {%- if value in ['pre_period', 'pre_period_indicator'] -%}
    {{ exceptions.raise_compiler_error("cuped: metric '" ~ value ~ "': `name` is a reserved word of `covariates` (`pre_period` is each metric's own pre-period value, `pre_period_indicator` the activity flag); rename the metric.") }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{#- A relation: a model or seed name of the root project, `<package>.<name>`, or `source:<source>.<table>`. -#}
{% macro cuped__check_relation_name(value, where, required=false) %}
  {%- if value is none -%}
    {%- if required -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " is required: a model or seed name, `<package>.<model>`, or `source:<source_name>.<table_name>`.") }}
    {%- endif -%}
    {{ return(none) }}
  {%- endif -%}
  {%- if value is not string or not modules.re.match('^(source:[A-Za-z0-9_]+\\.[A-Za-z0-9_]+|[A-Za-z0-9_]+(\\.[A-Za-z0-9_]+)?)$', value) -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be a model or seed name, `<package>.<model>`, or `source:<source_name>.<table_name>`, got: " ~ value) }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{#- An IANA time zone name (e.g. UTC, Europe/Berlin): the zone of naive timestamps and DATE columns. -#}
{% macro cuped__check_timezone(value, where) %}
  {%- if value is not string or value not in modules.pytz.all_timezones_set -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " must be an IANA time zone name such as UTC or Europe/Berlin, got: " ~ value) }}
  {%- endif -%}
  {#- wall-clock times in a zone are read with the SQL standard's AT TIME ZONE, which Spark SQL
      (and Databricks SQL) does not have: refused here rather than failing inside a model -#}
  {%- if value != 'UTC' and target.type in ['spark', 'databricks'] -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ where ~ " '" ~ value ~ "' is not supported on Spark and Databricks, only UTC: the package reads wall-clock times in a zone with the SQL standard's AT TIME ZONE, which Spark SQL does not have. Convert the times to UTC in a model of yours (Spark's to_utc_timestamp(column, '" ~ value ~ "')) and leave `timezone` unset; days are then days of UTC.") }}
  {%- endif -%}
  {{ return(value) }}
{% endmacro %}

{% macro cuped__type_name(value) %}
  {%- if value is none -%}{{ return('null') }}
  {%- elif value is boolean -%}{{ return('boolean') }}
  {%- elif value is string -%}{{ return('string') }}
  {%- elif value is number -%}{{ return('number') }}
  {%- elif value is mapping -%}{{ return('mapping') }}
  {%- else -%}{{ return('list') }}
  {%- endif -%}
{% endmacro %}
