{#-
  cuped_results_daily (public, contract enforced): the overall results of every experiment ×
  metric × treatment variant as of the end of each day since the experiment started, for
  cumulative-lift charts. Built when the `cuped` var sets `daily_series: true` (empty otherwise).
-#}
{{ cuped__select_contract(cuped.cuped__statistics_relation(), {'computed_at': cuped.cuped__computed_at()}, where="table_name = 'results_daily'") }}
