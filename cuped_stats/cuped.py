"""CUPED comparison of every treatment arm with the control arm of one metric.

Per experiment x segment x metric the caller passes the moments of every arm; the result is one
immutable :class:`Comparison` per treatment arm. The statistics (DESIGN §3):

- Features. Every quantity compared or adjusted by is a *feature*: a function ``h`` of an arm's
  mean vector ``μ`` (:mod:`cuped_stats.moments`). The outcome feature ``@y`` is the variable
  ``@y`` (``mean``, ``proportion``) or the ratio of means ``R = μ_a/μ_b`` of ``@numerator`` and
  ``@denominator`` (``ratio``); a covariate is a variable, or a ratio feature ``"<x>"`` given as
  the adjacent variables ``"<x>@numerator"``, ``"<x>@denominator"``, for any metric type. By the
  delta method (Deng, Knoblich, Lu 2018, §3) each feature acts as the mean of its per-unit
  linearisation, for a ratio ``ℓ = (a - R_g·b)/b̄_g`` with the arm's own ``R_g`` and ``b̄_g``; the
  features of arm ``g`` have covariance ``F_g = J_g Σ_g J_gᵀ``, ``J_g`` the Jacobian of ``h`` at
  ``μ_g``. For plain variables ``J`` selects them and everything below is ordinary CUPED.
- θ ``within`` (default): ``θ = S_xx⁻¹ S_xy`` with ``S = Σ_g (n_g - 1)·F_g / (N - G)`` pooled over
  all arms, the covariate coefficients of the OLS ``ℓ_y ~ C(arm) + ℓ_x₁ + … + ℓ_x_k`` on the
  linearised units (for plain variables: ``y ~ C(arm) + x₁ + … + x_k``). θ ``total``: ``S`` is
  ``J Σ Jᵀ`` with ``Σ`` the covariance of control + treatment units and ``J`` at their pooled mean
  vector, per pair (tea-tasting's ``Mean``/``RatioOfMeans`` and GrowthBook convention).
- Adjusted arm mean ``m_g = h_y(μ_g) - θ·(h_x(μ_g) - x̄)``, ``x̄ = h_x(μ̄)`` the covariate features
  at the N-weighted mean vector ``μ̄`` of the arms that estimate θ (within: all arms with units;
  total: control + treatment). For a ratio covariate ``x̄`` is the pooled numerator mean over the
  pooled denominator mean, as in tea-tasting.
- ``Δ = m_t - m_c``, exactly the OLS arm coefficient for within θ; per-unit residual variance
  ``v_g = bᵀ F_g b`` with ``b = (1, -θ)``. Standard error with θ estimated (default,
  ``small_sample_correction=True``; :mod:`cuped_stats.small_sample`):
  ``SE² = Σ_h σ̂²_h q_h`` over the arms ``h`` that estimate θ, ``σ̂²_h = (n_h - 1)·v_h / ν_h`` with
  the arm's residual degrees of freedom ``ν_h = n_h - 1 - tr(M⁻¹W_h)`` (HC2 pooled by arm), and
  ``q_h = 1/n_h·[h ∈ {t, c}] + dᵀM⁻¹W_hM⁻¹d`` (within θ; ``d = x̄_t - x̄_c``, ``W_h`` the arm's
  covariate scatter, ``M = Σ_h W_h``): the OLS variance of the arm contrast with a residual
  variance per arm, so ``dᵀVar(θ̂)d`` is included; Satterthwaite df over the ``ν_h``; two-sided t
  CI and p-value. Without covariates this is exactly the Welch t-test; it exceeds the Welch
  t-test on ``r = ℓ_y - θ·ℓ_x`` (θ treated as known, ``small_sample_correction=False``:
  ``SE = √(v_t/n_t + v_c/n_c)``, Welch df over ``n_g - 1``) by about ``k/(2n)`` relative with
  ``k`` covariates and ``n`` units per arm.
- Relative effect ``m_t/m_c - 1``. Its CI (``relative_ci_method``) uses the covariance ``V`` of
  ``(m_t, m_c)`` including their shared ``x̄`` (every arm's mean vector enters through ``μ̄``;
  with θ estimated, the residual terms ``v_g/n_g`` of ``V`` are replaced by the conditional
  covariance of the regression above) and the same t quantile as the absolute CI: ``delta``
  (default) is symmetric, ``rel ∓ t·√(∇ᵀV∇)`` with ``∇ = (1/m_c, -m_t/m_c²)``; ``log`` is the
  delta-method CI of ``log(m_t/m_c)``, ``∇ = (1/m_t, -1/m_c)``, mapped back by ``exp(·) - 1``
  (asymmetric, always above -1; needs ``m_t, m_c > 0``); ``fieller`` (Fieller 1954) is the set of
  ratios ``ρ`` whose t-test of ``m_t - ρ·m_c = 0`` (variance ``gᵀVg``, ``g = (1, -ρ)``) does not
  reject: asymmetric, and calibrated wherever the absolute CI is, because it inverts a test of a
  difference of means (skewness largely cancels between arms), where ``delta`` and ``log``
  under-cover on skewed data (scripts/coverage_simulation.py, CUPED on lognormal σ = 1.5 revenue:
  0.916 and 0.925 at 100 units per arm, 0.944 at 1,000, Fieller 0.954 and 0.952); it is
  undefined (``relative_undefined``) when the control mean is not significantly non-zero. The
  ``delta`` and ``log`` intervals are within about a point of nominal once the control mean's
  coefficient of variation ``se(m̄_c)/m̄_c`` is below 0.1 (lognormal σ = 1 at 200 units per arm,
  σ = 1.5 at 1,000); below that, or for skewed metrics with few units, use ``fieller``. An arm
  of one unit enters ``μ̄`` but, its covariance being undefined, adds no variance term
  (weight 1/N).
- Strata (``strata``): indicators of a stratified randomization's strata are adjusted for in both
  estimates; the unadjusted estimate is then the post-stratified one whose residual variance is
  the within-strata variance (Imbens & Rubin 2015, ch. 9; Miratrix, Sekhon & Yu 2013), which is
  what the stratified design's variance is (exactly, for equal treatment shares in every stratum;
  conservatively otherwise: Bugni, Canay & Shaikh 2018).

Units whose denominator is 0 are ordinary units (they add to ``n`` and to ``b̄``). A ratio feature
is undefined in an arm whose mean denominator is 0: for the outcome the comparison has status
``zero_denominator`` (and the arm is left out of the within θ and ``μ̄``), for a covariate the
covariate is dropped (reason ``"zero_denominator"``) when it is undefined in any arm estimating θ.

Degenerate cases never raise and never return NaN/inf; a statistic that is not defined is
``None`` and ``status`` says why. Precedence (first applicable wins; ``status_reason`` lists every
applicable reason):

1. ``missing_control``: the control arm has no units. Only ``n_variant`` and the raw treatment
   mean are reported.
2. ``insufficient_sample``: control or treatment has fewer than 2 units. Raw means, the
   unadjusted effect and its relative effect are reported (those that are defined); no SE, CI,
   p-value or CUPED figures. Also when an estimate's covariates fit an arm's units exactly (its
   residual degrees of freedom ``ν_h`` are 0, so its variance cannot be estimated): that
   estimate's effects are reported, its SE, CI and p-value are ``None``.
3. ``zero_denominator``: a ratio metric whose mean denominator is 0 in the control or the
   treatment arm: its ratio is undefined. The raw mean of the other arm is reported, every other
   statistic is ``None``.
4. ``zero_variance``: a standard error is 0 (CUPED: the covariates predict the outcome exactly;
   unadjusted: the outcome is constant within both arms). Effects are reported, the SE, CI and
   p-value of the degenerate estimate (and its relative CI) are ``None``.
5. ``relative_undefined``: the (adjusted or raw) control mean is 0: relative figures ``None``; or
   ``relative_ci_method="log"`` and an (adjusted or raw) arm mean is not positive, or
   ``"fieller"`` and the control mean is not significantly non-zero: that relative CI is
   ``None``, the relative effect is reported.
6. ``ok``.

References: Deng, Xu, Kohavi, Walker (WSDM 2013); Deng, Knoblich, Lu (KDD 2018) "Applying the
delta method in metric analytics"; Lin (2013) "Agnostic notes on regression adjustments to
experimental data"; MacKinnon & White (1985) (HC2); Welch (1947); Fieller (1954) "Some problems
in interval estimation"; Imbens & Rubin (2015) "Causal inference for statistics, social, and
biomedical sciences", ch. 9; Miratrix, Sekhon & Yu (2013) "Adjusting treatment effect estimates
by post-stratification in randomized experiments"; Bugni, Canay & Shaikh (2018) "Inference under
covariate-adaptive randomization".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.special

from cuped_stats.moments import (
    ArmMoments,
    Feature,
    _pooled_within,
    feature_jacobian,
    feature_values,
    parse_features,
    pooled_mean,
    pooled_total_covariance,
)
from cuped_stats.small_sample import (
    ArmResidual,
    EstimatedThetaCovariance,
    estimated_theta_covariance,
)

__all__ = [
    "COLLINEAR_RTOL",
    "CONSTANT_RTOL",
    "METRIC_TYPES",
    "OUTCOME_VARIABLES",
    "RELATIVE_CI_METHODS",
    "STATUSES",
    "THETA_METHODS",
    "Comparison",
    "CovariateScreen",
    "Estimate",
    "ThetaFit",
    "analyze_metric",
    "fit_theta",
    "screen_covariates",
]

#: Raw outcome variables (the leading variables of the moments) of each metric type.
OUTCOME_VARIABLES: dict[str, tuple[str, ...]] = {
    "mean": ("@y",),
    "proportion": ("@y",),
    "ratio": ("@numerator", "@denominator"),
}
METRIC_TYPES: tuple[str, ...] = tuple(OUTCOME_VARIABLES)
THETA_METHODS: tuple[str, ...] = ("within", "total")
RELATIVE_CI_METHODS: tuple[str, ...] = ("delta", "log", "fieller")
STATUSES: tuple[str, ...] = (
    "ok",
    "missing_control",
    "insufficient_sample",
    "zero_denominator",
    "zero_variance",
    "relative_undefined",
)

#: A covariate is constant when its standard deviation is at most this fraction of |mean|
#: (floating-point noise of a variance computed from identical values is ~1e-16 relative).
CONSTANT_RTOL = 1e-10
#: A covariate is collinear with the earlier kept ones when 1 - R² of its regression on them is
#: at most this (sequential Gram-Schmidt on the correlation matrix).
COLLINEAR_RTOL = 1e-9
#: A variance or a mean below this fraction of the magnitude of its terms is cancellation noise;
#: so is a mean denominator below this fraction of the denominator's standard deviation.
_ZERO_RTOL = 1e-12

#: The name of the outcome feature, whatever the metric type.
_OUTCOME = "@y"


@dataclass(frozen=True)
class Estimate:
    """One estimate of a treatment-vs-control difference (CUPED-adjusted or unadjusted).

    Attributes:
        control_mean, variant_mean: Arm estimates (adjusted ``m_g`` for CUPED; unadjusted the
            arm mean ``ȳ_g``, or ``R_g = ā_g/b̄_g`` for a ratio metric).
        effect: ``variant_mean - control_mean``.
        se: With θ estimated ``√(Σ_h σ̂²_h q_h)`` (module docstring); with θ known, or without
            covariates, ``√(v_t/n_t + v_c/n_c)``.
        ci_lower, ci_upper: ``effect ∓ t_{1-alpha/2, df}·se``.
        degrees_of_freedom: Satterthwaite ``SE⁴ / Σ_h (σ̂²_h q_h)²/ν_h``; with θ known, or
            without covariates, Welch's
            ``(v_t/n_t + v_c/n_c)² / [(v_t/n_t)²/(n_t-1) + (v_c/n_c)²/(n_c-1)]``.
        p_value: Two-sided ``2·P(T_df > |effect/se|)``.
        relative_effect: ``variant_mean/control_mean - 1``.
        relative_ci_lower, relative_ci_upper: ``delta``: ``relative_effect ∓ t·se_rel`` with
            ``se_rel² = ∇ᵀ V ∇``, ``∇ = (1/m_c, -m_t/m_c²)`` and ``V`` the covariance of
            ``(m_t, m_c)``; ``log``: ``exp(log(m_t/m_c) ∓ t·se_log) - 1`` with
            ``se_log² = ∇ᵀ V ∇``, ``∇ = (1/m_t, -1/m_c)``; ``fieller``: the roots ``ρ - 1`` of
            ``(m_t - ρ m_c)² = t²·gᵀVg``, ``g = (1, -ρ)``; ``t = t_{1-alpha/2, df}``.
        relative_se: The delta-method SE of ``relative_effect``, ``√(∇ᵀV∇)`` with
            ``∇ = (1/m_c, -m_t/m_c²)``, whatever the relative CI method (the Bayesian read-out's
            likelihood, :mod:`cuped_stats.bayes`).
    """

    control_mean: float | None = None
    variant_mean: float | None = None
    effect: float | None = None
    se: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    degrees_of_freedom: float | None = None
    p_value: float | None = None
    relative_effect: float | None = None
    relative_ci_lower: float | None = None
    relative_ci_upper: float | None = None
    relative_se: float | None = None


@dataclass(frozen=True)
class CovariateScreen:
    """Covariates kept for θ, in configured order, and the dropped ones with their reason."""

    kept: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ThetaFit:
    """θ over the kept covariates, and the covariate mean ``x̄`` the arm means are centred on."""

    covariates: tuple[str, ...]
    theta: tuple[float, ...]
    dropped: tuple[tuple[str, str], ...]
    covariate_mean: tuple[float, ...]


@dataclass(frozen=True)
class Comparison:
    """One treatment arm against the control arm of one metric.

    ``cuped`` and ``unadjusted`` hold the two estimates; ``theta`` pairs with ``covariates``
    (the kept covariate features; a ratio covariate under its name ``"<x>"``);
    ``covariates_dropped`` pairs a covariate with ``"constant"``, ``"collinear"`` or
    ``"zero_denominator"``. ``variance_reduction = 1 - SE²_cuped / SE²_unadjusted``. ``strata``
    are the kept strata indicators (also in ``covariates``), adjusted for in both estimates.
    See the module docstring for ``status`` and ``relative_ci_method``.
    """

    variant: str
    control_variant: str
    metric_type: str
    theta_method: str
    relative_ci_method: str
    alpha: float
    n_control: int
    n_variant: int
    cuped: Estimate
    unadjusted: Estimate
    theta: tuple[float, ...]
    covariates: tuple[str, ...]
    covariates_dropped: tuple[tuple[str, str], ...]
    variance_reduction: float | None
    status: str
    status_reason: str
    strata: tuple[str, ...] = ()


def screen_covariates(
    s_xx: np.ndarray,
    x_mean: np.ndarray,
    names: Sequence[str],
    noise: np.ndarray | None = None,
) -> CovariateScreen:
    """Drop constant and collinear covariates, keeping earlier covariates first.

    Constant: ``√S_jj ≤ CONSTANT_RTOL·|x̄_j|`` (this includes ``S_jj = 0``), or, given ``noise``,
    ``S_jj ≤ _ZERO_RTOL·noise_j``. ``noise_j`` is the magnitude of the terms ``S_jj`` was summed
    from: a linearised ratio covariate's variance ``J Σ Jᵀ`` cancels to rounding noise (about
    1e-16 of that magnitude, so a standard deviation near 1e-8 of it) when the ratio's numerator
    is its denominator times the same constant in every unit. Collinear, in order:
    with ``R`` the correlation matrix and ``K`` the covariates kept so far, covariate ``j`` is kept
    only if ``1 - R_jK R_KK⁻¹ R_Kj > COLLINEAR_RTOL`` (its residual variance after projection on
    the kept ones, relative to its variance).
    """
    s_xx = np.asarray(s_xx, dtype=np.float64)
    x_mean = np.asarray(x_mean, dtype=np.float64)
    names = tuple(names)
    if s_xx.shape != (len(names), len(names)) or x_mean.shape != (len(names),):
        raise ValueError(f"S_xx of shape {s_xx.shape} and x̄ of shape {x_mean.shape} for {names}")
    variances = np.diag(s_xx)
    kept: list[int] = []
    dropped: list[tuple[str, str]] = []
    for j, name in enumerate(names):
        var_j = variances[j]
        if (
            not var_j > 0
            or math.sqrt(var_j) <= CONSTANT_RTOL * abs(x_mean[j])
            or (noise is not None and var_j <= _ZERO_RTOL * noise[j])
        ):
            dropped.append((name, "constant"))
            continue
        if kept:
            sd = np.sqrt(variances[kept])
            r_kk = s_xx[kept][:, kept] / np.outer(sd, sd)
            r_kj = s_xx[kept, j] / (sd * math.sqrt(var_j))
            residual = 1.0 - float(r_kj @ np.linalg.solve(r_kk, r_kj))
            if residual <= COLLINEAR_RTOL:
                dropped.append((name, "collinear"))
                continue
        kept.append(j)
    return CovariateScreen(kept=tuple(names[j] for j in kept), dropped=tuple(dropped))


def fit_theta(
    covariance: np.ndarray,
    mean: np.ndarray,
    names: Sequence[str],
    noise: np.ndarray | None = None,
) -> ThetaFit:
    """θ = S_xx⁻¹ S_xy over the screened covariates.

    ``covariance`` and ``mean`` are the (pooled) covariance matrix and mean vector of the
    features ``names``, outcome first (index 0) and covariates after it; ``noise``, when given,
    the magnitudes of the terms of its diagonal (:func:`screen_covariates`). Deng et al. (2013),
    §3.3.
    """
    names = tuple(names)
    covariance = np.asarray(covariance, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    screen = screen_covariates(
        covariance[1:, 1:], mean[1:], names[1:], None if noise is None else noise[1:]
    )
    idx = [names.index(name) for name in screen.kept]
    theta = np.linalg.solve(covariance[idx][:, idx], covariance[idx, 0]) if idx else np.zeros(0)
    return ThetaFit(
        covariates=screen.kept,
        theta=tuple(float(v) for v in theta),
        dropped=screen.dropped,
        covariate_mean=tuple(float(v) for v in mean[idx]),
    )


def _zero_denominators(arm: ArmMoments, features: Sequence[Feature]) -> frozenset[int]:
    """Indices of the ratio features whose mean denominator is 0 in ``arm`` (n ≥ 1).

    Zero means ``|b̄| ≤ _ZERO_RTOL·s_b``: exactly 0 when the denominators are all 0 (or the arm
    has one unit), otherwise cancellation noise of denominators of both signs.
    """
    zero = set()
    for j, feature in enumerate(features):
        if feature.denominator is not None:
            d = feature.denominator
            sd = float(np.sqrt(max(arm.cov[d, d], 0.0)))
            if abs(arm.mean[d]) <= _ZERO_RTOL * sd:
                zero.add(j)
    return frozenset(zero)


def _arm_outcome(arm: ArmMoments | None, features: Sequence[Feature]) -> float | None:
    """The raw arm estimate ``h_y(μ_g)``, ``None`` without units or with a zero denominator."""
    if arm is None or arm.n < 1 or 0 in _zero_denominators(arm, features[:1]):
        return None
    return float(feature_values(features[:1], arm.mean)[0])


class _FeatureTerms(NamedTuple):
    """An arm's features ``h(μ_g)``, their Jacobian ``J_g`` at ``μ_g``, their covariance
    ``F_g = J_g Σ_g J_gᵀ``, and the magnitudes ``|h(μ_g)|``, ``|F_g|`` the cancellation checks
    scale by (all read-only)."""

    values: np.ndarray
    jacobian: np.ndarray
    covariance: np.ndarray
    abs_values: np.ndarray
    abs_covariance: np.ndarray


class _ArmTerms(NamedTuple):
    """An arm's adjusted mean (and its magnitude scale), residual variance ``bᵀFb`` and ``Jᵀb``."""

    mean: float
    mean_scale: float
    variance: float
    own_coef: np.ndarray


def _once(cache: dict, key: tuple, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``cache[key]``, computed by ``compute`` and made read-only the first time it is asked."""
    value = cache.get(key)
    if value is None:
        value = cache[key] = compute()
        value.setflags(write=False)
    return value


class _Shared:
    """What the fits and estimates of one :func:`analyze_metric` call have in common, each
    computed on first use and then reused: every arm's :class:`_FeatureTerms` per feature set,
    every pool's mean vector and total covariance, and the :class:`_Adjustment` per pool,
    feature set and θ. One instance serves one call (keys are variant names, unique among its
    arms), so nothing outlives the arms it was computed from."""

    def __init__(self) -> None:
        self._terms: dict[tuple[str, tuple[Feature, ...]], _FeatureTerms] = {}
        self._means: dict[tuple[str, ...], np.ndarray] = {}
        self._total_covariances: dict[tuple[str, ...], np.ndarray] = {}
        self._adjustments: dict[
            tuple[tuple[str, ...], tuple[Feature, ...], tuple[float, ...]], _Adjustment
        ] = {}

    def terms(self, arm: ArmMoments, features: Sequence[Feature]) -> _FeatureTerms:
        """The arm's :class:`_FeatureTerms` over ``features``."""
        key = (arm.variant, tuple(features))
        terms = self._terms.get(key)
        if terms is None:
            values = feature_values(features, arm.mean)
            jac = feature_jacobian(features, arm.mean)
            cov = jac @ arm.cov @ jac.T
            terms = _FeatureTerms(values, jac, cov, np.abs(values), np.abs(cov))
            for array in terms:
                array.setflags(write=False)
            self._terms[key] = terms
        return terms

    def feature_covariance(self, arm: ArmMoments, features: Sequence[Feature]) -> np.ndarray:
        """The covariance of :func:`~cuped_stats.moments.feature_moments` of the arm (n ≥ 1):
        ``(F + Fᵀ)/2`` as :class:`~cuped_stats.moments.ArmMoments` stores it. The moments are
        built (which validates them, and zeroes the covariance of one unit) only for an arm of
        one unit or with non-finite features."""
        terms = self.terms(arm, features)
        cov = terms.covariance
        if arm.n >= 2 and np.isfinite(terms.values).all() and np.isfinite(cov).all():
            return (cov + cov.T) / 2.0
        return ArmMoments(
            variant=arm.variant,
            n=arm.n,
            names=tuple(f.name for f in features),
            mean=terms.values,
            cov=cov,
        ).cov

    def pooled_mean(self, pool: Sequence[ArmMoments]) -> np.ndarray:
        """:func:`~cuped_stats.moments.pooled_mean` of ``pool``."""
        return _once(self._means, tuple(arm.variant for arm in pool), lambda: pooled_mean(pool))

    def total_covariance(self, pool: Sequence[ArmMoments]) -> np.ndarray:
        """:func:`~cuped_stats.moments.pooled_total_covariance` of ``pool``."""
        key = tuple(arm.variant for arm in pool)
        return _once(self._total_covariances, key, lambda: pooled_total_covariance(pool))

    def adjustment(
        self, pool: Sequence[ArmMoments], features: Sequence[Feature], theta: Sequence[float]
    ) -> _Adjustment:
        """The :class:`_Adjustment` by ``theta`` over ``features`` and ``pool``."""
        key = (tuple(arm.variant for arm in pool), tuple(features), tuple(theta))
        adjustment = self._adjustments.get(key)
        if adjustment is None:
            adjustment = self._adjustments[key] = _Adjustment(pool, features, theta, self)
        return adjustment


class _Adjustment:
    """The adjustment by θ over a feature set (outcome first) and a pool of arms: ``b = (1, -θ)``,
    ``a = (0, θ)``, ``|b|``, and the shift ``a·x̄`` of the adjusted means with ``x̄ = h(μ̄)`` the
    features at the pool's mean vector (and the shift's magnitude scale ``|a|·|x̄|``). What the
    comparisons under it share is computed on first use: every arm's :class:`_ArmTerms`,
    ``J(μ̄)ᵀa`` and the θ-estimation residuals (with θ ``within`` the same for every treatment
    arm)."""

    def __init__(
        self,
        pool: Sequence[ArmMoments],
        features: Sequence[Feature],
        theta: Sequence[float],
        shared: _Shared,
    ) -> None:
        self.pool = tuple(pool)
        self.features = tuple(features)
        self.shared = shared
        self.b = np.array([1.0, *(-float(v) for v in theta)])
        self.a = np.array([0.0, *(float(v) for v in theta)])
        self.abs_b = np.abs(self.b)
        self.x_bar = feature_values(features, shared.pooled_mean(pool))
        self.shift = float(self.a @ self.x_bar)
        self.shift_scale = float(np.abs(self.a) @ np.abs(self.x_bar))
        self._arm_terms: dict[str, _ArmTerms] = {}
        self._pooled_coef: np.ndarray | None = None
        self._residuals: tuple[tuple[ArmResidual, ...], np.ndarray] | None = None
        self._shift_terms: tuple[float, dict[str, tuple[float, float]]] | None = None

    def arm_terms(self, arm: ArmMoments) -> _ArmTerms:
        """:func:`_arm_terms` of ``arm``."""
        terms = self._arm_terms.get(arm.variant)
        if terms is None:
            terms = _arm_terms(arm, self.shared.terms(arm, self.features), self)
            self._arm_terms[arm.variant] = terms
        return terms

    def pooled_coef(self) -> np.ndarray:
        """``J(μ̄)ᵀa``, the gradient of the shift ``a·h(μ̄)`` in ``μ̄``."""
        if self._pooled_coef is None:
            mu_pool = self.shared.pooled_mean(self.pool)
            self._pooled_coef = feature_jacobian(self.features, mu_pool).T @ self.a
        return self._pooled_coef

    def means_covariance(self, control: ArmMoments, treatment: ArmMoments) -> np.ndarray:
        """``Cov((m_t, m_c))`` with θ known: ``Σ_h c_{·,h}ᵀ (Σ_h/n_h) c_{·,h}`` with
        ``c_{g,h} = δ_gh·o_g + w_h·p``, ``o_g = J_gᵀb`` and ``p`` :meth:`pooled_coef`. Expanded,
        ``Cov(m_a, m_b) = s + r_a + r_b + δ_ab·v_a`` with ``s = Σ_h w_h² pᵀΣ_h p/n_h``,
        ``r_g = w_g·o_gᵀΣ_g p/n_g`` and ``v_g = o_gᵀΣ_g o_g/n_g``: every term is the pool's or
        one arm's, computed once for every comparison under this adjustment."""
        if self._shift_terms is None:
            coef = self.pooled_coef()
            n_pool = sum(arm.n for arm in self.pool)
            shift_variance = 0.0
            own: dict[str, tuple[float, float]] = {}
            for arm in self.pool:
                w = arm.n / n_pool
                own_coef = self.arm_terms(arm).own_coef
                scaled = arm.cov @ np.array([own_coef, coef]).T / arm.n  # Σ_h (o_h, p) / n_h
                shift_variance += w * w * float(coef @ scaled[:, 1])
                own[arm.variant] = (
                    w * float(own_coef @ scaled[:, 1]),
                    float(own_coef @ scaled[:, 0]),
                )
            self._shift_terms = (shift_variance, own)
        shift_variance, own = self._shift_terms
        r_t, v_t = own[treatment.variant]
        r_c, v_c = own[control.variant]
        cross = shift_variance + r_t + r_c
        return np.array(
            [[shift_variance + 2.0 * r_t + v_t, cross], [cross, shift_variance + 2.0 * r_c + v_c]]
        )

    def theta_residuals(self, theta_method: str) -> tuple[tuple[ArmResidual, ...], np.ndarray]:
        """:func:`_theta_residuals` of the pool (``theta_method`` is the call's)."""
        if self._residuals is None:
            self._residuals = _theta_residuals(self, theta_method)
        return self._residuals


def _variance_terms(jacobian: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """``(|J| s)²`` per feature, ``s`` the standard deviations of the variables: a bound on the
    magnitude of the terms of the feature variances ``diag(J Σ Jᵀ)`` (``|Σ_kl| ≤ s_k s_l``)."""
    return (np.abs(jacobian) @ np.sqrt(np.clip(np.diag(covariance), 0.0, None))) ** 2


def _fit_features(
    pool: Sequence[ArmMoments], features: Sequence[Feature], theta_method: str, shared: _Shared
) -> ThetaFit:
    """θ over the covariate features defined in every arm of ``pool`` (screened by
    :func:`fit_theta`); ``x̄ = h_x(μ̄)``. Covariates undefined in an arm are dropped first.
    Without covariates there is nothing to fit (the pool's arms have a defined outcome)."""
    if len(features) == 1:
        return ThetaFit(covariates=(), theta=(), dropped=(), covariate_mean=())
    undefined = set().union(*(_zero_denominators(arm, features) for arm in pool))
    defined = [f for j, f in enumerate(features) if j not in undefined]
    mu_pool = shared.pooled_mean(pool)
    linearised = any(f.denominator is not None for f in defined)
    noise = None
    if theta_method == "within":
        used = [arm for arm in pool if arm.n >= 1]
        counts = [arm.n for arm in used]
        cov = _pooled_within(counts, [shared.feature_covariance(arm, defined) for arm in used])
        if linearised:
            noise = _pooled_within(
                counts,
                [_variance_terms(shared.terms(arm, defined).jacobian, arm.cov) for arm in used],
            )
    else:
        jac = feature_jacobian(defined, mu_pool)
        total = shared.total_covariance(pool)
        cov = jac @ total @ jac.T
        if linearised:
            noise = _variance_terms(jac, total)
    fit = fit_theta(cov, feature_values(defined, mu_pool), [f.name for f in defined], noise)
    reasons = dict(fit.dropped) | {features[j].name: "zero_denominator" for j in undefined}
    return ThetaFit(
        covariates=fit.covariates,
        theta=fit.theta,
        dropped=tuple((f.name, reasons[f.name]) for f in features[1:] if f.name in reasons),
        covariate_mean=fit.covariate_mean,
    )


class _EffectVariance(NamedTuple):
    """``Var(m_t - m_c)``, its degrees of freedom (``None`` when the variance is 0), and the
    correction ``extra`` to the θ-known covariance of ``(m_t, m_c)``."""

    variance: float
    degrees_of_freedom: float | None
    extra: np.ndarray


class _Settings(NamedTuple):
    """The options every estimate of one :func:`analyze_metric` call shares."""

    alpha: float
    theta_method: str
    relative_ci_method: str
    small_sample_correction: bool


class _Computed(NamedTuple):
    estimate: Estimate
    se: float | None
    reasons: tuple[tuple[str, str], ...]


def _arm_terms(arm: ArmMoments, terms: _FeatureTerms, adjustment: _Adjustment) -> _ArmTerms:
    """``m_g = b·h(μ_g) + a·x̄`` and ``v_g = bᵀ J_g Σ_g J_gᵀ b`` (0 below cancellation noise);
    ``terms`` are the arm's :class:`_FeatureTerms`."""
    b, abs_b = adjustment.b, adjustment.abs_b
    own_coef = terms.jacobian.T @ b
    variance = float(own_coef @ arm.cov @ own_coef)
    var_scale = float(abs_b @ terms.abs_covariance @ abs_b)
    if variance <= _ZERO_RTOL * var_scale:
        variance = 0.0
    return _ArmTerms(
        mean=float(b @ terms.values) + adjustment.shift,
        mean_scale=float(abs_b @ terms.abs_values) + adjustment.shift_scale,
        variance=variance,
        own_coef=own_coef,
    )


def _theta_residuals(
    adjustment: _Adjustment, theta_method: str
) -> tuple[tuple[ArmResidual, ...], np.ndarray]:
    """The :class:`~cuped_stats.small_sample.ArmResidual` of every arm of the pool, and the
    covariate scatter ``M`` θ was solved with.

    Per arm ``F_h = J_h Σ_h J_hᵀ`` over ``features``; ``W_h = (n_h - 1)·F_h,xx``. θ was solved with
    ``M = Σ_h W_h`` (within) or ``M = (N - 1)·(J(μ̄) Σ_total J(μ̄)ᵀ)_xx`` (total).
    """
    pool, features, shared = adjustment.pool, adjustment.features, adjustment.shared
    b, abs_b = adjustment.b, adjustment.abs_b
    x_bar = adjustment.x_bar[1:]
    residuals = []
    for arm in pool:
        terms = shared.terms(arm, features)
        cov = terms.covariance
        variance = float(b @ cov @ b)
        if variance <= _ZERO_RTOL * float(abs_b @ terms.abs_covariance @ abs_b):
            variance = 0.0
        residuals.append(
            ArmResidual(
                n=arm.n,
                residual_variance=variance,
                covariate_scatter=(arm.n - 1) * cov[1:, 1:],
                covariate_offset=terms.values[1:] - x_bar,
            )
        )
    if theta_method == "within":
        scatter = sum(arm.covariate_scatter for arm in residuals)
    else:
        jac = feature_jacobian(features, shared.pooled_mean(pool))
        n_pool = sum(arm.n for arm in pool)
        scatter = (n_pool - 1) * (jac @ shared.total_covariance(pool) @ jac.T)[1:, 1:]
    return tuple(residuals), scatter


def _estimated_theta_terms(
    control: ArmMoments, treatment: ArmMoments, adjustment: _Adjustment, theta_method: str
) -> EstimatedThetaCovariance:
    """:func:`~cuped_stats.small_sample.estimated_theta_covariance` from the pool's moments
    (:func:`_theta_residuals`)."""
    pool = adjustment.pool
    residuals, scatter = adjustment.theta_residuals(theta_method)
    return estimated_theta_covariance(
        residuals,
        scatter,
        next(i for i, arm in enumerate(pool) if arm is treatment),
        next(i for i, arm in enumerate(pool) if arm is control),
        total=theta_method == "total",
    )


def _effect_variance(
    arms: tuple[ArmMoments, ArmMoments, _ArmTerms, _ArmTerms],
    adjustment: _Adjustment,
    settings: _Settings,
) -> _EffectVariance | None:
    """The variance of ``Δ`` with θ estimated (``small_sample_correction`` and covariates), else
    the Welch one ``v_t/n_t + v_c/n_c`` with df over ``n_g - 1`` (without covariates the two are
    the same); ``None`` when an arm's variance cannot be estimated
    (:attr:`~cuped_stats.small_sample.EstimatedThetaCovariance.estimable`). ``arms`` is
    ``(control, treatment)`` and their :func:`_arm_terms`."""
    control, treatment, terms_c, terms_t = arms
    var_c, var_t = terms_c.variance / control.n, terms_t.variance / treatment.n
    if settings.small_sample_correction and len(adjustment.features) > 1:
        corrected = _estimated_theta_terms(control, treatment, adjustment, settings.theta_method)
        if not corrected.estimable:
            return None
        extra = corrected.covariance - np.diag([var_t, var_c])
        return _EffectVariance(corrected.variance, corrected.degrees_of_freedom, extra)
    variance = var_c + var_t
    df = None
    if variance > 0.0:
        df = variance**2 / (var_c**2 / (control.n - 1) + var_t**2 / (treatment.n - 1))
    return _EffectVariance(variance, df, np.zeros((2, 2)))


def _relative_interval(
    method: str,
    m_t: float,
    m_c: float,
    cov_tc: np.ndarray | None,
    t_quantile: float,
    relative_se: float,
) -> tuple[float, float] | str:
    """The relative CI of ``m_t/m_c - 1`` (see :class:`Estimate`), or why it is undefined;
    ``relative_se`` is :attr:`Estimate.relative_se`, the ``delta`` interval's half-width over ``t``
    (``cov_tc``, the covariance of ``(m_t, m_c)``, may be None for ``delta``: it is not read).

    ``fieller`` (Fieller 1954): ``{ρ : (m_t - ρ m_c)² ≤ t² gᵀVg, g = (1, -ρ)}``, the ratios ``ρ``
    that the t-test of the linear contrast ``m_t - ρ m_c`` does not reject; the roots of
    ``(m_c² - t²V_cc)ρ² - 2(m_t m_c - t²V_tc)ρ + (m_t² - t²V_tt) = 0``. The set is a bounded
    interval only if ``m_c² > t²V_cc`` (the control mean is significantly non-zero).
    """
    rel = m_t / m_c - 1.0
    if method == "delta":
        half = t_quantile * relative_se
        return rel - half, rel + half
    assert cov_tc is not None
    if method == "log":
        grad = np.array([1.0 / m_t, -1.0 / m_c])
        half = t_quantile * float(np.sqrt(max(float(grad @ cov_tc @ grad), 0.0)))
        log_ratio = float(np.log(m_t / m_c))
        with np.errstate(over="ignore"):
            lower, upper = np.expm1(log_ratio - half), np.expm1(log_ratio + half)
        # expm1(log(r)) and r - 1 round differently; keep the estimate inside its own interval
        return float(min(lower, rel)), float(max(upper, rel))
    t2 = t_quantile**2
    quad = m_c**2 - t2 * cov_tc[1, 1]
    if not quad > _ZERO_RTOL * m_c**2:
        return "Fieller interval is unbounded: the control mean is not significantly non-zero"
    lin = m_t * m_c - t2 * cov_tc[0, 1]
    const = m_t**2 - t2 * cov_tc[0, 0]
    root = float(np.sqrt(max(lin**2 - quad * const, 0.0)))
    lower, upper = (lin - root) / quad - 1.0, (lin + root) / quad - 1.0
    return float(min(lower, rel)), float(max(upper, rel))


def _estimate(
    control: ArmMoments,
    treatment: ArmMoments,
    pool: Sequence[ArmMoments],
    features: Sequence[Feature],
    theta: Sequence[float],
    settings: _Settings,
    label: str,
    shared: _Shared,
) -> _Computed:
    """Comparison of ``m_t`` and ``m_c`` over ``features`` (outcome, then the covariates that
    ``theta`` pairs with), residual coefficients ``b = (1, -θ)``.

    Each adjusted mean is a function of every pool arm's mean vector:
    ``m_g = b·h(μ_g) + a·h(μ̄)`` with ``a = (0, θ)`` and ``μ̄ = Σ_h w_h μ_h``, ``w_h = n_h/N_pool``.
    Its gradient in ``μ_h`` is ``c_{g,h} = δ_gh·J_gᵀb + w_h·J(μ̄)ᵀa``, so with θ known
    ``Cov(m_a, m_b) = Σ_h c_{a,h}ᵀ (Σ_h/n_h) c_{b,h}``. With ``small_sample_correction`` the
    residual terms ``v_g/n_g`` of that covariance are replaced by the conditional covariance with
    θ estimated (:mod:`cuped_stats.small_sample`); the ``x̄`` terms stay.
    """
    if not any(arm is control for arm in pool) or not any(arm is treatment for arm in pool):
        raise ValueError("the pool of arms for x̄ must contain the control and the treatment")
    adjustment = shared.adjustment(pool, features, theta)
    arm_c, arm_t = adjustment.arm_terms(control), adjustment.arm_terms(treatment)
    m_c, m_t = arm_c.mean, arm_t.mean
    effect = m_t - m_c
    reasons: list[tuple[str, str]] = []
    values: dict[str, float | None] = {"control_mean": m_c, "variant_mean": m_t, "effect": effect}
    relative_defined = not abs(m_c) <= _ZERO_RTOL * arm_c.mean_scale
    if relative_defined:
        values["relative_effect"] = m_t / m_c - 1.0
    else:
        reasons.append(("relative_undefined", f"{label} control mean is 0"))

    effect_variance = _effect_variance((control, treatment, arm_c, arm_t), adjustment, settings)
    if effect_variance is None:
        reasons.append(
            (
                "insufficient_sample",
                f"{label} standard error is undefined: an arm's units are fitted exactly by "
                f"the {len(theta)} covariates (no residual degrees of freedom)",
            )
        )
        return _Computed(Estimate(**values), None, tuple(reasons))
    variance, df, extra = effect_variance
    se = float(np.sqrt(variance))
    if se == 0.0 or df is None:
        reasons.append(("zero_variance", f"{label} standard error is 0"))
        return _Computed(Estimate(**values), 0.0, tuple(reasons))

    t_quantile = float(scipy.special.stdtrit(df, 1.0 - settings.alpha / 2.0))
    values.update(
        se=se,
        ci_lower=effect - t_quantile * se,
        ci_upper=effect + t_quantile * se,
        degrees_of_freedom=float(df),
        p_value=float(min(1.0, 2.0 * scipy.special.stdtr(df, -abs(effect) / se))),
    )
    if not relative_defined:
        return _Computed(Estimate(**values), se, tuple(reasons))
    cov_tc = adjustment.means_covariance(control, treatment) + extra
    grad = np.array([1.0 / m_c, -m_t / m_c**2])
    relative_se = math.sqrt(max(float(grad @ cov_tc @ grad), 0.0))
    values["relative_se"] = relative_se
    method = settings.relative_ci_method
    if method == "log" and not (m_c > 0.0 and m_t > _ZERO_RTOL * arm_t.mean_scale):
        reasons.append(
            (
                "relative_undefined",
                f"{label} log relative CI needs positive means, got control {m_c:.6g} and "
                f"variant {m_t:.6g}",
            )
        )
        return _Computed(Estimate(**values), se, tuple(reasons))
    interval = _relative_interval(method, m_t, m_c, cov_tc, t_quantile, relative_se)
    if isinstance(interval, str):
        reasons.append(("relative_undefined", f"{label} {interval}"))
    elif np.isfinite(interval[1]):
        values.update(relative_ci_lower=interval[0], relative_ci_upper=interval[1])
    else:
        reasons.append(("relative_undefined", f"{label} relative CI overflows"))
    return _Computed(Estimate(**values), se, tuple(reasons))


def _estimate_fit(
    control: ArmMoments,
    treatment: ArmMoments,
    pool: Sequence[ArmMoments],
    features: Sequence[Feature],
    settings: _Settings,
    fit: ThetaFit,
    label: str,
    shared: _Shared,
) -> _Computed:
    """:func:`_estimate` over the outcome and the covariates ``fit`` kept."""
    by_name = {f.name: f for f in features}
    kept = [features[0], *(by_name[name] for name in fit.covariates)]
    return _estimate(control, treatment, pool, kept, fit.theta, settings, label, shared)


def _check_inputs(
    arms: Sequence[ArmMoments],
    metric_type: str,
    alpha: float,
    theta_method: str,
    relative_ci_method: str,
) -> tuple[Feature, ...]:
    """Validate the arguments; return the features, the outcome (named ``@y``) first."""
    if metric_type not in OUTCOME_VARIABLES:
        raise ValueError(f"unknown metric_type {metric_type!r}; expected one of {METRIC_TYPES}")
    if theta_method not in THETA_METHODS:
        raise ValueError(f"unknown theta_method {theta_method!r}; expected one of {THETA_METHODS}")
    if relative_ci_method not in RELATIVE_CI_METHODS:
        raise ValueError(
            f"unknown relative_ci_method {relative_ci_method!r}; "
            f"expected one of {RELATIVE_CI_METHODS}"
        )
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not arms:
        raise ValueError("no arms given")
    variants = [arm.variant for arm in arms]
    if len(set(variants)) != len(variants):
        raise ValueError(f"duplicate arms in {variants}")
    names = arms[0].names
    outcome = OUTCOME_VARIABLES[metric_type]
    if names[: len(outcome)] != outcome:
        raise ValueError(
            f"a {metric_type!r} metric needs the outcome variables {outcome} first, got {names}"
        )
    for arm in arms:
        if arm.names != names:
            raise ValueError(
                f"arms {arms[0].variant!r} and {arm.variant!r} have different variables: "
                f"{names} vs {arm.names}"
            )
    return _features_of(tuple(names))


@functools.lru_cache(maxsize=4096)
def _features_of(names: tuple[str, ...]) -> tuple[Feature, ...]:
    """The features of an arm's variables, the outcome (named ``@y``) first: parsed once per
    list of variables (a metric's groups share theirs; errors are raised on every call)."""
    features = parse_features(names)
    covariates = features[1:]
    if any(not f.name or f.name == _OUTCOME for f in covariates):
        raise ValueError(
            f"covariate features must be named and not {_OUTCOME!r}: "
            f"{[f.name for f in covariates]} from variables {names}"
        )
    return (features[0]._replace(name=_OUTCOME), *covariates)


def _order_strata(
    features: tuple[Feature, ...], strata: Sequence[str]
) -> tuple[tuple[Feature, ...], tuple[Feature, ...]]:
    """The features with the strata indicators first among the covariates, and the design's
    features (outcome and strata indicators)."""
    strata = tuple(strata)
    by_name = {f.name: f for f in features[1:]}
    unknown = [name for name in strata if name not in by_name]
    ratio = [name for name in strata if name in by_name and by_name[name].denominator is not None]
    if unknown or ratio or len(set(strata)) != len(strata):
        raise ValueError(
            f"strata {list(strata)} must be distinct covariate variables of the arms "
            f"(covariates: {list(by_name)}; not found: {unknown}; ratio features: {ratio})"
        )
    design = (features[0], *(by_name[name] for name in strata))
    rest = tuple(f for f in features[1:] if f.name not in strata)
    return (*design, *rest), design


def analyze_metric(
    arms: Sequence[ArmMoments],
    control_variant: str,
    *,
    metric_type: str = "mean",
    alpha: float = 0.05,
    theta_method: str = "within",
    relative_ci_method: str = "delta",
    small_sample_correction: bool = True,
    strata: Sequence[str] = (),
) -> tuple[Comparison, ...]:
    """CUPED comparison of every treatment arm in ``arms`` with ``control_variant``.

    Args:
        arms: Moments of every arm of one experiment x segment x metric, all with the same
            variables: the metric type's outcome variables first (``@y``; for ``ratio``
            ``@numerator``, ``@denominator``), then the covariates in configured order (earlier
            covariates win when collinear); a ratio covariate ``"<x>"`` is the adjacent pair
            ``"<x>@numerator"``, ``"<x>@denominator"``.
        control_variant: Name of the control arm (it may be absent: ``missing_control``).
        metric_type: ``"mean"``, ``"proportion"`` or ``"ratio"``.
        alpha: Two-sided significance level; CIs have level ``1 - alpha``.
        theta_method: ``"within"`` (pooled within-arm, all arms) or ``"total"`` (covariance of
            control + treatment, per pair).
        relative_ci_method: ``"delta"`` (symmetric), ``"log"`` (delta method on the log of the
            means ratio, asymmetric) or ``"fieller"`` (Fieller's interval: asymmetric, calibrated
            where the absolute CI is).
        small_sample_correction: Account for the estimation of θ (HC2 residual variances per
            arm, ``dᵀVar(θ̂)d``, residual degrees of freedom; :mod:`cuped_stats.small_sample`).
            ``False`` treats θ as known: the Welch t-test on ``y - θ̂ᵀx`` (tea-tasting's and
            GrowthBook's convention), which under-covers with few units per covariate.
        strata: Covariate features that are the indicators of a stratified randomization's
            strata (one level left out). They are adjusted for in both estimates, so the
            ``unadjusted`` estimate is the design-based (post-stratified) one and
            ``variance_reduction`` is what CUPED adds beyond the design; they are screened before
            the other covariates, so a covariate collinear with them is the one dropped.

    Returns:
        One :class:`Comparison` per arm other than the control, in input order.

    Raises:
        ValueError: for an unknown metric type, θ method or relative CI method, alpha outside
            (0, 1), duplicate arms, arms whose variables differ or do not start with the metric's
            outcome variables, or a ratio variable without its partner; a ``strata`` name that
            is not a covariate variable of the arms.
    """
    features = _check_inputs(arms, metric_type, alpha, theta_method, relative_ci_method)
    features, design = _order_strata(features, strata)
    settings = _Settings(alpha, theta_method, relative_ci_method, small_sample_correction)
    populated = [arm for arm in arms if arm.n >= 1]
    usable = [arm for arm in populated if 0 not in _zero_denominators(arm, features[:1])]
    control = next((arm for arm in populated if arm.variant == control_variant), None)
    shared = _Shared()

    within_fits: tuple[ThetaFit, ThetaFit] | None = None
    if theta_method == "within" and sum(arm.n - 1 for arm in usable) >= 1:
        within_fits = (
            _fit_features(usable, features, "within", shared),
            _fit_features(usable, design, "within", shared),
        )

    results = []
    for treatment in arms:
        if treatment.variant == control_variant:
            continue
        base = {
            "variant": treatment.variant,
            "control_variant": control_variant,
            "metric_type": metric_type,
            "theta_method": theta_method,
            "relative_ci_method": relative_ci_method,
            "alpha": float(alpha),
            "n_control": 0 if control is None else control.n,
            "n_variant": treatment.n,
        }
        empty = {
            "cuped": Estimate(),
            "theta": (),
            "covariates": (),
            "covariates_dropped": (),
            "variance_reduction": None,
        }
        raw_c, raw_t = _arm_outcome(control, features), _arm_outcome(treatment, features)
        if control is None:
            results.append(
                Comparison(
                    **base,
                    **empty,
                    unadjusted=Estimate(variant_mean=raw_t),
                    status="missing_control",
                    status_reason=f"control arm {control_variant!r} has no units",
                )
            )
            continue
        zero = [arm.variant for arm in (control, treatment) if arm.n >= 1 and arm not in usable]
        zero_reason = f"mean denominator is 0 in {', '.join(map(repr, zero))}"
        if control.n < 2 or treatment.n < 2:
            reasons = [
                f"fewer than 2 units (control {control.n}, {treatment.variant!r} {treatment.n})"
            ]
            unadjusted = Estimate(control_mean=raw_c, variant_mean=raw_t)
            if raw_c is not None and raw_t is not None:
                unadjusted = Estimate(
                    control_mean=raw_c,
                    variant_mean=raw_t,
                    effect=raw_t - raw_c,
                    relative_effect=raw_t / raw_c - 1.0 if raw_c != 0.0 else None,
                )
            results.append(
                Comparison(
                    **base,
                    **empty,
                    unadjusted=unadjusted,
                    status="insufficient_sample",
                    status_reason="; ".join(reasons + [zero_reason] * bool(zero)),
                )
            )
            continue
        if zero:
            results.append(
                Comparison(
                    **base,
                    **empty,
                    unadjusted=Estimate(control_mean=raw_c, variant_mean=raw_t),
                    status="zero_denominator",
                    status_reason=zero_reason,
                )
            )
            continue

        if theta_method == "within":
            pool = usable
            assert within_fits is not None  # n_c, n_t ≥ 2 guarantee N - G ≥ 2
            fit, design_fit = within_fits
        else:
            pool = [control, treatment]
            fit = _fit_features(pool, features, "total", shared)
            design_fit = _fit_features(pool, design, "total", shared)
        compare = (control, treatment, pool, features, settings)
        unadjusted = _estimate_fit(*compare, design_fit, "unadjusted", shared)
        if fit.covariates == design_fit.covariates:
            cuped = unadjusted
        else:
            cuped = _estimate_fit(*compare, fit, "CUPED", shared)
        reasons = cuped.reasons + tuple(r for r in unadjusted.reasons if r not in cuped.reasons)
        variance_reduction: float | None = None
        if unadjusted.se is not None and cuped.se is not None and unadjusted.se > 0.0:
            variance_reduction = 1.0 - cuped.se**2 / unadjusted.se**2
        status = "ok"
        for candidate in ("insufficient_sample", "zero_variance", "relative_undefined"):
            if any(code == candidate for code, _ in reasons):
                status = candidate
                break
        results.append(
            Comparison(
                **base,
                cuped=cuped.estimate,
                unadjusted=unadjusted.estimate,
                theta=fit.theta,
                covariates=fit.covariates,
                covariates_dropped=fit.dropped,
                variance_reduction=variance_reduction,
                status=status,
                status_reason="; ".join(text for _, text in reasons),
                strata=tuple(name for name in design_fit.covariates),
            )
        )
    return tuple(results)
