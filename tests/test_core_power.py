"""Power analysis (cuped_stats.power): statsmodels' normal-approximation power, and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from statsmodels.stats.power import NormalIndPower

from cuped_stats.power import (
    ExperimentPlan,
    achieved_power,
    days_needed,
    mde_from_se,
    minimum_detectable_effect,
    plan_sample_size,
    sample_size,
)

ALPHA = 0.05
POWER = 0.8


def _one_tailed_power(effect_size: float, nobs1: float, ratio: float, alpha: float) -> float:
    """statsmodels' normal-approximation power for the rejection region the formulas keep,
    ``Z > z_{1−alpha/2}`` (a one-sided test at alpha/2: the opposite tail dropped)."""
    return float(
        NormalIndPower().power(effect_size, nobs1, alpha / 2, ratio=ratio, alternative="larger")
    )


def _one_tailed_solve(**kwargs: float | None) -> float:
    """statsmodels' root finder for the same power; its own tolerance is about 1e-4 relative (at
    its root the power is off by a few 1e-6), so the exact check is :func:`_one_tailed_power`."""
    alpha = kwargs.pop("alpha")
    assert alpha is not None
    solved = NormalIndPower().solve_power(alpha=alpha / 2, alternative="larger", **kwargs)  # type: ignore[arg-type]
    return float(solved)


# --- against statsmodels ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sigma", "n_treatment", "n_control", "alpha", "power"),
    [
        (1.0, 1_000, 1_000, 0.05, 0.8),
        (3.5, 250, 750, 0.05, 0.9),
        (0.2, 40_000, 10_000, 0.01, 0.8),
        (12.0, 30, 31, 0.1, 0.5),
    ],
)
def test_mde_matches_statsmodels_normal_ind_power(
    sigma: float, n_treatment: int, n_control: int, alpha: float, power: float
) -> None:
    result = minimum_detectable_effect(
        sigma**2, n_control, n_treatment, alpha=alpha, power=power, baseline_mean=-4.0
    )
    assert result.status == "ok" and result.mde is not None
    ratio = n_control / n_treatment
    # statsmodels' power at our MDE is the target power ...
    achieved = _one_tailed_power(result.mde / sigma, n_treatment, ratio, alpha)
    assert achieved == pytest.approx(power, abs=1e-9)
    # ... and its solver finds our MDE (to its own tolerance).
    effect_size = _one_tailed_solve(
        effect_size=None, nobs1=n_treatment, ratio=ratio, alpha=alpha, power=power
    )
    assert result.mde == pytest.approx(effect_size * sigma, rel=1e-4)
    assert result.relative_mde == pytest.approx(result.mde / 4.0, rel=1e-15)
    assert result.se == pytest.approx(sigma * math.sqrt(1 / n_treatment + 1 / n_control))


@pytest.mark.parametrize(
    ("sigma", "mde", "share", "alpha", "power"),
    [
        (1.0, 0.1, 0.5, 0.05, 0.8),
        (3.5, 0.2, 0.2, 0.05, 0.9),
        (25.0, 0.9, 0.7, 0.01, 0.8),
    ],
)
def test_sample_size_matches_statsmodels_normal_ind_power(
    sigma: float, mde: float, share: float, alpha: float, power: float
) -> None:
    result = sample_size(
        mde, variance_control=sigma**2, treatment_share=share, alpha=alpha, power=power
    )
    assert result.status == "ok" and result.n_total_exact is not None
    ratio = (1 - share) / share
    achieved = _one_tailed_power(mde / sigma, share * result.n_total_exact, ratio, alpha)
    assert achieved == pytest.approx(power, abs=1e-9)
    n_treatment = _one_tailed_solve(
        effect_size=mde / sigma, nobs1=None, ratio=ratio, alpha=alpha, power=power
    )
    assert share * result.n_total_exact == pytest.approx(n_treatment, rel=1e-4)
    assert result.n_treatment == math.ceil(share * result.n_total_exact)
    assert result.n_control == math.ceil((1 - share) * result.n_total_exact)
    assert result.n_total == result.n_control + result.n_treatment
    # The same target given relative to a baseline mean.
    relative = sample_size(
        relative_mde=mde / 8.0,
        baseline_mean=-8.0,
        variance_control=sigma**2,
        treatment_share=share,
        alpha=alpha,
        power=power,
    )
    assert relative.n_total_exact == pytest.approx(result.n_total_exact, rel=1e-12)
    assert relative.mde == pytest.approx(mde, rel=1e-15)
    # ... and it inverts the MDE.
    back = minimum_detectable_effect(
        sigma**2,
        (1 - share) * result.n_total_exact,
        share * result.n_total_exact,
        alpha=alpha,
        power=power,
    )
    assert back.mde == pytest.approx(mde, rel=1e-12)


@pytest.mark.parametrize("effect", [0.0, 0.05, -0.13, 0.3])
def test_achieved_power_matches_statsmodels_two_sided(effect: float) -> None:
    sigma, n_t, n_c = 1.7, 400, 600
    ours = achieved_power(effect, sigma**2, n_c, n_t)
    theirs = NormalIndPower().power(
        abs(effect) / sigma, nobs1=n_t, alpha=ALPHA, ratio=n_c / n_t, alternative="two-sided"
    )
    assert ours == pytest.approx(float(theirs), rel=1e-12, abs=1e-15)


def test_two_sided_power_at_the_mde_exceeds_the_target_only_by_the_opposite_tail() -> None:
    sigma, n = 2.0, 5_000
    mde = minimum_detectable_effect(sigma**2, n, n).mde
    assert mde is not None
    z_alpha, z_beta = scipy.stats.norm.ppf(1 - ALPHA / 2), scipy.stats.norm.ppf(POWER)
    opposite_tail = scipy.stats.norm.cdf(-2 * z_alpha - z_beta)
    assert 0 < opposite_tail < 1e-6
    two_sided = NormalIndPower().power(mde / sigma, n, ALPHA, ratio=1.0)
    assert float(two_sided) == pytest.approx(POWER + opposite_tail, abs=1e-9)
    assert achieved_power(mde, sigma**2, n, n) == pytest.approx(float(two_sided), rel=1e-12)


def test_mde_from_se_is_the_variance_form_at_the_same_se() -> None:
    by_variance = minimum_detectable_effect(9.0, 300, 500, variance_treatment=16.0)
    by_se = mde_from_se(math.sqrt(16.0 / 500 + 9.0 / 300))
    assert by_se == by_variance


# --- durations and planning -------------------------------------------------------------------


def test_days_needed_rounds_up_the_units_over_the_arrival_rate() -> None:
    assert days_needed(1_000, 250.0) == 4
    assert days_needed(1_001, 250.0) == 5
    assert days_needed(1_000, 0.0) is None
    assert days_needed(None, 10.0) is None
    result = sample_size(0.1, variance_control=1.0, units_per_day=137.0)
    assert result.n_total is not None
    assert result.days == math.ceil(result.n_total / 137.0)


@pytest.mark.parametrize("correlation", [0.0, 0.3, -0.7, 0.95])
def test_plan_divides_the_sample_size_by_one_minus_r_squared(correlation: float) -> None:
    plan = plan_sample_size(
        6.0, correlation, relative_mde=0.03, baseline_mean=20.0, units_per_day=500.0
    )
    assert isinstance(plan, ExperimentPlan) and plan.status == "ok"
    assert plan.unadjusted == sample_size(
        relative_mde=0.03, baseline_mean=20.0, variance_control=6.0, units_per_day=500.0
    )
    assert plan.variance_reduction == pytest.approx(correlation**2)
    assert plan.cuped.n_total_exact is not None and plan.unadjusted.n_total_exact is not None
    assert plan.cuped.n_total_exact == pytest.approx(
        plan.unadjusted.n_total_exact * (1 - correlation**2), rel=1e-12
    )
    assert plan.cuped.variance_control == pytest.approx(6.0 * (1 - correlation**2))
    assert plan.cuped.days is not None and plan.unadjusted.days is not None
    assert plan.cuped.days <= plan.unadjusted.days


# --- degenerate inputs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "status"),
    [
        ((4.0, 1, 100), "insufficient_sample"),
        ((4.0, 100, 0), "insufficient_sample"),
        ((None, 100, 100), "undefined_variance"),
        ((-1.0, 100, 100), "undefined_variance"),
        ((float("nan"), 100, 100), "undefined_variance"),
        ((0.0, 100, 100), "zero_variance"),
    ],
)
def test_degenerate_mde_inputs_give_none_and_a_status(args: tuple, status: str) -> None:
    result = minimum_detectable_effect(*args)
    assert (result.mde, result.relative_mde, result.status) == (None, None, status)


def test_relative_mde_needs_a_non_zero_baseline() -> None:
    assert minimum_detectable_effect(4.0, 100, 100, baseline_mean=0.0).relative_mde is None
    assert minimum_detectable_effect(4.0, 100, 100).relative_mde is None


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"mde": 0.0, "variance_control": 1.0}, "undefined_target"),
        ({"mde": -0.1, "variance_control": 1.0}, "undefined_target"),
        ({"mde": float("inf"), "variance_control": 1.0}, "undefined_target"),
        ({"relative_mde": 0.1, "variance_control": 1.0}, "undefined_target"),
        ({"relative_mde": 0.1, "baseline_mean": 0.0, "variance_control": 1.0}, "undefined_target"),
        ({"mde": 0.1, "variance_control": None}, "undefined_variance"),
        ({"mde": 0.1, "variance_control": 1.0, "variance_treatment": 0.0}, "zero_variance"),
    ],
)
def test_degenerate_sample_size_inputs_give_none_and_a_status(kwargs: dict, status: str) -> None:
    result = sample_size(**kwargs)
    assert (result.n_total, result.n_total_exact, result.days, result.status) == (
        None,
        None,
        None,
        status,
    )


def test_invalid_arrival_rate_keeps_the_sample_size_and_flags_the_days() -> None:
    result = sample_size(0.1, variance_control=1.0, units_per_day=0.0)
    assert result.n_total is not None and result.days is None
    assert result.status == "undefined_rate"


@pytest.mark.parametrize(
    ("correlation", "status", "cuped_status"),
    [
        (1.0, "ok", "zero_variance"),
        (1.2, "undefined_correlation", "undefined_correlation"),
        (float("nan"), "undefined_correlation", "undefined_correlation"),
        (None, "undefined_correlation", "undefined_correlation"),
    ],
)
def test_degenerate_correlations(correlation: float | None, status: str, cuped_status: str) -> None:
    plan = plan_sample_size(4.0, correlation, 0.1)
    assert plan.unadjusted.n_total is not None
    assert (plan.status, plan.cuped.status, plan.cuped.n_total) == (status, cuped_status, None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"power": 1.0},
        {"treatment_share": 0.0},
        {"treatment_share": 1.0},
        {"relative_mde": 0.1, "baseline_mean": 1.0},  # together with mde
    ],
)
def test_invalid_design_parameters_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        sample_size(0.1, variance_control=1.0, **kwargs)
    with pytest.raises(ValueError):
        plan_sample_size(1.0, 0.5, 0.1, **kwargs)


def test_sample_size_needs_a_target() -> None:
    with pytest.raises(ValueError):
        sample_size(variance_control=1.0)


# --- simulation -------------------------------------------------------------------------------

REPLICATIONS = 4_000
#: 3 binomial standard errors of an empirical power near 0.8.
POWER_TOLERANCE = 3 * math.sqrt(POWER * (1 - POWER) / REPLICATIONS)


def test_welch_test_at_the_computed_sample_size_has_the_target_power() -> None:
    """Unequal variances and allocation; normal outcomes; the Welch t-test cuped_results uses."""
    rng = np.random.default_rng(5)
    sd_control, sd_treatment, share, mde = 1.0, 1.5, 0.4, 0.15
    plan = sample_size(
        mde,
        variance_control=sd_control**2,
        variance_treatment=sd_treatment**2,
        treatment_share=share,
    )
    assert plan.n_control is not None and plan.n_treatment is not None
    control = rng.normal(0.0, sd_control, (REPLICATIONS, plan.n_control))
    treatment = rng.normal(mde, sd_treatment, (REPLICATIONS, plan.n_treatment))
    p_values = scipy.stats.ttest_ind(treatment, control, axis=1, equal_var=False).pvalue
    empirical = float(np.mean(p_values < ALPHA))
    assert abs(empirical - POWER) <= POWER_TOLERANCE


def _cuped_and_unadjusted_power(
    rng: np.random.Generator, n_per_arm: int, sd: float, r: float, effect: float
) -> tuple[float, float]:
    """Empirical power of the CUPED (θ pooled within arms) and unadjusted Welch tests."""
    size = (REPLICATIONS, 2, n_per_arm)  # axis 1: control, treatment
    x = rng.standard_normal(size)
    y = sd * (r * x + math.sqrt(1 - r**2) * rng.standard_normal(size))
    y[:, 1] += effect
    xc = x - x.mean(axis=2, keepdims=True)
    yc = y - y.mean(axis=2, keepdims=True)
    theta = (xc * yc).sum(axis=(1, 2)) / (xc * xc).sum(axis=(1, 2))
    residual = y - theta[:, None, None] * x
    cuped = scipy.stats.ttest_ind(residual[:, 1], residual[:, 0], axis=1, equal_var=False)
    raw = scipy.stats.ttest_ind(y[:, 1], y[:, 0], axis=1, equal_var=False)
    return float(np.mean(cuped.pvalue < ALPHA)), float(np.mean(raw.pvalue < ALPHA))


def test_cuped_plan_reaches_the_target_power_with_fewer_units() -> None:
    rng = np.random.default_rng(6)
    variance, r, baseline, relative = 9.0, 0.7, 30.0, 0.01
    plan = plan_sample_size(variance, r, relative_mde=relative, baseline_mean=baseline)
    assert plan.cuped.n_control is not None and plan.cuped.mde is not None
    n = plan.cuped.n_control
    assert plan.cuped.n_treatment == n
    cuped_power, raw_power = _cuped_and_unadjusted_power(
        rng, n, math.sqrt(variance), r, plan.cuped.mde
    )
    assert abs(cuped_power - POWER) <= POWER_TOLERANCE
    # Without CUPED the same units give the power of the unadjusted variance.
    expected_raw = achieved_power(plan.cuped.mde, variance, n, n)
    assert expected_raw is not None and expected_raw < 0.55
    tolerance = 3 * math.sqrt(expected_raw * (1 - expected_raw) / REPLICATIONS)
    assert abs(raw_power - expected_raw) <= tolerance
