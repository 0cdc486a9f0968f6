{#-
  The `bayes_prior` setting: `empirical` (default; the prior of each experiment's relative effect
  is fitted from the metric's other experiments) or `{mean: m, sd: s}`, a fixed normal prior on
  the relative effect. Returns {'mean': m or none, 'sd': s or none}; none means empirical.
-#}
{% macro cuped__check_bayes_prior(value) %}
  {%- set usage = "`bayes_prior` must be `empirical` or a mapping {mean: <relative effect, e.g. 0>, sd: <positive, e.g. 0.3>}" -%}
  {%- if value == 'empirical' -%}
    {{ return({'mean': none, 'sd': none}) }}
  {%- endif -%}
  {%- if value is not mapping -%}
    {{ exceptions.raise_compiler_error("cuped: " ~ usage ~ ", got: " ~ value) }}
  {%- endif -%}
  {%- do cuped.cuped__check_keys(value, ['mean', 'sd'], "`bayes_prior`") -%}
  {%- set checked = {} -%}
  {%- for key in ['mean', 'sd'] -%}
    {%- set number = value.get(key) -%}
    {#- a number, finite (NaN is not equal to itself), and an sd that is positive -#}
    {%- if number is boolean or number is not number or number != number or number > 1e6 or number < -1e6
          or (key == 'sd' and number <= 0) -%}
      {{ exceptions.raise_compiler_error("cuped: " ~ usage ~ "; `bayes_prior." ~ key ~ "` got: " ~ number) }}
    {%- endif -%}
    {%- do checked.update({key: number | float}) -%}
  {%- endfor -%}
  {{ return(checked) }}
{% endmacro %}
