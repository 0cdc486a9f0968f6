"""The Bayesian read-out against numerical integration, calibration and meta-analysis references.

References: scipy.integrate.quad of prior x likelihood (posterior probabilities, quantiles and
expected loss); simulation of effects drawn from the prior (a Bayesian statement is calibrated
under its prior: events stated at 80-90% happen at that rate, within binomial bands); statsmodels'
Paule–Mandel random-effects meta-analysis (``combine_effects(method_re="pm")``) for the moment
fit of past experiments; and simulation of known between-experiment spreads τ.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.stats
from statsmodels.stats.meta_analysis import combine_effects

from cuped_stats.bayes import (
    WEAK_PRIOR_SD,
    NormalPrior,
    bayes_readout,
    empirical_bayes_prior,
    fit_history,
    fixed_prior,
)


def binomial_band(n: int, p: float, level: float = 0.999) -> tuple[float, float]:
    """Central `level` interval of a Binomial(n, p) share."""
    tail = (1 - level) / 2
    return scipy.stats.binom.ppf(tail, n, p) / n, scipy.stats.binom.isf(tail, n, p) / n


def integrated_posterior(r_hat: float, se: float, prior: NormalPrior, higher: bool):
    """Chance to win, the posterior CDF and expected loss by quadrature of prior x likelihood."""

    def density(r: float) -> float:
        return scipy.stats.norm.pdf(r, prior.mean, prior.sd) * scipy.stats.norm.pdf(r_hat, r, se)

    lo, hi = min(prior.mean, r_hat) - 40 * prior.sd, max(prior.mean, r_hat) + 40 * prior.sd
    points = [r_hat, prior.mean, 0.0]

    def integral(f, a: float, b: float) -> float:
        inside = [p for p in points if a < p < b]
        return scipy.integrate.quad(f, a, b, points=inside or None, limit=500, epsabs=0)[0]

    total = integral(density, lo, hi)
    positive = integral(density, 0.0, hi) / total
    chance = positive if higher else 1 - positive
    d = 1.0 if higher else -1.0
    loss = integral(lambda r: max(0.0, -d * r) * density(r), lo, hi) / total

    def cdf(q: float) -> float:
        return integral(density, lo, q) / total

    return chance, cdf, loss


@pytest.mark.parametrize(
    ("r_hat", "se", "prior", "higher", "alpha"),
    [
        (0.04, 0.02, (0.0, 0.3), True, 0.05),
        (0.04, 0.02, (0.0, 0.3), False, 0.05),
        (-0.01, 0.015, (0.005, 0.02), True, 0.1),
        (0.2, 0.1, (-0.05, 0.05), False, 0.2),
        (0.0, 0.01, (0.0, 0.01), True, 0.05),
    ],
)
def test_posterior_figures_equal_numerical_integration(r_hat, se, prior, higher, alpha) -> None:
    normal = fixed_prior(*prior)
    out = bayes_readout(r_hat, se, normal, higher_is_better=higher, alpha=alpha)
    chance, cdf, loss = integrated_posterior(r_hat, se, normal, higher)
    assert out.status == "ok" and out.status_reason == ""
    assert out.chance_to_win == pytest.approx(chance, abs=1e-9)
    # the credible interval's ends are the posterior's alpha/2 and 1 - alpha/2 quantiles
    assert [cdf(out.ci_lower), cdf(out.ci_upper)] == pytest.approx([alpha / 2, 1 - alpha / 2])
    assert out.expected_loss == pytest.approx(loss, rel=1e-7, abs=1e-12)
    assert out.prior is normal


def test_chance_to_win_and_credible_interval_are_calibrated_under_the_prior() -> None:
    # Effects drawn from the prior; each experiment's SE differs. Among read-outs stating a
    # chance to win in [0.8, 0.9) (and in every other decile), the treatment is better at the
    # stated rate; the credible interval covers the true effect at 1 - alpha.
    rng = np.random.default_rng(2027)
    prior = fixed_prior(0.01, 0.03)
    n = 40_000
    for higher in (True, False):
        effect = rng.normal(prior.mean, prior.sd, n)
        se = rng.uniform(0.005, 0.06, n)
        r_hat = rng.normal(effect, se)
        outs = [
            bayes_readout(r, s, prior, higher_is_better=higher)
            for r, s in zip(r_hat, se, strict=True)
        ]
        chance = np.array([o.chance_to_win for o in outs])
        wins = effect > 0 if higher else effect < 0
        for low in np.arange(0.0, 1.0, 0.1):
            stated = (chance >= low) & (chance < low + 0.1)
            band = binomial_band(int(stated.sum()), float(chance[stated].mean()))
            assert band[0] <= wins[stated].mean() <= band[1], (higher, low, stated.sum())
        in_80_90 = (chance >= 0.8) & (chance < 0.9)
        assert in_80_90.sum() > 1_000
        assert 0.8 <= wins[in_80_90].mean() <= 0.9
        covered = np.mean(
            [o.ci_lower <= e <= o.ci_upper for o, e in zip(outs, effect, strict=True)]
        )
        band = binomial_band(n, 0.95)
        assert band[0] <= covered <= band[1]
        # expected loss is the mean realised loss of shipping (law of total expectation)
        realised = np.maximum(0.0, -effect if higher else effect)
        expected = np.array([o.expected_loss for o in outs])
        spread = realised.std() / math.sqrt(n)
        assert abs(expected.mean() - realised.mean()) < 4 * spread


def test_degenerate_inputs_give_none_and_a_status() -> None:
    prior = fixed_prior()
    for effect, se, status in (
        (None, 0.01, "missing_estimate"),
        (0.02, None, "missing_estimate"),
        (float("nan"), 0.01, "missing_estimate"),
        (0.02, float("nan"), "missing_estimate"),
        (0.02, 0.0, "zero_variance"),
    ):
        out = bayes_readout(effect, se, prior)
        assert out.status == status and out.status_reason
        for field in ("chance_to_win", "ci_lower", "ci_upper", "expected_loss", "posterior_mean"):
            assert getattr(out, field) is None
    with pytest.raises(ValueError, match="relative_se"):
        bayes_readout(0.02, -0.01, prior)
    with pytest.raises(ValueError, match="alpha"):
        bayes_readout(0.02, 0.01, prior, alpha=1.0)
    with pytest.raises(ValueError, match="positive sd"):
        fixed_prior(0.0, 0.0)


# --- the empirical-Bayes prior ---------------------------------------------------------------


def test_paule_mandel_fit_equals_statsmodels_random_effects_meta_analysis() -> None:
    rng = np.random.default_rng(5)
    se = rng.uniform(0.01, 0.05, 25)
    effects = rng.normal(rng.normal(0.01, 0.03, 25), se)
    fit = fit_history([*effects, None, 0.1], [*se, 0.02, 0.0])
    expected = combine_effects(effects, se**2, method_re="pm")
    assert fit is not None
    assert (fit.n_experiments, fit.n_excluded) == (25, 2)
    # statsmodels iterates to a relative tolerance of about 1e-6; ours solves to 1e-12
    assert fit.tau2 == pytest.approx(expected.tau2, rel=1e-5)
    assert fit.mean == pytest.approx(expected.mean_effect_re, rel=1e-5)
    assert fit.mean_se == pytest.approx(expected.sd_eff_w_re, rel=1e-5)


def test_paule_mandel_root_equals_brent_on_the_generalized_q() -> None:
    # the root of Q(τ²) = k - 1 against scipy's Brent solver on the same equation, written out
    # from its definition here: histories from homogeneous to heterogeneous, 2 to 500
    # experiments, SEs spread over two orders of magnitude, effects far from 0
    rng = np.random.default_rng(11)
    for case in range(300):
        k = int(rng.choice([2, 3, 5, 20, 100, 500]))
        se = rng.uniform(0.001, 0.1, k) if case % 2 else np.full(k, 0.02)
        tau = float(rng.choice([0.0, 0.01, 0.05, 1.0, 30.0]))
        effects = rng.normal(rng.normal(float(rng.normal(0, 5)), tau, k), se)
        v = se**2

        def q(t: float, effects: np.ndarray = effects, v: np.ndarray = v) -> float:
            w = 1.0 / (v + t)
            return float(np.sum(w * (effects - np.sum(w * effects) / np.sum(w)) ** 2))

        fit = fit_history(effects, se)
        assert fit is not None
        if q(0.0) <= k - 1:
            assert fit.tau2 == 0.0
            continue
        upper = 1.0
        while q(upper) > k - 1:
            upper *= 2.0
        expected = scipy.optimize.brentq(
            lambda t, q=q, k=k: q(t) - (k - 1), 0.0, upper, xtol=1e-300, rtol=1e-14
        )
        assert fit.tau2 == pytest.approx(expected, rel=1e-11), (case, k, tau)
        w = 1.0 / (v + expected)
        assert fit.mean == pytest.approx(np.sum(w * effects) / np.sum(w), rel=1e-11, abs=1e-15)


def test_paule_mandel_with_equal_standard_errors_is_the_plain_moment_estimator() -> None:
    rng = np.random.default_rng(6)
    for tau in (0.0, 0.02, 0.05):
        effects = rng.normal(rng.normal(0.0, tau, 30), 0.02)
        fit = fit_history(effects, [0.02] * 30)
        assert fit is not None
        assert fit.tau2 == pytest.approx(max(0.0, np.var(effects, ddof=1) - 0.02**2), abs=1e-14)
        assert fit.mean == pytest.approx(effects.mean(), rel=1e-12)


def test_empirical_bayes_recovers_a_known_between_experiment_spread() -> None:
    # 200 histories of 60 experiments each, τ = 0.03, SEs 0.005-0.03: the Paule-Mandel τ̂² is
    # unbiased but for its truncation at 0 (rare here), and the posterior mean of τ is close.
    rng = np.random.default_rng(7)
    tau, k, histories = 0.03, 60, 200
    tau2_hat, tau_post = [], []
    for _ in range(histories):
        se = rng.uniform(0.005, 0.03, k)
        effects = rng.normal(rng.normal(0.01, tau, k), se)
        fit = fit_history(effects, se)
        tau2_hat.append(fit.tau2)
        prior = empirical_bayes_prior(effects, se)
        tau_post.append(dict(prior.details)["tau_posterior_mean"])
    tau2_hat = np.array(tau2_hat)
    assert abs(tau2_hat.mean() - tau**2) < 4 * tau2_hat.std() / math.sqrt(histories)
    assert np.mean(tau_post) == pytest.approx(tau, rel=0.05)


def test_empirical_bayes_prior_is_the_weak_prior_without_history_and_the_fit_with_a_lot() -> None:
    weak = fixed_prior(0.0, 0.3)
    none = empirical_bayes_prior([], [], weak=weak)
    assert (none.mean, none.sd, none.source) == (0.0, 0.3, "weak")
    unusable = empirical_bayes_prior([None, 0.1], [0.02, 0.0], weak=weak)
    assert unusable.source == "weak" and dict(unusable.details)["n_excluded"] == 2
    # one past experiment: pulled towards the weak prior, far wider than that experiment's SE
    one = empirical_bayes_prior([0.05], [0.01], weak=weak)
    assert one.source == "empirical_bayes"
    assert 0.0 < one.mean < 0.05 and one.sd > 0.1
    # a long history: the prior tends to N(μ̂, τ̂²)
    rng = np.random.default_rng(8)
    se = rng.uniform(0.005, 0.02, 2_000)
    effects = rng.normal(rng.normal(0.02, 0.04, 2_000), se)
    many = empirical_bayes_prior(effects, se, weak=weak)
    fit = fit_history(effects, se)
    assert many.mean == pytest.approx(fit.mean, abs=0.002)
    assert many.sd == pytest.approx(math.sqrt(fit.tau2), rel=0.05)
    description = json.loads(many.to_json())
    assert description["source"] == "empirical_bayes" and description["n_experiments"] == 2_000
    assert description["weak_sd"] == WEAK_PRIOR_SD


def test_empirical_bayes_chance_to_win_is_calibrated_under_its_hierarchical_model() -> None:
    # μ and τ drawn from the hyperpriors the weak prior N(0, 0.05²) sets (τ ~ U(0, 0.05),
    # μ ~ N(0, (2/3)·0.05²)), a history of 10 experiments, then a new one: read-outs stating
    # 80-90% are right at the stated rate (the normal prior approximates the predictive
    # mixture; the band is the 99.9% binomial band).
    rng = np.random.default_rng(9)
    weak = fixed_prior(0.0, 0.05)
    stated, wins = [], []
    for _ in range(6_000):
        mu, tau = rng.normal(0.0, math.sqrt(2 / 3) * 0.05), rng.uniform(0.0, 0.05)
        se = rng.uniform(0.01, 0.05, 10)
        prior = empirical_bayes_prior(rng.normal(rng.normal(mu, tau, 10), se), se, weak=weak)
        s = rng.uniform(0.01, 0.05)
        effect = rng.normal(mu, tau)
        stated.append(bayes_readout(rng.normal(effect, s), s, prior).chance_to_win)
        wins.append(effect > 0)
    stated_arr, wins_arr = np.array(stated), np.array(wins)
    selected = (stated_arr >= 0.8) & (stated_arr < 0.9)
    band = binomial_band(int(selected.sum()), float(stated_arr[selected].mean()))
    assert selected.sum() > 300
    assert band[0] <= wins_arr[selected].mean() <= band[1]
