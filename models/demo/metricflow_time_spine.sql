{#-
  The demo's time spine: one row per day, which MetricFlow requires of any project with semantic
  models. Built only when this repository is the root project (models/demo/_demo_semantic.yml).
-#}
select cast(range as date) as date_day
from range(date '2026-07-01', date '2027-01-01', interval 1 day)
