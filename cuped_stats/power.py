"""Power analysis: minimum detectable effect, sample size and duration, with and without CUPED.

Two-sided test of ``H₀: Δ = 0`` at level alpha with power ``1 − β`` for a difference in means
``Δ = μ_t − μ_c`` estimated by ``Δ̂ = ȳ_t − ȳ_c`` (or its CUPED-adjusted version), under the normal
approximation ``Δ̂ ~ N(Δ, SE²)`` with ``SE² = σ²_t/n_t + σ²_c/n_c`` (σ²_g the per-unit variance of
arm g). The test rejects when ``|Δ̂|/SE > z_{1−alpha/2}``; its power against ``Δ`` is

    power(Δ) = Φ(|Δ|/SE − z_{1−alpha/2}) + Φ(−|Δ|/SE − z_{1−alpha/2})      [achieved_power]

and, dropping the second term (the probability of rejecting with the wrong sign, below 1e-6 for
alpha = 0.05 at power 0.8), the effect detected with power ``1 − β`` is

    MDE = (z_{1−alpha/2} + z_{1−β}) · √(σ²_t/n_t + σ²_c/n_c)      [minimum_detectable_effect]

With a share ``p`` of the units in treatment (``n_t = p·N``, ``n_c = (1 − p)·N``) the total sample
size reaching a target MDE is

    N = (z_{1−alpha/2} + z_{1−β})² · (σ²_t/p + σ²_c/(1 − p)) / MDE²      [sample_size]

each arm rounded up (``n_t = ⌈p·N⌉``, ``n_c = ⌈(1 − p)·N⌉``), and at ``λ`` units entering the
experiment per day the duration is ``⌈(n_t + n_c)/λ⌉`` days. A relative target is converted with a
baseline (control) mean ``μ_c``: ``MDE = relative_mde · |μ_c|``, i.e. the baseline is treated as
known (the error of the estimated control mean in a relative effect is ignored, as is usual for
planning).

References: Cohen (1988) "Statistical power analysis for the behavioral sciences", ch. 2 (the
normal-approximation formulas; statsmodels ``NormalIndPower`` computes the same); Kohavi, Tang, Xu
(2020) "Trustworthy online controlled experiments", ch. 17 (sample size for online experiments);
Deng, Xu, Kohavi, Walker (WSDM 2013), §3.2 (CUPED's variance ``σ²(1 − ρ²)``).

CUPED. Everything above holds for the CUPED estimator with ``σ²_g`` its per-unit *adjusted*
(residual) variance ``Var(y − θx)``, the ``v_g`` of :mod:`cuped_stats.cuped`: pass adjusted
variances to get CUPED figures. Before an experiment exists, :func:`plan_sample_size` takes a
metric's per-unit variance σ² over a pre-period and the correlation ``r`` between the metric and
its own earlier history (or, with several covariates, ``r² =`` the R² of the metric on them): the
unadjusted per-unit variance is σ² and the CUPED one ``σ²(1 − r²)`` in both arms (θ estimated
from thousands of units adds an O(1/N) term, ignored). So CUPED divides the sample size and the
duration by ``1/(1 − r²)`` and the MDE by ``1/√(1 − r²)``.

Degenerate inputs never raise and never give NaN: the figures are ``None`` and ``status`` says why
(precedence as listed): ``insufficient_sample`` (an arm with fewer than 2 units),
``undefined_variance`` (a variance missing, negative or not finite), ``zero_variance`` (SE or
variance 0: any effect is detected, no finite sample size formula applies),
``undefined_correlation`` (``|r| > 1`` or not finite), ``undefined_target`` (MDE missing, not
positive or not finite; a relative MDE without a non-zero baseline mean), ``undefined_rate``
(units per day given but not positive: sample sizes are reported, ``days`` is ``None``), else
``ok``. Invalid parameters (alpha, power, treatment share outside (0, 1), both or neither of an
absolute and a relative target) raise ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import scipy.special

__all__ = [
    "POWER_STATUSES",
    "ExperimentPlan",
    "MinimumDetectableEffect",
    "SampleSize",
    "achieved_power",
    "days_needed",
    "mde_from_se",
    "minimum_detectable_effect",
    "plan_sample_size",
    "sample_size",
]

POWER_STATUSES: tuple[str, ...] = (
    "ok",
    "insufficient_sample",
    "undefined_variance",
    "zero_variance",
    "undefined_correlation",
    "undefined_target",
    "undefined_rate",
)


@dataclass(frozen=True)
class MinimumDetectableEffect:
    """The effect detected with probability ``power`` by a two-sided level-alpha test.

    Attributes:
        mde: ``(z_{1−alpha/2} + z_{power}) · se`` (absolute, in the metric's units).
        relative_mde: ``mde / |baseline_mean|`` (``None`` without a non-zero baseline mean).
        se: ``√(σ²_t/n_t + σ²_c/n_c)``.
        alpha, power: The test's level and the power the MDE is for.
        status: One of :data:`POWER_STATUSES` (module docstring).
    """

    mde: float | None
    relative_mde: float | None
    se: float | None
    alpha: float
    power: float
    status: str


@dataclass(frozen=True)
class SampleSize:
    """Units (and days) needed to detect ``mde`` with probability ``power``.

    Attributes:
        n_total: ``n_control + n_treatment``.
        n_control, n_treatment: ``⌈(1 − p)·N⌉`` and ``⌈p·N⌉``.
        n_total_exact: ``N = (z_{1−alpha/2} + z_{power})² (σ²_t/p + σ²_c/(1 − p)) / mde²``.
        days: ``⌈n_total / units_per_day⌉`` (``None`` without a valid arrival rate).
        mde: The absolute target (``relative_mde · |baseline_mean|`` for a relative target).
        relative_mde: ``mde / |baseline_mean|`` (``None`` without a non-zero baseline mean).
        variance_control, variance_treatment: The per-unit variances used.
        treatment_share, alpha, power: The design.
        status: One of :data:`POWER_STATUSES` (module docstring).
    """

    n_total: int | None
    n_control: int | None
    n_treatment: int | None
    n_total_exact: float | None
    days: int | None
    mde: float | None
    relative_mde: float | None
    variance_control: float | None
    variance_treatment: float | None
    treatment_share: float
    alpha: float
    power: float
    status: str


@dataclass(frozen=True)
class ExperimentPlan:
    """Sample size before an experiment, without and with CUPED.

    Attributes:
        variance: Per-unit variance σ² of the metric (over a pre-period).
        correlation: Correlation ``r`` of the metric with its own history.
        variance_reduction: ``r²``: CUPED's per-unit variance is ``σ²(1 − r²)``.
        unadjusted, cuped: :class:`SampleSize` with per-unit variance σ² and ``σ²(1 − r²)``.
        status: ``"ok"`` or the status of the unadjusted plan (or ``undefined_correlation``).
    """

    variance: float | None
    correlation: float | None
    variance_reduction: float | None
    unadjusted: SampleSize
    cuped: SampleSize
    status: str


def _check_design(alpha: float, power: float, treatment_share: float = 0.5) -> None:
    for name, value in (("alpha", alpha), ("power", power), ("treatment_share", treatment_share)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {value!r}")


def _z_sum(alpha: float, power: float) -> float:
    """``z_{1−alpha/2} + z_{power}`` with ``z_q = Φ⁻¹(q)``."""
    return float(scipy.special.ndtri(1.0 - alpha / 2.0) + scipy.special.ndtri(power))


def _variance_status(*variances: float | None) -> str | None:
    if any(v is None or not math.isfinite(v) or v < 0.0 for v in variances):
        return "undefined_variance"
    if any(v == 0.0 for v in variances):
        return "zero_variance"
    return None


def _relative(value: float, baseline_mean: float | None) -> float | None:
    if baseline_mean is None or not math.isfinite(baseline_mean) or baseline_mean == 0.0:
        return None
    return value / abs(baseline_mean)


def achieved_power(
    effect: float,
    variance_control: float | None,
    n_control: float,
    n_treatment: float,
    *,
    variance_treatment: float | None = None,
    alpha: float = 0.05,
) -> float | None:
    """Power of the two-sided level-alpha z-test against a true difference ``effect``.

    ``Φ(|Δ|/SE − z_{1−alpha/2}) + Φ(−|Δ|/SE − z_{1−alpha/2})`` with
    ``SE = √(σ²_t/n_t + σ²_c/n_c)`` (``variance_treatment`` defaults to ``variance_control``);
    statsmodels ``NormalIndPower.power`` with ``alternative="two-sided"`` for equal variances
    (Cohen 1988, ch. 2). ``None`` for degenerate inputs (see the module docstring).
    """
    _check_design(alpha, 0.5)
    if variance_treatment is None:
        variance_treatment = variance_control
    if not (n_control >= 2 and n_treatment >= 2) or not math.isfinite(effect):
        return None
    if _variance_status(variance_control, variance_treatment) is not None:
        return None
    assert variance_control is not None and variance_treatment is not None
    se = math.sqrt(variance_treatment / n_treatment + variance_control / n_control)
    z = float(scipy.special.ndtri(1.0 - alpha / 2.0))
    shift = abs(effect) / se
    return float(scipy.special.ndtr(shift - z) + scipy.special.ndtr(-shift - z))


def mde_from_se(
    se: float | None,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    baseline_mean: float | None = None,
) -> MinimumDetectableEffect:
    """``MDE = (z_{1−alpha/2} + z_{power}) · SE`` for an estimate with standard error ``se``.

    E.g. the MDE of a running experiment at its current size from the ``se`` of a
    :class:`~cuped_stats.cuped.Estimate` (CUPED or unadjusted). Normal approximation, the
    opposite-sign rejection region ignored (module docstring; Cohen 1988, ch. 2).
    """
    _check_design(alpha, power)
    base = {"alpha": float(alpha), "power": float(power)}
    status = _variance_status(se)
    if status is not None:
        return MinimumDetectableEffect(mde=None, relative_mde=None, se=se, status=status, **base)
    assert se is not None
    mde = _z_sum(alpha, power) * se
    return MinimumDetectableEffect(
        mde=mde, relative_mde=_relative(mde, baseline_mean), se=float(se), status="ok", **base
    )


def minimum_detectable_effect(
    variance_control: float | None,
    n_control: float,
    n_treatment: float,
    *,
    variance_treatment: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    baseline_mean: float | None = None,
) -> MinimumDetectableEffect:
    """``MDE = (z_{1−alpha/2} + z_{power}) · √(σ²_t/n_t + σ²_c/n_c)``.

    Args:
        variance_control: Per-unit variance σ²_c of the control arm (CUPED: the adjusted
            variance ``Var(y − θx)``).
        n_control, n_treatment: Units per arm.
        variance_treatment: σ²_t; defaults to ``variance_control``.
        alpha: Two-sided level.
        power: ``1 − β``.
        baseline_mean: Control mean, for ``relative_mde``.

    Normal approximation (module docstring; Cohen 1988, ch. 2); statsmodels
    ``NormalIndPower.solve_power(effect_size=None, alternative="larger", alpha=alpha/2)``
    times σ for equal variances.
    """
    _check_design(alpha, power)
    if variance_treatment is None:
        variance_treatment = variance_control
    if not (n_control >= 2 and n_treatment >= 2):
        return MinimumDetectableEffect(
            mde=None,
            relative_mde=None,
            se=None,
            alpha=float(alpha),
            power=float(power),
            status="insufficient_sample",
        )
    status = _variance_status(variance_control, variance_treatment)
    if status is not None:
        return MinimumDetectableEffect(
            mde=None,
            relative_mde=None,
            se=None,
            alpha=float(alpha),
            power=float(power),
            status=status,
        )
    assert variance_control is not None and variance_treatment is not None
    se = math.sqrt(variance_treatment / n_treatment + variance_control / n_control)
    return mde_from_se(se, alpha=alpha, power=power, baseline_mean=baseline_mean)


def days_needed(n_total: float | None, units_per_day: float | None) -> int | None:
    """``⌈n_total / units_per_day⌉``: days for ``n_total`` units at an arrival rate of
    ``units_per_day`` units entering the experiment (all arms) per day; ``None`` when either is
    missing or not positive."""
    if n_total is None or units_per_day is None:
        return None
    if not (math.isfinite(n_total) and n_total >= 0 and math.isfinite(units_per_day)):
        return None
    if units_per_day <= 0.0:
        return None
    return math.ceil(n_total / units_per_day)


def sample_size(
    mde: float | None = None,
    *,
    variance_control: float | None,
    variance_treatment: float | None = None,
    relative_mde: float | None = None,
    baseline_mean: float | None = None,
    treatment_share: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    units_per_day: float | None = None,
) -> SampleSize:
    """Units needed to detect ``mde`` (or ``relative_mde · |baseline_mean|``) with ``power``.

    ``N = (z_{1−alpha/2} + z_{power})² (σ²_t/p + σ²_c/(1 − p)) / MDE²``, ``n_t = ⌈p·N⌉``,
    ``n_c = ⌈(1 − p)·N⌉`` with ``p = treatment_share``; ``days = ⌈(n_t + n_c)/units_per_day⌉``.
    The inverse of :func:`minimum_detectable_effect` (module docstring; Cohen 1988, ch. 2;
    statsmodels ``NormalIndPower.solve_power(nobs1=None, alternative="larger", alpha=alpha/2)``
    gives ``p·N`` for equal variances).

    Args:
        mde: Absolute target effect (metric units). Give this or ``relative_mde``.
        variance_control: Per-unit variance σ²_c (CUPED: adjusted variance).
        variance_treatment: σ²_t; defaults to ``variance_control``.
        relative_mde: Target effect relative to ``baseline_mean`` (0.02 for +2%).
        baseline_mean: Control mean; needed with ``relative_mde``, reported otherwise.
        treatment_share: Share ``p`` of units in treatment (two-arm comparison).
        alpha, power: Two-sided level and ``1 − β``.
        units_per_day: Arrival rate of units into the experiment (all arms), for ``days``.

    Raises:
        ValueError: alpha, power or treatment share outside (0, 1); both or neither of ``mde``
            and ``relative_mde``.
    """
    _check_design(alpha, power, treatment_share)
    if (mde is None) == (relative_mde is None):
        raise ValueError("give exactly one of mde and relative_mde")
    if variance_treatment is None:
        variance_treatment = variance_control
    target: float | None = None
    if relative_mde is not None:
        if (
            math.isfinite(relative_mde)
            and relative_mde > 0.0
            and _relative(1.0, baseline_mean) is not None
        ):
            assert baseline_mean is not None
            target = relative_mde * abs(baseline_mean)
    else:
        assert mde is not None
        if math.isfinite(mde) and mde > 0.0:
            target = float(mde)
    base = {
        "variance_control": variance_control,
        "variance_treatment": variance_treatment,
        "treatment_share": float(treatment_share),
        "alpha": float(alpha),
        "power": float(power),
        "mde": target,
        "relative_mde": None if target is None else _relative(target, baseline_mean),
    }
    empty = {
        "n_total": None,
        "n_control": None,
        "n_treatment": None,
        "n_total_exact": None,
        "days": None,
    }
    status = _variance_status(variance_control, variance_treatment)
    if status is None and target is None:
        status = "undefined_target"
    if status is not None:
        return SampleSize(**empty, **base, status=status)
    assert variance_control is not None and variance_treatment is not None and target is not None
    n_exact = (
        _z_sum(alpha, power) ** 2
        * (variance_treatment / treatment_share + variance_control / (1.0 - treatment_share))
        / target**2
    )
    n_treatment = max(2, math.ceil(treatment_share * n_exact))
    n_control = max(2, math.ceil((1.0 - treatment_share) * n_exact))
    n_total = n_control + n_treatment
    days = days_needed(n_total, units_per_day)
    status = "undefined_rate" if units_per_day is not None and days is None else "ok"
    return SampleSize(
        n_total=n_total,
        n_control=n_control,
        n_treatment=n_treatment,
        n_total_exact=n_exact,
        days=days,
        **base,
        status=status,
    )


def plan_sample_size(
    variance: float | None,
    correlation: float | None,
    mde: float | None = None,
    *,
    relative_mde: float | None = None,
    baseline_mean: float | None = None,
    treatment_share: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    units_per_day: float | None = None,
) -> ExperimentPlan:
    """Units (and days) needed before an experiment exists, without and with CUPED.

    The unadjusted plan is :func:`sample_size` with per-unit variance ``σ² = variance`` in both
    arms; the CUPED plan with ``σ²(1 − r²)``, ``r = correlation`` the correlation between the
    metric and its own pre-period value (Deng et al. 2013, §3.2: CUPED's variance is
    ``Var(ȳ)(1 − ρ²)``). So ``n_cuped ≈ n_unadjusted · (1 − r²)``. Arguments as in
    :func:`sample_size`.
    """
    _check_design(alpha, power, treatment_share)
    if (mde is None) == (relative_mde is None):
        raise ValueError("give exactly one of mde and relative_mde")
    design = {
        "mde": mde,
        "relative_mde": relative_mde,
        "baseline_mean": baseline_mean,
        "treatment_share": treatment_share,
        "alpha": alpha,
        "power": power,
        "units_per_day": units_per_day,
    }
    unadjusted = sample_size(variance_control=variance, **design)
    status = unadjusted.status
    if correlation is None or not math.isfinite(correlation) or abs(correlation) > 1.0:
        reduction = None
        cuped = dataclasses.replace(
            sample_size(variance_control=None, **design), status="undefined_correlation"
        )
        if status == "ok":
            status = "undefined_correlation"
    else:
        reduction = correlation**2
        adjusted = None
        if variance is not None and math.isfinite(variance) and variance >= 0.0:
            adjusted = variance * (1.0 - reduction)
        cuped = sample_size(variance_control=adjusted, **design)
    return ExperimentPlan(
        variance=variance,
        correlation=correlation,
        variance_reduction=reduction,
        unadjusted=unadjusted,
        cuped=cuped,
        status=status,
    )
