{#-
  cuped_power (public, contract enforced): per experiment × metric × treatment variant (overall),
  the minimum detectable effect at the current sample with and without CUPED, the units and days
  needed to reach the configured `target_relative_mde`, and the units a new experiment on the
  metric would need, planned from its pre-period variance and its correlation with its history.
-#}
{{ cuped__select_contract(cuped.cuped__statistics_relation(), {'computed_at': cuped.cuped__computed_at()}, where="table_name = 'power'") }}
