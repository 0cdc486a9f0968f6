"""Always-valid confidence sequences for a difference in means (CUPED-adjusted or not).

A fixed-horizon CI is valid at one sample size chosen in advance; looked at every day and acted on
the first time it excludes 0, its false-positive rate grows with the number of looks (0.28 after 28
daily looks at alpha = 0.05 in ``scripts/sequential_simulation.py``; 0.009 for this sequence).
A *confidence sequence* (CS) is a sequence of intervals
``C_n`` that covers the true effect at *all* sample sizes at once,
``P(∃ n: Δ ∉ C_n) ≤ alpha``, so it may be monitored continuously and the experiment stopped at any
data-dependent time.

We implement the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas,
"Time-uniform central limit theory and asymptotic confidence sequences", Annals of Statistics
52(6), 2613-2640 (2024), arXiv:2103.06476: their Gaussian-mixture asymptotic CS for a mean
(Theorem 2.2),

    μ̂_t ± σ̂_t · √( 2(tρ² + 1)/(t²ρ²) · log(√(tρ² + 1)/alpha) ),

which is Robbins' normal-mixture boundary for a Gaussian random walk
(``M_t = (1 + tρ²)^(-1/2) exp(ρ²S_t²/(2(1 + tρ²)))``, Ville's inequality ``P(∃t: M_t ≥ 1/alpha)
≤ alpha``) made to hold asymptotically for any finite-variance data through a strong Gaussian
approximation of the whole partial-sum process, with the sample standard deviation ``σ̂_t``.
It is two-sided at level ``alpha`` (the mixture is symmetric), and ``ρ > 0`` is dimensionless.

For a difference in means Δ̂ with standard error SE over ``n`` units in total (both arms), the
per-unit variance is ``σ² = n·SE²`` (``Δ̂`` behaves as the mean of ``n`` per-unit influence
terms; this is how GrowthBook applies the CS to experiment effects). Substituting ``t = n`` and
``σ̂ = SE·√n`` and writing ``u = nρ²``, the CS is the fixed-horizon interval with its normal
quantile replaced by a multiplier:

    Δ̂ ± SE · m(u),     m(u) = √( (1 + 1/u) · (log(1 + u) − 2·log alpha) ).

(In GrowthBook's notation with ``ρ_GB = ρ/σ`` the same half-width reads
``√((nσ²ρ_GB² + 1)/(n²ρ_GB²) · log((nσ²ρ_GB² + 1)/alpha²))``.) A CUPED estimate enters exactly as
an unadjusted one: its SE is the SE of the mean of the residuals ``y − θ·x``.

Choosing ρ. ``ρ`` must be fixed before the data are seen (a data-dependent ρ voids the guarantee).
The CS is tightest, relative to the fixed CI, at the ``u`` minimising ``m(u)``: setting the
derivative to 0 gives ``u − log(1 + u) = −2·log alpha``, i.e.
``u* = −W₋₁(−alpha²/e) − 1`` with ``W₋₁`` the lower branch of Lambert's W. For a planned total
sample ``n*`` we take ``ρ² = u*/n*`` (:func:`mixture_rho`), so the CS is narrowest at ``n = n*``
and ``m(u*)`` is its width relative to the fixed-horizon normal CI there (3.035/1.960 = 1.55 at
alpha = 0.05). The expansion ``W₋₁(x) ≈ log(−x) − log(−log(−x))`` gives
``u* ≈ −2·log alpha + log(1 − 2·log alpha)``, the closed form GrowthBook uses (it cites the
paper's appendix on choosing ρ, eq. (161) of arXiv:2103.06476v7); its ``m`` at ``n*`` differs from
the exact one by less than 1e-7 relative at alpha = 0.05. Pass ``rho`` explicitly to reproduce any
other choice. Without a planned sample size the default ``n* =`` :data:`DEFAULT_PLANNED_N` (5,000
units, GrowthBook's default tuning parameter).

Properties (tested in ``tests/test_core_sequential.py``): for every ``u`` and alpha,
``m(u) > z_{1-alpha/2}`` (a CS valid at every n is in particular valid at one n), so the CS
contains the normal fixed-horizon CI; as ``n → ∞`` the half-width shrinks like
``σ·√(log(nρ²/alpha²)/n)``, so the ratio to the fixed CI grows only like ``√log n``.

Validity is asymptotic (a CLT-type guarantee, like the fixed-horizon t-interval itself): the
guarantee is for the sequence of looks as the sample grows, with the per-unit variance estimated
consistently. Degenerate inputs never raise and never give NaN: the bounds are ``None`` and
``status`` says why (precedence as listed): ``insufficient_sample`` (``n_total < 2``),
``undefined_se`` (SE missing, negative or not finite), ``zero_variance`` (SE = 0),
``undefined_estimate`` (estimate missing or not finite), else ``ok``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.special
from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_PLANNED_N",
    "SEQUENTIAL_METHOD",
    "SEQUENTIAL_STATUSES",
    "ConfidenceSequence",
    "always_valid_p_value",
    "confidence_sequence",
    "confidence_sequence_bounds",
    "mixture_rho",
    "sequential_multiplier",
]

#: Planned total sample size (both arms) the CS is tuned for when none is given.
DEFAULT_PLANNED_N = 5000
#: ``method`` of every :class:`ConfidenceSequence`.
SEQUENTIAL_METHOD = "asymptotic_normal_mixture"
SEQUENTIAL_STATUSES: tuple[str, ...] = (
    "ok",
    "insufficient_sample",
    "undefined_se",
    "zero_variance",
    "undefined_estimate",
)


@dataclass(frozen=True)
class ConfidenceSequence:
    """One look of an always-valid confidence sequence for a difference in means.

    Attributes:
        lower, upper: ``estimate ∓ half_width``; ``None`` unless ``status == "ok"``.
        half_width: ``SE · m(nρ²)``, ``m(u) = √((1 + 1/u)(log(1 + u) − 2 log alpha))``.
        rho: The dimensionless mixture parameter ρ (Waudby-Smith et al. 2024, Theorem 2.2).
        planned_n: Total sample size ρ was tuned for (``None`` when ``rho`` was given).
        alpha: Two-sided level: ``P(∃ n: Δ ∉ [lower, upper]) ≤ alpha`` (asymptotically).
        method: :data:`SEQUENTIAL_METHOD`.
        status: One of :data:`SEQUENTIAL_STATUSES` (see the module docstring).
    """

    lower: float | None
    upper: float | None
    half_width: float | None
    rho: float
    planned_n: float | None
    alpha: float
    method: str
    status: str


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def mixture_rho(planned_n: float, alpha: float = 0.05) -> float:
    """ρ making the confidence sequence narrowest at the total sample size ``planned_n``.

    ``ρ = √(u*/n*)`` with ``u* = −W₋₁(−alpha²/e) − 1``, the root of
    ``u − log(1 + u) = −2 log alpha`` that minimises the multiplier ``m(u)`` of
    :func:`sequential_multiplier` (derivation in the module docstring; the optimisation of ρ for a
    target time is in Waudby-Smith et al. 2024, appendix on choosing ρ).

    Raises:
        ValueError: ``planned_n`` not a positive finite number, or alpha outside (0, 1).
    """
    _check_alpha(alpha)
    if not (math.isfinite(planned_n) and planned_n > 0):
        raise ValueError(f"planned_n must be a positive number, got {planned_n!r}")
    return math.sqrt(_u_star(float(alpha)) / planned_n)


@functools.lru_cache(maxsize=64)
def _u_star(alpha: float) -> float:
    """``u* = −W₋₁(−alpha²/e) − 1`` (one Lambert W per alpha: the tables ask for it per row)."""
    return -float(scipy.special.lambertw(-(alpha**2) / math.e, k=-1).real) - 1.0


def sequential_multiplier(n_total: ArrayLike, rho: float, alpha: float = 0.05) -> np.ndarray:
    """The standard-error multiplier of the confidence sequence at total sample size ``n_total``.

    ``m = √((1 + 1/u)(log(1 + u) − 2 log alpha))`` with ``u = n·ρ²``: the Gaussian-mixture
    half-width ``√(2(nρ² + 1)/(n²ρ²) · log(√(nρ² + 1)/alpha))`` of Waudby-Smith et al. (2024,
    Theorem 2.2) divided by the standard error ``σ/√n``. Vectorised over ``n_total`` (any
    shape); the caller guarantees ``n_total > 0``.

    Raises:
        ValueError: ``rho`` not positive and finite, or alpha outside (0, 1).
    """
    _check_alpha(alpha)
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a positive number, got {rho!r}")
    return _multiplier(np.asarray(n_total, dtype=np.float64) * rho**2, math.log(alpha))


def _multiplier(u: np.ndarray, log_alpha: ArrayLike) -> np.ndarray:
    """``m(u) = √((1 + 1/u)(log(1 + u) − 2 log alpha))`` (:func:`sequential_multiplier`)."""
    return np.sqrt((1.0 + 1.0 / u) * (np.log1p(u) - 2.0 * log_alpha))


def confidence_sequence(
    estimate: float | None,
    se: float | None,
    n_total: float,
    *,
    alpha: float = 0.05,
    planned_n: float | None = None,
    rho: float | None = None,
) -> ConfidenceSequence:
    """Always-valid CI ``estimate ± se · m(n_total·ρ²)`` for a difference in means.

    Takes what the fixed-horizon CI takes (an :class:`~cuped_stats.cuped.Estimate`'s ``effect``
    and ``se``, and ``n_control + n_variant``) and returns the look of the asymptotic confidence
    sequence of Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas (Annals of Statistics 2024,
    Theorem 2.2); see the module docstring for the formula and its derivation.

    Args:
        estimate: The effect estimate Δ̂ (CUPED-adjusted or unadjusted).
        se: Its standard error; the per-unit variance is ``se² · n_total``.
        n_total: Units in both arms at this look.
        alpha: Two-sided level.
        planned_n: Total sample size to tune ρ for (:func:`mixture_rho`); default
            :data:`DEFAULT_PLANNED_N`. It must not depend on the data seen so far.
        rho: The mixture parameter itself, instead of ``planned_n``.

    Raises:
        ValueError: both ``planned_n`` and ``rho`` given, a non-positive ``planned_n`` or
            ``rho``, or alpha outside (0, 1). Degenerate data give ``None`` bounds instead.
    """
    _check_alpha(alpha)
    if rho is not None and planned_n is not None:
        raise ValueError("give planned_n or rho, not both")
    if rho is None:
        planned_n = float(DEFAULT_PLANNED_N if planned_n is None else planned_n)
        rho = mixture_rho(planned_n, alpha)
    elif not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a positive number, got {rho!r}")
    base = {
        "rho": float(rho),
        "planned_n": planned_n,
        "alpha": float(alpha),
        "method": SEQUENTIAL_METHOD,
    }
    if not (math.isfinite(n_total) and n_total >= 2):
        status = "insufficient_sample"
    elif se is None or not math.isfinite(se) or se < 0.0:
        status = "undefined_se"
    elif se == 0.0:
        status = "zero_variance"
    elif estimate is None or not math.isfinite(estimate):
        status = "undefined_estimate"
    else:
        half = float(se * sequential_multiplier(n_total, rho, alpha))
        return ConfidenceSequence(
            lower=estimate - half, upper=estimate + half, half_width=half, status="ok", **base
        )
    return ConfidenceSequence(lower=None, upper=None, half_width=None, status=status, **base)


def confidence_sequence_bounds(
    estimates: Sequence[float | None],
    ses: Sequence[float | None],
    n_totals: Sequence[float],
    alphas: Sequence[float],
    planned_ns: Sequence[float],
) -> tuple[list[float | None], list[float | None]]:
    """The ``lower`` and ``upper`` of :func:`confidence_sequence` of many looks at once (look
    ``i``: ``estimates[i]``, ``ses[i]``, ``n_totals[i]``, ``alpha=alphas[i]``,
    ``planned_n=planned_ns[i]``), ``None`` where its status is not ``ok``; one array
    computation instead of a call per look (the daily series has thousands).

    Raises:
        ValueError: as :func:`confidence_sequence` does for an alpha or a planned_n.
    """
    rhos = {
        key: mixture_rho(float(key[0]), key[1]) for key in set(zip(planned_ns, alphas, strict=True))
    }
    rho = np.array([rhos[key] for key in zip(planned_ns, alphas, strict=True)], dtype=np.float64)
    estimate = np.array(estimates, dtype=np.float64)  # None is NaN
    se = np.array(ses, dtype=np.float64)
    n_total = np.array(n_totals, dtype=np.float64)
    logs = {alpha: math.log(alpha) for alpha in set(alphas)}  # as the one look takes it
    log_alpha = np.array([logs[alpha] for alpha in alphas], dtype=np.float64)
    with np.errstate(all="ignore"):  # the looks that are not ok are masked below
        half = se * _multiplier(n_total * rho**2, log_alpha)
    ok = (
        np.isfinite(n_total) & (n_total >= 2) & np.isfinite(se) & (se > 0.0) & np.isfinite(estimate)
    )
    lower = np.where(ok, estimate - half, np.nan).tolist()
    upper = np.where(ok, estimate + half, np.nan).tolist()
    return (
        [v if ok_i else None for v, ok_i in zip(lower, ok.tolist(), strict=True)],
        [v if ok_i else None for v, ok_i in zip(upper, ok.tolist(), strict=True)],
    )


def always_valid_p_value(z: float, n_total: float, rho: float) -> float:
    """Always-valid two-sided p-value of the point null at standardized distance ``z``.

    ``p = min(1, √(1 + u) · exp(−z²·u / (2(1 + u))))`` with ``u = n_total·ρ²`` and
    ``z = (estimate − null value)/SE``: the reciprocal of Robbins' normal-mixture martingale
    ``M = (1 + u)^(-1/2) exp(z²u/(2(1 + u)))`` (module docstring), i.e. the smallest alpha' at
    which the confidence sequence with the same ρ, ``estimate ± SE·m(u)`` with
    ``m(u)² = (1 + 1/u)(log(1 + u) − 2 log alpha')``, excludes the null value:
    ``p < alpha ⇔ z² > m(u)²``. By Ville's inequality ``P(∃ n: p_n ≤ a) ≤ a`` for every ``a``
    (asymptotically, as for the CS), so ``p`` is a valid p-value at any data-dependent stopping
    time and may be fed to Holm's procedure at that time (Johari, Koomen, Pekelis, Walsh 2022,
    "Always valid inference", Operations Research 70(3); Howard, Ramdas, McAuliffe, Sekhon 2021).
    ρ must be fixed in advance (e.g. :func:`mixture_rho` of the planned sample at the configured
    alpha), not tuned to the level of the p-value.

    Raises:
        ValueError: ``n_total`` not positive, ``rho`` not positive, or ``z`` not finite.
    """
    if not (math.isfinite(z) and math.isfinite(n_total) and n_total > 0):
        raise ValueError(f"need a finite z and a positive n_total, got z={z!r}, n={n_total!r}")
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a positive number, got {rho!r}")
    u = n_total * rho**2
    log_p = 0.5 * math.log1p(u) - z * z * u / (2.0 * (1.0 + u))
    return float(min(1.0, math.exp(min(log_p, 0.0))))
