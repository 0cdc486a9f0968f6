"""Many :func:`~cuped_stats.cuped.analyze_metric` calls at once, on stacked arrays.

A results table asks for thousands of comparisons (100 metrics in a dozen experiment segments of
three arms: 2,400), each a handful of 3 x 3 matrix products. One call per comparison spends its
time in Python and in numpy's per-call overhead, not in arithmetic. :func:`analyze_metrics` takes
every request of the table and computes the common case for all its groups at once: plain
variables (``mean`` and ``proportion`` metrics with plain covariates), θ ``within`` and estimated
(``small_sample_correction``), no strata, every arm with at least two units, at least one
covariate. The formulas are those of :mod:`cuped_stats.cuped` and
:mod:`cuped_stats.small_sample` (see their docstrings), written for a leading group axis; with
plain variables every Jacobian is the identity, so an arm's feature covariance is its covariance.

Every other request goes through :func:`~cuped_stats.cuped.analyze_metric` itself, and so does
every group whose figures come near one of the core's decisions: a covariate within a factor
``_MARGIN`` of being dropped as constant or collinear, a residual variance or residual degrees of
freedom near zero, a control mean near zero, a log interval near its positivity condition, or a
relative interval the core would not report. Rounding differs between the two paths (sums in
another order), so a decision is never taken where that rounding could change it; the figures
agree to rounding (tests/test_batch.py: 1e-12 relative on random and edge-case groups).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.special

from cuped_stats.cuped import (
    _ZERO_RTOL,
    COLLINEAR_RTOL,
    CONSTANT_RTOL,
    Comparison,
    Estimate,
    _check_inputs,
    _relative_interval,
    analyze_metric,
)
from cuped_stats.moments import ArmMoments
from cuped_stats.small_sample import _NU_RTOL

__all__ = ["MetricRequest", "analyze_metrics"]

#: How far from a decision threshold of the core a group must be for the batched path: a figure
#: within this factor of one goes through analyze_metric, whose rounding decides it.
_MARGIN = 1e3


class MetricRequest(NamedTuple):
    """The arguments of one :func:`~cuped_stats.cuped.analyze_metric` call."""

    arms: Sequence[ArmMoments]
    control_variant: str
    metric_type: str = "mean"
    alpha: float = 0.05
    theta_method: str = "within"
    relative_ci_method: str = "delta"
    small_sample_correction: bool = True
    strata: tuple[str, ...] = ()


def _scalar(request: MetricRequest) -> tuple[Comparison, ...]:
    options = request._asdict()
    return analyze_metric(options.pop("arms"), options.pop("control_variant"), **options)


def _batchable(request: MetricRequest, n_features: int) -> bool:
    """Whether the request is of the common case the batched path computes (the module
    docstring); its inputs are valid (:func:`~cuped_stats.cuped._check_inputs` passed)."""
    arms = request.arms
    return (
        request.metric_type in ("mean", "proportion")
        and request.theta_method == "within"
        and request.small_sample_correction
        and not request.strata
        and n_features == len(arms[0].names) >= 2
        and len(arms) >= 2
        and all(arm.n >= 2 for arm in arms)
        and any(arm.variant == request.control_variant for arm in arms)
    )


def analyze_metrics(
    requests: Sequence[MetricRequest], labels: Sequence[str] | None = None
) -> list[tuple[Comparison, ...]]:
    """``analyze_metric`` of every request, in order (the same comparisons, to rounding).

    Raises:
        ValueError: as :func:`~cuped_stats.cuped.analyze_metric` does, the message prefixed with
            the request's label when ``labels`` are given.
    """
    results: list[tuple[Comparison, ...] | None] = [None] * len(requests)
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, request in enumerate(requests):
        try:
            features = _check_inputs(
                request.arms,
                request.metric_type,
                request.alpha,
                request.theta_method,
                request.relative_ci_method,
            )
            if _batchable(request, len(features)):
                buckets[(len(request.arms), len(features))].append(i)
            else:
                results[i] = _scalar(request)
        except ValueError as error:
            if labels is None:
                raise
            raise ValueError(f"{labels[i]}: {error}") from error
    for indices in buckets.values():
        batched = _analyze_batch([requests[i] for i in indices])
        for i, comparisons in zip(indices, batched, strict=True):
            results[i] = comparisons if comparisons is not None else _scalar(requests[i])
    return results  # type: ignore[return-value]


class _Arms(NamedTuple):
    """A bucket's moments: ``n`` (G, H), ``mu`` (G, H, p), ``cov`` (G, H, p, p)."""

    n: np.ndarray
    mu: np.ndarray
    cov: np.ndarray


def _stack(requests: Sequence[MetricRequest]) -> _Arms:
    return _Arms(
        n=np.array([[arm.n for arm in r.arms] for r in requests], dtype=np.float64),
        mu=np.array([[arm.mean for arm in r.arms] for r in requests]),
        cov=np.array([[arm.cov for arm in r.arms] for r in requests]),
    )


def _per_group(function, matrices: np.ndarray, ok: np.ndarray, *args: np.ndarray) -> np.ndarray:
    """``function`` (``np.linalg.solve`` or ``inv``) of every group where ``ok``, NaN elsewhere:
    one stacked call, or one call per group when a matrix is singular (its ``ok`` cleared)."""
    shape = args[0].shape if args else matrices.shape
    out = np.full(shape, np.nan)
    where = np.flatnonzero(ok)
    try:
        out[where] = function(matrices[where], *(arg[where, ..., None] for arg in args)).reshape(
            (len(where), *shape[1:])
        )
    except np.linalg.LinAlgError:
        for g in where:
            try:
                out[g] = function(matrices[g], *(arg[g] for arg in args))
            except np.linalg.LinAlgError:
                ok[g] = False
    return out


def _solve(matrices: np.ndarray, vectors: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``matrices⁻¹ vectors`` per group where ``ok`` (NaN elsewhere); a group whose matrix is
    singular has ``ok`` cleared."""
    return _per_group(np.linalg.solve, matrices, ok, vectors)


def _screen_clear(within: np.ndarray, mu_pool: np.ndarray, ok: np.ndarray) -> None:
    """Clear ``ok`` for the groups whose covariate screening
    (:func:`~cuped_stats.cuped.screen_covariates`) is not clearly "keep every covariate"."""
    s_xx, x_bar = within[:, 1:, 1:], mu_pool[:, 1:]
    variances = np.diagonal(s_xx, axis1=1, axis2=2)
    with np.errstate(invalid="ignore"):
        sd = np.sqrt(variances)
        ok &= (sd > _MARGIN * CONSTANT_RTOL * np.abs(x_bar)).all(axis=1)
    for j in range(1, s_xx.shape[1]):
        with np.errstate(invalid="ignore", divide="ignore"):
            r_kk = s_xx[:, :j, :j] / (sd[:, :j, None] * sd[:, None, :j])
            r_kj = s_xx[:, :j, j] / (sd[:, :j] * sd[:, j, None])
        residual = 1.0 - np.einsum("gi,gi->g", r_kj, _solve(r_kk, r_kj, ok))
        with np.errstate(invalid="ignore"):
            ok &= residual > _MARGIN * COLLINEAR_RTOL


def _analyze_batch(requests: Sequence[MetricRequest]) -> list[tuple[Comparison, ...] | None]:
    """The comparisons of requests of the common case with the same number of arms and
    variables; ``None`` for a group the core must decide (the module docstring)."""
    arms = _stack(requests)
    n, mu, cov = arms
    ok = np.ones(len(requests), dtype=bool)
    n_pool = n.sum(axis=1)
    weights = n / n_pool[:, None]
    within = np.einsum("gh,ghij->gij", n - 1.0, cov) / (n_pool - n.shape[1])[:, None, None]
    mu_pool = np.einsum("gh,ghi->gi", n, mu) / n_pool[:, None]
    _screen_clear(within, mu_pool, ok)
    theta = _solve(within[:, 1:, 1:], within[:, 1:, 0], ok)
    b = np.concatenate([np.ones((len(requests), 1)), -theta], axis=1)
    a = np.concatenate([np.zeros((len(requests), 1)), theta], axis=1)
    abs_b = np.abs(b)

    # CUPED: adjusted means, residual variances (zero below cancellation noise), θ estimated
    shift = np.einsum("gi,gi->g", a, mu_pool)
    shift_scale = np.einsum("gi,gi->g", np.abs(a), np.abs(mu_pool))
    means = np.einsum("gi,ghi->gh", b, mu) + shift[:, None]
    mean_scales = np.einsum("gi,ghi->gh", abs_b, np.abs(mu)) + shift_scale[:, None]
    residual = np.einsum("gi,ghij,gj->gh", b, cov, b)
    residual_scale = np.einsum("gi,ghij,gj->gh", abs_b, np.abs(cov), abs_b)
    with np.errstate(invalid="ignore"):
        ok &= (residual > _MARGIN * _ZERO_RTOL * residual_scale).all(axis=1)
    scatters = (n - 1.0)[:, :, None, None] * cov[:, :, 1:, 1:]  # W_h
    offsets = mu[:, :, 1:] - mu_pool[:, None, 1:]  # d_h
    scatter = scatters.sum(axis=1)  # M
    inverse = _per_group(np.linalg.inv, scatter, ok)
    residual_df = n - 1.0 - np.einsum("gij,ghij->gh", inverse, scatters)  # ν_h
    with np.errstate(invalid="ignore"):
        ok &= (residual_df > _MARGIN * _NU_RTOL * n).all(axis=1)
        sigma2 = (n - 1.0) * residual / residual_df
    solved = np.einsum("gij,ghj->ghi", inverse, offsets)  # M⁻¹d_h
    # K_h(a, b) = (M⁻¹d_a)ᵀ W_h (M⁻¹d_b) for every arm h and pair of arms (a, b)
    kernels = np.einsum("gai,ghij,gbj->ghab", solved, scatters, solved)
    # θ-known covariance of the adjusted means (cuped._Adjustment.means_covariance, p = a)
    shift_variance = np.einsum("gh,gi,ghij,gj->g", weights**2 / n, a, cov, a)
    own_shift = weights * np.einsum("gi,ghij,gj->gh", b, cov, a) / n

    results: list[tuple[Comparison, ...] | None] = []
    for g, request in enumerate(requests):
        if not ok[g]:
            results.append(None)
            continue
        comparisons = _group_comparisons(
            request,
            g,
            _GroupFigures(
                means=means[g],
                mean_scales=mean_scales[g],
                residual=residual[g],
                sigma2=sigma2[g],
                residual_df=residual_df[g],
                kernels=kernels[g],
                shift_variance=float(shift_variance[g]),
                own_shift=own_shift[g],
            ),
            arms,
            tuple(float(v) for v in theta[g]),
        )
        results.append(comparisons)
    return results


class _GroupFigures(NamedTuple):
    """One group's CUPED figures from :func:`_analyze_batch` (arrays over its arms)."""

    means: np.ndarray
    mean_scales: np.ndarray
    residual: np.ndarray
    sigma2: np.ndarray
    residual_df: np.ndarray
    kernels: np.ndarray
    shift_variance: float
    own_shift: np.ndarray


def _t_figures(effect: float, variance: float, df: float, alpha: float) -> dict[str, float]:
    se = math.sqrt(variance)
    t_quantile = float(scipy.special.stdtrit(df, 1.0 - alpha / 2.0))
    return {
        "se": se,
        "ci_lower": effect - t_quantile * se,
        "ci_upper": effect + t_quantile * se,
        "degrees_of_freedom": float(df),
        "p_value": float(min(1.0, 2.0 * scipy.special.stdtr(df, -abs(effect) / se))),
        "t_quantile": t_quantile,
    }


def _estimate(
    m_t: float,
    m_c: float,
    scale_t: float,
    variance: tuple[float, float],
    cov_tc: np.ndarray,
    request: MetricRequest,
) -> Estimate | None:
    """The :class:`~cuped_stats.cuped.Estimate` of ``m_t - m_c`` with variance and df
    ``variance``, or ``None`` where the core decides the relative interval."""
    effect = m_t - m_c
    figures = _t_figures(effect, variance[0], variance[1], float(request.alpha))
    t_quantile = figures.pop("t_quantile")
    grad = np.array([1.0 / m_c, -m_t / m_c**2])
    relative_se = math.sqrt(max(float(grad @ cov_tc @ grad), 0.0))
    method = request.relative_ci_method
    if method == "log" and not (m_c > 0.0 and m_t > _MARGIN * _ZERO_RTOL * scale_t):
        return None
    if method == "fieller" and not (
        m_c**2 - t_quantile**2 * cov_tc[1, 1] > _MARGIN * _ZERO_RTOL * m_c**2
    ):
        return None
    interval = _relative_interval(method, m_t, m_c, cov_tc, t_quantile, relative_se)
    if isinstance(interval, str) or not np.isfinite(interval[1]):
        return None
    return Estimate(
        control_mean=m_c,
        variant_mean=m_t,
        effect=effect,
        relative_effect=m_t / m_c - 1.0,
        relative_se=relative_se,
        relative_ci_lower=interval[0],
        relative_ci_upper=interval[1],
        **figures,
    )


def _group_comparisons(
    request: MetricRequest,
    g: int,
    figures: _GroupFigures,
    arms: _Arms,
    theta: tuple[float, ...],
) -> tuple[Comparison, ...] | None:
    """Every treatment's :class:`~cuped_stats.cuped.Comparison` in group ``g``, or ``None``."""
    n, mu, cov = arms.n[g], arms.mu[g], arms.cov[g]
    variants = [arm.variant for arm in request.arms]
    c = variants.index(request.control_variant)
    # unadjusted: the arm means of the outcome, Welch's variance and df
    if not abs(mu[c, 0]) > _MARGIN * _ZERO_RTOL * abs(mu[c, 0]) or not (cov[:, 0, 0] > 0.0).all():
        return None
    m_c, m_c_raw = float(figures.means[c]), float(mu[c, 0])
    if not abs(m_c) > _MARGIN * _ZERO_RTOL * float(figures.mean_scales[c]):
        return None
    covariates = tuple(request.arms[0].names[1:])
    comparisons = []
    for t, treatment in enumerate(request.arms):
        if t == c:
            continue
        var_c, var_t = float(cov[c, 0, 0]) / n[c], float(cov[t, 0, 0]) / n[t]
        welch = var_c + var_t
        welch_df = welch**2 / (var_c**2 / (n[c] - 1.0) + var_t**2 / (n[t] - 1.0))
        unadjusted = _estimate(
            float(mu[t, 0]),
            m_c_raw,
            abs(float(mu[t, 0])),
            (welch, welch_df),
            np.array([[var_t, 0.0], [0.0, var_c]]),
            request,
        )
        cuped = _cuped_estimate(request, figures, n, t, c)
        if unadjusted is None or cuped is None:
            return None
        assert cuped.se is not None and unadjusted.se is not None
        comparisons.append(
            Comparison(
                variant=treatment.variant,
                control_variant=request.control_variant,
                metric_type=request.metric_type,
                theta_method=request.theta_method,
                relative_ci_method=request.relative_ci_method,
                alpha=float(request.alpha),
                n_control=int(n[c]),
                n_variant=treatment.n,
                cuped=cuped,
                unadjusted=unadjusted,
                theta=theta,
                covariates=covariates,
                covariates_dropped=(),
                variance_reduction=1.0 - cuped.se**2 / unadjusted.se**2,
                status="ok",
                status_reason="",
                strata=(),
            )
        )
    return tuple(comparisons)


def _cuped_estimate(
    request: MetricRequest, figures: _GroupFigures, n: np.ndarray, t: int, c: int
) -> Estimate | None:
    """The CUPED estimate of treatment ``t`` against control ``c`` with θ estimated
    (:func:`~cuped_stats.small_sample.estimated_theta_covariance`, within θ)."""
    kernels = figures.kernels  # (h, a, b)
    covariance = np.zeros((2, 2))
    denominator = 0.0
    ends = (t, c)
    for h in range(len(n)):
        kernel = np.array([[kernels[h, i, j] for j in ends] for i in ends])
        for i, e in enumerate(ends):
            if e == h:
                kernel[i, i] += 1.0 / n[h]
        q = kernel[0, 0] + kernel[1, 1] - 2.0 * kernel[0, 1]
        covariance += figures.sigma2[h] * kernel
        term = figures.sigma2[h] * q
        if term > 0.0:
            denominator += term**2 / figures.residual_df[h]
    variance = float(covariance[0, 0] + covariance[1, 1] - 2.0 * covariance[0, 1])
    if not (variance > 0.0 and denominator > 0.0):
        return None
    var_t, var_c = figures.residual[t] / n[t], figures.residual[c] / n[c]
    extra = covariance - np.diag([var_t, var_c])
    s, r_t, r_c = figures.shift_variance, figures.own_shift[t], figures.own_shift[c]
    cross = s + r_t + r_c
    means_covariance = np.array([[s + 2.0 * r_t + var_t, cross], [cross, s + 2.0 * r_c + var_c]])
    return _estimate(
        float(figures.means[t]),
        float(figures.means[c]),
        float(figures.mean_scales[t]),
        (variance, variance**2 / denominator),
        means_covariance + extra,
        request,
    )
