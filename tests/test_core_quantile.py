"""Quantile metrics (cuped_stats.quantile) against independent computations.

References: order statistics by ``np.quantile`` and normal quantiles / tail probabilities by
``scipy.stats.norm`` for the outer-CI standard error, CI and p-value; the delta method for the
event-level CDF written as the sample variance of the per-unit linearisation; random tie-breaking
by jittering, averaged; numeric gradients for the relative CIs; a unit bootstrap (cluster bootstrap
at the event level) for the standard errors (tests/quantile_reference.py).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.stats

from cuped_stats import QuantileArm, analyze_quantile
from cuped_stats.quantile import BAND_Z, arm_quantile, cdf_standard_error
from tests.quantile_reference import bootstrap_cluster, bootstrap_unit_quantiles, reference_arm

RTOL = 1e-12


def clustered_events(
    rng: np.random.Generator, n_units: int, scale: float = 1.0, events_per_unit: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """Event values and unit ids: a unit trait moves both the event count and the values; units
    without events appear as one row with a nan value."""
    trait = rng.standard_normal(n_units)
    counts = rng.poisson(events_per_unit * np.exp(0.5 * trait - 0.125))
    units = np.repeat(np.arange(n_units), counts)
    values = scale * np.exp(0.6 * trait[units] + rng.standard_normal(len(units)))
    empty = np.flatnonzero(counts == 0)
    return (
        np.concatenate([values, np.full(len(empty), np.nan)]),
        np.concatenate([units, empty]),
    )


def only(arms: list[QuantileArm], **kwargs) -> object:
    (result,) = analyze_quantile(arms, "control", **kwargs)
    return result


# --- the numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_unit_level_effect_se_ci_and_p_value_match_order_statistics_and_normal_theory(q) -> None:
    rng = np.random.default_rng(11)
    x_c, x_t = rng.lognormal(0, 1, 3000), rng.lognormal(0.05, 1, 3200)
    arms = [reference_arm("control", x_c, q, "unit"), reference_arm("treatment", x_t, q, "unit")]
    result = only(arms, quantile=q, level="unit", alpha=0.1)

    def se(x: np.ndarray) -> float:
        half = BAND_Z * math.sqrt(q * (1 - q) / len(x))
        return (np.quantile(x, q + half) - np.quantile(x, q - half)) / (2 * BAND_Z)

    q_c, q_t = np.quantile(x_c, q), np.quantile(x_t, q)
    effect, total_se = q_t - q_c, math.hypot(se(x_c), se(x_t))
    z = scipy.stats.norm.ppf(0.95)
    est = result.estimate
    assert result.status == "ok"
    assert (est.control_mean, est.variant_mean) == pytest.approx((q_c, q_t), rel=RTOL)
    assert (result.control_se, result.variant_se) == pytest.approx((se(x_c), se(x_t)), rel=1e-10)
    assert est.effect == pytest.approx(effect, rel=1e-10)
    assert est.se == pytest.approx(total_se, rel=1e-10)
    assert (est.ci_lower, est.ci_upper) == pytest.approx(
        (effect - z * total_se, effect + z * total_se), rel=1e-10
    )
    assert est.p_value == pytest.approx(2 * scipy.stats.norm.sf(abs(effect) / total_se), rel=1e-9)
    assert est.degrees_of_freedom is None
    assert (result.n_control, result.n_variant) == (3000, 3200)


def test_event_level_sigma_is_the_delta_method_on_per_unit_counts() -> None:
    rng = np.random.default_rng(12)
    values, units = clustered_events(rng, 1500)
    q = 0.9
    arm = reference_arm("control", values, q, "event", units)
    q_hat = np.nanquantile(values, q)
    n = units.max() + 1
    m = np.bincount(units[~np.isnan(values)], minlength=n)
    s = np.bincount(units[values <= q_hat], minlength=n)
    # the ratio Σs/Σm as the mean of its linearisation (s - R·m)/m̄, sample variance over units
    ratio, m_bar = s.sum() / m.sum(), m.mean()
    expected = math.sqrt(np.var((s - ratio * m) / m_bar, ddof=1) / n)
    assert cdf_standard_error(arm, q, "event") == pytest.approx(expected, rel=1e-10)
    assert arm.n_units == n and arm.n_values == m.sum()


def test_event_level_sigma_matches_the_cluster_bootstrap_of_the_cdf() -> None:
    """σ_F against the bootstrap SD of the resampled events' CDF at the fixed Q̂ (a smooth ratio,
    so the only bootstrap error is Monte Carlo: relative SD 1/√(2B) = 1.6% at B = 2,000;
    tolerance 6%). Events treated as independent would give an SD far outside it."""
    rng = np.random.default_rng(13)
    values, units = clustered_events(rng, 2000)
    q = 0.9
    arm = reference_arm("control", values, q, "event", units)
    _, cdfs = bootstrap_cluster(values, units, q, 2000, rng, at=arm.quantile_value)
    sigma = cdf_standard_error(arm, q, "event")
    assert sigma == pytest.approx(cdfs.std(ddof=1), rel=0.06)
    independent = math.sqrt(q * (1 - q) / arm.n_values)
    assert abs(independent / cdfs.std(ddof=1) - 1) > 0.25


def test_one_event_per_unit_gives_the_unit_level_answer() -> None:
    rng = np.random.default_rng(14)
    x_c, x_t = rng.lognormal(0, 1, 10_000), rng.lognormal(0.1, 1, 10_000)
    ids = np.arange(10_000)
    for level in ("unit", "event"):
        arms = [
            reference_arm("control", x_c, 0.9, level, ids),
            reference_arm("treatment", x_t, 0.9, level, ids),
        ]
        result = only(arms, quantile=0.9, level=level)
        if level == "unit":
            unit_result = result
    # σ_F: p(1 - p)/(N - 1) at the event level against q(1 - q)/N, p within 1/N of q
    assert result.estimate.effect == unit_result.estimate.effect
    assert result.estimate.se == pytest.approx(unit_result.estimate.se, rel=1e-3)


def test_ties_at_the_quantile_count_like_random_tie_breaking() -> None:
    """Integer values tie at the quantile. Breaking the ties at random (jitter smaller than the
    spacing) and averaging the no-tie σ_F² over jitters gives the expectation the formula takes
    analytically (up to the hypergeometric vs binomial count of tied events, < 1% here)."""
    rng = np.random.default_rng(15)
    n_units = 800
    counts = rng.poisson(4, n_units)
    units = np.repeat(np.arange(n_units), counts)
    values = rng.geometric(0.45, len(units)) + (units % 2).astype(float)
    q = 0.6
    arm = reference_arm("control", values, q, "event", units)
    assert arm.sum_at > 0.15 * arm.n_values  # many events tie at Q̂
    sigma2 = cdf_standard_error(arm, q, "event") ** 2
    jittered = [
        cdf_standard_error(
            reference_arm("control", values + rng.uniform(0, 1e-6, len(values)), q, "event", units),
            q,
            "event",
        )
        ** 2
        for _ in range(300)
    ]
    assert np.mean(jittered) == pytest.approx(sigma2, rel=0.01)
    # counting every tied event as "at or below" (no split) would be far off
    no_split = dataclasses.replace(
        arm,
        sum_below=arm.sum_below + arm.sum_at,
        sum_below_squared=arm.sum_below_squared + 2 * arm.sum_below_at + arm.sum_at_squared,
        sum_below_events=arm.sum_below_events + arm.sum_at_events,
        sum_at=0,
        sum_at_squared=0,
        sum_at_events=0,
        sum_below_at=0,
    )
    assert abs(cdf_standard_error(no_split, q, "event") ** 2 / sigma2 - 1) > 0.1


def numeric_se(f, q_t: float, q_c: float, cov: np.ndarray) -> float:
    """The delta-method SE of ``f(q_t, q_c)`` by a central numeric gradient."""
    h = 1e-6
    grad = np.array(
        [
            (f(q_t * (1 + h), q_c) - f(q_t * (1 - h), q_c)) / (2 * h * q_t),
            (f(q_t, q_c * (1 + h)) - f(q_t, q_c * (1 - h))) / (2 * h * q_c),
        ]
    )
    return math.sqrt(grad @ cov @ grad)


@pytest.mark.parametrize("method", ["delta", "log", "fieller"])
def test_relative_ci_is_the_delta_method_of_the_quantile_ratio(method) -> None:
    """The delta and log intervals by a numeric delta method; ``relative_se`` (the Bayesian
    read-out's likelihood, as for the other metric types) is the delta-method SE of
    ``q_t/q_c - 1`` whichever interval is shown (Fieller's is checked below)."""
    rng = np.random.default_rng(16)
    arms = [
        reference_arm("control", rng.lognormal(0, 1, 4000), 0.5, "unit"),
        reference_arm("treatment", rng.lognormal(0.2, 1, 4000), 0.5, "unit"),
    ]
    result = only(arms, quantile=0.5, level="unit", relative_ci_method=method)
    q_c, q_t = result.estimate.control_mean, result.estimate.variant_mean
    cov = np.diag([result.variant_se**2, result.control_se**2])
    relative_se = numeric_se(lambda t, c: t / c - 1, q_t, q_c, cov)
    assert result.estimate.relative_se == pytest.approx(relative_se, rel=1e-7)
    if method == "fieller":
        return
    z = scipy.stats.norm.ppf(0.975)
    rel = q_t / q_c - 1
    if method == "delta":
        half = z * relative_se
        expected = (rel - half, rel + half)
    else:
        half = z * numeric_se(lambda t, c: math.log(t / c), q_t, q_c, cov)
        expected = (
            math.exp(math.log(q_t / q_c) - half) - 1,
            math.exp(math.log(q_t / q_c) + half) - 1,
        )
    est = result.estimate
    assert est.relative_effect == pytest.approx(rel, rel=RTOL)
    assert (est.relative_ci_lower, est.relative_ci_upper) == pytest.approx(expected, rel=1e-7)


def test_p_value_below_alpha_exactly_when_the_ci_excludes_zero() -> None:
    rng = np.random.default_rng(17)
    seen = set()
    for shift in np.linspace(0, 0.12, 25):
        arms = [
            reference_arm("control", rng.lognormal(0, 1, 2000), 0.9, "unit"),
            reference_arm("treatment", rng.lognormal(shift, 1, 2000), 0.9, "unit"),
        ]
        est = only(arms, quantile=0.9, level="unit").estimate
        excludes = est.ci_lower > 0 or est.ci_upper < 0
        assert (est.p_value < 0.05) == excludes
        seen.add(excludes)
    assert seen == {True, False}


# --- against the bootstrap -----------------------------------------------------------------------

#: Relative tolerance of an arm's outer-CI SE against the bootstrap SE (B = 1,000) on one dataset.
#: Both are noisy estimates of the true SE: the outer-CI one is a density estimate from the
#: ~2·z·√(Nq(1-q)) order statistics in the band, the bootstrap SE of a quantile has relative error
#: of order N^(-1/4) plus 1/√(2B) Monte Carlo. Over 60 seeds of these very designs the log of the
#: ratio had a mean within 0.02 of 0 and an SD of 0.034-0.050 (q = 0.5, 0.9) and 0.062-0.074
#: (q = 0.99); the tolerances are about 4 of those SDs.
BOOTSTRAP_RTOL = {0.5: 0.18, 0.9: 0.2, 0.99: 0.3}


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_unit_level_se_agrees_with_the_unit_bootstrap(q) -> None:
    rng = np.random.default_rng(int(q * 1000))
    for values in (rng.lognormal(0, 1, 8000), np.abs(rng.standard_t(3, 8000))):
        arm = arm_quantile(reference_arm("a", values, q, "unit"), q, "unit")
        boot = bootstrap_unit_quantiles(values, q, 1000, rng).std(ddof=1)
        assert arm.se == pytest.approx(boot, rel=BOOTSTRAP_RTOL[q])


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_event_level_se_agrees_with_the_cluster_bootstrap(q) -> None:
    rng = np.random.default_rng(int(q * 1000) + 1)
    values, units = clustered_events(rng, 3000)
    arm = reference_arm("a", values, q, "event", units)
    se = arm_quantile(arm, q, "event").se
    quantiles, _ = bootstrap_cluster(values, units, q, 1000, rng)
    boot = quantiles.std(ddof=1)
    assert se == pytest.approx(boot, rel=BOOTSTRAP_RTOL[q])
    if q < 0.99:
        # the same events taken as independent (binomial σ_F over events) are far off; in the far
        # tail a unit rarely has more than one event above Q̂ and clustering matters less
        naive = arm_quantile(reference_arm("a", values, q, "unit"), q, "unit").se
        assert naive < boot * (1 - BOOTSTRAP_RTOL[q])


# --- degenerate cases ----------------------------------------------------------------------------


def _no_nan(result) -> None:
    for field in dataclasses.fields(result.estimate):
        value = getattr(result.estimate, field.name)
        assert value is None or math.isfinite(value), field.name
    for value in (result.control_se, result.variant_se):
        assert value is None or math.isfinite(value)


def test_missing_control_reports_the_treatment_quantile_only() -> None:
    treatment = reference_arm("treatment", np.arange(100.0), 0.5, "unit")
    for arms in (
        [treatment],
        [reference_arm("control", np.full(3, np.nan), 0.5, "unit"), treatment],
    ):
        result = only(arms, quantile=0.5, level="unit")
        assert result.status == "missing_control"
        assert result.estimate.variant_mean == pytest.approx(49.5)
        assert result.estimate.effect is None and result.estimate.control_mean is None
        _no_nan(result)


def test_too_few_values_beyond_the_quantile_is_insufficient_sample() -> None:
    rng = np.random.default_rng(18)
    arms = [
        reference_arm("control", rng.lognormal(0, 1, 50), 0.99, "unit"),
        reference_arm("treatment", rng.lognormal(0, 1, 5000), 0.99, "unit"),
    ]
    assert arms[0].value_upper is None and arms[0].band_upper > 1  # the band leaves [0, 1]
    result = only(arms, quantile=0.99, level="unit")
    assert result.status == "insufficient_sample"
    assert "leaves [0, 1]" in result.status_reason and "'control'" in result.status_reason
    est = result.estimate
    assert est.effect == pytest.approx(arms[1].quantile_value - arms[0].quantile_value)
    assert est.relative_effect is not None
    assert est.se is None and est.ci_lower is None and est.p_value is None
    assert result.control_se is None and result.variant_se is not None
    _no_nan(result)


def test_one_value_or_one_unit_is_insufficient_sample() -> None:
    one_value = reference_arm("treatment", np.array([3.0]), 0.5, "unit")
    control = reference_arm("control", np.arange(1000.0), 0.5, "unit")
    result = only([control, one_value], quantile=0.5, level="unit")
    assert result.status == "insufficient_sample"
    assert "1 values" in result.status_reason
    one_unit = reference_arm("treatment", np.arange(50.0), 0.5, "event", np.zeros(50))
    events = reference_arm("control", np.arange(1000.0), 0.5, "event", np.arange(1000) // 5)
    result = only([events, one_unit], quantile=0.5, level="event")
    assert result.status == "insufficient_sample" and "1 units" in result.status_reason
    _no_nan(result)
    empty = reference_arm("treatment", np.full(4, np.nan), 0.5, "unit")
    result = only([control, empty], quantile=0.5, level="unit")
    assert result.status == "insufficient_sample" and result.estimate.effect is None


def test_constant_values_give_zero_variance() -> None:
    arms = [
        reference_arm("control", np.full(500, 7.0), 0.9, "unit"),
        reference_arm("treatment", np.full(400, 7.0), 0.9, "unit"),
    ]
    result = only(arms, quantile=0.9, level="unit")
    assert result.status == "zero_variance"
    assert result.estimate.effect == 0.0 and result.estimate.relative_effect == 0.0
    assert result.estimate.se is None and result.estimate.p_value is None
    _no_nan(result)


def test_zero_control_quantile_makes_the_relative_effect_undefined() -> None:
    rng = np.random.default_rng(19)
    control = np.where(rng.random(3000) < 0.7, 0.0, rng.lognormal(0, 1, 3000))
    treatment = np.where(rng.random(3000) < 0.3, 0.0, rng.lognormal(0, 1, 3000))
    arms = [
        reference_arm("control", control, 0.5, "unit"),
        reference_arm("treatment", treatment, 0.5, "unit"),
    ]
    result = only(arms, quantile=0.5, level="unit")
    assert result.status == "relative_undefined"
    est = result.estimate
    assert est.control_mean == 0.0 and est.relative_effect is None
    assert est.relative_ci_lower is None
    assert est.se is not None and est.p_value is not None
    _no_nan(result)


def test_log_relative_ci_needs_positive_quantiles() -> None:
    rng = np.random.default_rng(20)
    arms = [
        reference_arm("control", rng.normal(-1, 1, 2000), 0.5, "unit"),
        reference_arm("treatment", rng.normal(-0.8, 1, 2000), 0.5, "unit"),
    ]
    result = only(arms, quantile=0.5, level="unit", relative_ci_method="log")
    assert result.status == "relative_undefined" and "positive" in result.status_reason
    assert result.estimate.relative_effect is not None
    assert result.estimate.relative_ci_lower is None and result.estimate.ci_lower is not None
    delta = only(arms, quantile=0.5, level="unit", relative_ci_method="delta")
    assert delta.status == "ok" and delta.estimate.relative_ci_lower is not None


def test_a_relative_effect_too_large_for_a_float_is_undefined_not_infinite() -> None:
    rng = np.random.default_rng(23)
    arms = [
        reference_arm("control", rng.lognormal(0, 1, 2000) * 1e-300, 0.5, "unit"),
        reference_arm("treatment", rng.lognormal(0, 1, 2000) * 1e300, 0.5, "unit"),
    ]
    for method in ("delta", "log"):
        result = only(arms, quantile=0.5, level="unit", relative_ci_method=method)
        assert result.status == "relative_undefined" and "overflows" in result.status_reason
        assert result.estimate.relative_ci_upper is None
        _no_nan(result)


def test_every_treatment_arm_is_compared_with_the_control() -> None:
    rng = np.random.default_rng(21)
    arms = [
        reference_arm(name, rng.lognormal(0, 1, 1000), 0.5, "unit")
        for name in ("b", "control", "a")
    ]
    results = analyze_quantile(arms, "control", quantile=0.5, level="unit")
    assert [r.variant for r in results] == ["b", "a"]
    assert all(r.control_variant == "control" and r.status == "ok" for r in results)


# --- bad input -----------------------------------------------------------------------------------


def test_bad_arguments_and_inconsistent_inputs_raise_naming_what_is_wrong() -> None:
    rng = np.random.default_rng(22)
    arm = reference_arm("control", rng.lognormal(0, 1, 500), 0.5, "unit")
    other = reference_arm("t", rng.lognormal(0, 1, 500), 0.5, "unit")
    with pytest.raises(ValueError, match="unknown quantile level 'user'"):
        analyze_quantile([arm, other], "control", quantile=0.5, level="user")
    with pytest.raises(ValueError, match=r"quantile must be in \(0, 1\), got 1.0"):
        analyze_quantile([arm, other], "control", quantile=1.0, level="unit")
    with pytest.raises(ValueError, match="alpha"):
        analyze_quantile([arm, other], "control", quantile=0.5, level="unit", alpha=1.5)
    with pytest.raises(ValueError, match="relative_ci_method"):
        analyze_quantile(
            [arm, other], "control", quantile=0.5, level="unit", relative_ci_method="bootstrap"
        )
    with pytest.raises(ValueError, match="duplicate arms"):
        analyze_quantile([arm, arm], "control", quantile=0.5, level="unit")
    with pytest.raises(ValueError, match=r"arm 'control': band .* does not contain q=0.9"):
        analyze_quantile([arm, other], "control", quantile=0.9, level="unit")
    swapped = dataclasses.replace(arm, value_lower=arm.value_upper, value_upper=arm.value_lower)
    with pytest.raises(ValueError, match="arm 'control': order statistics"):
        analyze_quantile([swapped, other], "control", quantile=0.5, level="unit")
    with pytest.raises(ValueError, match="arm 'control': event-level quantile needs sum_below"):
        analyze_quantile([arm, other], "control", quantile=0.5, level="event")
    values, units = clustered_events(rng, 200)
    event_arm = reference_arm("control", values, 0.5, "event", units)
    impossible = dataclasses.replace(event_arm, sum_below=event_arm.n_values)
    with pytest.raises(ValueError, match="arm 'control': impossible event sums"):
        arm_quantile(impossible, 0.5, "event")
    with pytest.raises(ValueError, match="arm 'control': value_lower/value_upper missing"):
        arm_quantile(dataclasses.replace(arm, value_upper=None), 0.5, "unit")


def test_fieller_relative_interval_inverts_the_ratio_test() -> None:
    # At each end ρ of Fieller's interval, (q_t − ρ·q_c)/√(se_t² + ρ²·se_c²) is ∓z exactly.
    rng = np.random.default_rng(3)
    control, treatment = rng.lognormal(0, 1, 3000), rng.lognormal(0.05, 1, 3000)
    arms = [
        reference_arm("control", control, 0.9, "unit"),
        reference_arm("b", treatment, 0.9, "unit"),
    ]
    fieller = only(arms, quantile=0.9, level="unit", relative_ci_method="fieller")
    est = fieller.estimate
    q_c, q_t = est.control_mean, est.variant_mean
    se_c, se_t = fieller.control_se, fieller.variant_se
    z = scipy.stats.norm.ppf(0.975)
    for end, sign in ((est.relative_ci_lower, 1.0), (est.relative_ci_upper, -1.0)):
        rho = end + 1.0
        statistic = (q_t - rho * q_c) / math.sqrt(se_t**2 + rho**2 * se_c**2)
        np.testing.assert_allclose(statistic, sign * z, rtol=1e-9)
