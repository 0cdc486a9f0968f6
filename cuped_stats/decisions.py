"""A recommendation per experiment × treatment variant from its metrics' roles and tests.

Inputs are plain records: one :class:`MetricResult` per ``cuped_results`` row of the overall
segment (``segment_name = 'all'``) with the metric's role and, for a guardrail, its
non-inferiority margin; and one :class:`ExperimentContext` per experiment (its units per variant
and SRM flag from ``cuped_health``, its planned units). :func:`decide` returns one
:class:`Decision` per experiment × treatment variant. Segments never enter a decision: they are
exploratory breakdowns.

**Roles.** ``primary`` (success) metrics are what the change is meant to improve; ``guardrail``
metrics must not get worse by more than their margin; ``secondary`` metrics are reported only. An
experiment without configured roles has every metric ``secondary``: it has no primary metric, so
the rule below never ships it and never rolls it back: it is ``keep_running`` until its planned
units, then ``inconclusive`` (or ``unhealthy``), with a reason that says roles are missing.

**Tests** (:mod:`cuped_stats.one_sided`, on the CUPED estimate; all one-sided at the
experiment's alpha, with ``s`` the metric's direction from ``higher_is_better``):

- *improved*: superiority ``H0: s·Δ ≤ 0``;
- *worse*: deterioration ``H0: s·Δ ≥ 0``, always against 0 (Spotify's deterioration tests): a
  guardrail demonstrably worse than control blocks shipping even inside its margin, the margin is
  what must be *ruled out* to ship, not a licence to lose up to it;
- *non-inferior* (guardrails): ``H0: s·η ≤ −δ`` on the margin's scale (relative margins on the
  relative scale with the delta-method SE).

**Families** (Holm 1979, :func:`cuped_stats.multiplicity.holm`), each spanning every treatment
variant of the experiment so that the guarantees below hold for the experiment, not per arm:

- improvement of the primaries: the primaries' superiority p-values;
- deterioration: the primaries' and the guardrails' deterioration p-values together;
- the secondaries' superiority and deterioration p-values (two families; for reading only).

Guardrail non-inferiority tests are *not* adjusted. Shipping requires every guardrail to be
non-inferior, a conjunction: the ship claim is wrong through the guardrails only if some
guardrail ``g`` truly breaches its margin, and then ``P(ship) ≤ P(g's test rejects) ≤ alpha``.
This is an intersection-union test, which is level alpha with each component at level alpha and
needs no multiplicity correction (Berger 1982, "Multiparameter hypothesis testing and acceptance
sampling", Technometrics 24(4); Berger & Hsu 1996, "Bioequivalence trials, intersection-union
tests and equivalence confidence sets", Statistical Science 11(4)); Schultzberg, Ankargren &
Frånberg (2024), "Risk-aware product decisions in A/B tests with multiple metrics" (Spotify),
make the same point for guardrails and correct only the success metrics. The claim is per
treatment variant: with K treatment variants, a breached guardrail on several of them can lead to
a wrong ship for one of them with probability up to K·alpha. Holm, not Benjamini-Hochberg, is used
for the decision because "some primary improved" needs family-wise error control: BH bounds the
false discovery *proportion*, which lets a null primary through when another variant's primaries
are true discoveries. (BH-adjusted p-values within role families are reported for reading, see
:func:`role_family_p_values`.)

Guarantees, under the tests' own (asymptotic) validity: ``P(ship a variant whose primaries did not
improve or one of whose guardrails breaches its margin) ≤ alpha`` (union of a Holm family and an
intersection-union test); ``P(roll back when no primary or guardrail of any variant is worse) ≤
alpha`` (Holm on the deterioration family). In an A/A experiment both are therefore at most alpha
(``scripts/decision_simulation.py`` measures them).

**Which p-values** (``inference``): ``fixed_horizon`` uses the Welch t-tests (``p_value`` and
the CI of ``cuped_results``, one-sided); ``sequential`` uses the always-valid p-values and bounds
of the confidence sequence reported in ``sequential_ci_lower``/``sequential_ci_upper`` (tuned to
the planned units), valid at any look; Holm on always-valid p-values stays valid at any stopping
time. The default ``auto`` uses ``sequential`` while the experiment's analysed units (all
variants, overall segment) are below ``planned_units`` and ``fixed_horizon`` from then on: a
decision wanted early is safe to act on at any daily build, and the planned sample gets the full
power of the fixed-horizon test. Acting on the fixed-horizon decision once, at the planned sample,
keeps its error at alpha; the early sequential phase adds at most its own small error (measured in
the simulation script). Looking again and again *after* the planned units are reached is peeking
on fixed-horizon tests; use ``inference="sequential"`` for a decision that stays valid at every
look.

**The rule** (Spotify's; first that applies wins), per treatment variant:

1. ``unhealthy``: the overall segment's sample-ratio test is flagged, the control has no analysed
   units, or the variant has none.
2. ``roll_back``: a primary or a guardrail is significantly worse (Holm-adjusted deterioration
   p-value < alpha).
3. ``ship``: at least one primary improved (Holm-adjusted superiority p-value < alpha) and every
   guardrail is non-inferior (p < alpha); with no guardrail the second condition holds vacuously.
4. ``keep_running``: the planned units are not reached (more data may still decide it).
5. ``inconclusive``: otherwise.

A metric without an effect, SE or df (status ``missing_control``, ``insufficient_sample``,
``zero_denominator`` or ``zero_variance``; also, for a relative margin, without a relative effect
or a positive control mean) is ``undetermined``: it cannot improve, worsen or be non-inferior, so
an undetermined guardrail blocks shipping. It does not count in its Holm family (it cannot be
rejected).

``reasons`` is text for a person: clauses separated by ``"; "``, the deciding clause first
(``"ship: conversion improved +3.1% (one-sided p = 0.004, Holm 0.008)"``), then what else the
rule looked at, ending with the tests used (``"fixed-horizon tests at alpha 0.05, 5,120 of 5,000
planned units"``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cuped_stats.cuped import RELATIVE_CI_METHODS, Estimate
from cuped_stats.multiplicity import benjamini_hochberg, holm
from cuped_stats.one_sided import (
    Margin,
    OneSidedTest,
    SequentialLook,
    deterioration_test,
    non_inferiority_test,
    superiority_test,
)
from cuped_stats.sequential import DEFAULT_PLANNED_N

__all__ = [
    "COMPARISON_VERDICTS",
    "DECISIONS",
    "DECISION_COLUMNS",
    "INFERENCE_MODES",
    "RESULT_ROW_KEYS",
    "ROLES",
    "VERDICTS",
    "Decision",
    "ExperimentContext",
    "MetricResult",
    "MetricVerdict",
    "comparison_verdict",
    "decide",
    "decision_row",
    "evaluate_metrics",
    "role_family_p_values",
]

ROLES: tuple[str, ...] = ("primary", "secondary", "guardrail")
DECISIONS: tuple[str, ...] = ("ship", "roll_back", "keep_running", "inconclusive", "unhealthy")
#: ``auto``: sequential below the planned units, fixed-horizon from then on.
INFERENCE_MODES: tuple[str, ...] = ("auto", "fixed_horizon", "sequential")
#: Per metric: ``improved``/``worsened``/``not_significant`` (primary, secondary);
#: ``non_inferior``/``breached``/``undetermined`` (guardrail); ``undetermined`` also for a
#: primary or secondary without statistics.
VERDICTS: tuple[str, ...] = (
    "improved",
    "worsened",
    "not_significant",
    "non_inferior",
    "breached",
    "undetermined",
)

#: The verdict of one comparison on its multiplicity-adjusted two-sided p-value
#: (:func:`comparison_verdict`): what ``cuped_results.comparison_verdict`` and the report's badges
#: show, beside the rule's one-sided :data:`VERDICTS`.
COMPARISON_VERDICTS: tuple[str, ...] = ("better", "worse", "inconclusive", "unavailable")


def comparison_verdict(
    effect: float | None, adjusted_p: float | None, alpha: float, higher_is_better: bool | None
) -> str:
    """``better``/``worse`` when ``adjusted_p < alpha``, by the sign of ``effect`` and the
    metric's direction (``None`` counts as higher is better); else ``inconclusive``;
    ``unavailable`` without an effect or an adjusted p-value (NaN counts as missing)."""
    if effect is None or adjusted_p is None or math.isnan(effect) or math.isnan(adjusted_p):
        return "unavailable"
    if adjusted_p >= alpha or effect == 0:
        return "inconclusive"
    up_is_good = higher_is_better is None or bool(higher_is_better)
    return "better" if (effect > 0) == up_is_good else "worse"


#: The ``cuped_results`` columns :meth:`MetricResult.from_row` reads, plus ``metric_role`` and,
#: for guardrails, ``non_inferiority_margin`` and ``non_inferiority_margin_kind``.
RESULT_ROW_KEYS: tuple[str, ...] = (
    "experiment_id",
    "metric_name",
    "variant",
    "control_variant",
    "metric_role",
    "higher_is_better",
    "alpha",
    "n_control",
    "n_variant",
    "control_mean_adjusted",
    "variant_mean_adjusted",
    "absolute_effect",
    "absolute_effect_se",
    "absolute_ci_lower",
    "absolute_ci_upper",
    "degrees_of_freedom",
    "p_value",
    "relative_effect",
    "relative_ci_lower",
    "relative_ci_upper",
    "relative_ci_method",
    "status",
    "status_reason",
    "non_inferiority_margin",
    "non_inferiority_margin_kind",
)


def _number(value: Any) -> float | None:
    """A float, with ``None`` and NaN (a warehouse NULL read through pandas) as ``None``."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class MetricResult:
    """One comparison of the overall segment: a ``cuped_results`` row with its role.

    Attributes:
        experiment_id, metric_name, variant, control_variant: What is compared (``variant``
            ``None`` for a ``no_units``/``single_arm`` placeholder row, which is ignored: the
            :class:`ExperimentContext` reports the arms without units).
        metric_role: One of :data:`ROLES`.
        higher_is_better: The metric's direction.
        alpha: The experiment's significance level (one value per experiment).
        n_control, n_variant: Analysed units of the two arms.
        estimate: The CUPED estimate: ``control_mean_adjusted``, ``variant_mean_adjusted``,
            ``absolute_effect``, ``absolute_effect_se``, CI, ``degrees_of_freedom``, two-sided
            ``p_value``, ``relative_effect`` and its CI.
        relative_ci_method: ``delta`` or ``log`` (how the relative CI was computed).
        status, status_reason: The comparison's status.
        margin: The non-inferiority margin; required for a guardrail, ``None`` otherwise.
    """

    experiment_id: str
    metric_name: str
    variant: str | None
    control_variant: str
    metric_role: str
    higher_is_better: bool
    alpha: float
    n_control: int
    n_variant: int
    estimate: Estimate
    relative_ci_method: str = "delta"
    status: str = "ok"
    status_reason: str = ""
    margin: Margin | None = None

    def __post_init__(self) -> None:
        where = (
            f"experiment {self.experiment_id!r}, metric {self.metric_name!r}, "
            f"variant {self.variant!r}"
        )
        if self.metric_role not in ROLES:
            raise ValueError(f"{where}: unknown metric_role {self.metric_role!r}; expected {ROLES}")
        if self.metric_role == "guardrail" and self.margin is None:
            raise ValueError(f"{where}: a guardrail needs a non-inferiority margin")
        if self.metric_role != "guardrail" and self.margin is not None:
            raise ValueError(f"{where}: only a guardrail has a margin ({self.metric_role})")
        if not isinstance(self.higher_is_better, bool):
            raise ValueError(f"{where}: higher_is_better must be a bool")
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"{where}: alpha must be in (0, 0.5), got {self.alpha!r}")
        if self.relative_ci_method not in RELATIVE_CI_METHODS:
            raise ValueError(
                f"{where}: unknown relative_ci_method {self.relative_ci_method!r}; "
                f"expected {RELATIVE_CI_METHODS}"
            )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MetricResult:
        """From a ``cuped_results`` row (keys :data:`RESULT_ROW_KEYS`; NULL may be ``None`` or
        NaN). A margin is read when ``non_inferiority_margin`` is not null.

        Raises:
            ValueError: a missing key, or an invalid role, margin or alpha, naming the row.
        """
        where = (
            f"experiment {row.get('experiment_id')!r}, metric {row.get('metric_name')!r}, "
            f"variant {row.get('variant')!r}"
        )
        missing = [key for key in RESULT_ROW_KEYS if key not in row]
        if missing:
            raise ValueError(f"{where}: result row lacks {missing}")
        margin_value = _number(row["non_inferiority_margin"])
        margin = None
        if margin_value is not None:
            kind = row["non_inferiority_margin_kind"]
            if kind is None:
                raise ValueError(
                    f"{where}: non_inferiority_margin {margin_value!r} without "
                    "non_inferiority_margin_kind ('relative' or 'absolute')"
                )
            try:
                margin = Margin(margin_value, str(kind))
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from error
        estimate = Estimate(
            control_mean=_number(row["control_mean_adjusted"]),
            variant_mean=_number(row["variant_mean_adjusted"]),
            effect=_number(row["absolute_effect"]),
            se=_number(row["absolute_effect_se"]),
            ci_lower=_number(row["absolute_ci_lower"]),
            ci_upper=_number(row["absolute_ci_upper"]),
            degrees_of_freedom=_number(row["degrees_of_freedom"]),
            p_value=_number(row["p_value"]),
            relative_effect=_number(row["relative_effect"]),
            relative_ci_lower=_number(row["relative_ci_lower"]),
            relative_ci_upper=_number(row["relative_ci_upper"]),
        )
        return cls(
            experiment_id=str(row["experiment_id"]),
            metric_name=str(row["metric_name"]),
            variant=None if row["variant"] is None else str(row["variant"]),
            control_variant=str(row["control_variant"]),
            metric_role=str(row["metric_role"]),
            higher_is_better=bool(row["higher_is_better"]),
            alpha=float(row["alpha"]),
            n_control=int(row["n_control"]),
            n_variant=int(row["n_variant"]),
            estimate=estimate,
            relative_ci_method=str(row["relative_ci_method"] or "delta"),
            status=str(row["status"]),
            status_reason=str(row["status_reason"] or ""),
            margin=margin,
        )


@dataclass(frozen=True)
class ExperimentContext:
    """What a decision needs besides the metrics: arms, health and plan of one experiment.

    Attributes:
        experiment_id: The experiment.
        control_variant: Its control variant.
        variant_units: ``(variant, analysed units)`` for every variant, control included, on the
            overall segment (``cuped_health.n_units``; a variant with 0 units is listed with 0).
        srm_flag: The overall segment's sample-ratio-mismatch flag (``cuped_health.srm_flag``).
        srm_p_value: Its p-value, for the reasons text.
        planned_units: The experiment's planned total units (``planned_units``).
        guardrails: The experiment's configured guardrail metrics: one a treatment variant has
            no comparison of (a variant without analysed units) cannot be tested, and counts in
            its ``guardrails_undetermined``.
    """

    experiment_id: str
    control_variant: str
    variant_units: tuple[tuple[str, int], ...]
    srm_flag: bool
    srm_p_value: float | None = None
    planned_units: int = DEFAULT_PLANNED_N
    guardrails: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"experiment {self.experiment_id!r}"
        names = [v for v, _ in self.variant_units]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: duplicate variants in variant_units: {names}")
        if any(n < 0 for _, n in self.variant_units):
            raise ValueError(f"{where}: negative unit counts in {self.variant_units}")
        if not self.planned_units >= 2:
            raise ValueError(f"{where}: planned_units must be >= 2, got {self.planned_units!r}")

    @property
    def n_units(self) -> int:
        """Analysed units over all variants."""
        return sum(n for _, n in self.variant_units)

    @property
    def control_units(self) -> int:
        return dict(self.variant_units).get(self.control_variant, 0)

    @property
    def treatment_variants(self) -> tuple[str, ...]:
        return tuple(sorted(v for v, _ in self.variant_units if v != self.control_variant))

    @classmethod
    def from_health_rows(
        cls,
        rows: Iterable[Mapping[str, Any]],
        *,
        control_variant: str,
        planned_units: int = DEFAULT_PLANNED_N,
        guardrails: tuple[str, ...] = (),
    ) -> ExperimentContext:
        """From the ``cuped_health`` rows of one experiment's overall segment (``variant``,
        ``n_units``, ``srm_flag``, ``srm_p_value``; other segments are skipped).

        Raises:
            ValueError: no overall rows, rows of several experiments, or disagreeing SRM flags.
        """
        overall = [r for r in rows if r["segment_name"] == "all" and r["segment_value"] == "all"]
        experiments = {str(r["experiment_id"]) for r in overall}
        if len(experiments) != 1:
            raise ValueError(f"need the overall health rows of one experiment, got {experiments}")
        experiment_id = experiments.pop()
        flags = {bool(r["srm_flag"]) for r in overall}
        if len(flags) != 1:
            raise ValueError(f"experiment {experiment_id!r}: srm_flag differs across variants")
        return cls(
            experiment_id=experiment_id,
            control_variant=control_variant,
            variant_units=tuple((str(r["variant"]), int(r["n_units"])) for r in overall),
            srm_flag=flags.pop(),
            srm_p_value=_number(overall[0].get("srm_p_value")),
            planned_units=int(planned_units),
            guardrails=tuple(guardrails),
        )


@dataclass(frozen=True)
class MetricVerdict:
    """How the rule read one metric of one treatment variant.

    ``improvement`` and ``deterioration`` are the one-sided tests against 0 with their raw
    p-values; ``*_p_adjusted`` the Holm-adjusted p-values in their family (module docstring);
    ``non_inferiority`` the guardrail's test (``None`` for other roles). ``verdict`` is one of
    :data:`VERDICTS`; ``inference`` is ``fixed_horizon`` or ``sequential``.
    """

    result: MetricResult
    inference: str
    improvement: OneSidedTest
    improvement_p_adjusted: float | None
    deterioration: OneSidedTest
    deterioration_p_adjusted: float | None
    non_inferiority: OneSidedTest | None
    verdict: str


@dataclass(frozen=True)
class Decision:
    """The recommendation for one experiment × treatment variant (module docstring).

    Counts: ``n_primary`` primaries of which ``primaries_improved``/``primaries_worsened``;
    ``n_guardrails`` guardrails compared, of which ``guardrails_non_inferior``,
    ``guardrails_breached`` (significantly worse than control) and ``guardrails_undetermined``,
    which also counts the configured guardrails not compared (``ExperimentContext.guardrails``:
    a variant without analysed units); ``n_secondary``
    secondaries (never part of the decision). ``inference``: the tests used. ``metrics``: the
    verdict of every metric of the variant (not a table column).
    """

    experiment_id: str
    variant: str | None
    control_variant: str
    decision: str
    reasons: str
    inference: str
    alpha: float | None
    n_units: int
    planned_units: int
    srm_flag: bool
    control_present: bool
    n_primary: int
    primaries_improved: int
    primaries_worsened: int
    n_guardrails: int
    guardrails_non_inferior: int
    guardrails_breached: int
    guardrails_undetermined: int
    n_secondary: int
    metrics: tuple[MetricVerdict, ...] = ()


#: Columns of a ``cuped_decisions`` row (:func:`decision_row`), in order.
DECISION_COLUMNS: tuple[str, ...] = (
    "experiment_id",
    "variant",
    "control_variant",
    "decision",
    "reasons",
    "inference",
    "alpha",
    "n_units",
    "planned_units",
    "srm_flag",
    "control_present",
    "n_primary",
    "primaries_improved",
    "primaries_worsened",
    "n_guardrails",
    "guardrails_non_inferior",
    "guardrails_breached",
    "guardrails_undetermined",
    "n_secondary",
)


def decision_row(decision: Decision) -> dict[str, Any]:
    """The :data:`DECISION_COLUMNS` of ``decision`` as a dict."""
    return {name: getattr(decision, name) for name in DECISION_COLUMNS}


def role_family_p_values(
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple[float | None, float | None]]:
    """Holm and Benjamini-Hochberg adjusted two-sided p-values within role families.

    A family is an experiment × segment × ``metric_role`` (all treatment variants): the
    ``p_value_role_holm``/``p_value_role_bh`` columns proposed for ``cuped_results`` and the
    report's badges. ``rows`` need ``experiment_id``, ``segment_name``, ``segment_value``,
    ``metric_role`` and ``p_value`` (``None``/NaN: not adjusted, not counted). Returns
    ``(holm, bh)`` per row, in input order.

    Raises:
        ValueError: an unknown role, or a p-value outside [0, 1], naming the row.
    """
    families: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row["metric_role"] not in ROLES:
            raise ValueError(
                f"experiment {row['experiment_id']!r}, metric {row.get('metric_name')!r}: "
                f"unknown metric_role {row['metric_role']!r}; expected {ROLES}"
            )
        key = (row["experiment_id"], row["segment_name"], row["segment_value"], row["metric_role"])
        families[key].append(i)
    out: list[tuple[float | None, float | None]] = [(None, None)] * len(rows)
    for key, members in families.items():
        p_values = [_number(rows[i]["p_value"]) for i in members]
        try:
            adjusted = zip(holm(p_values), benjamini_hochberg(p_values), strict=True)
        except ValueError as error:
            raise ValueError(f"experiment {key[0]!r}, role {key[3]!r}: {error}") from error
        for i, pair in zip(members, adjusted, strict=True):
            out[i] = pair
    return out


def _inference_for(context: ExperimentContext, inference: str) -> str:
    if inference == "auto":
        return "sequential" if context.n_units < context.planned_units else "fixed_horizon"
    return inference


def _holm_into(
    tests: Sequence[OneSidedTest], members: Sequence[int], out: list[float | None]
) -> None:
    for i, p in zip(members, holm([tests[i].p_value for i in members]), strict=True):
        out[i] = p


def evaluate_metrics(
    results: Sequence[MetricResult], context: ExperimentContext, *, inference: str = "auto"
) -> tuple[MetricVerdict, ...]:
    """Tests, Holm families and verdicts of every metric × treatment variant of one experiment.

    ``results`` are the experiment's comparisons (placeholder rows with ``variant`` ``None`` are
    skipped). See the module docstring for the tests and families.

    Raises:
        ValueError: unknown ``inference``, rows of another experiment, or alphas that differ.
    """
    if inference not in INFERENCE_MODES:
        raise ValueError(f"unknown inference {inference!r}; expected one of {INFERENCE_MODES}")
    rows = [r for r in results if r.variant is not None]
    if any(r.experiment_id != context.experiment_id for r in rows):
        raise ValueError(f"experiment {context.experiment_id!r}: rows of other experiments given")
    if not rows:
        return ()
    alphas = {r.alpha for r in rows}
    if len(alphas) != 1:
        raise ValueError(f"experiment {context.experiment_id!r}: several alphas {sorted(alphas)}")
    alpha = alphas.pop()
    mode = _inference_for(context, inference)
    improvement, deterioration, non_inferiority = [], [], []
    for r in rows:
        look = None
        if mode == "sequential":
            look = SequentialLook.tuned(r.n_control + r.n_variant, context.planned_units, alpha)
        common = {"higher_is_better": r.higher_is_better, "alpha": alpha, "sequential": look}
        improvement.append(superiority_test(r.estimate, **common))
        deterioration.append(deterioration_test(r.estimate, **common))
        non_inferiority.append(
            None
            if r.margin is None
            else non_inferiority_test(
                r.estimate, r.margin, relative_ci_method=r.relative_ci_method, **common
            )
        )
    by_role = {role: [i for i, r in enumerate(rows) if r.metric_role == role] for role in ROLES}
    improvement_adj: list[float | None] = [None] * len(rows)
    deterioration_adj: list[float | None] = [None] * len(rows)
    _holm_into(improvement, by_role["primary"], improvement_adj)
    _holm_into(improvement, by_role["secondary"], improvement_adj)
    _holm_into(deterioration, by_role["primary"] + by_role["guardrail"], deterioration_adj)
    _holm_into(deterioration, by_role["secondary"], deterioration_adj)

    verdicts = []

    def below_alpha(p: float | None) -> bool:
        return p is not None and p < alpha

    for i, r in enumerate(rows):
        worse = below_alpha(deterioration_adj[i])
        ni = non_inferiority[i]
        if r.metric_role == "guardrail":
            assert ni is not None
            verdict = "breached" if worse else "non_inferior" if ni.significant else "undetermined"
        elif improvement[i].p_value is None:
            verdict = "undetermined"
        elif below_alpha(improvement_adj[i]):
            verdict = "improved"
        else:
            verdict = "worsened" if worse else "not_significant"
        verdicts.append(
            MetricVerdict(
                result=r,
                inference=mode,
                improvement=improvement[i],
                improvement_p_adjusted=improvement_adj[i] if r.metric_role != "guardrail" else None,
                deterioration=deterioration[i],
                deterioration_p_adjusted=deterioration_adj[i],
                non_inferiority=ni,
                verdict=verdict,
            )
        )
    return tuple(verdicts)


# ---------------------------------------------------------------------------------------------
# Reasons: short, exact clauses a person reads.


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def _fmt_effect(result: MetricResult) -> str:
    est = result.estimate
    if est.relative_effect is not None:
        return f"{est.relative_effect:+.2%}"
    if est.effect is not None:
        return f"{est.effect:+.4g}"
    return "no estimate"


def _fmt_on_scale(value: float, scale: str) -> str:
    return f"{value:+.2%}" if scale == "relative" else f"{value:+.4g}"


def _improved_clause(v: MetricVerdict) -> str:
    r = v.result
    return (
        f"{r.metric_name} ({r.metric_role}) improved {_fmt_effect(r)} (one-sided p = "
        f"{_fmt_p(v.improvement.p_value)}, Holm {_fmt_p(v.improvement_p_adjusted)})"
    )


def _worse_clause(v: MetricVerdict) -> str:
    r = v.result
    return (
        f"{r.metric_name} ({r.metric_role}) is significantly worse {_fmt_effect(r)} (one-sided "
        f"p = {_fmt_p(v.deterioration.p_value)}, Holm {_fmt_p(v.deterioration_p_adjusted)})"
    )


def _guardrail_clause(v: MetricVerdict) -> str:
    r, ni = v.result, v.non_inferiority
    assert ni is not None
    if ni.p_value is None or ni.bound is None or ni.boundary is None or ni.estimate is None:
        why = ni.status_reason or r.status_reason
        return f"{r.metric_name} (guardrail) cannot be tested: {why}"
    if not ni.significant:
        state = "not shown non-inferior"
    elif v.verdict == "breached":  # within the margin, yet worse than control: rolls back
        state = "within its margin but significantly worse than control"
    else:
        state = "non-inferior"
    return (
        f"{r.metric_name} (guardrail) {state}: {_fmt_on_scale(ni.estimate, ni.scale)}, bound "
        f"{_fmt_on_scale(ni.bound, ni.scale)} vs margin {_fmt_on_scale(ni.boundary, ni.scale)} "
        f"(one-sided p = {_fmt_p(ni.p_value)})"
    )


def _tests_clause(mode: str, alpha: float, context: ExperimentContext) -> str:
    kind = "fixed-horizon" if mode == "fixed_horizon" else "always-valid (sequential)"
    return (
        f"{kind} tests at alpha {alpha:g}, {context.n_units:,} of {context.planned_units:,} "
        "planned units"
    )


def _unhealthy_reasons(context: ExperimentContext, variant: str | None) -> list[str]:
    reasons = []
    if context.srm_flag:
        p = "" if context.srm_p_value is None else f" (p = {_fmt_p(context.srm_p_value)})"
        reasons.append(f"sample ratio mismatch{p}: the arms are not what was planned")
    if context.control_units == 0:
        reasons.append(f"control variant {context.control_variant!r} has no analysed units")
    if variant is None:
        reasons.append("no treatment variant has analysed units")
    elif dict(context.variant_units).get(variant, 0) == 0:
        reasons.append(f"variant {variant!r} has no analysed units")
    return reasons


def _decide_variant(
    variant: str | None,
    verdicts: Sequence[MetricVerdict],
    context: ExperimentContext,
    alpha: float | None,
    mode: str,
) -> Decision:
    by_role: dict[str, list[MetricVerdict]] = {role: [] for role in ROLES}
    for v in verdicts:
        by_role[v.result.metric_role].append(v)
    primaries, guardrails = by_role["primary"], by_role["guardrail"]
    improved = [v for v in primaries if v.verdict == "improved"]
    worse = [v for v in primaries if v.verdict == "worsened"]
    worse += [v for v in guardrails if v.verdict == "breached"]
    non_inferior = [v for v in guardrails if v.verdict == "non_inferior"]
    undetermined = [v for v in guardrails if v.verdict == "undetermined"]
    # configured guardrails this variant has no comparison of (it has no analysed units)
    compared = {v.result.metric_name for v in guardrails}
    untested = [name for name in context.guardrails if name not in compared]

    unhealthy = _unhealthy_reasons(context, variant)
    planned_reached = context.n_units >= context.planned_units
    details: list[str] = []
    if unhealthy:
        decision, head = "unhealthy", "unhealthy: " + "; ".join(unhealthy)
    elif worse:
        decision = "roll_back"
        head = "roll back: " + "; ".join(_worse_clause(v) for v in worse)
    elif primaries and improved and len(non_inferior) == len(guardrails):
        decision = "ship"
        head = "ship: " + "; ".join(_improved_clause(v) for v in improved)
        details.append(
            f"every guardrail non-inferior ({len(guardrails)})" if guardrails else "no guardrails"
        )
    else:
        decision = "keep_running" if not planned_reached else "inconclusive"
        head = f"{decision.replace('_', ' ')}: " + (
            "the planned units are not reached"
            if not planned_reached
            else "the planned units are reached"
        )
        if not primaries:
            details.append(
                "no primary metric: the rule never ships (configure primary metrics and "
                "guardrails for this experiment)"
            )
        elif not improved:
            details.append(f"no primary metric improved significantly (of {len(primaries)})")
        else:
            details.extend(_improved_clause(v) for v in improved)
    if unhealthy:
        # what would roll back once healthy, so that a failed CI check names the metric
        details.extend(_worse_clause(v) for v in worse)
        details.extend(
            f"{name} (guardrail) cannot be tested: no comparison for this variant"
            for name in untested
        )
    else:
        details.extend(_guardrail_clause(v) for v in guardrails)
        if alpha is not None:
            details.append(_tests_clause(mode, alpha, context))
    return Decision(
        experiment_id=context.experiment_id,
        variant=variant,
        control_variant=context.control_variant,
        decision=decision,
        reasons="; ".join([head, *details]),
        inference=mode,
        alpha=alpha,
        n_units=context.n_units,
        planned_units=context.planned_units,
        srm_flag=context.srm_flag,
        control_present=context.control_units > 0,
        n_primary=len(primaries),
        primaries_improved=len(improved),
        primaries_worsened=sum(v.verdict == "worsened" for v in primaries),
        n_guardrails=len(guardrails),
        guardrails_non_inferior=len(non_inferior),
        guardrails_breached=sum(v.verdict == "breached" for v in guardrails),
        guardrails_undetermined=len(undetermined) + len(untested),
        n_secondary=len(by_role["secondary"]),
        metrics=tuple(verdicts),
    )


def decide(
    results: Iterable[MetricResult],
    contexts: Iterable[ExperimentContext],
    *,
    inference: str = "auto",
) -> tuple[Decision, ...]:
    """One :class:`Decision` per experiment × treatment variant, by the rule of the module
    docstring, sorted by experiment and variant.

    Every experiment of ``contexts`` gets a row per treatment variant it lists (one row with
    ``variant`` ``None`` when it lists none: ``unhealthy``). ``results`` are the overall segment's
    comparisons.

    Raises:
        ValueError: unknown ``inference``; a result for an experiment without a context, for a
            variant the context does not list, or duplicated; a variant with units (and a
            control with units) without any result; differing alphas in an experiment.
    """
    if inference not in INFERENCE_MODES:
        raise ValueError(f"unknown inference {inference!r}; expected one of {INFERENCE_MODES}")
    by_experiment: dict[str, ExperimentContext] = {}
    for context in contexts:
        if context.experiment_id in by_experiment:
            raise ValueError(f"experiment {context.experiment_id!r}: duplicate contexts")
        by_experiment[context.experiment_id] = context
    grouped: dict[str, list[MetricResult]] = defaultdict(list)
    seen: set[tuple[str, str, str | None]] = set()
    for r in results:
        key = (r.experiment_id, r.metric_name, r.variant)
        if r.variant is not None and key in seen:
            raise ValueError(
                f"experiment {key[0]!r}, metric {key[1]!r}, variant {key[2]!r}: duplicate rows"
            )
        seen.add(key)
        if r.experiment_id not in by_experiment:
            raise ValueError(
                f"experiment {r.experiment_id!r}: results without an ExperimentContext "
                "(health and planned units)"
            )
        grouped[r.experiment_id].append(r)

    decisions = []
    for experiment_id in sorted(by_experiment):
        context = by_experiment[experiment_id]
        rows = grouped.get(experiment_id, [])
        listed = set(context.treatment_variants)
        for r in rows:
            if r.variant is not None and r.variant not in listed:
                raise ValueError(
                    f"experiment {experiment_id!r}: results for variant {r.variant!r}, which "
                    f"the context does not list as a treatment ({sorted(listed)})"
                )
            if r.control_variant != context.control_variant:
                raise ValueError(
                    f"experiment {experiment_id!r}, metric {r.metric_name!r}: control "
                    f"{r.control_variant!r} but the context says {context.control_variant!r}"
                )
        verdicts = evaluate_metrics(rows, context, inference=inference)
        alphas = {r.alpha for r in rows}
        alpha = alphas.pop() if len(alphas) == 1 else None
        mode = _inference_for(context, inference)
        for variant in context.treatment_variants or (None,):
            mine = [v for v in verdicts if v.result.variant == variant]
            units = dict(context.variant_units).get(variant, 0) if variant else 0
            if not mine and units > 0 and context.control_units > 0:
                raise ValueError(
                    f"experiment {experiment_id!r}: variant {variant!r} has {units} units but "
                    "no result rows"
                )
            decisions.append(_decide_variant(variant, mine, context, alpha, mode))
    return tuple(decisions)
