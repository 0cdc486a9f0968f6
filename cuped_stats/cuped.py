"""CUPED comparison of every treatment arm with the control arm of one metric.

Per experiment x segment x metric the caller passes the moments of every arm; the result is one
immutable :class:`Comparison` per treatment arm. The statistics (DESIGN §3):

- θ ``within`` (default): ``θ = S_xx⁻¹ S_xy`` with ``S`` the pooled within-arm covariance over all
  arms, the covariate coefficients of the OLS ``y ~ C(arm) + x₁ + … + x_k``. θ ``total``: ``S`` is
  the covariance of control + treatment, per pair (tea-tasting and GrowthBook convention).
- Adjusted arm mean ``m_g = ȳ_g - θ·(x̄_g - x̄)``, ``x̄`` the N-weighted covariate mean of the arms
  that estimate θ (within: all arms with units; total: control + treatment).
- ``Δ = m_t - m_c``; per-unit adjusted variance ``v_g = s²_y,g - 2θ·s_xy,g + θᵀS_xx,g θ``;
  ``SE = √(v_t/n_t + v_c/n_c)``; Welch-Satterthwaite df; two-sided t CI and p-value. This is the
  Welch t-test on the unit-level residual ``r = y - θ·x`` (θ treated as known).
- Relative effect ``m_t/m_c - 1`` with a delta-method CI including the covariance of ``m_t`` and
  ``m_c`` through the pooled ``x̄``, and the same t quantile as the absolute CI.
  θ is treated as known in every variance (its error is O(1/N)). An arm of one unit enters
  ``x̄`` but, its covariance being undefined, adds no variance term (weight 1/N).

Metric types map their raw variables to one per-arm estimate plus its gradient (linearisation,
Deng, Knoblich, Lu 2018); the CUPED machinery then works on the linearised outcome and the
covariates. ``mean`` and ``proportion`` are the identity on ``@y``; a ``ratio`` type slots into
:data:`OUTCOME_VARIABLES` and :func:`_point_and_gradient`.

Degenerate cases never raise and never return NaN/inf; a statistic that is not defined is
``None`` and ``status`` says why. Precedence (first applicable wins; ``status_reason`` lists every
applicable reason):

1. ``missing_control``: the control arm has no units. Only ``n_variant`` and the raw treatment
   mean are reported.
2. ``insufficient_sample``: control or treatment has fewer than 2 units. Raw means, the
   unadjusted effect and its relative effect are reported; no SE, CI, p-value or CUPED figures.
3. ``zero_variance``: a standard error is 0 (CUPED: the covariates predict the outcome exactly;
   unadjusted: the outcome is constant within both arms). Effects are reported, the SE, CI and
   p-value of the degenerate estimate (and its relative CI) are ``None``.
4. ``relative_undefined``: the (adjusted or raw) control mean is 0: relative figures ``None``.
5. ``ok``.

References: Deng, Xu, Kohavi, Walker (WSDM 2013); Deng, Knoblich, Lu (KDD 2018); Lin (2013)
"Agnostic notes on regression adjustments to experimental data"; Welch (1947).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.stats

from cuped_stats.moments import (
    ArmMoments,
    pooled_mean,
    pooled_total_covariance,
    pooled_within_covariance,
)

__all__ = [
    "COLLINEAR_RTOL",
    "CONSTANT_RTOL",
    "METRIC_TYPES",
    "OUTCOME_VARIABLES",
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
}
METRIC_TYPES: tuple[str, ...] = tuple(OUTCOME_VARIABLES)
THETA_METHODS: tuple[str, ...] = ("within", "total")
STATUSES: tuple[str, ...] = (
    "ok",
    "missing_control",
    "insufficient_sample",
    "zero_variance",
    "relative_undefined",
)

#: A covariate is constant when its standard deviation is at most this fraction of |mean|
#: (floating-point noise of a variance computed from identical values is ~1e-16 relative).
CONSTANT_RTOL = 1e-10
#: A covariate is collinear with the earlier kept ones when 1 - R² of its regression on them is
#: at most this (sequential Gram-Schmidt on the correlation matrix).
COLLINEAR_RTOL = 1e-9
#: A variance or a mean below this fraction of the magnitude of its terms is cancellation noise.
_ZERO_RTOL = 1e-12

_LINEARISED_OUTCOME = "@y"


@dataclass(frozen=True)
class Estimate:
    """One estimate of a treatment-vs-control difference (CUPED-adjusted or unadjusted).

    Attributes:
        control_mean, variant_mean: Arm means (adjusted ``m_g`` for CUPED, ``ȳ_g`` unadjusted).
        effect: ``variant_mean - control_mean``.
        se: ``√(v_t/n_t + v_c/n_c)``.
        ci_lower, ci_upper: ``effect ∓ t_{1-alpha/2, df}·se``.
        degrees_of_freedom: Welch-Satterthwaite
            ``(v_t/n_t + v_c/n_c)² / [(v_t/n_t)²/(n_t-1) + (v_c/n_c)²/(n_c-1)]``.
        p_value: Two-sided ``2·P(T_df > |effect/se|)``.
        relative_effect: ``variant_mean/control_mean - 1``.
        relative_ci_lower, relative_ci_upper: ``relative_effect ∓ t_{1-alpha/2, df}·se_rel``, delta
            method ``se_rel² = ∇ᵀ V ∇`` with ``∇ = (1/m_c, -m_t/m_c²)`` and ``V`` the covariance
            of ``(m_t, m_c)``.
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
    (the kept ones); ``covariates_dropped`` pairs a covariate with ``"constant"`` or
    ``"collinear"``. ``variance_reduction = 1 - SE²_cuped / SE²_unadjusted``.
    See the module docstring for ``status``.
    """

    variant: str
    control_variant: str
    metric_type: str
    theta_method: str
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
    variables ``names``, outcome first (index 0) and covariates after it. Deng et al. (2013), §3.3.
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


def _point_and_gradient(metric_type: str, outcome_mean: np.ndarray) -> tuple[float, np.ndarray]:
    """Per-arm point estimate f(μ_outcome) and its gradient over the outcome variables.

    mean, proportion: ``f = μ_y``, ``∇f = (1)``. (A ratio type: ``f = μ_a/μ_b``,
    ``∇f = (1/μ_b, -μ_a/μ_b²)``, Deng, Knoblich, Lu 2018, §3.)
    """
    if metric_type in ("mean", "proportion"):
        return float(outcome_mean[0]), np.ones(1)
    raise ValueError(f"unknown metric_type {metric_type!r}; expected one of {METRIC_TYPES}")


def _linearise(arm: ArmMoments, metric_type: str) -> ArmMoments:
    """Moments of (linearised outcome l, covariates): ``mean(l) = f(μ)``, ``Cov = Gᵀ Cov G``."""
    k_out = len(OUTCOME_VARIABLES[metric_type])
    p = len(arm.names)
    if arm.n >= 1:
        point, grad = _point_and_gradient(metric_type, arm.mean[:k_out])
    else:
        point, grad = 0.0, np.zeros(k_out)
    transform = np.zeros((p, p - k_out + 1))
    transform[:k_out, 0] = grad
    transform[k_out:, 1:] = np.eye(p - k_out)
    return ArmMoments(
        variant=arm.variant,
        n=arm.n,
        names=(_LINEARISED_OUTCOME, *arm.names[k_out:]),
        mean=np.concatenate([[point], arm.mean[k_out:]]),
        cov=transform.T @ arm.cov @ transform,
    )


class _Computed(NamedTuple):
    estimate: Estimate
    se: float
    reasons: tuple[tuple[str, str], ...]


def _estimate(
    control: ArmMoments,
    treatment: ArmMoments,
    pool: Sequence[ArmMoments],
    theta_full: np.ndarray,
    alpha: float,
    label: str,
) -> _Computed:
    """Welch comparison of ``m_t`` and ``m_c`` for residual coefficients ``b = (1, -θ)``.

    Each adjusted mean is linear in the arms' mean vectors:
    ``m_g = b·μ_g + θ·x̄ = Σ_h c_{g,h}·μ_h`` with ``c_{g,h} = δ_gh·b + w_h·(0, θ)``,
    ``w_h = n_h/N_pool``, so ``Cov(m_a, m_b) = Σ_h c_{a,h}ᵀ (Cov_h/n_h) c_{b,h}``.
    """
    if not any(arm is control for arm in pool) or not any(arm is treatment for arm in pool):
        raise ValueError("the pool of arms for x̄ must contain the control and the treatment")
    b = np.concatenate([[1.0], -theta_full[1:]])
    a = np.concatenate([[0.0], theta_full[1:]])
    n_pool = sum(arm.n for arm in pool)
    x_bar = pooled_mean(pool)
    shift = float(a @ x_bar)

    def adjusted_mean(arm: ArmMoments) -> tuple[float, float]:
        value = float(b @ arm.mean) + shift
        scale = float(np.abs(b) @ np.abs(arm.mean)) + float(np.abs(a) @ np.abs(x_bar))
        return value, scale

    def unit_variance(arm: ArmMoments) -> float:
        value = float(b @ arm.cov @ b)
        scale = float(np.abs(b) @ np.abs(arm.cov) @ np.abs(b))
        return 0.0 if value <= _ZERO_RTOL * scale else value

    m_c, m_c_scale = adjusted_mean(control)
    m_t, _ = adjusted_mean(treatment)
    effect = m_t - m_c
    n_c, n_t = control.n, treatment.n
    var_c, var_t = unit_variance(control) / n_c, unit_variance(treatment) / n_t
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
    t_quantile = float(scipy.stats.t.ppf(1.0 - alpha / 2.0, df))
    values.update(
        se=se,
        ci_lower=effect - t_quantile * se,
        ci_upper=effect + t_quantile * se,
        degrees_of_freedom=float(df),
        p_value=float(min(1.0, 2.0 * scipy.stats.t.sf(abs(effect) / se, df))),
    )
    if relative_defined:
        cov_tc = np.zeros((2, 2))
        for arm in pool:
            w = arm.n / n_pool
            coefs = np.vstack([(arm is target) * b + w * a for target in (treatment, control)])
            cov_tc += coefs @ (arm.cov / arm.n) @ coefs.T
        grad = np.array([1.0 / m_c, -m_t / m_c**2])
        rel_se = float(np.sqrt(max(float(grad @ cov_tc @ grad), 0.0)))
        rel = m_t / m_c - 1.0
        values.update(
            relative_ci_lower=rel - t_quantile * rel_se,
            relative_ci_upper=rel + t_quantile * rel_se,
        )
    return _Computed(Estimate(**values), se, tuple(reasons))


def _check_inputs(
    arms: Sequence[ArmMoments], metric_type: str, alpha: float, theta_method: str
) -> None:
    if metric_type not in OUTCOME_VARIABLES:
        raise ValueError(f"unknown metric_type {metric_type!r}; expected one of {METRIC_TYPES}")
    if theta_method not in THETA_METHODS:
        raise ValueError(f"unknown theta_method {theta_method!r}; expected one of {THETA_METHODS}")
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
            f"a {metric_type} metric needs the outcome variables {outcome} first, got {names}"
        )
    for arm in arms:
        if arm.names != names:
            raise ValueError(
                f"arms {arms[0].variant!r} and {arm.variant!r} have different variables: "
                f"{names} vs {arm.names}"
            )


def analyze_metric(
    arms: Sequence[ArmMoments],
    control_variant: str,
    *,
    metric_type: str = "mean",
    alpha: float = 0.05,
    theta_method: str = "within",
) -> tuple[Comparison, ...]:
    """CUPED comparison of every treatment arm in ``arms`` with ``control_variant``.

    Args:
        arms: Moments of every arm of one experiment x segment x metric, all with the same
            variables: the metric type's outcome variables first, then the covariates in
            configured order (earlier covariates win when collinear).
        control_variant: Name of the control arm (it may be absent: ``missing_control``).
        metric_type: ``"mean"`` or ``"proportion"``.
        alpha: Two-sided significance level; CIs have level ``1 - alpha``.
        theta_method: ``"within"`` (pooled within-arm, all arms) or ``"total"`` (covariance of
            control + treatment, per pair).

    Returns:
        One :class:`Comparison` per arm other than the control, in input order.

    Raises:
        ValueError: for an unknown metric type or θ method, alpha outside (0, 1), duplicate arms,
            or arms whose variables differ or do not start with the metric's outcome variables.
    """
    _check_inputs(arms, metric_type, alpha, theta_method)
    linear = [_linearise(arm, metric_type) for arm in arms]
    names = linear[0].names
    populated = [arm for arm in linear if arm.n >= 1]
    control = next((arm for arm in populated if arm.variant == control_variant), None)

    within_fit: ThetaFit | None = None
    if theta_method == "within" and sum(arm.n - 1 for arm in populated) >= 1:
        within_fit = fit_theta(pooled_within_covariance(populated), pooled_mean(populated), names)

    results = []
    for treatment in linear:
        if treatment.variant == control_variant:
            continue
        base = {
            "variant": treatment.variant,
            "control_variant": control_variant,
            "metric_type": metric_type,
            "theta_method": theta_method,
            "alpha": float(alpha),
            "n_control": 0 if control is None else control.n,
            "n_variant": treatment.n,
        }
        raw_t = float(treatment.mean[0]) if treatment.n >= 1 else None
        if control is None:
            results.append(
                Comparison(
                    **base,
                    cuped=Estimate(),
                    unadjusted=Estimate(variant_mean=raw_t),
                    theta=(),
                    covariates=(),
                    covariates_dropped=(),
                    variance_reduction=None,
                    status="missing_control",
                    status_reason=f"control arm {control_variant!r} has no units",
                )
            )
            continue
        if control.n < 2 or treatment.n < 2:
            raw_c = float(control.mean[0])
            unadjusted = Estimate(control_mean=raw_c, variant_mean=raw_t)
            reason = (
                f"fewer than 2 units (control {control.n}, {treatment.variant!r} {treatment.n})"
            )
            if raw_t is not None:
                relative = raw_t / raw_c - 1.0 if raw_c != 0.0 else None
                unadjusted = Estimate(
                    control_mean=raw_c,
                    variant_mean=raw_t,
                    effect=raw_t - raw_c,
                    relative_effect=relative,
                )
            results.append(
                Comparison(
                    **base,
                    cuped=Estimate(),
                    unadjusted=unadjusted,
                    theta=(),
                    covariates=(),
                    covariates_dropped=(),
                    variance_reduction=None,
                    status="insufficient_sample",
                    status_reason=reason,
                )
            )
            continue

        if theta_method == "within":
            pool = populated
            fit = within_fit
        else:
            pool = [control, treatment]
            fit = fit_theta(pooled_total_covariance(pool), pooled_mean(pool), names)
        assert fit is not None  # n_c, n_t ≥ 2 guarantee N - G ≥ 2
        unadjusted = _estimate(control, treatment, pool, np.zeros(len(names)), alpha, "unadjusted")
        if fit.covariates:
            theta_full = np.zeros(len(names))
            theta_full[[names.index(name) for name in fit.covariates]] = fit.theta
            cuped = _estimate(control, treatment, pool, theta_full, alpha, "CUPED")
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
