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
        # every group is computed, those the core will decide too: their NaN, infinities and
        # divisions by 0 are expected, and masked
        with np.errstate(all="ignore"):
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
    sd = np.sqrt(variances)
    ok &= (sd > _MARGIN * CONSTANT_RTOL * np.abs(x_bar)).all(axis=1)
    for j in range(1, s_xx.shape[1]):
        r_kk = s_xx[:, :j, :j] / (sd[:, :j, None] * sd[:, None, :j])
        r_kj = s_xx[:, :j, j] / (sd[:, :j] * sd[:, j, None])
        residual = 1.0 - np.einsum("gi,gi->g", r_kj, _solve(r_kk, r_kj, ok))
        ok &= residual > _MARGIN * COLLINEAR_RTOL


def _analyze_batch(requests: Sequence[MetricRequest]) -> list[tuple[Comparison, ...] | None]:
    """The comparisons of requests of the common case with the same number of arms and
    variables; ``None`` for a group the core must decide (the module docstring)."""
    n, mu, cov = _stack(requests)
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
    ok &= (residual > _MARGIN * _ZERO_RTOL * residual_scale).all(axis=1)
    scatters = (n - 1.0)[:, :, None, None] * cov[:, :, 1:, 1:]  # W_h
    offsets = mu[:, :, 1:] - mu_pool[:, None, 1:]  # d_h
    scatter = scatters.sum(axis=1)  # M
    inverse = _per_group(np.linalg.inv, scatter, ok)
    residual_df = n - 1.0 - np.einsum("gij,ghij->gh", inverse, scatters)  # ν_h
    ok &= (residual_df > _MARGIN * _NU_RTOL * n).all(axis=1)
    sigma2 = (n - 1.0) * residual / residual_df
    solved = np.einsum("gij,ghj->ghi", inverse, offsets)  # M⁻¹d_h
    # K_h(a, b) = (M⁻¹d_a)ᵀ W_h (M⁻¹d_b) for every arm h and pair of arms (a, b)
    kernels = np.einsum("gai,ghij,gbj->ghab", solved, scatters, solved)
    # θ-known covariance of the adjusted means (cuped._Adjustment.means_covariance, p = a)
    shift_variance = np.einsum("gh,gi,ghij,gj->g", weights**2 / n, a, cov, a)
    own_shift = weights * np.einsum("gi,ghij,gj->gh", b, cov, a) / n

    # every comparison: group, treatment and control arm
    controls = np.array([_control_index(r) for r in requests])
    steps = np.arange(n.shape[1] - 1)
    treatments = (steps[None, :] + (steps[None, :] >= controls[:, None])).ravel()
    group = np.repeat(np.arange(len(requests)), len(steps))
    control = np.repeat(controls, len(steps))
    t, c = (group, treatments), (group, control)

    # unadjusted: the arm means of the outcome, Welch's variance and df
    var_t, var_c = cov[(*t, 0, 0)] / n[t], cov[(*c, 0, 0)] / n[c]
    welch = var_c + var_t
    keep = ok[group] & (mu[(*c, 0)] != 0.0) & (cov[(*t, 0, 0)] > 0.0) & (cov[(*c, 0, 0)] > 0.0)

    # CUPED with θ estimated (small_sample.estimated_theta_covariance, within θ): per arm h the
    # kernel of (m_t, m_c), K_h(t, c) plus 1/n_h on the diagonal where h is t or c
    arm = np.arange(n.shape[1])[None, :]
    k_tt = kernels[group, :, treatments, treatments] + (arm == treatments[:, None]) / n[group]
    k_cc = kernels[group, :, control, control] + (arm == control[:, None]) / n[group]
    k_tc = kernels[group, :, treatments, control]  # K_h is symmetric (W_h is)
    s2 = sigma2[group]
    terms = s2 * (k_tt + k_cc - 2.0 * k_tc)
    denominator = np.where(terms > 0.0, terms**2 / residual_df[group], 0.0).sum(axis=1)
    c_tt, c_tc, c_cc = (s2 * k_tt).sum(axis=1), (s2 * k_tc).sum(axis=1), (s2 * k_cc).sum(axis=1)
    variance = c_tt + c_cc - 2.0 * c_tc
    # θ-known covariance of the adjusted means (cuped._Adjustment.means_covariance, p = a), its
    # residual terms replaced by the θ-estimated ones
    own_t, own_c = own_shift[t], own_shift[c]
    cross = shift_variance[group] + own_t + own_c
    m_c, scale_c = means[c], mean_scales[c]
    # never false once the residual guards above hold (each of t and c adds 1/n_h); kept so
    # that no NaN can reach a row
    keep &= (variance > 0.0) & (denominator > 0.0)
    keep &= np.abs(m_c) > _MARGIN * _ZERO_RTOL * scale_c
    group_requests = [requests[g] for g in group]
    zeros = np.zeros_like(welch)
    unadjusted = _estimates(
        (mu[(*t, 0)], mu[(*c, 0)], np.abs(mu[(*t, 0)])),
        (welch, welch**2 / (var_c**2 / (n[c] - 1.0) + var_t**2 / (n[t] - 1.0))),
        (var_t, zeros, zeros, var_c),
        group_requests,
        keep,
    )
    cuped = _estimates(
        (means[t], m_c, mean_scales[t]),
        (variance, variance**2 / denominator),
        (
            shift_variance[group] + 2.0 * own_t + c_tt,
            cross + c_tc,
            cross + c_tc,
            shift_variance[group] + 2.0 * own_c + c_cc,
        ),
        group_requests,
        keep,
    )

    comparisons: dict[int, list[Comparison]] = defaultdict(list)
    for i, (g, treatment) in enumerate(zip(group.tolist(), treatments.tolist(), strict=True)):
        if not ok[g]:
            continue
        if not keep[i] or unadjusted[i] is None or cuped[i] is None:
            ok[g] = False
            continue
        request = requests[g]
        se_u, se_c = unadjusted[i].se, cuped[i].se
        assert se_u is not None and se_c is not None
        comparisons[g].append(
            Comparison(
                variant=request.arms[treatment].variant,
                control_variant=request.control_variant,
                metric_type=request.metric_type,
                theta_method=request.theta_method,
                relative_ci_method=request.relative_ci_method,
                alpha=float(request.alpha),
                n_control=request.arms[int(controls[g])].n,
                n_variant=request.arms[treatment].n,
                cuped=cuped[i],
                unadjusted=unadjusted[i],
                theta=tuple(theta[g].tolist()),
                covariates=tuple(request.arms[0].names[1:]),
                covariates_dropped=(),
                variance_reduction=1.0 - se_c**2 / se_u**2,
                status="ok",
                status_reason="",
                strata=(),
            )
        )
    return [tuple(comparisons[g]) if ok[g] else None for g in range(len(requests))]


def _control_index(request: MetricRequest) -> int:
    return next(i for i, arm in enumerate(request.arms) if arm.variant == request.control_variant)


def _estimates(
    means: tuple[np.ndarray, np.ndarray, np.ndarray],
    variance: tuple[np.ndarray, np.ndarray],
    cov_tc: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    requests: Sequence[MetricRequest],
    wanted: np.ndarray,
) -> list[Estimate | None]:
    """The :class:`~cuped_stats.cuped.Estimate` of every ``wanted`` comparison: ``means`` are
    ``(m_t, m_c, |m_t| scale)``, ``variance`` the variance of ``m_t - m_c`` and its df,
    ``cov_tc`` the covariance of ``(m_t, m_c)`` as ``(V_tt, V_tc, V_ct, V_cc)``; ``None`` for
    the others and where the core decides the relative interval (the module docstring)."""
    m_t, m_c, scale_t = means
    alpha = np.array([float(r.alpha) for r in requests])
    effect = m_t - m_c
    se = np.sqrt(variance[0])
    t_quantile = scipy.special.stdtrit(variance[1], 1.0 - alpha / 2.0)
    p_value = np.minimum(1.0, 2.0 * scipy.special.stdtr(variance[1], -np.abs(effect) / se))
    g0, g1 = 1.0 / m_c, -m_t / m_c**2
    v_tt, v_tc, v_ct, v_cc = cov_tc
    relative_se = np.sqrt(
        np.maximum((g0 * v_tt + g1 * v_ct) * g0 + (g0 * v_tc + g1 * v_cc) * g1, 0.0)
    )
    positive = (m_c > 0.0) & (m_t > _MARGIN * _ZERO_RTOL * scale_t)
    bounded = m_c**2 - t_quantile**2 * v_cc > _MARGIN * _ZERO_RTOL * m_c**2
    relative_effect = m_t / m_c - 1.0
    half = t_quantile * relative_se  # the delta interval (cuped._relative_interval), for all
    # the Estimate's fields in its order, the relative interval's two as the delta method's
    columns = (
        m_c,
        m_t,
        effect,
        se,
        effect - t_quantile * se,
        effect + t_quantile * se,
        variance[1],
        p_value,
        relative_effect,
        relative_effect - half,
        relative_effect + half,
        relative_se,
    )
    rows = zip(*(column.tolist() for column in columns), strict=True)
    quantiles = t_quantile.tolist()
    wanted_list, positive_list, bounded_list = wanted.tolist(), positive.tolist(), bounded.tolist()
    estimates: list[Estimate | None] = []
    for i, (request, row) in enumerate(zip(requests, rows, strict=True)):
        method = request.relative_ci_method
        if (
            not wanted_list[i]
            or (method == "log" and not positive_list[i])
            or (method == "fieller" and not bounded_list[i])
        ):
            estimates.append(None)
            continue
        if method != "delta":
            interval = _relative_interval(
                method,
                row[1],
                row[0],
                np.array([[v_tt[i], v_tc[i]], [v_ct[i], v_cc[i]]]),
                quantiles[i],
                row[11],
            )
            if isinstance(interval, str):
                estimates.append(None)
                continue
            row = (*row[:9], *interval, row[11])
        if not math.isfinite(row[10]):
            estimates.append(None)
            continue
        estimates.append(Estimate(*row))
    return estimates
