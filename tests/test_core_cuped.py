"""CUPED comparisons checked against independent methods on unit-level data.

References used here: statsmodels OLS (within θ is the ANCOVA coefficient), a Welch t-test on
unit-level residuals in plain numpy and scipy, tea-tasting's CUPED (total θ), and a numerical
(finite-difference) delta method for the relative effect.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import statsmodels.api as sm

from cuped_stats import ArmMoments, analyze_metric
from tests.helpers import assert_matches_tea_tasting

RTOL = 1e-9


def numpy_moments(variant: str, y: np.ndarray, x: np.ndarray, names: list[str]) -> ArmMoments:
    """Moments built with plain numpy (independent of ArmMoments.from_units)."""
    data = np.column_stack([y, x])
    n = len(y)
    mean = data.sum(axis=0) / n
    centred = data - mean
    cov = centred.T @ centred / (n - 1)
    return ArmMoments(variant=variant, n=n, names=("@y", *names), mean=mean, cov=cov)


def simulate(
    rng: np.random.Generator, sizes: dict[str, int], k: int, lifts: dict[str, float]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Unit data per arm: y = 3 + lift + x·β + ε with correlated covariates."""
    beta = np.linspace(1.5, 0.5, k)
    mix = np.eye(k) + 0.4
    out = {}
    for variant, n in sizes.items():
        x = rng.normal(2.0, 1.0, size=(n, k)) @ mix
        y = 3.0 + lifts.get(variant, 0.0) + x @ beta + rng.normal(0.0, 2.0, n)
        out[variant] = (y, x)
    return out


def ols_fit(data: dict[str, tuple[np.ndarray, np.ndarray]], control: str):
    """statsmodels OLS of y ~ 1 + arm dummies (control as baseline) + x."""
    variants = [v for v in data if v != control]
    ys, rows = [], []
    for variant, (y, x) in data.items():
        dummies = np.array([[variant == v for v in variants]] * len(y), dtype=float)
        rows.append(np.column_stack([np.ones(len(y)), dummies, x]))
        ys.append(y)
    fit = sm.OLS(np.concatenate(ys), np.vstack(rows)).fit()
    effects = dict(zip(variants, fit.params[1 : 1 + len(variants)], strict=True))
    return effects, fit.params[1 + len(variants) :]


@pytest.mark.parametrize(
    ("sizes", "k"),
    [
        ({"control": 300, "b": 280}, 1),
        ({"control": 300, "b": 350}, 2),
        ({"control": 250, "b": 260, "c": 240}, 1),
        ({"control": 250, "b": 260, "c": 240}, 3),
    ],
)
def test_within_theta_and_effects_equal_statsmodels_ancova(sizes: dict[str, int], k: int) -> None:
    rng = np.random.default_rng(sum(sizes.values()) + k)
    data = simulate(rng, sizes, k, {"b": 0.4, "c": -0.3})
    names = [f"x{j}" for j in range(k)]
    arms = [numpy_moments(v, y, x, names) for v, (y, x) in data.items()]

    results = analyze_metric(arms, "control", theta_method="within")
    ols_effects, ols_theta = ols_fit(data, "control")

    assert [r.variant for r in results] == [v for v in sizes if v != "control"]
    for result in results:
        assert result.status == "ok"
        assert result.covariates == tuple(names)
        np.testing.assert_allclose(result.theta, ols_theta, rtol=RTOL)
        np.testing.assert_allclose(result.cuped.effect, ols_effects[result.variant], rtol=RTOL)


def welch_on_residuals(r_t: np.ndarray, r_c: np.ndarray) -> tuple[float, float, float]:
    """Welch SE and df written out in plain numpy, and the mean difference."""
    va = r_t.var(ddof=1) / len(r_t)
    vb = r_c.var(ddof=1) / len(r_c)
    df = (va + vb) ** 2 / (va**2 / (len(r_t) - 1) + vb**2 / (len(r_c) - 1))
    return r_t.mean() - r_c.mean(), np.sqrt(va + vb), df


@pytest.mark.parametrize("theta_method", ["within", "total"])
def test_cuped_se_p_value_and_ci_equal_welch_test_on_unit_residuals(theta_method: str) -> None:
    rng = np.random.default_rng(7)
    data = simulate(rng, {"control": 400, "b": 380, "c": 420}, 2, {"b": 0.5})
    arms = [
        ArmMoments.from_units(v, {"@y": y, "a": x[:, 0], "b": x[:, 1]})
        for v, (y, x) in data.items()
    ]
    results = analyze_metric(arms, "control", alpha=0.1, theta_method=theta_method)
    for result in results:
        theta = np.array(result.theta)
        if theta_method == "total":  # θ from the plain covariance of control + treatment units
            pair = [data["control"], data[result.variant]]
            z = np.column_stack(
                [np.concatenate([y for y, _ in pair]), np.vstack([x for _, x in pair])]
            )
            s = np.cov(z.T, ddof=1)
            np.testing.assert_allclose(theta, np.linalg.solve(s[1:, 1:], s[1:, 0]), rtol=RTOL)
        r_c = data["control"][0] - data["control"][1] @ theta
        r_t = data[result.variant][0] - data[result.variant][1] @ theta
        effect, se, df = welch_on_residuals(r_t, r_c)
        test = scipy.stats.ttest_ind(r_t, r_c, equal_var=False)
        ci = test.confidence_interval(confidence_level=0.9)

        np.testing.assert_allclose(result.cuped.effect, effect, rtol=RTOL)
        np.testing.assert_allclose(result.cuped.se, se, rtol=RTOL)
        np.testing.assert_allclose(result.cuped.degrees_of_freedom, df, rtol=RTOL)
        np.testing.assert_allclose(result.cuped.p_value, test.pvalue, rtol=RTOL)
        np.testing.assert_allclose(
            [result.cuped.ci_lower, result.cuped.ci_upper], [ci.low, ci.high], rtol=RTOL
        )


def test_unadjusted_figures_equal_scipy_welch_test() -> None:
    rng = np.random.default_rng(11)
    data = simulate(rng, {"control": 150, "b": 170}, 1, {"b": 0.8})
    arms = [numpy_moments(v, y, x, ["pre"]) for v, (y, x) in data.items()]
    (result,) = analyze_metric(arms, "control", alpha=0.05)
    y_c, y_t = data["control"][0], data["b"][0]
    test = scipy.stats.ttest_ind(y_t, y_c, equal_var=False)
    ci = test.confidence_interval(confidence_level=0.95)

    raw = result.unadjusted
    np.testing.assert_allclose(raw.effect, y_t.mean() - y_c.mean(), rtol=RTOL)
    np.testing.assert_allclose(raw.p_value, test.pvalue, rtol=RTOL)
    np.testing.assert_allclose([raw.ci_lower, raw.ci_upper], [ci.low, ci.high], rtol=RTOL)
    np.testing.assert_allclose(
        raw.se, np.sqrt(y_t.var(ddof=1) / 170 + y_c.var(ddof=1) / 150), rtol=RTOL
    )
    np.testing.assert_allclose(raw.relative_effect, y_t.mean() / y_c.mean() - 1, rtol=RTOL)
    np.testing.assert_allclose(
        result.variance_reduction, 1 - result.cuped.se**2 / raw.se**2, rtol=RTOL
    )


def test_no_covariates_gives_identical_cuped_and_unadjusted_figures() -> None:
    rng = np.random.default_rng(3)
    y_c, y_t = rng.normal(10, 2, 200), rng.normal(10.5, 2, 210)
    arms = [
        ArmMoments(v, len(y), ("@y",), np.array([y.mean()]), np.array([[y.var(ddof=1)]]))
        for v, y in (("control", y_c), ("b", y_t))
    ]
    (result,) = analyze_metric(arms, "control")
    assert result.cuped == result.unadjusted
    assert result.theta == () and result.covariates == () and result.covariates_dropped == ()
    assert result.variance_reduction == 0.0
    assert result.status == "ok"
    np.testing.assert_allclose(
        result.cuped.p_value, scipy.stats.ttest_ind(y_t, y_c, equal_var=False).pvalue, rtol=RTOL
    )


def test_constant_and_collinear_covariates_are_dropped_and_estimate_equals_ols_without_them():
    rng = np.random.default_rng(5)
    data = simulate(rng, {"control": 300, "b": 310, "c": 290}, 2, {"b": 0.3})
    widened = {}
    for variant, (y, x) in data.items():
        constant = np.full(len(y), 7.0)
        collinear = 2.0 * x[:, 0] - 3.0 * x[:, 1] + 1.0
        widened[variant] = (y, np.column_stack([x[:, 0], constant, x[:, 1], collinear]))
    names = ["pre", "always_seven", "sessions", "pre_minus_sessions"]
    arms = [numpy_moments(v, y, x, names) for v, (y, x) in widened.items()]

    results = analyze_metric(arms, "control")
    ols_effects, ols_theta = ols_fit(data, "control")
    for result in results:
        assert result.covariates == ("pre", "sessions")
        assert dict(result.covariates_dropped) == {
            "always_seven": "constant",
            "pre_minus_sessions": "collinear",
        }
        np.testing.assert_allclose(result.theta, ols_theta, rtol=RTOL)
        np.testing.assert_allclose(result.cuped.effect, ols_effects[result.variant], rtol=RTOL)


def test_earlier_covariate_wins_when_two_are_duplicates() -> None:
    rng = np.random.default_rng(8)
    data = simulate(rng, {"control": 100, "b": 100}, 1, {})
    arms = [
        numpy_moments(v, y, np.column_stack([x, x]), ["first", "second"])
        for v, (y, x) in data.items()
    ]
    (result,) = analyze_metric(arms, "control", theta_method="total")
    assert result.covariates == ("first",)
    assert result.covariates_dropped == (("second", "collinear"),)


def test_covariate_constant_within_arms_is_dropped_for_within_theta() -> None:
    # A covariate that only differs between arms is collinear with the arm indicators: OLS
    # cannot separate it, so within θ must drop it.
    rng = np.random.default_rng(9)
    data = simulate(rng, {"control": 100, "b": 100}, 1, {})
    arms = [
        numpy_moments(v, y, np.column_stack([x, np.full(len(y), float(i))]), ["pre", "arm"])
        for i, (v, (y, x)) in enumerate(data.items())
    ]
    (result,) = analyze_metric(arms, "control", theta_method="within")
    assert result.covariates == ("pre",)
    assert result.covariates_dropped == (("arm", "constant"),)


def test_total_theta_matches_tea_tasting_cuped_mean() -> None:
    import pandas as pd
    import tea_tasting as tt

    rng = np.random.default_rng(21)
    data = simulate(rng, {"control": 500, "b": 450}, 1, {"b": 0.6})
    frame = pd.DataFrame(
        {
            "variant": np.repeat([0, 1], [500, 450]),
            "y": np.concatenate([data["control"][0], data["b"][0]]),
            "x": np.concatenate([data["control"][1][:, 0], data["b"][1][:, 0]]),
        }
    )
    expected = tt.Experiment(metric=tt.Mean("y", "x")).analyze(frame, control=0)["metric"]
    arms = [numpy_moments(v, y, x, ["pre"]) for v, (y, x) in data.items()]
    (result,) = analyze_metric(arms, "control", alpha=0.05, theta_method="total")

    # tea-tasting: θ from the covariance of control + treatment, x̄ of control + treatment,
    # Welch-Satterthwaite t (equal_var=False, use_t=True): all of these match exactly.
    assert_matches_tea_tasting(result.cuped, expected, rtol=RTOL)
    # Differs by design: tea-tasting's relative CI is multiplicative, exp(±t·se_log) on the means
    # ratio, with se_log² = v_t/(n_t m_t²) + v_c/(n_c m_c²) and its own Welch df; it omits the
    # covariance of m_t and m_c through the shared x̄. Ours is the additive delta-method CI with
    # that covariance and the absolute CI's df. Both centre near the same value.
    assert result.cuped.relative_ci_lower == pytest.approx(
        expected.rel_effect_size_ci_lower, rel=0.05
    )
    assert result.cuped.relative_ci_upper == pytest.approx(
        expected.rel_effect_size_ci_upper, rel=0.05
    )


def numeric_delta_relative_se(
    data: dict[str, tuple[np.ndarray, np.ndarray]], control: str, treatment: str, theta: np.ndarray
) -> float:
    """SE of m_t/m_c - 1 by finite-difference gradients over every arm's mean vector (θ fixed)."""
    variants = list(data)
    units = {v: np.column_stack([y, x]) for v, (y, x) in data.items()}
    sizes = {v: len(z) for v, z in units.items()}

    def relative(means: dict[str, np.ndarray]) -> float:
        x_bar = sum(sizes[v] * means[v][1:] for v in variants) / sum(sizes.values())
        m = {v: means[v][0] - theta @ (means[v][1:] - x_bar) for v in (control, treatment)}
        return m[treatment] / m[control] - 1

    base = {v: z.mean(axis=0) for v, z in units.items()}
    variance = 0.0
    for v in variants:
        grad = np.zeros(len(base[v]))
        for i in range(len(grad)):
            step = 1e-6 * max(1.0, abs(base[v][i]))
            up = {**base, v: base[v] + step * np.eye(len(grad))[i]}
            down = {**base, v: base[v] - step * np.eye(len(grad))[i]}
            grad[i] = (relative(up) - relative(down)) / (2 * step)
        variance += grad @ np.cov(units[v].T, ddof=1) @ grad / sizes[v]
    return float(np.sqrt(variance))


def test_relative_ci_equals_numerical_delta_method_with_pooled_covariate_mean() -> None:
    rng = np.random.default_rng(13)
    data = simulate(rng, {"control": 200, "b": 220, "c": 180}, 2, {"b": 0.7, "c": 0.2})
    arms = [numpy_moments(v, y, x, ["p", "q"]) for v, (y, x) in data.items()]
    for result in analyze_metric(arms, "control", alpha=0.05):
        se_rel = numeric_delta_relative_se(data, "control", result.variant, np.array(result.theta))
        t_q = scipy.stats.t.ppf(0.975, result.cuped.degrees_of_freedom)
        rel = result.cuped.relative_effect
        np.testing.assert_allclose(
            [result.cuped.relative_ci_lower, result.cuped.relative_ci_upper],
            [rel - t_q * se_rel, rel + t_q * se_rel],
            rtol=1e-6,
        )


def test_unadjusted_relative_ci_equals_textbook_delta_method() -> None:
    rng = np.random.default_rng(17)
    data = simulate(rng, {"control": 120, "b": 140}, 1, {"b": 1.0})
    arms = [numpy_moments(v, y, x, ["pre"]) for v, (y, x) in data.items()]
    (result,) = analyze_metric(arms, "control")
    y_c, y_t = data["control"][0], data["b"][0]
    var = (
        y_t.var(ddof=1) / len(y_t) / y_c.mean() ** 2
        + y_t.mean() ** 2 * y_c.var(ddof=1) / len(y_c) / y_c.mean() ** 4
    )
    t_q = scipy.stats.t.ppf(0.975, scipy.stats.ttest_ind(y_t, y_c, equal_var=False).df)
    rel = y_t.mean() / y_c.mean() - 1
    np.testing.assert_allclose(
        [result.unadjusted.relative_ci_lower, result.unadjusted.relative_ci_upper],
        [rel - t_q * np.sqrt(var), rel + t_q * np.sqrt(var)],
        rtol=RTOL,
    )


def test_relative_ci_coverage_is_within_binomial_band_of_nominal() -> None:
    # 2,000 experiments of 500 units per arm, y = 5 + τ + 2x + ε, x ~ N(2, 1): true relative
    # effect τ / E[y_c] = 0.5 / 9. Moments are computed vectorised; each replication is analysed.
    reps, n, level = 2000, 500, 0.95
    rng = np.random.default_rng(2024)
    true_relative = 0.5 / 9.0
    moments = {}
    for variant, lift in (("control", 0.0), ("b", 0.5)):
        x = rng.normal(2.0, 1.0, size=(reps, n))
        y = 5.0 + lift + 2.0 * x + rng.normal(0.0, 3.0, size=(reps, n))
        z = np.stack([y, x], axis=2)
        mean = z.mean(axis=1)
        centred = z - mean[:, None, :]
        moments[variant] = (mean, np.einsum("rni,rnj->rij", centred, centred) / (n - 1))
    covered = 0
    for r in range(reps):
        arms = [ArmMoments(v, n, ("@y", "pre"), m[r], c[r]) for v, (m, c) in moments.items()]
        (result,) = analyze_metric(arms, "control", alpha=1 - level)
        covered += result.cuped.relative_ci_lower <= true_relative <= result.cuped.relative_ci_upper
    coverage = covered / reps
    band = 4.0 * np.sqrt(level * (1 - level) / reps)  # 4 binomial SDs: false alarm ~6e-5
    assert abs(coverage - level) < band, f"coverage {coverage:.4f} outside {level}±{band:.4f}"


# --- degenerate cases ------------------------------------------------------------------------

STAT_FIELDS = ("se", "ci_lower", "ci_upper", "degrees_of_freedom", "p_value")


def arm(
    variant: str,
    n: int,
    y_mean: float,
    y_var: float,
    x_var: float = 1.0,
    cov: float = 0.5,
    x_mean: float = 1.0,
) -> ArmMoments:
    return ArmMoments(
        variant,
        n,
        ("@y", "pre"),
        np.array([y_mean, x_mean]),
        np.array([[y_var, cov], [cov, x_var]]),
    )


def test_missing_control_gives_status_and_none_statistics() -> None:
    results = analyze_metric([arm("b", 50, 2.0, 1.0), arm("c", 40, 2.0, 1.0)], "control")
    assert [r.status for r in results] == ["missing_control", "missing_control"]
    for result in results:
        assert result.n_control == 0
        assert result.unadjusted.variant_mean == 2.0
        assert result.cuped.effect is None and result.unadjusted.effect is None
        assert all(getattr(result.cuped, f) is None for f in STAT_FIELDS)
        assert result.variance_reduction is None


def test_arm_with_one_unit_gives_insufficient_sample_and_none_statistics() -> None:
    single = ArmMoments("b", 1, ("@y", "pre"), np.array([3.0, 1.0]), np.full((2, 2), np.nan))
    (result,) = analyze_metric([arm("control", 50, 2.0, 1.0), single], "control")
    assert result.status == "insufficient_sample"
    assert result.unadjusted.effect == 1.0
    assert all(getattr(result.cuped, f) is None for f in STAT_FIELDS)
    assert all(getattr(result.unadjusted, f) is None for f in STAT_FIELDS)
    assert result.cuped.effect is None and result.variance_reduction is None


def test_outcome_predicted_exactly_by_covariate_gives_zero_variance() -> None:
    # y = 1 + 2x exactly: the residual has no variance, the unadjusted outcome does.
    rng = np.random.default_rng(1)
    arms = []
    for variant, lift in (("control", 0.0), ("b", 0.5)):
        x = rng.normal(0, 1, 60)
        arms.append(ArmMoments.from_units(variant, {"@y": 1 + lift + 2 * x, "pre": x}))
    (result,) = analyze_metric(arms, "control")
    assert result.status == "zero_variance"
    assert result.cuped.effect == pytest.approx(0.5, rel=1e-9)
    assert all(getattr(result.cuped, f) is None for f in STAT_FIELDS)
    assert result.cuped.relative_ci_lower is None and result.cuped.relative_ci_upper is None
    assert result.unadjusted.se is not None and result.unadjusted.p_value is not None
    assert result.variance_reduction == 1.0


def test_constant_outcome_gives_zero_variance_without_nan() -> None:
    arms = [arm("control", 30, 1.0, 0.0, cov=0.0), arm("b", 30, 1.0, 0.0, cov=0.0)]
    (result,) = analyze_metric(arms, "control")
    assert result.status == "zero_variance"
    assert result.cuped.effect == 0.0 and result.cuped.relative_effect == 0.0
    assert all(getattr(result.cuped, f) is None for f in STAT_FIELDS)
    assert result.variance_reduction is None


def test_zero_control_mean_gives_relative_undefined_with_absolute_figures_present() -> None:
    arms = [arm("control", 80, 0.0, 1.0, cov=0.0), arm("b", 80, 0.3, 1.0, cov=0.0)]
    (result,) = analyze_metric(arms, "control")  # S_xy = 0, so θ = 0 and m_c = ȳ_c = 0
    assert result.status == "relative_undefined"
    assert result.cuped.relative_effect is None
    assert result.cuped.relative_ci_lower is None and result.cuped.relative_ci_upper is None
    assert result.unadjusted.relative_effect is None
    assert result.cuped.p_value is not None and result.cuped.se is not None


def test_unknown_metric_type_raises_value_error_naming_it() -> None:
    arms = [arm("control", 10, 1.0, 1.0), arm("b", 10, 1.0, 1.0)]
    with pytest.raises(ValueError, match="'median'"):
        analyze_metric(arms, "control", metric_type="median")
    with pytest.raises(ValueError, match="theta_method"):
        analyze_metric(arms, "control", theta_method="pooled")
