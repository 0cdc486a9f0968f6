{#-
  Post-hook of cuped__unit_values: warn, per event source, about rows no metric can count because
  their unit or their time is null (the per-unit aggregates join events to units by the unit and
  place them in the windows by the time), naming the metrics that read the source and how many
  rows. Nothing is dropped without a word; with --warn-error it fails. `count(*) - count(x)` is
  a count of nulls that DuckDB answers from its column statistics.
-#}
{% macro cuped__warn_null_event_keys() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- for scan in cuped.cuped__config()['scans'] -%}
    {%- set relation = cuped.cuped__relation(scan['source']) -%}
    {%- set row = run_query('select count(*) - count(' ~ scan['unit_sql'] ~ '), count(*) - count(' ~ scan['timestamp_sql'] ~ ') from ' ~ relation).rows[0] -%}
    {%- if (row[0] or 0) > 0 or (row[1] or 0) > 0 -%}
      {%- set names = [] -%}
      {%- for entry in scan['metrics'] -%}{%- do names.append("'" ~ entry['metric']['name'] ~ "'") -%}{%- endfor -%}
      {%- set first = scan['metrics'][0]['metric'] -%}
      {%- do exceptions.warn("cuped: " ~ scan['source'] ~ " (read by metric " ~ (names | join(', ')) ~ ") has " ~ row[0] ~ " row(s) with a null unit (`unit_column` " ~ first['unit_column'] ~ ") and " ~ row[1] ~ " with a null time (`timestamp_column` " ~ first['timestamp_column'] ~ "): no metric counts them. Fill them at the source, or leave them out in a model over it.") -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return('') }}
{% endmacro %}
