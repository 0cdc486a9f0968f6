{#-
  Several checks of one table in one test node: `unique` (columns that identify a row),
  `p_values` (columns in [0, 1]), `intervals` ([estimate, lower, upper]: the interval contains
  its estimate) and `accepted_values` ({column: [values]}). Nulls pass every check but `unique`.
  A failure returns one row per failed check: `failed_check` names it (the columns, the values)
  and `n_rows` counts the rows that fail it (for `unique`, the duplicated combinations); a row
  that fails several checks counts in each. One scan for the row checks (a count per check,
  unpivoted against a literal list of the checks) and one for `unique`: a node per table, not
  one per check, because each node costs a query and dbt's own work (on Spark about half a
  second).
-#}
{% test table_checks(model, unique=none, p_values=none, intervals=none, accepted_values=none) %}
{%- if not (unique or p_values or intervals or accepted_values) -%}
  {{ exceptions.raise_compiler_error("cuped.table_checks: give at least one of `unique` (a list of columns), `p_values` (a list of columns), `intervals` (a list of [estimate, lower, upper]) or `accepted_values` (a mapping of a column to its values).") }}
{%- endif -%}
{%- set row_checks = [] -%}
{%- for name in p_values or [] -%}
  {%- do row_checks.append([name ~ " < 0 or " ~ name ~ " > 1", name ~ " outside [0, 1]"]) -%}
{%- endfor -%}
{%- for estimate, low, high in intervals or [] -%}
  {%- do row_checks.append([
      estimate ~ " is not null and " ~ low ~ " is not null and " ~ high ~ " is not null and not ("
      ~ low ~ " <= " ~ estimate ~ " and " ~ estimate ~ " <= " ~ high ~ ")",
      "[" ~ low ~ ", " ~ high ~ "] does not contain " ~ estimate]) -%}
{%- endfor -%}
{%- for name, values in (accepted_values or {}).items() -%}
  {%- set listed = [] -%}
  {%- for value in values -%}{%- do listed.append(cuped.cuped__literal(value)) -%}{%- endfor -%}
  {%- do row_checks.append([name ~ " not in (" ~ listed | join(", ") ~ ")",
      name ~ " not one of " ~ values | join(", ")]) -%}
{%- endfor -%}

{%- if row_checks %}
{%- set check_rows = [] -%}
{%- for condition, label in row_checks -%}{%- do check_rows.append([loop.index0, cuped.cuped__literal(label)]) -%}{%- endfor %}
select failed_check, n_rows
from (
    select
        checks.failed_check,
        case checks.check_index
        {%- for condition, label in row_checks %}
            when {{ loop.index0 }} then counts.check_{{ loop.index0 }}
        {%- endfor %}
        end as n_rows
    from (
        select
        {%- for condition, label in row_checks %}
            sum(case when {{ condition }} then 1 else 0 end) as check_{{ loop.index0 }}{{ "," if not loop.last }}
        {%- endfor %}
        from {{ model }}
    ) counts
    cross join (
{{ cuped.cuped__values(check_rows, ['check_index', 'failed_check']) }}
    ) checks
) checked
where n_rows > 0
{%- endif %}
{%- if row_checks and unique %}

union all
{% endif %}
{%- if unique %}
select {{ cuped.cuped__literal("not unique: " ~ unique | join(", ")) }} as failed_check, count(*) as n_rows
from (
    select {{ unique | join(', ') }}
    from {{ model }}
    group by {{ unique | join(', ') }}
    having count(*) > 1
) duplicated
having count(*) > 0
{%- endif %}

{% endtest %}
