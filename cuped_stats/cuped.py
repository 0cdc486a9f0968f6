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
- ``Δ = m_t - m_c``; per-unit adjusted variance ``v_g = bᵀ F_g b`` with ``b = (1, -θ)``;
  ``SE = √(v_t/n_t + v_c/n_c)``; Welch-Satterthwaite df; two-sided t CI and p-value. This is the
  Welch t-test on the unit-level residual ``r = ℓ_y - θ·ℓ_x`` (θ treated as known).
- Relative effect ``m_t/m_c - 1``. Its CI (``relative_ci_method``) uses the covariance ``V`` of
  ``(m_t, m_c)`` including their shared ``x̄`` (every arm's mean vector enters through ``μ̄``) and
  the same t quantile as the absolute CI: ``delta`` (default) is symmetric,
  ``rel ∓ t·√(∇ᵀV∇)`` with ``∇ = (1/m_c, -m_t/m_c²)``; ``log`` is the delta-method CI of
  ``log(m_t/m_c)``, ``∇ = (1/m_t, -1/m_c)``, mapped back by ``exp(·) - 1`` (asymmetric, always
  above -1; needs ``m_t, m_c > 0``).
  θ is treated as known in every variance (its error is O(1/N)). An arm of one unit enters
  ``μ̄`` but, its covariance being undefined, adds no variance term (weight 1/N).

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
   p-value or CUPED figures.
3. ``zero_denominator``: a ratio metric whose mean denominator is 0 in the control or the
   treatment arm: its ratio is undefined. The raw mean of the other arm is reported, every other
   statistic is ``None``.
4. ``zero_variance``: a standard error is 0 (CUPED: the covariates predict the outcome exactly;
   unadjusted: the outcome is constant within both arms). Effects are reported, the SE, CI and
   p-value of the degenerate estimate (and its relative CI) are ``None``.
5. ``relative_undefined``: the (adjusted or raw) control mean is 0: relative figures ``None``; or
   ``relative_ci_method="log"`` and an (adjusted or raw) arm mean is not positive: that relative
   CI is ``None``, the relative effect is reported.
6. ``ok``.

References: Deng, Xu, Kohavi, Walker (WSDM 2013); Deng, Knoblich, Lu (KDD 2018) "Applying the
delta method in metric analytics"; Lin (2013) "Agnostic notes on regression adjustments to
experimental data"; Welch (1947).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.special

from cuped_stats.moments import (
    ArmMoments,
    Feature,
    feature_jacobian,
    feature_moments,
    feature_values,
    parse_features,
    pooled_mean,
    pooled_total_covariance,
    pooled_within_covariance,
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
RELATIVE_CI_METHODS: tuple[str, ...] = ("delta", "log")
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
        se: ``√(v_t/n_t + v_c/n_c)``.
        ci_lower, ci_upper: ``effect ∓ t_{1-alpha/2, df}·se``.
        degrees_of_freedom: Welch-Satterthwaite
            ``(v_t/n_t + v_c/n_c)² / [(v_t/n_t)²/(n_t-1) + (v_c/n_c)²/(n_c-1)]``.
        p_value: Two-sided ``2·P(T_df > |effect/se|)``.
        relative_effect: ``variant_mean/control_mean - 1``.
        relative_ci_lower, relative_ci_upper: ``delta``: ``relative_effect ∓ t·se_rel`` with
            ``se_rel² = ∇ᵀ V ∇``, ``∇ = (1/m_c, -m_t/m_c²)`` and ``V`` the covariance of
            ``(m_t, m_c)``; ``log``: ``exp(log(m_t/m_c) ∓ t·se_log) - 1`` with
            ``se_log² = ∇ᵀ V ∇``, ``∇ = (1/m_t, -1/m_c)``; ``t = t_{1-alpha/2, df}``.
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
    ``"zero_denominator"``. ``variance_reduction = 1 - SE²_cuped / SE²_unadjusted``.
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


def screen_covariates(
    s_xx: np.ndarray, x_mean: np.ndarray, names: Sequence[str]
) -> CovariateScreen:
    """Drop constant and collinear covariates, keeping earlier covariates first.

    Constant: ``√S_jj ≤ CONSTANT_RTOL·|x̄_j|`` (this includes ``S_jj = 0``). Collinear, in order:
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
        if not var_j > 0 or np.sqrt(var_j) <= CONSTANT_RTOL * abs(x_mean[j]):
            dropped.append((name, "constant"))
            continue
        if kept:
            sd = np.sqrt(variances[kept])
            r_kk = s_xx[np.ix_(kept, kept)] / np.outer(sd, sd)
            r_kj = s_xx[kept, j] / (sd * np.sqrt(var_j))
            residual = 1.0 - float(r_kj @ np.linalg.solve(r_kk, r_kj))
            if residual <= COLLINEAR_RTOL:
                dropped.append((name, "collinear"))
                continue
        kept.append(j)
    return CovariateScreen(kept=tuple(names[j] for j in kept), dropped=tuple(dropped))


def fit_theta(covariance: np.ndarray, mean: np.ndarray, names: Sequence[str]) -> ThetaFit:
    """θ = S_xx⁻¹ S_xy over the screened covariates.

    ``covariance`` and ``mean`` are the (pooled) covariance matrix and mean vector of the
    features ``names``, outcome first (index 0) and covariates after it. Deng et al. (2013), §3.3.
    """
    names = tuple(names)
    covariance = np.asarray(covariance, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    screen = screen_covariates(covariance[1:, 1:], mean[1:], names[1:])
    idx = [names.index(name) for name in screen.kept]
    if idx:
        theta = np.linalg.solve(covariance[np.ix_(idx, idx)], covariance[idx, 0])
    else:
        theta = np.zeros(0)
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


def _fit_features(
    pool: Sequence[ArmMoments], features: Sequence[Feature], theta_method: str
) -> ThetaFit:
    """θ over the covariate features defined in every arm of ``pool`` (screened by
    :func:`fit_theta`); ``x̄ = h_x(μ̄)``. Covariates undefined in an arm are dropped first."""
    undefined = set().union(*(_zero_denominators(arm, features) for arm in pool))
    defined = [f for j, f in enumerate(features) if j not in undefined]
    mu_pool = pooled_mean(pool)
    if theta_method == "within":
        cov = pooled_within_covariance([feature_moments(arm, defined) for arm in pool])
    else:
        jac = feature_jacobian(defined, mu_pool)
        cov = jac @ pooled_total_covariance(pool) @ jac.T
    fit = fit_theta(cov, feature_values(defined, mu_pool), [f.name for f in defined])
    reasons = dict(fit.dropped) | {features[j].name: "zero_denominator" for j in undefined}
    return ThetaFit(
        covariates=fit.covariates,
        theta=fit.theta,
        dropped=tuple((f.name, reasons[f.name]) for f in features[1:] if f.name in reasons),
        covariate_mean=fit.covariate_mean,
    )


class _Computed(NamedTuple):
    estimate: Estimate
    se: float
    reasons: tuple[tuple[str, str], ...]


def _estimate(
    control: ArmMoments,
    treatment: ArmMoments,
    pool: Sequence[ArmMoments],
    features: Sequence[Feature],
    theta: Sequence[float],
    alpha: float,
    relative_ci_method: str,
    label: str,
) -> _Computed:
    """Welch comparison of ``m_t`` and ``m_c`` over ``features`` (outcome, then the covariates
    that ``theta`` pairs with), residual coefficients ``b = (1, -θ)``.

    Each adjusted mean is a function of every pool arm's mean vector:
    ``m_g = b·h(μ_g) + a·h(μ̄)`` with ``a = (0, θ)`` and ``μ̄ = Σ_h w_h μ_h``, ``w_h = n_h/N_pool``.
    Its gradient in ``μ_h`` is ``c_{g,h} = δ_gh·J_gᵀb + w_h·J(μ̄)ᵀa``, so
    ``Cov(m_a, m_b) = Σ_h c_{a,h}ᵀ (Σ_h/n_h) c_{b,h}``.
    """
    if not any(arm is control for arm in pool) or not any(arm is treatment for arm in pool):
        raise ValueError("the pool of arms for x̄ must contain the control and the treatment")
    theta_arr = np.asarray(theta, dtype=np.float64)
    b = np.concatenate([[1.0], -theta_arr])
    a = np.concatenate([[0.0], theta_arr])
    n_pool = sum(arm.n for arm in pool)
    mu_pool = pooled_mean(pool)
    x_bar = feature_values(features, mu_pool)
    shift = float(a @ x_bar)
    pooled_coef = feature_jacobian(features, mu_pool).T @ a

    def arm_terms(arm: ArmMoments) -> tuple[float, float, float, np.ndarray]:
        """Adjusted mean and its magnitude scale, per-unit variance ``bᵀFb``, ``Jᵀb``."""
        values = feature_values(features, arm.mean)
        jac = feature_jacobian(features, arm.mean)
        own_coef = jac.T @ b
        mean = float(b @ values) + shift
        mean_scale = float(np.abs(b) @ np.abs(values)) + float(np.abs(a) @ np.abs(x_bar))
        variance = float(own_coef @ arm.cov @ own_coef)
        var_scale = float(np.abs(b) @ np.abs(jac @ arm.cov @ jac.T) @ np.abs(b))
        if variance <= _ZERO_RTOL * var_scale:
            variance = 0.0
        return mean, mean_scale, variance, own_coef

    m_c, m_c_scale, v_c, own_c = arm_terms(control)
    m_t, m_t_scale, v_t, own_t = arm_terms(treatment)
    effect = m_t - m_c
    n_c, n_t = control.n, treatment.n
    var_c, var_t = v_c / n_c, v_t / n_t
    se = float(np.sqrt(var_c + var_t))
    reasons: list[tuple[str, str]] = []
    values: dict[str, float | None] = {
        "control_mean": m_c,
        "variant_mean": m_t,
        "effect": effect,
    }
    relative_defined = not abs(m_c) <= _ZERO_RTOL * m_c_scale
    if relative_defined:
        values["relative_effect"] = m_t / m_c - 1.0
    else:
        reasons.append(("relative_undefined", f"{label} control mean is 0"))
    if se == 0.0:
        reasons.append(("zero_variance", f"{label} standard error is 0"))
        return _Computed(Estimate(**values), se, tuple(reasons))

    df = (var_c + var_t) ** 2 / (var_c**2 / (n_c - 1) + var_t**2 / (n_t - 1))
    t_quantile = float(scipy.special.stdtrit(df, 1.0 - alpha / 2.0))
    values.update(
        se=se,
        ci_lower=effect - t_quantile * se,
        ci_upper=effect + t_quantile * se,
        degrees_of_freedom=float(df),
        p_value=float(min(1.0, 2.0 * scipy.special.stdtr(df, -abs(effect) / se))),
    )
    if not relative_defined:
        return _Computed(Estimate(**values), se, tuple(reasons))
    if relative_ci_method == "log" and not (m_c > 0.0 and m_t > _ZERO_RTOL * m_t_scale):
        reasons.append(
            (
                "relative_undefined",
                f"{label} log relative CI needs positive means, got control {m_c:.6g} and "
                f"variant {m_t:.6g}",
            )
        )
        return _Computed(Estimate(**values), se, tuple(reasons))

    cov_tc = np.zeros((2, 2))
    for arm in pool:
        w = arm.n / n_pool
        coefs = np.vstack(
            [
                (own_t if arm is treatment else 0.0) + w * pooled_coef,
                (own_c if arm is control else 0.0) + w * pooled_coef,
            ]
        )
        cov_tc += coefs @ (arm.cov / arm.n) @ coefs.T
    rel = m_t / m_c - 1.0
    if relative_ci_method == "delta":
        grad = np.array([1.0 / m_c, -m_t / m_c**2])
        half = t_quantile * float(np.sqrt(max(float(grad @ cov_tc @ grad), 0.0)))
        lower, upper = rel - half, rel + half
    else:
        grad = np.array([1.0 / m_t, -1.0 / m_c])
        half = t_quantile * float(np.sqrt(max(float(grad @ cov_tc @ grad), 0.0)))
        log_ratio = float(np.log(m_t / m_c))
        with np.errstate(over="ignore"):
            lower, upper = np.expm1(log_ratio - half), np.expm1(log_ratio + half)
        # expm1(log(r)) and r - 1 round differently; keep the estimate inside its own interval
        lower, upper = min(lower, rel), max(upper, rel)
    if np.isfinite(upper):
        values.update(relative_ci_lower=float(lower), relative_ci_upper=float(upper))
    else:
        reasons.append(("relative_undefined", f"{label} relative CI overflows"))
    return _Computed(Estimate(**values), se, tuple(reasons))


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
    features = parse_features(names)
    covariates = features[1:]
    if any(not f.name or f.name == _OUTCOME for f in covariates):
        raise ValueError(
            f"covariate features must be named and not {_OUTCOME!r}: "
            f"{[f.name for f in covariates]} from variables {names}"
        )
    return (features[0]._replace(name=_OUTCOME), *covariates)


def analyze_metric(
    arms: Sequence[ArmMoments],
    control_variant: str,
    *,
    metric_type: str = "mean",
    alpha: float = 0.05,
    theta_method: str = "within",
    relative_ci_method: str = "delta",
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
        relative_ci_method: ``"delta"`` (symmetric) or ``"log"`` (delta method on the log of the
            means ratio, asymmetric).

    Returns:
        One :class:`Comparison` per arm other than the control, in input order.

    Raises:
        ValueError: for an unknown metric type, θ method or relative CI method, alpha outside
            (0, 1), duplicate arms, arms whose variables differ or do not start with the metric's
            outcome variables, or a ratio variable without its partner.
    """
    features = _check_inputs(arms, metric_type, alpha, theta_method, relative_ci_method)
    populated = [arm for arm in arms if arm.n >= 1]
    usable = [arm for arm in populated if 0 not in _zero_denominators(arm, features[:1])]
    control = next((arm for arm in populated if arm.variant == control_variant), None)

    within_fit: ThetaFit | None = None
    if theta_method == "within" and sum(arm.n - 1 for arm in usable) >= 1:
        within_fit = _fit_features(usable, features, "within")

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
            fit = within_fit
        else:
            pool = [control, treatment]
            fit = _fit_features(pool, features, "total")
        assert fit is not None  # n_c, n_t ≥ 2 guarantee N - G ≥ 2
        args = (alpha, relative_ci_method)
        unadjusted = _estimate(control, treatment, pool, features[:1], (), *args, "unadjusted")
        if fit.covariates:
            by_name = {f.name: f for f in features}
            kept = [features[0], *(by_name[name] for name in fit.covariates)]
            cuped = _estimate(control, treatment, pool, kept, fit.theta, *args, "CUPED")
        else:
            cuped = unadjusted
        reasons = cuped.reasons + tuple(r for r in unadjusted.reasons if r not in cuped.reasons)
        if unadjusted.se > 0.0:
            variance_reduction: float | None = 1.0 - cuped.se**2 / unadjusted.se**2
        else:
            variance_reduction = None
        status = "ok"
        for candidate in ("zero_variance", "relative_undefined"):
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
            )
        )
    return tuple(results)
