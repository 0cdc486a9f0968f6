{#-
  cuped_results, version 2 (public, contract enforced, the latest version): one row per
  experiment × metric × segment × treatment variant, compared with the experiment's control.
  Its columns, types and descriptions are in models/public/_public.yml.
-#}
{{ config(post_hook="{{ cuped__create_latest_view() }}") }}
{{ cuped__select_contract(cuped.cuped__statistics_relation(), {'computed_at': cuped.cuped__computed_at()}, where="table_name = 'results'") }}
