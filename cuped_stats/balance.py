"""Pre-period balance: are the covariates' means equal across the arms?

Randomisation makes every pre-treatment covariate equal in distribution across arms; a covariate
whose arm means differ by more than chance says the assignment (or the covariate's window) is
broken, and CUPED would then move the estimate rather than only shrink its variance. Per
experiment x segment x metric x covariate the core reports, from per-arm moments only:

- the Wald (Cochran's Q) χ² test that all arm means are equal, which repeats on every treatment row;
- the standardized mean difference of each treatment arm against the control.

Degenerate cases never raise and never return NaN/inf: an undefined statistic is ``None`` and a
``status`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import scipy.special

from cuped_stats.cuped import CONSTANT_RTOL
from cuped_stats.moments import ArmMoments

__all__ = [
    "BALANCE_ALPHA",
    "BALANCE_STATUSES",
    "OUTCOME_NAMES",
    "BalanceTest",
    "CovariateBalance",
    "StandardizedDifference",
    "balance_test",
    "covariate_balance",
    "covariate_names",
    "standardized_difference",
]

#: Flag an imbalance below this p-value. Strict, as for the sample-ratio mismatch: the test runs
#: on every covariate of every metric, segment and experiment, and under correct randomisation a
#: share ``BALANCE_ALPHA`` of them is flagged by chance alone.
BALANCE_ALPHA = 0.001

#: ``ok``; ``missing_control`` (no control units); ``insufficient_sample`` (an arm with units has
#: fewer than 2, or fewer than two arms have units); ``zero_variance`` (the covariate is constant
#: within some arm but not all arms share one value); ``constant`` (the covariate takes one value
#: in every unit: balanced by construction, nothing to test).
BALANCE_STATUSES: tuple[str, ...] = (
    "ok",
    "missing_control",
    "insufficient_sample",
    "zero_variance",
    "constant",
)

#: Variables of the moments that are outcomes, not covariates (mean/proportion: ``@y``; ratio:
#: ``@numerator``, ``@denominator``). Every other variable is a pre-treatment covariate.
OUTCOME_NAMES: tuple[str, ...] = ("@y", "@numerator", "@denominator")


@dataclass(frozen=True)
class BalanceTest:
    """Wald χ² test that a covariate has the same mean in every arm.

    ``chi2``/``p_value`` are ``None`` unless ``status == "ok"``. ``flag`` is ``p_value <
    BALANCE_ALPHA``, and also ``True`` for a covariate that is constant within every arm but
    differs between arms (an infinite statistic). ``df`` is the number of arms with units minus
    one (0 when there are none).
    """

    chi2: float | None
    df: int
    p_value: float | None
    flag: bool
    status: str
    status_reason: str


@dataclass(frozen=True)
class StandardizedDifference:
    """``(x̄_t - x̄_c) / √((s²_t + s²_c) / 2)``; ``None`` unless ``status == "ok"``."""

    value: float | None
    status: str
    status_reason: str


@dataclass(frozen=True)
class CovariateBalance:
    """Balance of one covariate for one treatment arm against the control.

    ``test`` is the all-arms test (the same for every treatment arm of the covariate);
    ``status`` is the first non-``ok`` of ``missing_control``, the test's status and the
    standardized difference's status, and ``status_reason`` joins their reasons.
    """

    covariate: str
    variant: str
    control_variant: str
    n_control: int
    n_variant: int
    control_mean: float | None
    variant_mean: float | None
    standardized_difference: float | None
    test: BalanceTest
    status: str
    status_reason: str


def _is_zero_variance(variance: float, mean: float) -> bool:
    """``s ≤ CONSTANT_RTOL·|x̄|`` (or ``s² ≤ 0``): a variance that is floating-point noise."""
    return variance <= 0.0 or math.sqrt(variance) <= CONSTANT_RTOL * abs(mean)


def _all_equal(values: Sequence[float]) -> bool:
    scale = max(abs(v) for v in values)
    return max(values) - min(values) <= CONSTANT_RTOL * scale


def balance_test(
    counts: Sequence[int], means: Sequence[float], variances: Sequence[float]
) -> BalanceTest:
    """Wald test that the arm means of a covariate are equal (heteroscedastic arms).

    With ``w_g = n_g / s²_g`` (the inverse variance of arm g's mean) and the precision-weighted
    mean ``x̄_w = Σ w_g x̄_g / Σ w_g``::

        χ² = Σ_g w_g (x̄_g - x̄_w)²,   df = G - 1,   p = P(χ²_df > χ²)

    Cochran's Q (Cochran 1954, "The combination of estimates from different experiments",
    Biometrics 10:101-129); the numerator of Welch's (1951) heteroscedastic one-way ANOVA, "On the
    comparison of several mean values: an alternative approach", Biometrika 38:330-336. For two
    arms it is the square of the Welch z statistic ``(x̄_1 - x̄_2) / √(s²_1/n_1 + s²_2/n_2)``. The
    χ² reference is asymptotic, which is what arm sizes of online experiments give.

    Arms with ``n = 0`` take no part. Degenerate cases (``None`` statistics, ``flag`` False
    unless said otherwise): fewer than two arms with units, or an arm with one unit
    (``insufficient_sample``); the covariate has one value in every unit (``constant``);
    zero variance in some arm (``zero_variance``; flagged when it is zero in every arm and the
    arm means differ, which is perfect imbalance).

    Raises:
        ValueError: for sequences of different lengths, a negative or non-integer count, or a
            non-finite mean or variance of an arm with units.
    """
    if not len(counts) == len(means) == len(variances):
        raise ValueError(
            f"{len(counts)} counts, {len(means)} means and {len(variances)} variances given"
        )
    if any(int(n) != n or n < 0 for n in counts):
        raise ValueError(f"counts must be non-negative integers: {list(counts)}")
    arms = [
        (int(n), float(m), float(v))
        for n, m, v in zip(counts, means, variances, strict=True)
        if n >= 1
    ]
    df = max(len(arms) - 1, 0)
    if any(not math.isfinite(m) or (n >= 2 and not math.isfinite(v)) for n, m, v in arms):
        raise ValueError(f"non-finite mean or variance: means {means}, variances {variances}")
    if len(arms) < 2:
        return BalanceTest(
            None, df, None, False, "insufficient_sample", "fewer than two arms with units"
        )
    if any(n < 2 for n, _, _ in arms):
        sizes = ", ".join(str(n) for n, _, _ in arms)
        return BalanceTest(
            None, df, None, False, "insufficient_sample", f"an arm has fewer than 2 units ({sizes})"
        )
    constant = [_is_zero_variance(v, m) for _, m, v in arms]
    if all(constant):
        if _all_equal([m for _, m, _ in arms]):
            return BalanceTest(
                None, df, None, False, "constant", "the covariate has one value in every unit"
            )
        return BalanceTest(
            None,
            df,
            None,
            True,
            "zero_variance",
            "the covariate is constant within every arm but differs between arms",
        )
    if any(constant):
        return BalanceTest(
            None, df, None, False, "zero_variance", "the covariate is constant within some arm"
        )
    # plain floats, summed in arm order (numpy's sums of so few values add in the same order)
    weights = [n / v for n, _, v in arms]
    weighted_mean = sum(w * m for w, (_, m, _) in zip(weights, arms, strict=True)) / sum(weights)
    # d * d, not d ** 2: a float's power raises on overflow where the product is infinite
    chi2 = sum(
        w * ((m - weighted_mean) * (m - weighted_mean))
        for w, (_, m, _) in zip(weights, arms, strict=True)
    )
    p_value = float(scipy.special.chdtrc(df, chi2))  # chi2.sf: scipy.stats costs 1.5 s to import
    return BalanceTest(chi2, df, p_value, p_value < BALANCE_ALPHA, "ok", "")


def standardized_difference(
    n_control: int,
    mean_control: float,
    variance_control: float,
    n_variant: int,
    mean_variant: float,
    variance_variant: float,
) -> StandardizedDifference:
    """Standardized mean difference of a covariate, treatment against control.

    ``d = (x̄_t - x̄_c) / √((s²_t + s²_c) / 2)``, the balance diagnostic of Austin (2009),
    "Balance diagnostics for comparing the distribution of baseline covariates between treatment
    groups in propensity-score matched samples", Statistics in Medicine 28:3083-3107 (|d| > 0.1 is
    the usual rule of thumb for a notable difference). The unweighted average of the variances
    keeps ``d`` independent of the traffic split.

    Degenerate cases give ``None``: no control units (``missing_control``), an arm with fewer
    than 2 units (``insufficient_sample``), a pooled variance of 0 (``constant`` when both arms
    share one value, else ``zero_variance``).
    """
    if n_control < 1:
        return StandardizedDifference(None, "missing_control", "the control arm has no units")
    if n_control < 2 or n_variant < 2:
        return StandardizedDifference(
            None,
            "insufficient_sample",
            f"fewer than 2 units (control {n_control}, treatment {n_variant})",
        )
    pooled = (float(variance_control) + float(variance_variant)) / 2.0
    scale = max(abs(float(mean_control)), abs(float(mean_variant)))
    if _is_zero_variance(pooled, scale):
        if _all_equal([float(mean_control), float(mean_variant)]):
            return StandardizedDifference(
                None, "constant", "the covariate has one value in both arms"
            )
        return StandardizedDifference(
            None, "zero_variance", "the covariate is constant within both arms"
        )
    value = (float(mean_variant) - float(mean_control)) / math.sqrt(pooled)
    return StandardizedDifference(value, "ok", "")


def covariate_names(names: Sequence[str]) -> tuple[str, ...]:
    """The covariates among a metric's moment variables: every name not in OUTCOME_NAMES."""
    return tuple(name for name in names if name not in OUTCOME_NAMES)


def covariate_balance(
    arms: Sequence[ArmMoments], control_variant: str
) -> tuple[CovariateBalance, ...]:
    """Balance of every covariate of ``arms`` for every treatment arm against the control.

    Args:
        arms: Moments of every arm of one experiment x segment x metric, all with the same
            variables (outcomes, see OUTCOME_NAMES, and covariates).
        control_variant: Name of the control arm (it may be absent: ``missing_control``).

    Returns:
        One :class:`CovariateBalance` per covariate (in variable order) x treatment arm (in
        input order); no rows when ``arms`` has no treatment arm or no covariate.

    Raises:
        ValueError: for duplicate arm names or arms whose variables differ.
    """
    variants = [arm.variant for arm in arms]
    if len(set(variants)) != len(variants):
        raise ValueError(f"duplicate arms: {variants}")
    if arms and any(arm.names != arms[0].names for arm in arms):
        raise ValueError(f"arms have different variables: {[arm.names for arm in arms]}")
    control = next((arm for arm in arms if arm.variant == control_variant and arm.n >= 1), None)
    treatments = [arm for arm in arms if arm.variant != control_variant]
    results = []
    for covariate in covariate_names(arms[0].names) if arms else ():
        i = arms[0].names.index(covariate)
        test = balance_test(
            [arm.n for arm in arms],
            [float(arm.mean[i]) for arm in arms],
            [float(arm.cov[i, i]) for arm in arms],
        )
        for treatment in treatments:
            n_c = 0 if control is None else control.n
            mean_c = None if control is None else float(control.mean[i])
            mean_t = float(treatment.mean[i]) if treatment.n >= 1 else None
            difference = standardized_difference(
                n_c,
                0.0 if mean_c is None else mean_c,
                0.0 if control is None else float(control.cov[i, i]),
                treatment.n,
                0.0 if mean_t is None else mean_t,
                float(treatment.cov[i, i]),
            )
            if control is None:
                status, reasons = "missing_control", [difference.status_reason]
            else:
                checks = [test, difference]
                status = next((c.status for c in checks if c.status != "ok"), "ok")
                if test.status == difference.status == "insufficient_sample":
                    checks = [difference]  # the same small arm: said once, with the arms' names
                reasons = list(dict.fromkeys(c.status_reason for c in checks if c.status_reason))
            results.append(
                CovariateBalance(
                    covariate=covariate,
                    variant=treatment.variant,
                    control_variant=control_variant,
                    n_control=n_c,
                    n_variant=treatment.n,
                    control_mean=mean_c,
                    variant_mean=mean_t,
                    standardized_difference=difference.value,
                    test=test,
                    status=status,
                    status_reason="; ".join(reasons),
                )
            )
    return tuple(results)
