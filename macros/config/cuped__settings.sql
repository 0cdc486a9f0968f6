{#-
  The allowed values and defaults of the `cuped` var, in one place. cuped__config() validates
  against them; the statistics core has the same lists (tests/test_contracts.py checks that the
  two agree, so a value the configuration accepts is one the core knows).
-#}
{% macro cuped__settings() %}
  {{ return({
    'choices': {
      'metric_type': ['mean', 'proportion', 'ratio', 'quantile'],
      'agg': ['sum', 'count', 'count_distinct', 'max'],
      'theta': ['within', 'total'],
      'relative_ci': ['delta', 'log', 'fieller'],
      'missing': ['zero', 'exclude'],
    },
    'alpha_bounds': [0, 0.5],
    'defaults': {
      'control_variant': 'control',
      'pre_period_days': 14,
      'alpha': 0.05,
      'theta': 'within',
      'relative_ci': 'delta',
      'pre_period_indicator': true,
      'daily_series': false,
      'power': 0.8,
      'target_relative_mde': 0.05,
      'planned_units': 5000,
      'bayes_prior': 'empirical',
      'metric_type': 'mean',
      'agg': 'sum',
      'missing': 'zero',
      'timezone': 'UTC',
    },
  }) }}
{% endmacro %}

{#- `dbt run-operation cuped__print_settings`: the settings as JSON, for tests and tools. -#}
{% macro cuped__print_settings() %}
  {{ print(tojson(cuped.cuped__settings())) }}
{% endmacro %}
