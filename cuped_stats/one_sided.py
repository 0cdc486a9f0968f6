"""One-sided tests of a treatment effect: superiority, deterioration and non-inferiority.

A decision needs directional answers: did the metric improve, did it get worse, is it no worse
than a tolerated margin (a guardrail)? Each is a one-sided test of the CUPED estimate of one
comparison (an :class:`~cuped_stats.cuped.Estimate`) against a *boundary* ``b``.

Direction ``s = +1`` when higher is better, ``-1`` otherwise. On a scale where the effect is
``η`` (estimate ``η̂``, standard error ``se``), the generic test is

    H0: s'·(η − b) ≤ 0   against   H1: s'·(η − b) > 0,       t = s'·(η̂ − b)/se,

with ``s'`` the direction the alternative points to:

- **superiority** (improved): absolute scale, ``b = 0``, ``s' = s``;
- **deterioration** (got worse): absolute scale, ``b = 0``, ``s' = −s``;
- **non-inferiority** with margin ``δ ≥ 0`` (H0 "treatment is worse than the margin"):
  ``s' = s`` and ``b = −s·δ`` on the margin's scale. An *absolute* margin is in the metric's
  units and is tested on ``Δ = m_t − m_c``. A *relative* margin is a fraction of the control
  mean: "``m_t`` is not below ``(1 − δ)·m_c``" (higher is better; ``(1 + δ)·m_c`` lower is
  better). As the control mean is itself estimated, ``δ·m̂_c`` is not a fixed boundary for
  ``Δ̂``; the test is carried out on the relative scale instead, with the uncertainty of ``m̂_c``
  in its standard error: ``r = m_t/m_c − 1``, ``b = −s·δ``, ``se_r`` the delta-method SE of the
  relative effect (Deng, Knoblich, Lu 2018), including the covariance the two CUPED means share
  through the pooled covariate mean. With ``relative_ci_method = "log"`` the same hypothesis is
  tested on ``log(m_t/m_c)`` against ``log(1 − s·δ)`` with the delta-method SE of the log ratio,
  so that the test agrees with the reported (asymmetric) interval; the estimate, boundary and
  bound are reported on the relative scale either way. A relative margin needs a positive
  control mean (otherwise "a fraction of the control mean" flips direction): use an absolute
  margin for metrics that can be negative. A ``fieller`` relative interval has no SE to read
  back, so a relative margin with it raises (the dbt configuration rejects the combination).

``se_r`` is read back from the relative CI the core reports, exactly: the core's CI is
``r ∓ t_{1−α/2, df}·se_r`` (``delta``) or ``expm1(log(1 + r) ∓ t_{1−α/2, df}·se_log)`` (``log``),
so ``se = (upper − lower)/(2·t)`` on the respective scale (:func:`relative_standard_error`).
This needs only the columns of ``cuped_results``.

Two ways to compute p and the bound (``method``):

- ``fixed_horizon``: the Welch t-test of the comparison, ``p = P(T_df ≥ t)``, and the one-sided
  ``(1 − alpha)`` confidence bound on the null side ``η̂ − s'·t_{1−α, df}·se``. For the
  absolute scale this is exactly ``statsmodels.stats.weightstats.ttest_ind(..., value=b,
  alternative=..., usevar="unequal")`` on unit-level data (on the residuals ``y − θx`` for CUPED,
  θ treated as known, as everywhere in the core).
- ``sequential`` (a :class:`SequentialLook` is given): the always-valid p-value of the
  normal-mixture confidence sequence (:func:`cuped_stats.sequential.always_valid_p_value`) when
  ``t > 0`` (else 1), and the bound ``η̂ − s'·m(u)·se`` with ``m(u)`` the multiplier of the
  two-sided CS at level alpha, i.e. the null-side end of the interval reported in
  ``sequential_ci_lower``/``sequential_ci_upper``. Using one side of a two-sided CS at level
  alpha is valid for the one-sided hypothesis at any stopping time (``P(∃ n: η ∉ CS_n) ≤ alpha``)
  and conservative (about alpha/2 per side). On the relative scale the CS multiplier is applied
  to the delta-method SE: the relative estimate is the mean of per-unit linearised terms up to a
  remainder of order ``log log n / n`` (law of the iterated logarithm), negligible against the
  CS width ``≍ √(log n / n)``, so the asymptotic guarantee of Waudby-Smith et al. (2024)
  carries over, as it does for CUPED's estimated θ.

In both methods ``p < alpha`` ⇔ the bound lies strictly beyond the boundary (on the alternative's
side): the bound is what a person checks against the margin, the p-value what a family
adjustment takes.

Degenerate cases never raise and never return NaN: statistics are ``None`` and ``status`` says
why (first applicable wins): ``undefined_estimate`` (the estimate, its SE or df is missing: the
comparison is not ``ok``), ``zero_variance`` (SE is 0), ``relative_undefined`` (relative margin
and the relative effect or its CI is missing, or the control mean is not positive), else ``ok``.

References: Welch (1947); Deng, Knoblich, Lu (KDD 2018) "Applying the delta method in metric
analytics"; Wellek (2010) "Testing statistical hypotheses of equivalence and noninferiority",
2nd ed., ch. 1-2 (non-inferiority as a one-sided test against a shifted boundary);
Waudby-Smith, Arbour, Sinha, Kennedy, Ramdas (Annals of Statistics 2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import scipy.special

from cuped_stats.cuped import RELATIVE_CI_METHODS, Estimate
from cuped_stats.sequential import always_valid_p_value, mixture_rho, sequential_multiplier

__all__ = [
    "MARGIN_KINDS",
    "ONE_SIDED_METHODS",
    "ONE_SIDED_STATUSES",
    "Margin",
    "OneSidedTest",
    "SequentialLook",
    "deterioration_test",
    "non_inferiority_test",
    "relative_standard_error",
    "superiority_test",
]

#: ``relative``: a fraction of the control mean (0.02 = 2%); ``absolute``: in the metric's units.
MARGIN_KINDS: tuple[str, ...] = ("relative", "absolute")
ONE_SIDED_METHODS: tuple[str, ...] = ("fixed_horizon", "sequential")
ONE_SIDED_STATUSES: tuple[str, ...] = (
    "ok",
    "undefined_estimate",
    "zero_variance",
    "relative_undefined",
)


@dataclass(frozen=True)
class Margin:
    """A non-inferiority margin ``δ ≥ 0``: how much worse than control is tolerated.

    ``kind="relative"``: ``δ`` is a fraction of the control mean (``0.02`` tolerates 2% worse);
    with higher-is-better it must be below 1. ``kind="absolute"``: ``δ`` is in the metric's units.

    Raises:
        ValueError: unknown kind, or a value that is negative or not finite.
    """

    value: float
    kind: str = "relative"

    def __post_init__(self) -> None:
        if self.kind not in MARGIN_KINDS:
            raise ValueError(f"unknown margin kind {self.kind!r}; expected one of {MARGIN_KINDS}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise ValueError(f"a margin must be a number, got {self.value!r}")
        if not (math.isfinite(self.value) and self.value >= 0.0):
            raise ValueError(f"a margin must be a finite number >= 0, got {self.value!r}")


@dataclass(frozen=True)
class SequentialLook:
    """One look of the always-valid confidence sequence: total units (both arms) and ρ.

    Build it with :meth:`tuned` from the planned sample, as ``cuped_results`` does, so that the
    bounds equal its ``sequential_ci_lower``/``sequential_ci_upper``.
    """

    n_total: float
    rho: float

    @classmethod
    def tuned(cls, n_total: float, planned_n: float, alpha: float) -> SequentialLook:
        """ρ = :func:`cuped_stats.sequential.mixture_rho` ``(planned_n, alpha)``."""
        return cls(n_total=float(n_total), rho=mixture_rho(planned_n, alpha))


@dataclass(frozen=True)
class OneSidedTest:
    """A one-sided test ``H0: s'·(η − boundary) ≤ 0`` of one comparison (module docstring).

    Attributes:
        hypothesis: ``superiority``, ``deterioration`` or ``non_inferiority``.
        scale: ``absolute`` (``Δ = m_t − m_c``) or ``relative`` (``m_t/m_c − 1``).
        estimate: The effect on ``scale``.
        boundary: The null boundary on ``scale`` (0, or ``−s·δ`` for a margin ``δ``).
        statistic: ``t = s'·(η̂ − b)/se`` on the tested scale (the log ratio for a relative
            margin with ``relative_ci_method="log"``).
        p_value: One-sided p-value (always-valid for ``method="sequential"``).
        bound: The ``(1 − alpha)`` confidence bound on the null side, on ``scale``: for
            non-inferiority and superiority the bound in the harmful direction (the lower bound
            when higher is better); for deterioration the bound in the favourable direction.
        alpha: Level of the bound; ``significant`` is ``p_value < alpha``.
        method: ``fixed_horizon`` or ``sequential``.
        status, status_reason: see the module docstring.
    """

    hypothesis: str
    scale: str
    estimate: float | None
    boundary: float | None
    statistic: float | None
    p_value: float | None
    bound: float | None
    alpha: float
    method: str
    significant: bool | None
    status: str
    status_reason: str


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha of a one-sided test must be in (0, 0.5), got {alpha!r}")


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _t_quantile(df: float, level: float) -> float:
    return float(scipy.special.stdtrit(df, level))


def relative_standard_error(
    estimate: Estimate, *, ci_alpha: float, relative_ci_method: str = "delta"
) -> float | None:
    """SE of the relative effect (``delta``) or of the log ratio (``log``), read from its CI.

    The core's relative CI at level ``1 − ci_alpha`` is ``r ∓ q·se_r`` (``delta``) or
    ``expm1(log(1 + r) ∓ q·se_log)`` (``log``) with ``q = t_{1−ci_alpha/2, df}``, so
    ``se = (upper − lower)/(2q)`` on the respective scale. ``None`` when the CI or df is missing.

    Raises:
        ValueError: unknown ``relative_ci_method`` or ``ci_alpha`` outside (0, 1).
    """
    if relative_ci_method not in RELATIVE_CI_METHODS:
        raise ValueError(
            f"unknown relative_ci_method {relative_ci_method!r}; "
            f"expected one of {RELATIVE_CI_METHODS}"
        )
    if not 0.0 < ci_alpha < 1.0:
        raise ValueError(f"ci_alpha must be in (0, 1), got {ci_alpha!r}")
    if relative_ci_method == "fieller":
        raise ValueError(
            "a Fieller relative interval is not estimate ∓ quantile·SE on any scale, so no "
            "standard error can be read from it; test a relative margin with the delta or log "
            "interval, or use an absolute margin"
        )
    lower, upper = estimate.relative_ci_lower, estimate.relative_ci_upper
    df = estimate.degrees_of_freedom
    if lower is None or upper is None or df is None or not _finite(lower, upper, df) or df <= 0:
        return None
    q = _t_quantile(df, 1.0 - ci_alpha / 2.0)
    if relative_ci_method == "delta":
        return (upper - lower) / (2.0 * q)
    if lower <= -1.0:
        return None
    return (math.log1p(upper) - math.log1p(lower)) / (2.0 * q)


def _undefined(
    hypothesis: str,
    scale: str,
    estimate: float | None,
    boundary: float | None,
    alpha: float,
    method: str,
    status: str,
    reason: str,
) -> OneSidedTest:
    return OneSidedTest(
        hypothesis=hypothesis,
        scale=scale,
        estimate=estimate,
        boundary=boundary,
        statistic=None,
        p_value=None,
        bound=None,
        alpha=alpha,
        method=method,
        significant=None,
        status=status,
        status_reason=reason,
    )


def _test(
    hypothesis: str,
    scale: str,
    estimate: float,
    se: float,
    df: float,
    boundary: float,
    sign: float,
    alpha: float,
    sequential: SequentialLook | None,
    log_scale: bool = False,
) -> OneSidedTest:
    """The generic test on finite inputs with ``se > 0``; ``log_scale`` tests
    ``log(1 + estimate)`` against ``log(1 + boundary)`` and maps the bound back."""
    method = "fixed_horizon" if sequential is None else "sequential"
    eta, b = (math.log1p(estimate), math.log1p(boundary)) if log_scale else (estimate, boundary)
    t = sign * (eta - b) / se
    if sequential is None:
        p = float(scipy.special.stdtr(df, -t))
        q = _t_quantile(df, 1.0 - alpha)
    else:
        p = always_valid_p_value(t, sequential.n_total, sequential.rho) if t > 0 else 1.0
        q = float(sequential_multiplier(sequential.n_total, sequential.rho, alpha))
    bound = eta - sign * q * se
    if log_scale:
        bound = math.expm1(bound)
    return OneSidedTest(
        hypothesis=hypothesis,
        scale=scale,
        estimate=estimate,
        boundary=boundary,
        statistic=t,
        p_value=p,
        bound=bound,
        alpha=alpha,
        method=method,
        significant=p < alpha,
        status="ok",
        status_reason="",
    )


def _absolute_test(
    hypothesis: str,
    estimate: Estimate,
    boundary: float,
    sign: float,
    alpha: float,
    sequential: SequentialLook | None,
) -> OneSidedTest:
    method = "fixed_horizon" if sequential is None else "sequential"
    effect, se, df = estimate.effect, estimate.se, estimate.degrees_of_freedom
    if effect is None or se is None or df is None or not _finite(effect, se, df):
        return _undefined(
            hypothesis,
            "absolute",
            effect,
            boundary,
            alpha,
            method,
            "undefined_estimate",
            "the comparison has no effect, standard error or degrees of freedom",
        )
    if se == 0.0:
        return _undefined(
            hypothesis,
            "absolute",
            effect,
            boundary,
            alpha,
            method,
            "zero_variance",
            "the standard error is 0",
        )
    return _test(hypothesis, "absolute", effect, se, df, boundary, sign, alpha, sequential)


def superiority_test(
    estimate: Estimate,
    *,
    higher_is_better: bool,
    alpha: float,
    sequential: SequentialLook | None = None,
) -> OneSidedTest:
    """Did the metric improve? ``H0: s·Δ ≤ 0`` against ``H1: s·Δ > 0`` (module docstring)."""
    _check_alpha(alpha)
    sign = 1.0 if higher_is_better else -1.0
    return _absolute_test("superiority", estimate, 0.0, sign, alpha, sequential)


def deterioration_test(
    estimate: Estimate,
    *,
    higher_is_better: bool,
    alpha: float,
    sequential: SequentialLook | None = None,
) -> OneSidedTest:
    """Did the metric get worse? ``H0: s·Δ ≥ 0`` against ``H1: s·Δ < 0`` (module docstring)."""
    _check_alpha(alpha)
    sign = -1.0 if higher_is_better else 1.0
    return _absolute_test("deterioration", estimate, 0.0, sign, alpha, sequential)


def non_inferiority_test(
    estimate: Estimate,
    margin: Margin,
    *,
    higher_is_better: bool,
    alpha: float,
    relative_ci_method: str = "delta",
    ci_alpha: float | None = None,
    sequential: SequentialLook | None = None,
) -> OneSidedTest:
    """Is the treatment no worse than the margin? ``H0: s·η ≤ −δ`` against ``H1: s·η > −δ``.

    Args:
        estimate: The CUPED estimate of the comparison (``Comparison.cuped``, or built from a
            ``cuped_results`` row: adjusted means, effect, SE, df, relative effect and CI).
        margin: ``δ`` and its kind; a relative margin is tested on the relative scale.
        higher_is_better: The metric's direction ``s``.
        alpha: One-sided level; the bound is the one-sided ``(1 − alpha)`` bound.
        relative_ci_method: How ``estimate``'s relative CI was computed (``delta`` or ``log``);
            a relative margin is tested on that scale.
        ci_alpha: The level of ``estimate``'s relative CI (default ``alpha``: ``cuped_results``
            reports its CI at the experiment's alpha).
        sequential: Test with the always-valid confidence sequence at this look instead of the
            fixed-horizon t-test.

    Raises:
        ValueError: alpha outside (0, 0.5), unknown ``relative_ci_method``, or a relative margin
            of 1 or more with higher-is-better (it would tolerate losing everything).
    """
    _check_alpha(alpha)
    sign = 1.0 if higher_is_better else -1.0
    boundary = -sign * margin.value
    if margin.kind == "absolute":
        return _absolute_test("non_inferiority", estimate, boundary, sign, alpha, sequential)
    if higher_is_better and margin.value >= 1.0:
        raise ValueError(
            f"a relative margin tolerates a fraction of the control mean and must be below 1 "
            f"when higher is better, got {margin.value!r}"
        )
    method = "fixed_horizon" if sequential is None else "sequential"
    rel, control, df = estimate.relative_effect, estimate.control_mean, estimate.degrees_of_freedom
    se = relative_standard_error(
        estimate,
        ci_alpha=alpha if ci_alpha is None else ci_alpha,
        relative_ci_method=relative_ci_method,
    )
    if estimate.se is None or df is None or not _finite(estimate.effect, estimate.se, df):
        return _undefined(
            "non_inferiority",
            "relative",
            rel,
            boundary,
            alpha,
            method,
            "undefined_estimate",
            "the comparison has no effect, standard error or degrees of freedom",
        )
    if estimate.se == 0.0:
        return _undefined(
            "non_inferiority",
            "relative",
            rel,
            boundary,
            alpha,
            method,
            "zero_variance",
            "the standard error is 0",
        )
    if (
        rel is None
        or control is None
        or se is None
        or not _finite(rel, control, se)
        or control <= 0.0
        or rel <= -1.0
        or se <= 0.0
    ):
        return _undefined(
            "non_inferiority",
            "relative",
            rel,
            boundary,
            alpha,
            method,
            "relative_undefined",
            f"a relative margin needs a positive adjusted control mean (got {control!r}) and a "
            "relative effect with its CI; use an absolute margin",
        )
    return _test(
        "non_inferiority",
        "relative",
        rel,
        se,
        df,
        boundary,
        sign,
        alpha,
        sequential,
        log_scale=relative_ci_method == "log",
    )
