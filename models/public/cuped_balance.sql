{#-
  cuped_balance (public, contract enforced): one row per experiment × segment × metric ×
  covariate × treatment variant: is the pre-period covariate balanced across the arms?
-#}
{{ cuped__select_contract(cuped.cuped__statistics_relation(), {'computed_at': cuped.cuped__computed_at()}, where="table_name = 'balance'") }}
