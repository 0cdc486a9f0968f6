{#-
  The per-arm inputs of a quantile metric (cuped_stats.quantile.QuantileArm, same column names):
  a select statement with one row per group (arm) of `relation`.

  Arguments:
    relation   a relation, or the name of a CTE, with one row per unit (level 'unit') or per event
               (level 'event'; a unit without events may appear as one row with a null value,
               so that it counts in n_units).
    group_by   list of the columns of `relation` identifying an arm, e.g. ['experiment_id',
               'segment_name', 'segment_value', 'variant']; they must not be null (the event-level
               steps join on them; a null key leaves its arm without sums, which the statistics
               reject loudly).
    value      the value column or SQL expression over `relation`; null means no value.
    quantile   q, a number in (0, 1).
    level      'unit' (quantile of the units' values) or 'event' (of the events' values, clustered
               by `unit_id`).
    unit_id    the unit column (level 'event').
    band_z     half-width of the probability band q ∓ band_z·σ_F in units of σ_F (default
               Φ⁻¹(0.975), the outer 95% CI of Deng, Knoblich & Lu 2018).

  Output columns: the group_by columns, then
    n_units         units in the group (rows at level 'unit', distinct units at level 'event')
    n_values        N, the non-null values the quantile is taken over
    quantile_value  Q̂(q), percentile_cont (linear interpolation, numpy's default)
    band_lower, band_upper   p∓ = q ∓ band_z·σ_F (null when σ_F is undefined: N < 2, or < 2 units)
    value_lower, value_upper Q̂(p∓), interpolated like Q̂(q) (null when the band leaves [0, 1])
    sum_below, sum_at, sum_events_squared, sum_below_squared, sum_at_squared, sum_below_events,
    sum_at_events, sum_below_at   level 'event': per unit i, M_i events, b_i < Q̂, a_i = Q̂;
                    Σb, Σa, ΣM², Σb², Σa², ΣbM, ΣaM, Σba (null at level 'unit')

  σ_F is the standard error of the empirical CDF at Q̂: √(q(1 − q)/N) at level 'unit'; at level
  'event' the delta method on Σ_i S_i / Σ_i M_i over units, S_i = b_i + λ·a_i with ties at Q̂
  split at random (λ = clip((q·N − Σb)/Σa, 0, 1)):
  σ_F² = n/(n − 1)·(Σ(S_i − p·M_i)² + λ(1 − λ)·Σa)/N², p = ΣS/N. The formulas and the status of
  each case are in cuped_stats/quantile.py, which recomputes σ_F from these sums.

  Steps (the event level needs the quantile before the per-unit counts, and those before the
  band): the quantile per group (cuped__percentile); per unit the counts below and at it; per group
  their sums, σ_F and the band; the order statistics at the band's ranks (row_number), interpolated.
  Only window functions, group by, joins on the group columns and CASE: portable SQL.

  Dialects (tested on DuckDB only): for PostgreSQL nothing should need changing (percentile_cont
  through the default cuped__percentile; every division is on a cast to double, so no integer
  division).
  Spark (3.4+) parses percentile_cont ... within group and has the rest; its exact percentile holds
  each arm's values in memory, and a window partitioned by arm sorts each arm in one task, so very
  large arms are skewed work there (percentile_approx would break the agreement between Q̂ and the
  ranked order statistics the band relies on). cuped__type_double's default 'double precision'
  and BigQuery's missing percentile_cont aggregate need dispatch overrides before those run it.
-#}
{% macro cuped__quantile_inputs(relation, group_by, value, quantile, level, unit_id='unit_id', band_z=1.959963984540054) %}
  {%- if level not in ['unit', 'event'] -%}
    {{ exceptions.raise_compiler_error("cuped__quantile_inputs: level must be 'unit' or 'event', got '" ~ level ~ "'") }}
  {%- endif -%}
  {%- if not (quantile is number and 0 < quantile < 1) -%}
    {{ exceptions.raise_compiler_error("cuped__quantile_inputs: quantile must be a number in (0, 1), got '" ~ quantile ~ "'") }}
  {%- endif -%}
  {%- if not (band_z is number and band_z > 0) -%}
    {{ exceptions.raise_compiler_error("cuped__quantile_inputs: band_z must be a positive number, got '" ~ band_z ~ "'") }}
  {%- endif -%}
  {%- set double = cuped.cuped__type_double() -%}
  {%- set bigint = dbt.type_bigint() -%}
  {%- set keys = group_by | join(', ') -%}
  {%- set q = 'cast(' ~ quantile ~ ' as ' ~ double ~ ')' -%}
  {%- set z = 'cast(' ~ band_z ~ ' as ' ~ double ~ ')' -%}
with quantile_source as (

    select
        {{ keys }},
        {%- if level == 'event' %}
        {{ unit_id }} as cuped_unit_id,
        {%- endif %}
        cast({{ value }} as {{ double }}) as cuped_value
    from {{ relation }}

),

quantile_arms as (

    select
        {{ keys }},
        {%- if level == 'unit' %}
        count(*) as n_units,
        {%- endif %}
        count(cuped_value) as n_values,
        cast({{ cuped.cuped__percentile('cuped_value', quantile) }} as {{ double }}) as quantile_value
    from quantile_source
    group by {{ keys }}

),
{%- if level == 'event' %}

quantile_unit_counts as (

    select
        {%- for key in group_by %}
        quantile_source.{{ key }},
        {%- endfor %}
        quantile_source.cuped_unit_id,
        cast(count(quantile_source.cuped_value) as {{ bigint }}) as events,
        cast(sum(case when quantile_source.cuped_value < quantile_arms.quantile_value then 1 else 0 end) as {{ bigint }}) as below,
        cast(sum(case when quantile_source.cuped_value = quantile_arms.quantile_value then 1 else 0 end) as {{ bigint }}) as at_quantile
    from quantile_source
    inner join quantile_arms
        on {% for key in group_by %}{{ 'and ' if not loop.first }}quantile_arms.{{ key }} = quantile_source.{{ key }}{{ '\n        ' if not loop.last }}{% endfor %}
    group by
        {%- for key in group_by %}
        quantile_source.{{ key }},
        {%- endfor %}
        quantile_source.cuped_unit_id

),

quantile_cluster_sums as (

    select
        {{ keys }},
        count(*) as n_units,
        cast(sum(below) as {{ bigint }}) as sum_below,
        cast(sum(at_quantile) as {{ bigint }}) as sum_at,
        cast(sum(events * events) as {{ bigint }}) as sum_events_squared,
        cast(sum(below * below) as {{ bigint }}) as sum_below_squared,
        cast(sum(at_quantile * at_quantile) as {{ bigint }}) as sum_at_squared,
        cast(sum(below * events) as {{ bigint }}) as sum_below_events,
        cast(sum(at_quantile * events) as {{ bigint }}) as sum_at_events,
        cast(sum(below * at_quantile) as {{ bigint }}) as sum_below_at
    from quantile_unit_counts
    group by {{ keys }}

),

quantile_tie_shares as (

    select
        quantile_cluster_sums.*,
        quantile_arms.n_values,
        quantile_arms.quantile_value,
        case
            when sum_at = 0 then cast(0 as {{ double }})
            when {{ q }} * n_values - sum_below <= 0 then cast(0 as {{ double }})
            when {{ q }} * n_values - sum_below >= sum_at then cast(1 as {{ double }})
            else ({{ q }} * n_values - sum_below) / cast(sum_at as {{ double }})
        end as tie_share
    from quantile_cluster_sums
    inner join quantile_arms
        on {% for key in group_by %}{{ 'and ' if not loop.first }}quantile_arms.{{ key }} = quantile_cluster_sums.{{ key }}{{ '\n        ' if not loop.last }}{% endfor %}

),

quantile_ratio_terms as (

    select
        *,
        case when n_values > 0 then (sum_below + tie_share * sum_at) / cast(n_values as {{ double }}) end as cdf_at_quantile,
        cast(sum_below_squared as {{ double }}) + 2 * tie_share * sum_below_at + tie_share * tie_share * sum_at_squared as sum_s_squared,
        cast(sum_below_events as {{ double }}) + tie_share * sum_at_events as sum_s_events
    from quantile_tie_shares

),

quantile_sigmas as (

    select
        {{ keys }},
        n_units,
        n_values,
        quantile_value,
        sum_below,
        sum_at,
        sum_events_squared,
        sum_below_squared,
        sum_at_squared,
        sum_below_events,
        sum_at_events,
        sum_below_at,
        case
            when n_values >= 2 and n_units >= 2 then
                sqrt(
                    cast(n_units as {{ double }}) / (n_units - 1)
                    * (
                        case
                            {# Σ(S - pM)² = ΣS² - 2pΣSM + p²ΣM²; below 1e-12 of its terms it is rounding noise #}
                            when sum_s_squared - 2 * cdf_at_quantile * sum_s_events + cdf_at_quantile * cdf_at_quantile * sum_events_squared
                                <= 1e-12 * (sum_s_squared + cdf_at_quantile * cdf_at_quantile * sum_events_squared) then 0
                            else sum_s_squared - 2 * cdf_at_quantile * sum_s_events + cdf_at_quantile * cdf_at_quantile * sum_events_squared
                        end
                        + tie_share * (1 - tie_share) * sum_at
                    )
                ) / n_values
        end as sigma_cdf
    from quantile_ratio_terms

),
{%- else %}

quantile_sigmas as (

    select
        {{ keys }},
        n_units,
        n_values,
        quantile_value,
        {%- for column in ['sum_below', 'sum_at', 'sum_events_squared', 'sum_below_squared', 'sum_at_squared', 'sum_below_events', 'sum_at_events', 'sum_below_at'] %}
        cast(null as {{ bigint }}) as {{ column }},
        {%- endfor %}
        case
            when n_values >= 2 then sqrt({{ q }} * (1 - {{ q }}) / cast(n_values as {{ double }}))
        end as sigma_cdf
    from quantile_arms

),
{%- endif %}

quantile_bands as (

    select
        *,
        {{ q }} - {{ z }} * sigma_cdf as band_lower,
        {{ q }} + {{ z }} * sigma_cdf as band_upper
    from quantile_sigmas

),

quantile_positions as (

    {# 1-based positions h = 1 + p·(N - 1) of the band's ends among the sorted values (percentile_cont's) #}
    select
        *,
        1 + band_lower * (n_values - 1) as lower_position,
        1 + band_upper * (n_values - 1) as upper_position
    from quantile_bands
    where band_lower >= 0 and band_upper <= 1

),

quantile_ranks as (

    select
        *,
        cast(floor(lower_position) as {{ bigint }}) as lower_rank,
        cast(floor(upper_position) as {{ bigint }}) as upper_rank
    from quantile_positions

),

quantile_ranked_values as (

    select
        {{ keys }},
        cuped_value,
        row_number() over (partition by {{ keys }} order by cuped_value) as value_rank
    from quantile_source
    where cuped_value is not null

),

quantile_target_ranks as (

    {# the four ranks around the band's ends, one row each: an equi-join on them is a hash join #}
    {%- for rank in ['lower_rank', 'lower_rank + 1', 'upper_rank', 'upper_rank + 1'] %}
    select {{ keys }}, {{ rank }} as target_rank from quantile_ranks
    {{- '\n    union all' if not loop.last }}
    {%- endfor %}

),

quantile_target_values as (

    select
        {%- for key in group_by %}
        quantile_ranked_values.{{ key }},
        {%- endfor %}
        quantile_ranked_values.value_rank,
        quantile_ranked_values.cuped_value
    from quantile_ranked_values
    inner join quantile_target_ranks
        on {% for key in group_by %}quantile_target_ranks.{{ key }} = quantile_ranked_values.{{ key }}
        and {% endfor %}quantile_target_ranks.target_rank = quantile_ranked_values.value_rank

),

quantile_order_statistics as (

    select
        {%- for key in group_by %}
        quantile_ranks.{{ key }},
        {%- endfor %}
        max(case when quantile_target_values.value_rank = quantile_ranks.lower_rank then quantile_target_values.cuped_value end) as lower_at,
        max(case when quantile_target_values.value_rank = quantile_ranks.lower_rank + 1 then quantile_target_values.cuped_value end) as lower_next,
        max(case when quantile_target_values.value_rank = quantile_ranks.upper_rank then quantile_target_values.cuped_value end) as upper_at,
        max(case when quantile_target_values.value_rank = quantile_ranks.upper_rank + 1 then quantile_target_values.cuped_value end) as upper_next
    from quantile_ranks
    inner join quantile_target_values
        on {% for key in group_by %}{{ 'and ' if not loop.first }}quantile_target_values.{{ key }} = quantile_ranks.{{ key }}{{ '\n        ' if not loop.last }}{% endfor %}
    group by
        {%- for key in group_by %}
        quantile_ranks.{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}

)

select
    {%- for key in group_by %}
    quantile_bands.{{ key }},
    {%- endfor %}
    quantile_bands.n_units,
    quantile_bands.n_values,
    quantile_bands.quantile_value,
    quantile_bands.band_lower,
    quantile_bands.band_upper,
    quantile_order_statistics.lower_at
        + (quantile_ranks.lower_position - quantile_ranks.lower_rank)
        * (coalesce(quantile_order_statistics.lower_next, quantile_order_statistics.lower_at) - quantile_order_statistics.lower_at) as value_lower,
    quantile_order_statistics.upper_at
        + (quantile_ranks.upper_position - quantile_ranks.upper_rank)
        * (coalesce(quantile_order_statistics.upper_next, quantile_order_statistics.upper_at) - quantile_order_statistics.upper_at) as value_upper,
    quantile_bands.sum_below,
    quantile_bands.sum_at,
    quantile_bands.sum_events_squared,
    quantile_bands.sum_below_squared,
    quantile_bands.sum_at_squared,
    quantile_bands.sum_below_events,
    quantile_bands.sum_at_events,
    quantile_bands.sum_below_at
from quantile_bands
left join quantile_ranks
    on {% for key in group_by %}{{ 'and ' if not loop.first }}quantile_ranks.{{ key }} = quantile_bands.{{ key }}{{ '\n    ' if not loop.last }}{% endfor %}
left join quantile_order_statistics
    on {% for key in group_by %}{{ 'and ' if not loop.first }}quantile_order_statistics.{{ key }} = quantile_bands.{{ key }}{{ '\n    ' if not loop.last }}{% endfor %}
{% endmacro %}
