{#-
  cuped_caps (public, contract enforced): the winsorization thresholds applied to each capped
  metric, one row per experiment × metric × period ('post' value, 'pre' period covariate), with
  the number of analysed units each threshold moved.
-#}
{{ cuped__select_contract(ref('cuped__metric_caps'), {'computed_at': cuped.cuped__computed_at()}) }}
