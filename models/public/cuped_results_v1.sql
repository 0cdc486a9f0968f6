{#-
  cuped_results, version 1 (public, contract enforced): kept for projects that pin it; version 2
  adds columns. Its columns are in models/public/_public.yml.
-#}
{{ cuped__select_contract(cuped.cuped__statistics_relation(), {'computed_at': cuped.cuped__computed_at()}, where="table_name = 'results'") }}
