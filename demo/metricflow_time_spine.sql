{#-
  The demo's time spine: one row per day, which MetricFlow requires of any project with semantic
  models. Built only when this repository is the root project (demo/_demo_semantic.yml).
  DuckDB's `range` is PostgreSQL's `generate_series`, which includes its end (the demo also runs
  there); Spark's is `sequence`, exploded.
-#}
{%- if target.type in ['spark', 'databricks'] %}
select date_day
from (select explode(sequence(date '2026-07-01', date '2026-12-31', interval 1 day)) as date_day) as days
{%- else %}
{%- set postgres = target.type in ['postgres', 'redshift'] %}
select cast(day as date) as date_day
from {{ 'generate_series' if postgres else 'range' }}(date '2026-07-01', date '{{ '2026-12-31' if postgres else '2027-01-01' }}', interval '1 day') as days (day)
{%- endif %}
