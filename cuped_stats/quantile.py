"""Quantile metrics: the difference of a quantile (p50, p90, p99) between treatment and control.

A quantile metric compares the q-quantile of a value between arms, at one of two levels:

- ``unit``: the quantile of the units' per-unit values (one value per unit);
- ``event``: the quantile of all events' values, events clustered by the unit (the randomization
  unit), so a unit with many events weighs more and its events are not independent.

Per arm, the warehouse computes a few numbers (SQL macro ``cuped__quantile_inputs``) and the
statistics here take them to a comparison. With the arm's ``N`` values sorted,
``x_(1) ≤ … ≤ x_(N)`` (units' values, or events' values), everything uses one empirical quantile
function, the linearly interpolated one of ``percentile_cont`` and numpy's default ``linear``
method:

    Q̂(p) = x_(k) + (h − k)·(x_(k+1) − x_(k)),   h = 1 + p·(N − 1),   k = ⌊h⌋.

Outer-CI method (Deng, Knoblich, Lu, KDD 2018, "Applying the delta method in metric analytics",
§4 on percentile metrics). The empirical CDF at the quantile has standard error ``σ_F``; the
probability band ``p∓ = q ∓ z_b·σ_F`` (``z_b`` = Φ⁻¹(0.975), :data:`BAND_Z`) mapped through
``Q̂`` is the outer 95% CI ``[Q̂(p₋), Q̂(p₊)]`` of the arm's quantile, and the arm's standard error is
its width over ``2·z_b``. We write it as the secant of ``Q̂`` over the band times ``σ_F``,

    se_g = σ_F · (Q̂(p₊) − Q̂(p₋)) / (p₊ − p₋),

which equals ``(Q̂(p₊) − Q̂(p₋))/(2·z_b)`` for the band the SQL computes and stays right for any
band it is given. ``Q̂'(q)`` is the sparsity ``1/f(ξ_q)``, so this is the Bahadur representation
``Var Q̂(q) ≈ σ_F²/f(ξ_q)²`` with the density estimated from the order statistics.

``σ_F``:

- ``unit``: ``σ_F² = q(1 − q)/N`` (binomial; the rank band ``N·q ∓ z_b·√(N·q(1 − q))``).
- ``event``: the empirical CDF at ``Q̂`` is the ratio ``Σ_i S_i / Σ_i M_i`` over units ``i``
  (``M_i`` the unit's events, ``S_i`` those at or below ``Q̂``), so the delta method for a ratio
  of unit-level sums (same paper, §3) gives
  ``σ_F² = n/(n − 1) · Σ_i (S_i − p·M_i)² / N²``, ``p = ΣS/ΣM``, over the arm's ``n`` units
  (units without events count in ``n`` and add nothing else). Ties at ``Q̂`` are broken at random
  so that ``p`` is ``q`` (the randomised empirical CDF): with ``b_i`` events below ``Q̂`` and
  ``a_i`` equal to it, each tied event counts with probability
  ``λ = clip((q·N − Σb)/Σa, 0, 1)``, ``S_i = b_i + λ·a_i``, and the expectation over the
  tie-breaking adds ``λ(1 − λ)·Σa_i`` to the sum of squares. Without ties (continuous values)
  ``Σa ≤ 1`` and this is the plain ratio. With one event per unit it is ``p(1 − p)/(N − 1)``,
  the unit-level formula up to O(1/N).

Comparison (the treatment ``t`` against the control ``c``), normal throughout:

- ``Δ = Q̂_t − Q̂_c``, ``SE = √(se_t² + se_c²)`` (the arms are independent), CI ``Δ ∓ z·SE`` with
  ``z = Φ⁻¹(1 − alpha/2)``, two-sided p-value ``2·Φ(−|Δ|/SE)``.
- Relative effect ``Q̂_t/Q̂_c − 1``; ``delta`` CI ``∓ z·√(se_t²/Q̂_c² + Q̂_t²·se_c²/Q̂_c⁴)``; ``log``
  CI ``exp(log(Q̂_t/Q̂_c) ∓ z·√(se_t²/Q̂_t² + se_c²/Q̂_c²)) − 1`` (needs both quantiles positive).

The band's ``z_b`` sets how wide a stretch of order statistics estimates the density; it is not the
CI level (any ``alpha`` uses the same band). Coverage of 95% intervals
(``scripts/quantile_coverage_simulation.py``, 10,000 replications per cell; lognormal, Pareto
α = 2 and |t₃| values, q = 0.5, 0.9, 0.99, 1,000 to 16,000 units per arm, unit and clustered
event level, absolute and relative): 94.5–96.4% in every cell with at least 34 values beyond the
quantile (effectively: ``min(q, 1 − q)·q(1 − q)/σ_F²``, which discounts clustered events). With
10 (unit level, q = 0.99 and 1,000 units) the secant over-estimates the SE in heavy tails and the
intervals are conservative: 96.6–98.2%. With fewer than ``z_b²·q ≈ 4`` the band leaves ``[0, 1]``
(``insufficient_sample``); at the event level one heavy unit can do that too (3 in 10,000
replications at q = 0.99 with 1,000 units). Intervals that treat clustered events as independent
cover 66–92% in the same simulation. No CUPED: quantiles are not adjusted by covariates here.

Degenerate cases never raise and never return NaN; a statistic that is not defined is ``None`` and
``status`` says why. Precedence (first applicable wins; ``status_reason`` lists every reason):

1. ``missing_control``: the control arm is absent or has no values. Only the treatment's
   quantile is reported.
2. ``insufficient_sample``: the control or the treatment has fewer than 2 values (event level:
   or fewer than 2 units), or its band ``q ∓ z_b·σ_F`` leaves ``[0, 1]`` (too few values beyond
   the quantile; the SQL then gives no order statistics). Quantiles, the effect and the relative
   effect are reported; no SE, CI or p-value.
3. ``zero_variance``: ``SE = 0`` (both arms' bands fall on one tied value, or ``σ_F = 0``).
   Effects are reported, SE, CIs and p-value are ``None``.
4. ``relative_undefined``: the control quantile is 0 (relative figures ``None``), or the ``log``
   relative CI with a quantile that is not positive (that CI ``None``).
5. ``ok``.

References: Deng, Knoblich, Lu (KDD 2018) "Applying the delta method in metric analytics";
Hyndman & Fan (1996) "Sample quantiles in statistical packages" (definition 7, the interpolation
used here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import scipy.special

from cuped_stats.cuped import RELATIVE_CI_METHODS, Estimate

__all__ = [
    "BAND_Z",
    "QUANTILE_LEVELS",
    "QUANTILE_STATUSES",
    "ArmQuantile",
    "QuantileArm",
    "QuantileComparison",
    "analyze_quantile",
    "arm_quantile",
    "cdf_standard_error",
]

#: Levels of a quantile metric: the quantile of units' values, or of events clustered by unit.
QUANTILE_LEVELS: tuple[str, ...] = ("unit", "event")
#: Half-width of the probability band in units of ``σ_F``: Φ⁻¹(0.975), the outer 95% CI of
#: Deng, Knoblich & Lu. The SQL macro's default; the statistics use whatever band they are given.
BAND_Z = 1.959963984540054
QUANTILE_STATUSES: tuple[str, ...] = (
    "ok",
    "missing_control",
    "insufficient_sample",
    "zero_variance",
    "relative_undefined",
)

#: Relative slack for checks on inputs that went through floating-point SQL arithmetic.
_INPUT_RTOL = 1e-9

_CLUSTER_SUMS = (
    "sum_below",
    "sum_at",
    "sum_events_squared",
    "sum_below_squared",
    "sum_at_squared",
    "sum_below_events",
    "sum_at_events",
    "sum_below_at",
)


@dataclass(frozen=True)
class QuantileArm:
    """The per-arm inputs of a quantile metric, as the SQL macro ``cuped__quantile_inputs``
    returns them (same names).

    Attributes:
        variant: Arm name.
        n_units: Units in the arm (event level: with or without events).
        n_values: Values the quantile is taken over, ``N``: units with a non-null value (unit
            level) or events with a non-null value (event level).
        quantile_value: ``Q̂(q)`` (``percentile_cont``); ``None`` when ``N = 0``.
        band_lower, band_upper: The probabilities ``p∓ = q ∓ z_b·σ_F`` the SQL used (may lie
            outside ``[0, 1]``); ``None`` when ``σ_F`` is undefined.
        value_lower, value_upper: ``Q̂(p₋)``, ``Q̂(p₊)``, interpolated like ``Q̂(q)``; ``None``
            when the band leaves ``[0, 1]``.
        sum_below, sum_at: Event level: ``Σ b_i``, ``Σ a_i``, the events strictly below ``Q̂`` and
            equal to it.
        sum_events_squared, sum_below_squared, sum_at_squared: ``Σ M_i²``, ``Σ b_i²``, ``Σ a_i²``.
        sum_below_events, sum_at_events, sum_below_at: ``Σ b_i·M_i``, ``Σ a_i·M_i``,
            ``Σ b_i·a_i``. (``Σ M_i`` is ``n_values``.) All ``None`` at unit level.
    """

    variant: str
    n_units: int
    n_values: int
    quantile_value: float | None
    band_lower: float | None
    band_upper: float | None
    value_lower: float | None
    value_upper: float | None
    sum_below: float | None = None
    sum_at: float | None = None
    sum_events_squared: float | None = None
    sum_below_squared: float | None = None
    sum_at_squared: float | None = None
    sum_below_events: float | None = None
    sum_at_events: float | None = None
    sum_below_at: float | None = None


@dataclass(frozen=True)
class ArmQuantile:
    """One arm's quantile and its outer-CI standard error.

    ``sigma_cdf`` is ``σ_F``; ``se`` is ``None`` (and ``reason`` says why) when the arm cannot give
    one: fewer than 2 values or units, or a band outside ``[0, 1]``.
    """

    variant: str
    quantile_value: float | None
    sigma_cdf: float | None
    se: float | None
    reason: str | None


@dataclass(frozen=True)
class QuantileComparison:
    """One treatment arm against the control arm of one quantile metric.

    ``estimate`` holds the figures in the same record as a mean metric's: ``control_mean`` and
    ``variant_mean`` are the arm quantiles ``Q̂_c``, ``Q̂_t``; ``effect`` is ``Δ``; ``se``,
    ``ci_lower``, ``ci_upper``, ``p_value`` are normal (``degrees_of_freedom`` is ``None``); the
    relative figures as in the module docstring. ``control_se``/``variant_se`` are the arms' own
    standard errors. See the module docstring for ``status``.
    """

    variant: str
    control_variant: str
    quantile: float
    level: str
    relative_ci_method: str
    alpha: float
    n_control: int
    n_variant: int
    n_values_control: int
    n_values_variant: int
    control_se: float | None
    variant_se: float | None
    estimate: Estimate
    status: str
    status_reason: str


def cdf_standard_error(arm: QuantileArm, quantile: float, level: str) -> float | None:
    """``σ_F``, the standard error of the arm's empirical CDF at its quantile.

    ``unit``: ``√(q(1 − q)/N)``. ``event``: ``√(n/(n − 1) · D)/N`` with
    ``D = Σ(S_i − p·M_i)² + λ(1 − λ)·Σa_i``, ``S_i = b_i + λ·a_i``, ``p = ΣS/N``,
    ``λ = clip((q·N − Σb)/Σa, 0, 1)`` (0 when ``Σa = 0``), written with the arm's sums:
    ``ΣS = Σb + λΣa``, ``ΣS² = Σb² + 2λΣab + λ²Σa²``, ``ΣSM = ΣbM + λΣaM``,
    ``Σ(S − pM)² = ΣS² − 2pΣSM + p²ΣM²``. Deng, Knoblich, Lu (2018), §3-4.

    Returns ``None`` when ``N < 2`` (event level: or ``n < 2``).
    """
    _check_quantile(quantile, level)
    n_values = arm.n_values
    if level == "unit":
        if n_values < 2:
            return None
        return math.sqrt(quantile * (1.0 - quantile) / n_values)
    if n_values < 2 or arm.n_units < 2:
        return None
    sums = _cluster_sums(arm)
    below, at = sums["sum_below"], sums["sum_at"]
    lam = 0.0
    if at > 0:
        lam = min(max((quantile * n_values - below) / at, 0.0), 1.0)
    sum_s = below + lam * at
    sum_ss = (
        sums["sum_below_squared"] + 2 * lam * sums["sum_below_at"] + lam**2 * sums["sum_at_squared"]
    )
    sum_sm = sums["sum_below_events"] + lam * sums["sum_at_events"]
    p = sum_s / n_values
    squares = sum_ss - 2 * p * sum_sm + p**2 * sums["sum_events_squared"]
    scale = sum_ss + p**2 * sums["sum_events_squared"]
    if squares <= 1e-12 * scale:
        squares = 0.0  # cancellation noise of units whose S_i are all exactly p·M_i
    squares += lam * (1.0 - lam) * at
    n = arm.n_units
    return math.sqrt(n / (n - 1) * squares) / n_values


def arm_quantile(arm: QuantileArm, quantile: float, level: str) -> ArmQuantile:
    """The arm's quantile and its standard error ``σ_F·(Q̂(p₊) − Q̂(p₋))/(p₊ − p₋)``.

    Raises:
        ValueError: for inputs that contradict each other (naming the arm): a band that does not
            contain ``q``, order statistics out of order, missing or impossible event sums.
    """
    _check_arm(arm, quantile, level)
    sigma = cdf_standard_error(arm, quantile, level)
    q_hat = arm.quantile_value
    if sigma is None:
        minimum = "2 values" if level == "unit" else "2 values and 2 units"
        reason = (
            f"{arm.variant!r} has {arm.n_values} values"
            + (f" in {arm.n_units} units" if level == "event" else "")
            + f"; a standard error needs at least {minimum}"
        )
        return ArmQuantile(arm.variant, q_hat, None, None, reason)
    if sigma == 0.0:
        return ArmQuantile(arm.variant, q_hat, 0.0, 0.0, None)
    if arm.band_lower is None or arm.band_upper is None:
        raise ValueError(
            f"arm {arm.variant!r}: band_lower/band_upper missing with N = {arm.n_values}"
        )
    lower, upper = float(arm.band_lower), float(arm.band_upper)
    if lower < 0.0 or upper > 1.0:
        reason = (
            f"{arm.variant!r}: the band q ∓ z·σ_F = [{lower:.4g}, {upper:.4g}] leaves [0, 1]: "
            f"too few values ({arm.n_values}) beyond the {quantile:g} quantile"
        )
        return ArmQuantile(arm.variant, q_hat, sigma, None, reason)
    if arm.value_lower is None or arm.value_upper is None:
        raise ValueError(
            f"arm {arm.variant!r}: value_lower/value_upper missing for the band "
            f"[{lower}, {upper}] inside [0, 1]"
        )
    slope = (float(arm.value_upper) - float(arm.value_lower)) / (upper - lower)
    return ArmQuantile(arm.variant, q_hat, sigma, sigma * slope, None)


def analyze_quantile(
    arms: Sequence[QuantileArm],
    control_variant: str,
    *,
    quantile: float,
    level: str,
    alpha: float = 0.05,
    relative_ci_method: str = "delta",
) -> tuple[QuantileComparison, ...]:
    """Difference of the ``quantile`` between every treatment arm and ``control_variant``.

    Args:
        arms: The per-arm inputs of one experiment x segment x metric (one per variant).
        control_variant: Name of the control arm (it may be absent: ``missing_control``).
        quantile: ``q`` in (0, 1), the same the SQL used.
        level: ``"unit"`` or ``"event"``.
        alpha: Two-sided significance level; CIs have level ``1 - alpha``.
        relative_ci_method: ``"delta"`` (symmetric), ``"log"`` or ``"fieller"``.

    Returns:
        One :class:`QuantileComparison` per arm other than the control, in input order.

    Raises:
        ValueError: for an unknown level or relative CI method, ``quantile`` or ``alpha`` outside
            (0, 1), duplicate arms, or inconsistent per-arm inputs (see :func:`arm_quantile`).
    """
    _check_quantile(quantile, level)
    if relative_ci_method not in RELATIVE_CI_METHODS:
        raise ValueError(
            f"unknown relative_ci_method {relative_ci_method!r}; "
            f"expected one of {RELATIVE_CI_METHODS}"
        )
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    variants = [arm.variant for arm in arms]
    if len(set(variants)) != len(variants):
        raise ValueError(f"duplicate arms in {variants}")
    estimated = {arm.variant: arm_quantile(arm, quantile, level) for arm in arms}
    by_variant = {arm.variant: arm for arm in arms}
    control = by_variant.get(control_variant)
    z = float(scipy.special.ndtri(1.0 - alpha / 2.0))

    results = []
    for treatment in arms:
        if treatment.variant == control_variant:
            continue
        t_est = estimated[treatment.variant]
        base = {
            "variant": treatment.variant,
            "control_variant": control_variant,
            "quantile": float(quantile),
            "level": level,
            "relative_ci_method": relative_ci_method,
            "alpha": float(alpha),
            "n_control": 0 if control is None else control.n_units,
            "n_variant": treatment.n_units,
            "n_values_control": 0 if control is None else control.n_values,
            "n_values_variant": treatment.n_values,
        }
        if control is None or control.n_values == 0:
            results.append(
                QuantileComparison(
                    **base,
                    control_se=None,
                    variant_se=t_est.se,
                    estimate=Estimate(variant_mean=t_est.quantile_value),
                    status="missing_control",
                    status_reason=f"control arm {control_variant!r} has no values",
                )
            )
            continue
        c_est = estimated[control_variant]
        results.append(_compare(base, c_est, t_est, z, relative_ci_method))
    return tuple(results)


def _compare(
    base: dict,
    control: ArmQuantile,
    treatment: ArmQuantile,
    z: float,
    relative_ci_method: str,
) -> QuantileComparison:
    """The comparison of two arms that both have a control quantile (see the module docstring)."""
    q_c, q_t = control.quantile_value, treatment.quantile_value
    reasons: list[tuple[str, str]] = []
    values: dict[str, float | None] = {"control_mean": q_c, "variant_mean": q_t}
    if q_t is None:
        reasons.append(("insufficient_sample", f"{treatment.variant!r} has no values"))
    else:
        assert q_c is not None
        values["effect"] = q_t - q_c
        if q_c == 0.0:
            reasons.append(("relative_undefined", "control quantile is 0"))
        elif math.isfinite(q_t / q_c):
            values["relative_effect"] = q_t / q_c - 1.0
        else:
            reasons.append(("relative_undefined", "relative effect overflows"))
    for arm in (control, treatment):
        if arm.reason is not None and q_t is not None:
            reasons.append(("insufficient_sample", arm.reason))
    se_c, se_t = control.se, treatment.se
    if se_c is not None and se_t is not None and q_t is not None:
        _add_inference(values, reasons, q_c, q_t, se_c, se_t, z, relative_ci_method)
    status = "ok"
    for candidate in QUANTILE_STATUSES[2:]:
        if any(code == candidate for code, _ in reasons):
            status = candidate
            break
    return QuantileComparison(
        **base,
        control_se=se_c,
        variant_se=se_t,
        estimate=Estimate(**values),
        status=status,
        status_reason="; ".join(text for _, text in reasons),
    )


def _add_inference(
    values: dict[str, float | None],
    reasons: list[tuple[str, str]],
    q_c: float,
    q_t: float,
    se_c: float,
    se_t: float,
    z: float,
    relative_ci_method: str,
) -> None:
    """SE, normal CI and p-value of ``Δ``, the delta-method SE of the relative effect
    (``relative_se``, whatever ``relative_ci_method``: the Bayesian read-out's likelihood, as for
    the other metric types) and the relative CI, into ``values``."""
    effect = q_t - q_c
    se = math.hypot(se_c, se_t)
    if se == 0.0:
        reasons.append(
            ("zero_variance", "standard error is 0: each arm's band falls on one repeated value")
        )
        return
    values.update(
        se=se,
        ci_lower=effect - z * se,
        ci_upper=effect + z * se,
        p_value=float(min(1.0, 2.0 * scipy.special.ndtr(-abs(effect) / se))),
    )
    if values.get("relative_effect") is None:
        return
    rel = q_t / q_c - 1.0
    relative_se = math.hypot(se_t / q_c, (q_t / q_c) * (se_c / q_c))
    if math.isfinite(relative_se):
        values["relative_se"] = relative_se
    if relative_ci_method == "fieller":
        _add_fieller(values, reasons, q_c, q_t, se_c, se_t, z)
        return
    if relative_ci_method == "delta":
        half = z * relative_se
        if math.isfinite(rel + half):
            values.update(relative_ci_lower=rel - half, relative_ci_upper=rel + half)
        else:
            reasons.append(("relative_undefined", "relative CI overflows"))
        return
    if not (q_c > 0.0 and q_t > 0.0):
        reasons.append(
            (
                "relative_undefined",
                f"log relative CI needs positive quantiles, got control {q_c:.6g} and "
                f"variant {q_t:.6g}",
            )
        )
        return
    half = z * math.hypot(se_t / q_t, se_c / q_c)
    log_ratio = math.log(q_t / q_c)
    if log_ratio + half > 700.0:
        reasons.append(("relative_undefined", "relative CI overflows"))
        return
    lower, upper = math.expm1(log_ratio - half), math.expm1(log_ratio + half)
    values.update(relative_ci_lower=min(lower, rel), relative_ci_upper=max(upper, rel))


def _add_fieller(
    values: dict[str, float | None],
    reasons: list[tuple[str, str]],
    q_c: float,
    q_t: float,
    se_c: float,
    se_t: float,
    z: float,
) -> None:
    """Fieller's interval of ``ρ = Q_t/Q_c − 1`` for independent normal arm estimates: the ``ρ``
    with ``(q_t − ρ·q_c)² ≤ z²·(se_t² + ρ²·se_c²)``, a bounded interval when the control
    quantile is significantly non-zero (``q_c² > z²·se_c²``), else unbounded (left undefined).
    Fieller (1954), "Some problems in interval estimation"."""
    a = q_c * q_c - z * z * se_c * se_c
    if not a > 0.0:
        reasons.append(
            (
                "relative_undefined",
                "Fieller relative CI is unbounded: the control quantile is not significantly "
                "different from 0",
            )
        )
        return
    b = q_t * q_c
    c = q_t * q_t - z * z * se_t * se_t
    root = math.sqrt(max(b * b - a * c, 0.0))
    lower, upper = (b - root) / a - 1.0, (b + root) / a - 1.0
    if not (math.isfinite(lower) and math.isfinite(upper)):
        reasons.append(("relative_undefined", "relative CI overflows"))
        return
    values.update(relative_ci_lower=lower, relative_ci_upper=upper)


def _check_quantile(quantile: float, level: str) -> None:
    if level not in QUANTILE_LEVELS:
        raise ValueError(f"unknown quantile level {level!r}; expected one of {QUANTILE_LEVELS}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")


def _cluster_sums(arm: QuantileArm) -> dict[str, float]:
    missing = [name for name in _CLUSTER_SUMS if getattr(arm, name) is None]
    if missing:
        raise ValueError(f"arm {arm.variant!r}: event-level quantile needs {', '.join(missing)}")
    sums = {name: float(getattr(arm, name)) for name in _CLUSTER_SUMS}
    negative = [name for name, value in sums.items() if value < 0]
    if negative or sums["sum_below"] + sums["sum_at"] > arm.n_values:
        raise ValueError(
            f"arm {arm.variant!r}: impossible event sums (negative: {negative}; "
            f"below {sums['sum_below']:g} + at {sums['sum_at']:g} of {arm.n_values} events)"
        )
    return sums


def _check_arm(arm: QuantileArm, quantile: float, level: str) -> None:
    """Counts non-negative, the quantile present iff there are values, the band around ``q`` and
    the order statistics around ``Q̂`` (within floating-point slack)."""
    where = f"arm {arm.variant!r}"
    if arm.n_values < 0 or arm.n_units < 0:
        raise ValueError(f"{where}: negative counts n_units={arm.n_units}, n_values={arm.n_values}")
    if (arm.quantile_value is None) != (arm.n_values == 0):
        raise ValueError(
            f"{where}: quantile_value {arm.quantile_value!r} with n_values={arm.n_values}"
        )
    if level == "event" and arm.n_values > 0:
        _cluster_sums(arm)
    if arm.band_lower is not None and arm.band_upper is not None:
        slack = _INPUT_RTOL * max(1.0, abs(quantile))
        if not arm.band_lower - slack <= quantile <= arm.band_upper + slack:
            raise ValueError(
                f"{where}: band [{arm.band_lower}, {arm.band_upper}] does not contain q={quantile}"
            )
    if arm.value_lower is not None and arm.value_upper is not None:
        q_hat = float(arm.quantile_value)  # type: ignore[arg-type]
        scale = _INPUT_RTOL * max(abs(arm.value_lower), abs(arm.value_upper), abs(q_hat), 1e-300)
        if not arm.value_lower - scale <= q_hat <= arm.value_upper + scale:
            raise ValueError(
                f"{where}: order statistics [{arm.value_lower}, {arm.value_upper}] do not "
                f"contain the quantile {q_hat}"
            )
