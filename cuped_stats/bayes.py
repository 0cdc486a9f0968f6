"""Bayesian read-out of a relative effect: chance to win, credible interval, expected loss.

From the same estimate the frequentist read-out uses, the relative effect ``r̂`` and its
(delta-method) standard error ``s`` (:attr:`cuped_stats.cuped.Estimate.relative_se`), with a
normal likelihood ``r̂ | r ~ N(r, s²)`` and a normal prior ``r ~ N(m₀, s₀²)`` on the true relative
effect, the posterior is normal (conjugate normal-normal; Gelman et al. 2013, *Bayesian Data
Analysis*, 3rd ed., §2.5):

    precision  = 1/s₀² + 1/s²
    m₁ = (m₀/s₀² + r̂/s²) / precision,   s₁² = 1/precision.

With ``d = +1`` when higher is better and ``-1`` otherwise, the treatment is better when
``d·r > 0``:

- ``chance_to_win = P(d·r > 0 | data) = Φ(d·m₁/s₁)``;
- the equal-tailed credible interval of ``r`` at level ``1 - alpha``: ``m₁ ∓ z_{1-alpha/2}·s₁``;
- ``expected_loss = E[max(0, -d·r) | data] = s₁·φ(d·m₁/s₁) - d·m₁·Φ(-d·m₁/s₁)``: the relative
  loss expected from shipping the treatment (0 where it is better), in the metric's direction.

This is GrowthBook's Bayesian engine model (a normal prior directly on the lift; its default
"proper prior" is ``N(0, 0.3²)``, used here as the weak prior).

The prior is either fixed (:func:`fixed_prior`) or, by default, empirical Bayes from the metric's
own past experiments (:func:`empirical_bayes_prior`): a hierarchical normal model of the past
relative effects, ``r̂_i ~ N(r_i, s_i²)``, ``r_i ~ N(μ, τ²)``, whose hyperpriors are set by the
weak prior so that without history the prior *is* the weak prior; the prior for a new experiment
is the normal with the predictive mean and variance of its effect, which carries the uncertainty
of ``μ`` and ``τ`` (a plug-in moment estimate of ``τ`` is often 0 with little history and then
gives a prior far too confident). :func:`fit_history` is the Paule–Mandel moment fit
(Paule & Mandel 1982; recommended over DerSimonian–Laird by Veroniki et al. 2016, *Research
Synthesis Methods* 7:55-79), reported beside it.

Degenerate inputs never raise: no estimate or no SE (``None`` or NaN) gives status
``missing_estimate``, a zero SE ``zero_variance``; every figure is then ``None``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.special

__all__ = [
    "BAYES_STATUSES",
    "WEAK_PRIOR_MEAN",
    "WEAK_PRIOR_SD",
    "BayesReadout",
    "HistoryFit",
    "NormalPrior",
    "bayes_readout",
    "empirical_bayes_prior",
    "fit_history",
    "fixed_prior",
]

#: GrowthBook's default proper prior on the relative effect: N(0, 0.3²).
WEAK_PRIOR_MEAN = 0.0
WEAK_PRIOR_SD = 0.3
BAYES_STATUSES: tuple[str, ...] = ("ok", "missing_estimate", "zero_variance")


@dataclass(frozen=True)
class NormalPrior:
    """A normal prior ``N(mean, sd²)`` on the relative effect, and how it was formed.

    ``source`` is ``"fixed"`` (configured), ``"weak"`` (the weak prior: no usable history) or
    ``"empirical_bayes"``. ``details`` holds the figures behind it (JSON-able).
    """

    mean: float
    sd: float
    source: str
    details: tuple[tuple[str, float | int | str | None], ...] = ()

    def to_json(self) -> str:
        """``{"source", "mean", "sd", **details}`` as a JSON object (keys in that order)."""
        return json.dumps(
            {"source": self.source, "mean": self.mean, "sd": self.sd, **dict(self.details)}
        )


@dataclass(frozen=True)
class HistoryFit:
    """The random-effects fit of past experiments: ``r̂_i ~ N(μ, τ² + s_i²)``.

    ``mean`` is ``μ̂``, ``mean_se`` its standard error ``1/√Σ w_i``, ``tau2`` the Paule–Mandel
    ``τ̂²``; ``n_experiments`` the usable past experiments, ``n_excluded`` those left out (no
    estimate, no SE, or an SE that is not positive).
    """

    mean: float
    mean_se: float
    tau2: float
    n_experiments: int
    n_excluded: int


@dataclass(frozen=True)
class BayesReadout:
    """The posterior read-out of one relative effect (module docstring for the formulas)."""

    chance_to_win: float | None
    ci_lower: float | None
    ci_upper: float | None
    expected_loss: float | None
    posterior_mean: float | None
    posterior_sd: float | None
    prior: NormalPrior
    status: str
    status_reason: str


def _missing(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


def fixed_prior(mean: float = WEAK_PRIOR_MEAN, sd: float = WEAK_PRIOR_SD) -> NormalPrior:
    """A configured prior ``N(mean, sd²)``.

    Raises:
        ValueError: if ``mean`` is not finite or ``sd`` is not a positive finite number.
    """
    if _missing(mean) or _missing(sd) or not sd > 0.0:
        raise ValueError(f"a fixed prior needs a finite mean and a positive sd, got {mean}, {sd}")
    return NormalPrior(mean=float(mean), sd=float(sd), source="fixed")


def _generalized_q(tau2: float, effects: np.ndarray, variances: np.ndarray) -> float:
    """``Σ w_i (r̂_i - μ̂(τ²))²`` with ``w_i = 1/(s_i² + τ²)``: decreasing in ``τ²``."""
    return _q_and_slope(tau2, effects, variances)[0]


def _q_and_slope(tau2: float, effects: np.ndarray, variances: np.ndarray) -> tuple[float, float]:
    """:func:`_generalized_q` and its derivative in ``τ²``, ``-Σ w_i² (r̂_i - μ̂)²`` (the term of
    ``dμ̂/dτ²`` vanishes: ``Σ w_i (r̂_i - μ̂) = 0``)."""
    w = 1.0 / (variances + tau2)
    mu = float(w @ effects / w.sum())
    weighted = w * (effects - mu) ** 2
    return float(weighted.sum()), -float(w @ weighted)


def _paule_mandel_tau2(effects: np.ndarray, variances: np.ndarray, target: float) -> float:
    """The ``τ² > 0`` where :func:`_generalized_q` equals ``target`` (it exceeds it at 0):
    Newton's method inside a bracket that every step narrows, bisecting where a Newton step
    would leave it, to a relative tolerance of 1e-12 (``Q`` is decreasing, so the root is
    unique). Written out rather than ``scipy.optimize.brentq``: importing scipy.optimize took
    an eighth of a second of every dbt build that fits a prior on heterogeneous history."""
    lower, upper = 0.0, max(float(np.var(effects, ddof=1)), float(variances.max()))
    while _generalized_q(upper, effects, variances) > target:
        lower, upper = upper, upper * 2.0
    tau2 = lower
    for _ in range(200):
        q, slope = _q_and_slope(tau2, effects, variances)
        if q == target:
            return tau2
        if q > target:
            lower = tau2
        else:
            upper = tau2
        step = (q - target) / slope if slope < 0.0 else math.nan
        proposal = tau2 - step
        if not lower < proposal < upper:
            proposal = (lower + upper) / 2.0
        if abs(proposal - tau2) <= 1e-15 + 1e-12 * proposal or upper - lower <= 1e-15:
            return proposal
        tau2 = proposal
    return tau2


def fit_history(
    effects: Sequence[float | None], standard_errors: Sequence[float | None]
) -> HistoryFit | None:
    """Paule–Mandel fit of past relative effects and their SEs (one pair per past experiment).

    Pairs with a missing effect or SE, or an SE that is not positive, are excluded and counted.
    Returns ``None`` with fewer than two usable experiments (``τ²`` needs ``k - 1 ≥ 1``).

    Raises:
        ValueError: if the two sequences differ in length.
    """
    if len(effects) != len(standard_errors):
        raise ValueError(f"{len(effects)} past effects but {len(standard_errors)} standard errors")
    usable = [
        (float(r), float(s))
        for r, s in zip(effects, standard_errors, strict=True)
        if not _missing(r) and not _missing(s) and s > 0.0
    ]
    excluded = len(effects) - len(usable)
    if len(usable) < 2:
        return None
    r = np.array([u[0] for u in usable])
    v = np.array([u[1] ** 2 for u in usable])
    target = len(usable) - 1
    tau2 = 0.0
    if _generalized_q(0.0, r, v) > target:
        tau2 = _paule_mandel_tau2(r, v, target)
    w = 1.0 / (v + tau2)
    return HistoryFit(
        mean=float(w @ r / w.sum()),
        mean_se=float(1.0 / np.sqrt(w.sum())),
        tau2=tau2,
        n_experiments=len(usable),
        n_excluded=excluded,
    )


def _tau_posterior(
    effects: np.ndarray, variances: np.ndarray, weak: NormalPrior, points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid posterior of ``τ`` in the hierarchical model of :func:`empirical_bayes_prior`.

    Returns the grid ``τ_j`` (midpoints of ``points`` cells of ``(0, s_w)``), the posterior
    probabilities ``p_j``, and ``M_j``, ``P_j``: the posterior mean and precision of ``μ`` given
    ``τ_j``. With ``w_i = 1/(s_i² + τ²)`` and ``μ ~ N(m_w, v_μ)``, ``v_μ = (2/3)s_w²``:
    ``P = 1/v_μ + Σ w_i``, ``M = (m_w/v_μ + Σ w_i r̂_i)/P`` and the marginal likelihood
    ``log L(τ) = ½Σ log w_i - ½ log P - ½(Σ w_i r̂_i² + m_w²/v_μ - P·M²)`` (μ integrated out;
    Gelman et al. 2013, §5.4).
    """
    tau = weak.sd * (np.arange(points) + 0.5) / points
    v_mu = 2.0 / 3.0 * weak.sd**2
    w = 1.0 / (variances[None, :] + tau[:, None] ** 2)
    precision = 1.0 / v_mu + w.sum(axis=1)
    centre = (weak.mean / v_mu + w @ effects) / precision
    log_l = 0.5 * (
        np.log(w).sum(axis=1)
        - np.log(precision)
        - (w @ effects**2 + weak.mean**2 / v_mu - precision * centre**2)
    )
    prob = np.exp(log_l - log_l.max())
    return tau, prob / prob.sum(), centre, precision


def empirical_bayes_prior(
    effects: Sequence[float | None],
    standard_errors: Sequence[float | None],
    *,
    weak: NormalPrior | None = None,
    grid_points: int = 400,
) -> NormalPrior:
    """The prior for a new experiment of a metric, from its past experiments' relative effects.

    Hierarchical normal model (Gelman et al. 2013, *Bayesian Data Analysis*, §5.4-5.5): past
    estimates ``r̂_i ~ N(r_i, s_i²)``, true effects ``r_i ~ N(μ, τ²)``, the new experiment's effect
    ``r ~ N(μ, τ²)``; hyperpriors ``τ ~ Uniform(0, s_w)`` (Gelman 2006, "Prior distributions for
    variance parameters in hierarchical models") and ``μ ~ N(m_w, (2/3)s_w²)``, chosen so that
    with no history the prior of ``r`` has exactly the weak prior's mean ``m_w`` and variance
    ``s_w²`` (``E[τ²] + Var μ = s_w²/3 + 2s_w²/3``). The posterior of ``τ`` is computed on a grid
    (:func:`_tau_posterior`) and the prior returned is the normal with the predictive mean and
    variance of ``r``:

        mean = Σ_j p_j M_j,   variance = Σ_j p_j (τ_j² + 1/P_j) + Σ_j p_j (M_j - mean)².

    So the prior is the weak one without history, is pulled towards it while the history says
    little about ``τ`` (few experiments, or SEs larger than ``τ``), and tends to the fitted
    ``N(μ̂, τ̂²)`` as history accumulates. Unlike a plug-in of a moment estimate (``τ̂² = 0``
    happens often with little history and makes the prior far too confident), the uncertainty of
    ``τ`` is carried into the prior's variance. ``details`` also report the Paule–Mandel moment
    fit of :func:`fit_history` for comparison.

    Args:
        effects, standard_errors: One pair per past experiment of the metric; pairs with a
            missing value or an SE that is not positive are excluded and counted.
        weak: The weak prior ``N(m_w, s_w²)`` (default :func:`fixed_prior`, ``N(0, 0.3²)``).
        grid_points: Cells of the ``τ`` grid.

    Raises:
        ValueError: if the sequences differ in length or ``grid_points < 10``.
    """
    if len(effects) != len(standard_errors):
        raise ValueError(f"{len(effects)} past effects but {len(standard_errors)} standard errors")
    if grid_points < 10:
        raise ValueError(f"grid_points must be at least 10, got {grid_points}")
    weak = weak or fixed_prior()
    usable = [
        (float(r), float(s))
        for r, s in zip(effects, standard_errors, strict=True)
        if not _missing(r) and not _missing(s) and s > 0.0
    ]
    details: list[tuple[str, float | int | str | None]] = [
        ("n_experiments", len(usable)),
        ("n_excluded", len(effects) - len(usable)),
        ("weak_mean", weak.mean),
        ("weak_sd", weak.sd),
    ]
    if not usable:
        return NormalPrior(mean=weak.mean, sd=weak.sd, source="weak", details=tuple(details))
    r = np.array([u[0] for u in usable])
    v = np.array([u[1] ** 2 for u in usable])
    tau, prob, centre, precision = _tau_posterior(r, v, weak, grid_points)
    mean = float(prob @ centre)
    variance = float(prob @ (tau**2 + 1.0 / precision) + prob @ (centre - mean) ** 2)
    fit = fit_history(effects, standard_errors)
    details += [
        ("tau_posterior_mean", float(prob @ tau)),
        ("tau_paule_mandel", None if fit is None else math.sqrt(fit.tau2)),
        ("history_mean_paule_mandel", None if fit is None else fit.mean),
    ]
    return NormalPrior(
        mean=mean, sd=math.sqrt(variance), source="empirical_bayes", details=tuple(details)
    )


def bayes_readout(
    relative_effect: float | None,
    relative_se: float | None,
    prior: NormalPrior,
    *,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> BayesReadout:
    """Posterior chance to win, credible interval and expected loss of a relative effect.

    Args:
        relative_effect: ``r̂``, the estimated relative effect (``m_t/m_c - 1``).
        relative_se: Its standard error ``s``.
        prior: The prior on the true relative effect (:func:`fixed_prior`,
            :func:`empirical_bayes_prior`).
        higher_is_better: The metric's direction.
        alpha: The credible interval has level ``1 - alpha``.

    Returns:
        A :class:`BayesReadout`; ``status`` ``missing_estimate`` (no ``r̂`` or ``s``) or
        ``zero_variance`` (``s = 0``) with every figure ``None``, else ``ok``.

    Raises:
        ValueError: for ``alpha`` outside (0, 1) or a negative ``relative_se``.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not _missing(relative_se) and relative_se < 0.0:
        raise ValueError(f"relative_se must not be negative, got {relative_se!r}")
    figures = ("chance_to_win", "ci_lower", "ci_upper", "expected_loss")
    empty = dict.fromkeys((*figures, "posterior_mean", "posterior_sd"), None)
    if _missing(relative_effect) or _missing(relative_se):
        reason = "no relative effect or no standard error to update the prior with"
        return BayesReadout(**empty, prior=prior, status="missing_estimate", status_reason=reason)
    if relative_se == 0.0:
        reason = "the relative effect's standard error is 0: the likelihood is degenerate"
        return BayesReadout(**empty, prior=prior, status="zero_variance", status_reason=reason)
    precision = 1.0 / prior.sd**2 + 1.0 / relative_se**2
    mean = (prior.mean / prior.sd**2 + relative_effect / relative_se**2) / precision
    sd = 1.0 / math.sqrt(precision)
    direction = 1.0 if higher_is_better else -1.0
    standardized = direction * mean / sd
    z = float(scipy.special.ndtri(1.0 - alpha / 2.0))
    expected_loss = sd * math.exp(-(standardized**2) / 2.0) / math.sqrt(2.0 * math.pi) - (
        direction * mean * float(scipy.special.ndtr(-standardized))
    )
    return BayesReadout(
        chance_to_win=float(scipy.special.ndtr(standardized)),
        ci_lower=mean - z * sd,
        ci_upper=mean + z * sd,
        expected_loss=max(expected_loss, 0.0),
        posterior_mean=mean,
        posterior_sd=sd,
        prior=prior,
        status="ok",
        status_reason="",
    )
