"""One-sided and non-inferiority tests against independent methods and against theory.

References: statsmodels ``ttest_ind(..., value=, alternative=, usevar="unequal")`` and
``CompareMeans.tconfint_diff`` on unit-level data (on the residuals ``y − θx`` for CUPED, θ as
fitted), a delta method for the relative effect computed in plain numpy from per-unit influence
terms, the confidence sequence of ``cuped_results``, and the rejection rate at the margin
boundary in simulated experiments (a 99.9% binomial band around alpha).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

from cuped_stats import ArmMoments, Estimate, analyze_metric, results_table
from cuped_stats.one_sided import (
    Margin,
    SequentialLook,
    deterioration_test,
    non_inferiority_test,
    relative_standard_error,
    superiority_test,
)
from cuped_stats.sequential import always_valid_p_value, mixture_rho, sequential_multiplier
from tests.helpers import moment_rows
from tests.test_calibration_core import binomial_band

ALPHA = 0.05
RTOL = 1e-9


def _units(rng: np.random.Generator, n: int, shift: float = 0.0, scale: float = 1.0):
    """Skewed pre-period covariate x and outcome y correlated with it."""
    x = rng.lognormal(1.0, 0.7, n)
    y = scale * (2.0 + 1.5 * x + rng.gamma(2.0, 1.5, n)) + shift
    return y, x


def _statsmodels_one_sided(y_t, y_c, *, alternative: str, value: float):
    """(t, p, one-sided bound) of the Welch test of mean(y_t) − mean(y_c) against ``value``."""
    t, p, _ = ttest_ind(y_t, y_c, alternative=alternative, usevar="unequal", value=value)
    lower, upper = CompareMeans(DescrStatsW(y_t), DescrStatsW(y_c)).tconfint_diff(
        alpha=ALPHA, alternative=alternative, usevar="unequal"
    )
    return t, p, lower if alternative == "larger" else upper


@pytest.mark.parametrize("higher_is_better", [True, False])
@pytest.mark.parametrize("margin", [0.0, 0.4, 1.5])
def test_absolute_margin_without_covariates_equals_statsmodels_ttest_ind(
    higher_is_better: bool, margin: float
) -> None:
    rng = np.random.default_rng(7)
    y_c, _ = _units(rng, 400)
    y_t, _ = _units(rng, 370, shift=-0.3)
    arms = [ArmMoments.from_units("control", {"@y": y_c}), ArmMoments.from_units("b", {"@y": y_t})]
    (comparison,) = analyze_metric(arms, "control")
    s = 1.0 if higher_is_better else -1.0

    result = non_inferiority_test(
        comparison.cuped,
        Margin(margin, "absolute"),
        higher_is_better=higher_is_better,
        alpha=ALPHA,
    )
    alternative = "larger" if higher_is_better else "smaller"
    t, p, bound = _statsmodels_one_sided(y_t, y_c, alternative=alternative, value=-s * margin)
    assert result.status == "ok" and result.scale == "absolute"
    np.testing.assert_allclose(result.p_value, p, rtol=RTOL)
    np.testing.assert_allclose(result.statistic, s * t, rtol=RTOL)
    np.testing.assert_allclose(result.bound, bound, rtol=RTOL)
    assert result.boundary == -s * margin
    assert result.significant == (p < ALPHA)


@pytest.mark.parametrize("higher_is_better", [True, False])
@pytest.mark.parametrize("k", [1, 2])
def test_cuped_tests_equal_statsmodels_on_unit_level_residuals(
    higher_is_better: bool, k: int
) -> None:
    # Three arms: θ is pooled over all of them (within), the comparison is b vs control.
    rng = np.random.default_rng(11 + k)
    data = {}
    for variant, n, shift in (("control", 500, 0.0), ("b", 450, 0.25), ("c", 480, -0.2)):
        y, x = _units(rng, n, shift)
        xs = np.column_stack([x, x**0.5 + rng.normal(0, 0.3, n)])[:, :k]
        data[variant] = (y + 0.8 * xs[:, -1], xs)
    names = [f"x{j}" for j in range(k)]
    arms = [
        ArmMoments.from_units(v, {"@y": y, **{names[j]: xs[:, j] for j in range(k)}})
        for v, (y, xs) in data.items()
    ]
    # Welch on the residuals y − θx treats θ as known: compare with that SE (the default adds
    # the variance of θ̂, tested against its own reference in test_core_cuped.py).
    comparison = analyze_metric(arms, "control", small_sample_correction=False)[0]
    assert comparison.variant == "b" and comparison.covariates == tuple(names)
    theta = np.asarray(comparison.theta)
    r_t = data["b"][0] - data["b"][1] @ theta
    r_c = data["control"][0] - data["control"][1] @ theta
    s = 1.0 if higher_is_better else -1.0
    alternative, reverse = ("larger", "smaller") if higher_is_better else ("smaller", "larger")
    common = {"higher_is_better": higher_is_better, "alpha": ALPHA}

    margin = 0.05 * abs(comparison.cuped.control_mean)
    ni = non_inferiority_test(comparison.cuped, Margin(margin, "absolute"), **common)
    t, p, bound = _statsmodels_one_sided(r_t, r_c, alternative=alternative, value=-s * margin)
    np.testing.assert_allclose([ni.p_value, ni.statistic, ni.bound], [p, s * t, bound], rtol=RTOL)

    sup = superiority_test(comparison.cuped, **common)
    t, p, bound = _statsmodels_one_sided(r_t, r_c, alternative=alternative, value=0.0)
    np.testing.assert_allclose([sup.p_value, sup.bound], [p, bound], rtol=RTOL)

    det = deterioration_test(comparison.cuped, **common)
    t, p, bound = _statsmodels_one_sided(r_t, r_c, alternative=reverse, value=0.0)
    np.testing.assert_allclose([det.p_value, det.bound], [p, bound], rtol=RTOL)
    # The two directions split the two-sided p-value of the core.
    np.testing.assert_allclose(sup.p_value + det.p_value, 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        2 * min(sup.p_value, det.p_value), comparison.cuped.p_value, rtol=RTOL
    )


def _unit_level_relative(data, control: str, treatment: str, theta: np.ndarray):
    """(m_t, m_c, Cov(m_t, m_c), Welch df) from unit data: each adjusted mean is
    mean_g(y − θx) + θ·x̄ (x̄ pooled over every arm), a sum of per-unit terms; its covariance is
    Σ_arms n_h · sample covariance of the per-unit terms."""
    n_total = sum(len(y) for y, _ in data.values())
    x_bar = sum(xs.sum(axis=0) for _, xs in data.values()) / n_total
    means = {g: float(np.mean(y - xs @ theta) + theta @ x_bar) for g, (y, xs) in data.items()}
    cov = np.zeros((2, 2))
    for g, (y, xs) in data.items():
        n = len(y)
        pooled_term = (xs @ theta) / n_total
        own = (y - xs @ theta) / n
        terms = np.vstack(
            [
                pooled_term + (own if g == treatment else 0.0),
                pooled_term + (own if g == control else 0.0),
            ]
        )
        cov += n * np.cov(terms, ddof=1)
    r_t = data[treatment][0] - data[treatment][1] @ theta
    r_c = data[control][0] - data[control][1] @ theta
    _, _, df = ttest_ind(r_t, r_c, usevar="unequal")
    return means[treatment], means[control], cov, df


@pytest.mark.parametrize("relative_ci_method", ["delta", "log"])
@pytest.mark.parametrize("higher_is_better", [True, False])
def test_relative_margin_equals_unit_level_delta_method(
    relative_ci_method: str, higher_is_better: bool
) -> None:
    rng = np.random.default_rng(5)
    data = {}
    for variant, n, scale in (("control", 600, 1.0), ("b", 640, 0.985), ("c", 300, 1.02)):
        y, x = _units(rng, n, scale=scale)
        data[variant] = (y, x[:, None])
    arms = [ArmMoments.from_units(v, {"@y": y, "pre": xs[:, 0]}) for v, (y, xs) in data.items()]
    # the unit-level delta method below treats θ as known, as does this path of the core
    comparison = analyze_metric(
        arms, "control", relative_ci_method=relative_ci_method, small_sample_correction=False
    )[0]
    m_t, m_c, cov, df = _unit_level_relative(data, "control", "b", np.asarray(comparison.theta))
    np.testing.assert_allclose(comparison.cuped.degrees_of_freedom, df, rtol=RTOL)
    s, delta = (1.0 if higher_is_better else -1.0), 0.03

    if relative_ci_method == "delta":
        grad = np.array([1 / m_c, -m_t / m_c**2])
        estimate, boundary = m_t / m_c - 1, -s * delta
    else:
        grad = np.array([1 / m_t, -1 / m_c])
        estimate, boundary = math.log(m_t / m_c), math.log(1 - s * delta)
    se = math.sqrt(grad @ cov @ grad)
    t = s * (estimate - boundary) / se
    p = scipy.stats.t.sf(t, df)
    bound = estimate - s * scipy.stats.t.ppf(1 - ALPHA, df) * se
    if relative_ci_method == "log":
        bound = math.expm1(bound)

    np.testing.assert_allclose(
        relative_standard_error(
            comparison.cuped, ci_alpha=ALPHA, relative_ci_method=relative_ci_method
        ),
        se,
        rtol=RTOL,
    )
    result = non_inferiority_test(
        comparison.cuped,
        Margin(delta),
        higher_is_better=higher_is_better,
        alpha=ALPHA,
        relative_ci_method=relative_ci_method,
    )
    assert result.status == "ok" and result.scale == "relative"
    np.testing.assert_allclose(result.estimate, m_t / m_c - 1, rtol=RTOL)
    np.testing.assert_allclose(result.boundary, -s * delta, rtol=1e-15)
    np.testing.assert_allclose([result.statistic, result.p_value], [t, p], rtol=RTOL)
    np.testing.assert_allclose(result.bound, bound, rtol=RTOL)


def test_relative_se_is_read_from_a_ci_at_another_level() -> None:
    rng = np.random.default_rng(3)
    arms = [
        ArmMoments.from_units(v, dict(zip(("@y", "pre"), _units(rng, 300), strict=True)))
        for v in ("control", "b")
    ]
    (at_05,) = analyze_metric(arms, "control", alpha=0.05)
    (at_10,) = analyze_metric(arms, "control", alpha=0.10)
    se_05 = relative_standard_error(at_05.cuped, ci_alpha=0.05)
    np.testing.assert_allclose(
        relative_standard_error(at_10.cuped, ci_alpha=0.10), se_05, rtol=1e-12
    )
    a = non_inferiority_test(
        at_10.cuped, Margin(0.02), higher_is_better=True, alpha=0.05, ci_alpha=0.10
    )
    b = non_inferiority_test(at_05.cuped, Margin(0.02), higher_is_better=True, alpha=0.05)
    np.testing.assert_allclose([a.p_value, a.bound], [b.p_value, b.bound], rtol=1e-12)


# ------------------------------------------------------------------------------------------
# Type-I error at the margin boundary.

N_EXPERIMENTS = 4_000
CHUNK = 500
N_PER_ARM = 800


def _boundary_rejections(kind: str, higher_is_better: bool, method: str, seed: int) -> int:
    """Experiments whose true effect is exactly at the margin; count non-inferiority claims.

    Units: lognormal covariate, gamma noise (skewed outcome), CUPED on the covariate. The
    treatment is the control distribution shifted (absolute margin) or scaled (relative margin)
    onto the boundary, so H0 holds with equality.
    """
    rng = np.random.default_rng(seed)
    s = 1.0 if higher_is_better else -1.0
    delta = 0.5 if kind == "absolute" else 0.04
    hits = 0
    for _ in range(N_EXPERIMENTS // CHUNK):
        arms_data = []
        for arm in ("control", "b"):
            x = rng.lognormal(1.0, 0.7, (CHUNK, N_PER_ARM))
            y = 2.0 + 1.5 * x + rng.gamma(2.0, 1.5, (CHUNK, N_PER_ARM))
            if arm == "b":
                y = y - s * delta if kind == "absolute" else y * (1.0 - s * delta)
            data = np.stack([y, x], axis=-1)
            mean = data.mean(axis=1)
            centred = data - mean[:, None, :]
            cov = np.einsum("enp,enq->epq", centred, centred) / (N_PER_ARM - 1)
            arms_data.append((arm, mean, cov))
        for e in range(CHUNK):
            arms = [
                ArmMoments(variant=arm, n=N_PER_ARM, names=("@y", "pre"), mean=m[e], cov=c[e])
                for arm, m, c in arms_data
            ]
            (comparison,) = analyze_metric(
                arms, "control", relative_ci_method="log" if method == "log" else "delta"
            )
            result = non_inferiority_test(
                comparison.cuped,
                Margin(delta, kind),
                higher_is_better=higher_is_better,
                alpha=ALPHA,
                relative_ci_method="log" if method == "log" else "delta",
            )
            hits += bool(result.significant)
    return hits


@pytest.mark.parametrize(
    ("kind", "higher_is_better", "method"),
    [
        ("absolute", True, "delta"),
        ("relative", True, "delta"),
        ("relative", False, "log"),
    ],
)
def test_type_one_error_at_the_margin_boundary_is_alpha(
    kind: str, higher_is_better: bool, method: str
) -> None:
    seed = {"absolute": 101, "relative": 202}[kind] + higher_is_better
    hits = _boundary_rejections(kind, higher_is_better, method, seed=seed)
    lower, upper = binomial_band(N_EXPERIMENTS)
    assert lower <= hits <= upper, (
        f"{kind} margin ({method}): rejection rate at the boundary {hits / N_EXPERIMENTS:.4f} "
        f"({hits}/{N_EXPERIMENTS}) outside [{lower}, {upper}]"
    )


# ------------------------------------------------------------------------------------------
# Sequential (always-valid) tests.


def test_always_valid_p_value_is_below_alpha_exactly_when_the_sequence_excludes_the_null() -> None:
    rho = mixture_rho(5000, ALPHA)
    for n in (20, 500, 5000, 80_000):
        m = float(sequential_multiplier(n, rho, ALPHA))
        np.testing.assert_allclose(always_valid_p_value(m, n, rho), ALPHA, rtol=1e-12)
        assert (
            always_valid_p_value(m * 1.001, n, rho)
            < ALPHA
            < always_valid_p_value(m * 0.999, n, rho)
        )
        assert always_valid_p_value(-m * 1.001, n, rho) < ALPHA
    assert always_valid_p_value(0.0, 100, rho) == 1.0


def test_sequential_bounds_equal_the_sequence_in_cuped_results() -> None:
    rng = np.random.default_rng(21)
    rows = []
    for variant, shift in (("control", 0.0), ("b", 0.4)):
        y, x = _units(rng, 700, shift)
        rows += moment_rows("exp", "revenue", variant, {"@y": y, "pre_period": x})
    plan = {
        "experiment_id": "exp",
        "metric_name": "revenue",
        "metric_type": "mean",
        "control_variant": "control",
        "alpha": ALPHA,
        "theta_method": "within",
        "higher_is_better": True,
        "planned_units": 3000,
    }
    table = results_table(rows, [plan])
    estimate = Estimate(
        control_mean=float(table["control_mean_adjusted"][0]),
        effect=float(table["absolute_effect"][0]),
        se=float(table["absolute_effect_se"][0]),
        degrees_of_freedom=float(table["degrees_of_freedom"][0]),
    )
    look = SequentialLook.tuned(
        int(table["n_control"][0]) + int(table["n_variant"][0]), 3000, ALPHA
    )
    for higher_is_better in (True, False):
        common = {"higher_is_better": higher_is_better, "alpha": ALPHA, "sequential": look}
        sup, det = superiority_test(estimate, **common), deterioration_test(estimate, **common)
        harmful, favourable = (
            ("sequential_ci_lower", "sequential_ci_upper")
            if higher_is_better
            else ("sequential_ci_upper", "sequential_ci_lower")
        )
        np.testing.assert_allclose(sup.bound, table[harmful][0], rtol=1e-12)
        np.testing.assert_allclose(det.bound, table[favourable][0], rtol=1e-12)
        assert sup.method == det.method == "sequential"
        # Significant exactly when the reported sequence excludes 0 on that side.
        assert sup.significant == (
            table["sequential_ci_lower"][0] > 0
            if higher_is_better
            else table["sequential_ci_upper"][0] < 0
        )
        assert min(sup.p_value, det.p_value) > 0 and max(sup.p_value, det.p_value) == 1.0


# ------------------------------------------------------------------------------------------
# Degenerate inputs and validation.


def test_missing_statistics_give_a_status_and_none() -> None:
    empty = Estimate(control_mean=None, variant_mean=3.0)
    for result in (
        superiority_test(empty, higher_is_better=True, alpha=ALPHA),
        non_inferiority_test(empty, Margin(0.02), higher_is_better=True, alpha=ALPHA),
        non_inferiority_test(empty, Margin(1.0, "absolute"), higher_is_better=False, alpha=ALPHA),
    ):
        assert result.status == "undefined_estimate"
        assert result.p_value is None and result.bound is None and result.significant is None
    zero = Estimate(control_mean=2.0, effect=0.1, se=0.0, degrees_of_freedom=10.0)
    assert deterioration_test(zero, higher_is_better=True, alpha=ALPHA).status == "zero_variance"


def test_relative_margin_needs_a_positive_control_mean() -> None:
    negative = Estimate(
        control_mean=-4.0,
        variant_mean=-3.0,
        effect=1.0,
        se=0.5,
        degrees_of_freedom=100.0,
        relative_effect=-0.25,
        relative_ci_lower=-0.5,
        relative_ci_upper=0.0,
    )
    result = non_inferiority_test(negative, Margin(0.02), higher_is_better=True, alpha=ALPHA)
    assert result.status == "relative_undefined" and result.p_value is None
    assert "absolute margin" in result.status_reason
    # The same estimate with an absolute margin is testable.
    absolute = non_inferiority_test(
        negative, Margin(0.5, "absolute"), higher_is_better=True, alpha=ALPHA
    )
    assert absolute.status == "ok" and absolute.p_value is not None


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (-0.1, "relative", ">= 0"),
        (math.nan, "absolute", ">= 0"),
        (0.1, "percent", "unknown margin kind"),
        (True, "relative", "number"),
    ],
)
def test_invalid_margins_are_rejected(value, kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Margin(value, kind)


def test_relative_margin_of_everything_is_rejected_when_higher_is_better() -> None:
    estimate = Estimate(control_mean=1.0, effect=0.0, se=0.1, degrees_of_freedom=50.0)
    with pytest.raises(ValueError, match="below 1"):
        non_inferiority_test(estimate, Margin(1.0), higher_is_better=True, alpha=ALPHA)
    with pytest.raises(ValueError, match=r"\(0, 0.5\)"):
        superiority_test(estimate, higher_is_better=True, alpha=0.5)


def test_relative_margin_with_a_fieller_interval_is_rejected_not_misread() -> None:
    # Fieller's interval is asymmetric on both the linear and the log scale: an SE read from it
    # as if it were either would test the wrong thing
    estimate = Estimate(
        control_mean=1.0,
        variant_mean=1.1,
        effect=0.1,
        se=0.05,
        degrees_of_freedom=50.0,
        relative_effect=0.1,
        relative_ci_lower=0.0,
        relative_ci_upper=0.21,
    )
    with pytest.raises(ValueError, match="Fieller relative interval"):
        non_inferiority_test(
            estimate,
            Margin(0.05),
            higher_is_better=True,
            alpha=ALPHA,
            relative_ci_method="fieller",
        )
    # an absolute margin does not need the relative interval
    test = non_inferiority_test(
        estimate,
        Margin(0.05, "absolute"),
        higher_is_better=True,
        alpha=ALPHA,
        relative_ci_method="fieller",
    )
    assert test.status == "ok"


@pytest.mark.parametrize("relative_ci_method", ["delta", "log"])
def test_sequential_relative_margin_widens_the_delta_method_bound_by_the_multiplier(
    relative_ci_method: str,
) -> None:
    rng = np.random.default_rng(4)
    arms = [
        ArmMoments.from_units(v, dict(zip(("@y", "pre"), _units(rng, 900), strict=True)))
        for v in ("control", "b")
    ]
    (comparison,) = analyze_metric(arms, "control", relative_ci_method=relative_ci_method)
    est = comparison.cuped
    look = SequentialLook.tuned(1800, 4000, ALPHA)
    m = float(sequential_multiplier(1800, mixture_rho(4000, ALPHA), ALPHA))
    se = relative_standard_error(est, ci_alpha=ALPHA, relative_ci_method=relative_ci_method)
    result = non_inferiority_test(
        est,
        Margin(0.05),
        higher_is_better=False,
        alpha=ALPHA,
        relative_ci_method=relative_ci_method,
        sequential=look,
    )
    if relative_ci_method == "delta":
        eta, boundary = est.relative_effect, 0.05
        expected_bound = est.relative_effect + m * se
    else:
        eta, boundary = math.log1p(est.relative_effect), math.log1p(0.05)
        expected_bound = math.expm1(math.log1p(est.relative_effect) + m * se)
    z = (boundary - eta) / se
    assert result.method == "sequential" and z > 0
    np.testing.assert_allclose(result.bound, expected_bound, rtol=1e-12)
    np.testing.assert_allclose(
        result.p_value, always_valid_p_value(z, 1800, mixture_rho(4000, ALPHA)), rtol=1e-12
    )
    assert result.significant == (result.bound < 0.05)
