"""CUPED comparisons checked against independent methods on unit-level data.

References used here: statsmodels OLS (within θ is the ANCOVA coefficient; its residuals,
leverages and design give the SE with θ estimated), unit-level linear-operator matrices (total θ),
a Welch t-test on unit-level residuals in plain numpy and scipy (θ treated as known, the large-n
limit), tea-tasting's CUPED (total θ, θ known), and a numerical (finite-difference) delta method
for the relative effect.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import statsmodels.api as sm

from cuped_stats import ArmMoments, analyze_metric
from tests.helpers import assert_matches_tea_tasting, estimated_theta_reference

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
def test_theta_known_se_p_value_and_ci_equal_welch_test_on_unit_residuals(theta_method: str):
    rng = np.random.default_rng(7)
    data = simulate(rng, {"control": 400, "b": 380, "c": 420}, 2, {"b": 0.5})
    arms = [
        ArmMoments.from_units(v, {"@y": y, "a": x[:, 0], "b": x[:, 1]})
        for v, (y, x) in data.items()
    ]
    results = analyze_metric(
        arms, "control", alpha=0.1, theta_method=theta_method, small_sample_correction=False
    )
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


@pytest.mark.parametrize("theta_method", ["within", "total"])
def test_cuped_se_and_df_equal_unit_level_regression_with_theta_estimated(theta_method: str):
    # Few units per covariate, unequal arms and variances: the correction is large here.
    rng = np.random.default_rng(23)
    data = simulate(rng, {"control": 24, "b": 31, "c": 27}, 4, {"b": 0.5})
    data["b"] = (data["b"][0] * 1.7, data["b"][1])  # a larger residual variance in arm b
    names = [f"x{j}" for j in range(4)]
    arms = [numpy_moments(v, y, x, names) for v, (y, x) in data.items()]
    results = analyze_metric(arms, "control", alpha=0.1, theta_method=theta_method)
    known = analyze_metric(
        arms, "control", alpha=0.1, theta_method=theta_method, small_sample_correction=False
    )
    for result, theta_known in zip(results, known, strict=True):
        ref = estimated_theta_reference(data, "control", result.variant, theta_method)
        t_q = scipy.stats.t.ppf(0.95, ref.df)
        np.testing.assert_allclose(result.theta, ref.theta, rtol=RTOL)
        np.testing.assert_allclose(result.cuped.effect, ref.effect, rtol=RTOL)
        np.testing.assert_allclose(result.cuped.se, ref.se, rtol=RTOL)
        np.testing.assert_allclose(result.cuped.degrees_of_freedom, ref.df, rtol=RTOL)
        np.testing.assert_allclose(
            [result.cuped.ci_lower, result.cuped.ci_upper],
            [ref.effect - t_q * ref.se, ref.effect + t_q * ref.se],
            rtol=RTOL,
        )
        np.testing.assert_allclose(
            result.cuped.p_value,
            2 * scipy.stats.t.sf(abs(ref.effect) / ref.se, ref.df),
            rtol=RTOL,
        )
        # the correction matters at this size: for within θ (OLS) treating θ as known understates
        # the SE by several percent; total θ's weights do not sum to 1 per arm (its between-arm
        # part), so there its conditional variance may also be below the θ-known one.
        ratio = result.cuped.se / theta_known.cuped.se
        assert ratio > 1.03 if theta_method == "within" else abs(ratio - 1) > 0.01
        assert result.cuped.degrees_of_freedom < theta_known.cuped.degrees_of_freedom
        assert result.cuped.effect == theta_known.cuped.effect


def test_estimated_theta_changes_large_samples_by_less_than_1e_3_relative() -> None:
    rng = np.random.default_rng(29)
    data = simulate(rng, {"control": 20_000, "b": 20_000}, 8, {"b": 0.1})
    names = [f"x{j}" for j in range(8)]
    arms = [numpy_moments(v, y, x, names) for v, (y, x) in data.items()]
    (corrected,) = analyze_metric(arms, "control")
    (known,) = analyze_metric(arms, "control", small_sample_correction=False)
    assert corrected.cuped.effect == known.cuped.effect
    assert corrected.cuped.relative_effect == known.cuped.relative_effect
    for field in ("se", "ci_lower", "ci_upper", "relative_ci_lower", "relative_ci_upper"):
        ratio = getattr(corrected.cuped, field) / getattr(known.cuped, field)
        assert abs(ratio - 1) < 1e-3, field
    # never smaller: σ̂²_h ≥ v_h and dᵀVar(θ̂)d ≥ 0; about k/(2n) = 2e-4 larger here
    assert 0 < corrected.cuped.se / known.cuped.se - 1 < 4e-4


def test_arm_fitted_exactly_by_the_covariates_gives_insufficient_sample() -> None:
    # The covariates are constant in the control arm, so θ comes from the 3 treated units alone
    # and fits them exactly: the treatment arm has no residual degrees of freedom.
    rng = np.random.default_rng(31)
    x_t = rng.normal(size=(3, 2))
    arms = [
        numpy_moments("control", rng.normal(size=40), np.zeros((40, 2)), ["p", "q"]),
        numpy_moments("b", rng.normal(size=3) + x_t @ [1.0, 2.0], x_t, ["p", "q"]),
    ]
    (result,) = analyze_metric(arms, "control")
    assert result.status == "insufficient_sample"
    assert "no residual degrees of freedom" in result.status_reason
    assert result.cuped.effect is not None
    assert all(getattr(result.cuped, f) is None for f in STAT_FIELDS)
    assert result.variance_reduction is None
    assert result.unadjusted.se is not None  # the unadjusted comparison is unaffected


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
    (result,) = analyze_metric(
        arms, "control", alpha=0.05, theta_method="total", small_sample_correction=False
    )

    # tea-tasting treats θ as known (small_sample_correction=False here): θ from the covariance
    # of control + treatment, x̄ of control + treatment, Welch-Satterthwaite t (equal_var=False,
    # use_t=True): all of these match exactly.
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


def numeric_delta_means_covariance(
    data: dict[str, tuple[np.ndarray, np.ndarray]], control: str, treatment: str, theta: np.ndarray
) -> np.ndarray:
    """Cov of (m_t, m_c) by finite-difference gradients over every arm's mean vector (θ fixed)."""
    variants = list(data)
    units = {v: np.column_stack([y, x]) for v, (y, x) in data.items()}
    sizes = {v: len(z) for v, z in units.items()}

    def adjusted(means: dict[str, np.ndarray]) -> np.ndarray:
        x_bar = sum(sizes[v] * means[v][1:] for v in variants) / sum(sizes.values())
        pair = (treatment, control)
        return np.array([means[v][0] - theta @ (means[v][1:] - x_bar) for v in pair])

    base = {v: z.mean(axis=0) for v, z in units.items()}
    covariance = np.zeros((2, 2))
    for v in variants:
        jac = np.zeros((2, len(base[v])))
        for i in range(len(base[v])):
            step = 1e-6 * max(1.0, abs(base[v][i]))
            up = {**base, v: base[v] + step * np.eye(len(base[v]))[i]}
            down = {**base, v: base[v] - step * np.eye(len(base[v]))[i]}
            jac[:, i] = (adjusted(up) - adjusted(down)) / (2 * step)
        covariance += jac @ np.cov(units[v].T, ddof=1) @ jac.T / sizes[v]
    return covariance


def relative_se(m_t: float, m_c: float, covariance: np.ndarray) -> float:
    grad = np.array([1 / m_c, -m_t / m_c**2])
    return float(np.sqrt(grad @ covariance @ grad))


def test_theta_known_relative_ci_equals_numerical_delta_method_with_pooled_covariate_mean():
    rng = np.random.default_rng(13)
    data = simulate(rng, {"control": 200, "b": 220, "c": 180}, 2, {"b": 0.7, "c": 0.2})
    arms = [numpy_moments(v, y, x, ["p", "q"]) for v, (y, x) in data.items()]
    for result in analyze_metric(arms, "control", alpha=0.05, small_sample_correction=False):
        est = result.cuped
        cov = numeric_delta_means_covariance(
            data, "control", result.variant, np.array(result.theta)
        )
        se_rel = relative_se(est.variant_mean, est.control_mean, cov)
        t_q = scipy.stats.t.ppf(0.975, est.degrees_of_freedom)
        rel = est.relative_effect
        np.testing.assert_allclose(est.relative_se, se_rel, rtol=1e-6)
        np.testing.assert_allclose(
            [est.relative_ci_lower, est.relative_ci_upper],
            [rel - t_q * se_rel, rel + t_q * se_rel],
            rtol=1e-6,
        )


def test_relative_ci_with_theta_estimated_adds_the_conditional_regression_covariance() -> None:
    # Cov(m_t, m_c) = the θ-known delta-method covariance (its x̄ terms) with the residual terms
    # v_g/n_g replaced by the unit-level regression covariance Σ_h σ̂²_h Σ_{j∈h} c^a_j c^b_j.
    rng = np.random.default_rng(19)
    data = simulate(rng, {"control": 30, "b": 26, "c": 35}, 3, {"b": 0.7, "c": 0.2})
    arms = [numpy_moments(v, y, x, ["p", "q", "r"]) for v, (y, x) in data.items()]
    for result in analyze_metric(arms, "control", alpha=0.05):
        est = result.cuped
        theta = np.array(result.theta)
        ref = estimated_theta_reference(data, "control", result.variant)
        residual_var = [
            (data[v][0] - data[v][1] @ theta).var(ddof=1) / len(data[v][0])
            for v in (result.variant, "control")
        ]
        cov = (
            numeric_delta_means_covariance(data, "control", result.variant, theta)
            - np.diag(residual_var)
            + ref.conditional_covariance
        )
        se_rel = relative_se(est.variant_mean, est.control_mean, cov)
        t_q = scipy.stats.t.ppf(0.975, ref.df)
        rel = est.relative_effect
        np.testing.assert_allclose(est.relative_se, se_rel, rtol=1e-6)
        np.testing.assert_allclose(
            [est.relative_ci_lower, est.relative_ci_upper],
            [rel - t_q * se_rel, rel + t_q * se_rel],
            rtol=1e-6,
        )


def test_fieller_interval_is_where_the_welch_test_of_the_ratio_is_not_rejected() -> None:
    # Unadjusted: H0 ȳ_t = ρ·ȳ_c is a Welch test of y_t against ρ·y_c (scipy), whose statistic
    # is ±t (the absolute CI's quantile) exactly at the Fieller end points.
    rng = np.random.default_rng(37)
    y_c, y_t = rng.lognormal(1.0, 1.2, 80), rng.lognormal(1.1, 1.2, 90)
    arms = [
        ArmMoments(v, len(y), ("@y",), [y.mean()], [[y.var(ddof=1)]])
        for v, y in (("control", y_c), ("b", y_t))
    ]
    (result,) = analyze_metric(arms, "control", relative_ci_method="fieller")
    est = result.cuped
    t_q = scipy.stats.t.ppf(0.975, est.degrees_of_freedom)
    for end, sign in ((est.relative_ci_lower, 1.0), (est.relative_ci_upper, -1.0)):
        statistic = scipy.stats.ttest_ind(y_t, (1 + end) * y_c, equal_var=False).statistic
        np.testing.assert_allclose(statistic, sign * t_q, rtol=1e-9)
    inside = np.linspace(est.relative_ci_lower, est.relative_ci_upper, 7)[1:-1]
    statistics = scipy.stats.ttest_ind(y_t, np.outer(1 + inside, y_c), axis=1, equal_var=False)
    assert (np.abs(statistics.statistic) < t_q).all()
    # asymmetric, and wider on the side away from zero, like the ratio's sampling distribution
    assert est.relative_ci_upper - est.relative_effect > est.relative_effect - est.relative_ci_lower


def test_cuped_fieller_interval_inverts_the_test_of_the_contrast_m_t_minus_rho_m_c() -> None:
    rng = np.random.default_rng(41)
    data = simulate(rng, {"control": 40, "b": 45, "c": 38}, 2, {"b": 0.7})
    arms = [numpy_moments(v, y, x, ["p", "q"]) for v, (y, x) in data.items()]
    delta = analyze_metric(arms, "control", relative_ci_method="delta")
    fieller = analyze_metric(arms, "control", relative_ci_method="fieller")
    for by_delta, result in zip(delta, fieller, strict=True):
        est = result.cuped
        # V from the delta test above (independently checked): recover it from the delta result
        theta = np.array(result.theta)
        ref = estimated_theta_reference(data, "control", result.variant)
        residual_var = [
            (data[v][0] - data[v][1] @ theta).var(ddof=1) / len(data[v][0])
            for v in (result.variant, "control")
        ]
        cov = (
            numeric_delta_means_covariance(data, "control", result.variant, theta)
            - np.diag(residual_var)
            + ref.conditional_covariance
        )
        t_q = scipy.stats.t.ppf(0.975, ref.df)
        for end in (est.relative_ci_lower, est.relative_ci_upper):
            g = np.array([1.0, -(1.0 + end)])
            contrast = est.variant_mean - (1.0 + end) * est.control_mean
            np.testing.assert_allclose(abs(contrast) / np.sqrt(g @ cov @ g), t_q, rtol=1e-6)
        assert est.relative_effect == by_delta.cuped.relative_effect
        assert est.relative_se == by_delta.cuped.relative_se


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
