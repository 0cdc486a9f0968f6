{#-
  cuped_decisions (public, contract enforced): one recommendation per experiment × treatment
  variant (ship, roll_back, keep_running, inconclusive, unhealthy) with its reasons and counts,
  computed by the statistics core's decision rule. Its columns are in models/public/_public.yml.
-#}
{{ cuped__select_contract(cuped.cuped__statistics_relation(), {'computed_at': cuped.cuped__computed_at()}, where="table_name = 'decisions'") }}
