"""The report's view model: from the rows of the public tables to the figures each experiment shows.

Everything the page says about an experiment is decided here, as plain numbers and text (no HTML,
no coordinates, no formatting): :func:`build_report` takes the rows of the public tables (and,
once that table exists, the rows of ``cuped_decisions``) and returns a :class:`ReportView`. The
drawing (:mod:`cuped_stats.report.svg`) and the templates only present it.

Rules the page follows:

- **Verdicts** (``better`` / ``worse`` / ``inconclusive`` / ``unavailable``) of a comparison use
  the multiplicity-adjusted p-value shown next to them: :data:`ROLE_ADJUSTED_P_COLUMN` of
  ``cuped_results`` v2 (Holm within the metric's role family: experiment × segment ×
  ``metric_role``, all treatment variants), or, in tables without it,
  :data:`ADJUSTED_P_COLUMN` (Holm within the experiment and segment, over all metrics × treatment
  variants; the same family for an experiment without roles): ``better`` when it is below the
  experiment's alpha and the CUPED effect goes in the metric's better direction
  (``higher_is_better``). The "N better" counts count these verdicts on the overall segment;
  segments are exploratory and never counted.
- **Relative intervals** are the core's: ``relative_ci_*`` (CUPED) and
  ``unadjusted_relative_ci_*`` (without CUPED, ``cuped_results`` v2); the report computes no
  interval of its own and shows a dash where the table has none.
- **Decisions** lead each experiment when decision rows are given (one row per experiment ×
  treatment variant, :data:`DECISIONS`); without them the page leads with the verdict counts per
  treatment variant and says that no decision table was read.
- **Units left out** are counted once: ``cuped_health`` counts a unit assigned to several variants
  on the row of each of them, so the distinct number is between the largest per-variant count and
  half their sum (exact, and shown as one number, when the two agree, e.g. with two variants).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cuped_stats.decisions import COMPARISON_VERDICTS, comparison_verdict
from cuped_stats.report.format import (
    as_date,
    as_float,
    as_int,
    fmt_num,
    fmt_pct,
    is_true,
    p_is,
    text,
)
from cuped_stats.report.load import PublicTables

__all__ = [
    "ADJUSTED_P_COLUMN",
    "DECISIONS",
    "DECISION_COUNT_COLUMNS",
    "ROLE_ADJUSTED_P_COLUMN",
    "VERDICTS",
    "Arm",
    "Comparison",
    "DayPoint",
    "Exclusions",
    "ExperimentView",
    "Health",
    "Interval",
    "ReportView",
    "Series",
    "VariantDecision",
    "VerdictCounts",
    "build_report",
    "verdict",
]

Row = Mapping[str, Any]

#: The multiplicity-adjusted p-value that the verdicts use and the page shows beside them.
ADJUSTED_P_COLUMN = "p_value_holm"
ADJUSTED_P_LABEL = "Holm p"
ADJUSTED_P_FAMILY = (
    "Holm-adjusted over all metrics × treatment variants of the experiment (within each segment)"
)
#: The role-family adjusted p-value of ``cuped_results`` v2, used when the rows have it.
ROLE_ADJUSTED_P_COLUMN = "p_value_role_holm"
ROLE_ADJUSTED_P_FAMILY = (
    "Holm-adjusted within the metric's role (primary, secondary or guardrail) over its metrics × "
    "treatment variants of the experiment (within each segment); without roles, over all metrics"
)
DEFAULT_ALPHA = 0.05
VERDICTS = COMPARISON_VERDICTS
#: Values of ``cuped_decisions.decision``, in the order the overview lists them.
DECISIONS = ("ship", "roll_back", "keep_running", "inconclusive", "unhealthy")
DECISION_LABELS = {
    "ship": "Ship",
    "roll_back": "Roll back",
    "keep_running": "Keep running",
    "inconclusive": "Inconclusive",
    "unhealthy": "Unhealthy",
}
#: Count columns of a decision row shown under its reasons, when the row has them.
DECISION_COUNT_COLUMNS = (
    ("n_primary", "primary metrics"),
    ("primaries_improved", "primaries improved"),
    ("primaries_worsened", "primaries worse"),
    ("n_guardrails", "guardrails"),
    ("guardrails_non_inferior", "guardrails non-inferior"),
    ("guardrails_breached", "guardrails breached"),
    ("guardrails_undetermined", "guardrails undetermined"),
    ("n_secondary", "secondary metrics"),
)
#: Order of ``metric_role`` values (when ``cuped_results`` has the column).
ROLE_ORDER = ("primary", "guardrail", "secondary")
LOW_COVERAGE = 0.5
STD_DIFF_NOTABLE = 0.1


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval; any part may be ``None`` (not estimable)."""

    estimate: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class Comparison:
    """One ``cuped_results`` row as the page shows it."""

    metric_name: str
    metric_label: str
    metric_role: str | None
    segment_name: str
    segment_value: str
    variant: str
    control_variant: str
    n_control: int | None
    n_variant: int | None
    control_mean: float | None
    absolute_effect: float | None
    relative: Interval
    unadjusted_relative: Interval
    p_value: float | None
    adjusted_p_value: float | None
    unadjusted_p_value: float | None
    variance_reduction: float | None
    status: str
    status_reason: str
    verdict: str


@dataclass(frozen=True)
class DayPoint:
    """One day of ``cuped_results_daily``: units so far, CUPED effect, fixed and sequential CI."""

    day: dt.date
    n_units: int
    effect: float | None
    ci_lower: float | None
    ci_upper: float | None
    sequential_lower: float | None
    sequential_upper: float | None


@dataclass(frozen=True)
class Series:
    """The cumulative series of one metric × treatment variant, in date order."""

    metric_name: str
    metric_label: str
    variant: str
    control_variant: str
    points: tuple[DayPoint, ...]

    @property
    def last(self) -> DayPoint | None:
        """The last day with an estimate."""
        return next((p for p in reversed(self.points) if p.effect is not None), None)


@dataclass(frozen=True)
class Arm:
    variant: str
    is_control: bool
    n_units: int | None
    observed_share: float | None
    expected_share: float | None
    pre_period_coverage: float | None


@dataclass(frozen=True)
class Exclusions:
    """What ``cuped_health`` says was left out of one experiment.

    ``multiple_variants_low``/``_high`` bound the distinct units assigned to more than one
    variant (module docstring); they are equal when the number is exact.
    """

    multiple_variants_low: int
    multiple_variants_high: int
    after_analysis_end: int
    duplicate_rows: int
    invalid_rows: int

    @property
    def nothing(self) -> bool:
        return not (
            self.multiple_variants_high
            or self.after_analysis_end
            or self.duplicate_rows
            or self.invalid_rows
        )


@dataclass(frozen=True)
class Health:
    """The health banner: ``level`` ``ok`` / ``warn`` / ``danger`` and what it rests on."""

    level: str
    headline: str
    srm_text: str
    srm_flag: bool
    arms: tuple[Arm, ...]
    exclusions: Exclusions
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    facts: tuple[str, ...]


@dataclass(frozen=True)
class VerdictCounts:
    better: int = 0
    worse: int = 0
    inconclusive: int = 0
    unavailable: int = 0

    @classmethod
    def of(cls, comparisons: Iterable[Comparison]) -> VerdictCounts:
        verdicts = [c.verdict for c in comparisons]
        return cls(*(verdicts.count(v) for v in VERDICTS))

    @property
    def total(self) -> int:
        return self.better + self.worse + self.inconclusive + self.unavailable


@dataclass(frozen=True)
class VariantDecision:
    """One ``cuped_decisions`` row: the recommendation for a treatment variant."""

    variant: str
    control_variant: str
    decision: str
    reasons: tuple[str, ...]
    counts: tuple[tuple[str, int], ...]

    @property
    def label(self) -> str:
        return DECISION_LABELS[self.decision]


@dataclass(frozen=True)
class ExperimentView:
    experiment_id: str
    anchor: str
    controls: tuple[str, ...]
    treatments: tuple[str, ...]
    alpha: float
    units: int
    #: ``None``: no decision table was read; ``()``: the table has no row for this experiment.
    decisions: tuple[VariantDecision, ...] | None
    verdicts_by_variant: tuple[tuple[str, VerdictCounts], ...]
    verdicts: VerdictCounts
    health: Health
    comparisons: tuple[Comparison, ...]
    segments: tuple[Comparison, ...]
    series: tuple[Series, ...]

    @property
    def level_pct(self) -> str:
        return f"{round((1 - self.alpha) * 100, 2):g}%"


@dataclass(frozen=True)
class ReportView:
    title: str
    subtitle: str
    experiments: tuple[ExperimentView, ...]
    decisions_read: bool
    adjusted_p_label: str = ADJUSTED_P_LABEL
    adjusted_p_family: str = ADJUSTED_P_FAMILY


# --------------------------------------------------------------------------------------------
# Comparisons


def _alpha(row: Row) -> float:
    a = as_float(row.get("alpha"))
    return a if a is not None and 0 < a < 1 else DEFAULT_ALPHA


def verdict(
    effect: float | None, adjusted_p: float | None, alpha: float, higher_is_better: Any
) -> str:
    """:func:`cuped_stats.decisions.comparison_verdict` (the table's ``comparison_verdict``), with
    the direction read as the tables give it (bool, text or null)."""
    direction = None if higher_is_better is None else is_true(higher_is_better)
    return comparison_verdict(effect, adjusted_p, alpha, direction)


def _interval(row: Row, estimate: str, lower: str, upper: str) -> Interval:
    return Interval(as_float(row.get(estimate)), as_float(row.get(lower)), as_float(row.get(upper)))


def comparison(row: Row) -> Comparison:
    """A ``cuped_results`` row for display (numbers as they are; nulls and NaN as ``None``)."""
    effect = as_float(row.get("absolute_effect"))
    column = ROLE_ADJUSTED_P_COLUMN if ROLE_ADJUSTED_P_COLUMN in row else ADJUSTED_P_COLUMN
    adjusted = as_float(row.get(column))
    role = row.get("metric_role")
    return Comparison(
        metric_name=text(row.get("metric_name")),
        metric_label=text(row.get("metric_label")) or text(row.get("metric_name")),
        metric_role=None if role is None else str(role),
        segment_name=text(row.get("segment_name"), "all"),
        segment_value=text(row.get("segment_value"), "all"),
        variant=text(row.get("variant")),
        control_variant=text(row.get("control_variant")),
        n_control=as_int(row.get("n_control")),
        n_variant=as_int(row.get("n_variant")),
        control_mean=as_float(row.get("control_mean")),
        absolute_effect=effect,
        relative=_interval(row, "relative_effect", "relative_ci_lower", "relative_ci_upper"),
        unadjusted_relative=_interval(
            row,
            "unadjusted_relative_effect",
            "unadjusted_relative_ci_lower",
            "unadjusted_relative_ci_upper",
        ),
        p_value=as_float(row.get("p_value")),
        adjusted_p_value=adjusted,
        unadjusted_p_value=as_float(row.get("unadjusted_p_value")),
        variance_reduction=as_float(row.get("variance_reduction")),
        status=text(row.get("status"), "unknown"),
        status_reason=text(row.get("status_reason")),
        verdict=verdict(effect, adjusted, _alpha(row), row.get("higher_is_better")),
    )


def _role_rank(role: str | None) -> int:
    return ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)


def _comparison_order(c: Comparison) -> tuple:
    return (c.segment_name, c.segment_value, _role_rank(c.metric_role), c.metric_name, c.variant)


# --------------------------------------------------------------------------------------------
# Daily series


def _series(rows: Sequence[Row]) -> tuple[Series, ...]:
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(text(row.get("metric_name")), text(row.get("variant")))].append(row)
    out = []
    for (metric, variant), members in sorted(groups.items()):
        points = []
        for row in members:
            day = as_date(row.get("as_of_date"))
            if day is None:
                continue
            points.append(
                DayPoint(
                    day=day,
                    n_units=(as_int(row.get("n_control")) or 0)
                    + (as_int(row.get("n_variant")) or 0),
                    effect=as_float(row.get("absolute_effect")),
                    ci_lower=as_float(row.get("absolute_ci_lower")),
                    ci_upper=as_float(row.get("absolute_ci_upper")),
                    sequential_lower=as_float(row.get("sequential_ci_lower")),
                    sequential_upper=as_float(row.get("sequential_ci_upper")),
                )
            )
        first = members[0]
        out.append(
            Series(
                metric_name=metric,
                metric_label=text(first.get("metric_label")) or metric,
                variant=variant,
                control_variant=text(first.get("control_variant")),
                points=tuple(sorted(points, key=lambda p: p.day)),
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Health


def _overall(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if text(r.get("segment_name"), "all") == "all"]


def _count(rows: Iterable[Row], column: str) -> list[int]:
    return [as_int(r.get(column)) or 0 for r in rows]


def exclusions(overall_health: Sequence[Row]) -> Exclusions:
    """Units and rows left out of an experiment, from its overall ``cuped_health`` rows."""
    multiple = _count(overall_health, "n_units_excluded_multiple_variants")
    low = max(multiple, default=0)
    return Exclusions(
        multiple_variants_low=low,
        multiple_variants_high=max(low, sum(multiple) // 2),
        after_analysis_end=sum(_count(overall_health, "n_units_excluded_after_analysis_end")),
        duplicate_rows=sum(_count(overall_health, "n_duplicate_assignment_rows")),
        # the same on every row of the experiment
        invalid_rows=max(_count(overall_health, "n_invalid_assignment_rows"), default=0),
    )


def _arms(overall_health: Sequence[Row]) -> tuple[Arm, ...]:
    rows = sorted(
        overall_health,
        key=lambda h: (not is_true(h.get("is_control")), text(h.get("variant"))),
    )
    return tuple(
        Arm(
            variant=text(h.get("variant")),
            is_control=is_true(h.get("is_control")),
            n_units=as_int(h.get("n_units")),
            observed_share=as_float(h.get("observed_share")),
            expected_share=as_float(h.get("expected_share")),
            pre_period_coverage=as_float(h.get("pre_period_coverage")),
        )
        for h in rows
    )


def _srm_findings(
    health: Sequence[Row], problems: list[str], warnings: list[str]
) -> tuple[bool, str]:
    overall = _overall(health)
    if not overall:
        warnings.append("No health rows for this experiment: the sample ratio was not checked.")
    flag = any(is_true(h.get("srm_flag")) for h in overall)
    p = next((as_float(h.get("srm_p_value")) for h in overall), None)
    status = next((text(h.get("srm_status")) for h in overall), "")
    if flag:
        problems.append(
            f"Sample-ratio mismatch: {p_is(p)} (flagged below 0.001). The assignment or the "
            "exclusions are broken; do not trust these effects."
        )
    elif overall and p is None:
        warnings.append(f"Sample-ratio test not run ({status or 'unknown'}).")
    segments = sorted(
        {
            f"{text(h.get('segment_name'))} = {text(h.get('segment_value'))}"
            for h in health
            if text(h.get("segment_name"), "all") != "all" and is_true(h.get("srm_flag"))
        }
    )
    if segments:
        warnings.append(f"Sample-ratio mismatch within segment {', '.join(segments)}.")
    srm_text = f"SRM {p_is(p)}" if p is not None else f"SRM {status or 'not run'}"
    return flag, srm_text + (" · flagged" if flag else "")


def _arm_warnings(overall_health: Sequence[Row], warnings: list[str]) -> None:
    for h in overall_health:
        variant = text(h.get("variant"))
        coverage = as_float(h.get("pre_period_coverage"))
        if coverage is not None and coverage < LOW_COVERAGE:
            warnings.append(
                f"Low pre-period coverage in {variant}: {fmt_pct(coverage, 0, False)} of units "
                "have pre-period data, so CUPED removes little variance."
            )
        missing = as_int(h.get("n_units_missing_attributes")) or 0
        if missing:
            warnings.append(
                f"{missing:,} units in {variant} have no unit attribute (imputed as 0)."
            )


def _balance_findings(balance: Sequence[Row], warnings: list[str], facts: list[str]) -> None:
    """Balance (overall rows; a covariate repeats under every metric that uses it)."""
    if not balance:
        facts.append("Balance: no cuped_balance rows (table absent or no covariates).")
        return
    overall = _overall(balance)
    tested = {(text(b.get("covariate")), text(b.get("variant"))) for b in overall}
    flagged = sorted(
        {
            (text(b.get("covariate")), text(b.get("variant")))
            for b in overall
            if is_true(b.get("imbalance_flag"))
        }
    )
    segment_flags = sum(
        1
        for b in balance
        if text(b.get("segment_name"), "all") != "all" and is_true(b.get("imbalance_flag"))
    )
    diffs = [
        abs(d) for b in overall if (d := as_float(b.get("standardized_difference"))) is not None
    ]
    if flagged:
        names = ", ".join(f"{c} ({v})" for c, v in flagged)
        warnings.append(
            f"Pre-period imbalance flagged for {names}: the CUPED estimate may be shifted by it, "
            "not only made more precise."
        )
    if segment_flags:
        warnings.append(f"{segment_flags} covariate × segment rows flagged as imbalanced.")
    fact = f"Balance: {len(tested)} covariate × variant pairs tested, {len(flagged)} flagged"
    if diffs:
        worst = max(diffs)
        fact += f"; largest |standardized difference| {fmt_num(worst)}"
        if worst > STD_DIFF_NOTABLE:
            fact += f" (above the {STD_DIFF_NOTABLE:g} rule of thumb)"
    facts.append(fact + ".")


def _cap_facts(caps: Sequence[Row], facts: list[str]) -> None:
    for cap in sorted(caps, key=lambda c: (text(c.get("metric_name")), text(c.get("period")))):
        bounds = []
        for side, sign in (("lower", "≥"), ("upper", "≤")):
            threshold = as_float(cap.get(f"{side}_threshold"))
            if threshold is not None:
                bounds.append(f"{sign} {fmt_num(threshold)} ({text(cap.get(f'{side}_rule'))})")
        n_capped = (as_int(cap.get("n_units_below")) or 0) + (as_int(cap.get("n_units_above")) or 0)
        facts.append(
            f"Capped {text(cap.get('metric_name'))} ({text(cap.get('period'))}): "
            f"{', '.join(bounds) or '—'}, {n_capped:,} units capped."
        )


def _status_warnings(results: Sequence[Row], warnings: list[str]) -> None:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in results:
        status = text(r.get("status"), "ok")
        if status != "ok":
            counts[(status, text(r.get("status_reason")))] += 1
    for (status, reason), n in sorted(counts.items()):
        warnings.append(f"{n} result rows with status {status}{': ' + reason if reason else ''}.")


def health_view(
    health: Sequence[Row], balance: Sequence[Row], caps: Sequence[Row], results: Sequence[Row]
) -> Health:
    """The health banner of one experiment: problems (red: do not trust the effects), warnings
    (amber: read before deciding) and facts."""
    problems: list[str] = []
    warnings: list[str] = []
    facts: list[str] = []
    overall = _overall(health)
    srm_flag, srm_text = _srm_findings(health, problems, warnings)
    _arm_warnings(overall, warnings)
    _balance_findings(balance, warnings, facts)
    _cap_facts(caps, facts)
    _status_warnings(results, warnings)
    if problems:
        level, headline = "danger", "✕ Do not trust these results"
    elif warnings:
        level, headline = "warn", "! Healthy sample ratio, with warnings"
    else:
        level, headline = "ok", "✓ Healthy"
    return Health(
        level=level,
        headline=headline,
        srm_text=srm_text,
        srm_flag=srm_flag,
        arms=_arms(overall),
        exclusions=exclusions(overall),
        problems=tuple(problems),
        warnings=tuple(warnings),
        facts=tuple(facts),
    )


# --------------------------------------------------------------------------------------------
# Decisions


def _decision(row: Row) -> VariantDecision:
    where = (
        f"cuped_decisions: experiment {row.get('experiment_id')!r}, variant {row.get('variant')!r}"
    )
    decision = text(row.get("decision"))
    if decision not in DECISIONS:
        raise ValueError(f"{where}: unknown decision {decision!r}; expected one of {DECISIONS}")
    reasons = tuple(part.strip() for part in text(row.get("reasons")).split("; ") if part.strip())
    counts = tuple(
        (label, n)
        for column, label in DECISION_COUNT_COLUMNS
        if (n := as_int(row.get(column))) is not None
    )
    return VariantDecision(
        variant=text(row.get("variant")),
        control_variant=text(row.get("control_variant")),
        decision=decision,
        reasons=reasons,
        counts=counts,
    )


def decisions_by_experiment(rows: Iterable[Row]) -> dict[str, tuple[VariantDecision, ...]]:
    """``cuped_decisions`` rows grouped by experiment, variants in name order.

    Raises:
        ValueError: a row without ``experiment_id``, an unknown ``decision`` or two rows for one
            experiment × variant, naming the row.
    """
    grouped: dict[str, dict[str, VariantDecision]] = defaultdict(dict)
    for row in rows:
        experiment = row.get("experiment_id")
        if experiment is None:
            raise ValueError(f"cuped_decisions: a row without experiment_id: {dict(row)!r}")
        decision = _decision(row)
        if decision.variant in grouped[str(experiment)]:
            raise ValueError(
                f"cuped_decisions: two rows for experiment {experiment!r}, "
                f"variant {decision.variant!r}"
            )
        grouped[str(experiment)][decision.variant] = decision
    return {e: tuple(v[k] for k in sorted(v)) for e, v in grouped.items()}


# --------------------------------------------------------------------------------------------
# Experiments and the report


def _group(rows: Iterable[Row]) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[text(row.get("experiment_id"))].append(row)
    return groups


def experiment_view(
    index: int,
    experiment: str,
    tables: PublicTables,
    decisions: tuple[VariantDecision, ...] | None,
) -> ExperimentView:
    """The view of one experiment; ``tables`` hold only its rows."""
    results = [comparison(r) for r in tables.results]
    overall = sorted((c for c in results if c.segment_name == "all"), key=_comparison_order)
    segments = sorted((c for c in results if c.segment_name != "all"), key=_comparison_order)
    treatments = tuple(sorted({c.variant for c in results if c.variant}))
    controls = tuple(sorted({c.control_variant for c in results if c.control_variant}))
    if not controls:
        controls = tuple(
            sorted({text(h.get("variant")) for h in tables.health if is_true(h.get("is_control"))})
        )
    alphas = {_alpha(r) for r in tables.results}
    return ExperimentView(
        experiment_id=experiment,
        anchor=f"experiment-{index}",
        controls=controls,
        treatments=treatments,
        alpha=alphas.pop() if len(alphas) == 1 else DEFAULT_ALPHA,
        units=sum(_count(_overall(tables.health), "n_units")),
        decisions=decisions,
        verdicts_by_variant=tuple(
            (v, VerdictCounts.of(c for c in overall if c.variant == v)) for v in treatments
        ),
        verdicts=VerdictCounts.of(overall),
        health=health_view(tables.health, tables.balance, tables.caps, tables.results),
        comparisons=tuple(overall),
        segments=tuple(segments),
        series=_series(tables.daily),
    )


def _subtitle(results: Sequence[Row], n_experiments: int) -> str:
    computed = sorted({text(r.get("computed_at"))[:19] for r in results if r.get("computed_at")})
    versions = sorted({text(r.get("package_version")) for r in results if r.get("package_version")})
    subtitle = f"{n_experiments} experiment{'' if n_experiments == 1 else 's'}"
    if computed:
        subtitle += f" · computed {computed[-1]}"
    if versions:
        subtitle += f" · cuped {', '.join(versions)}"
    return subtitle


def build_report(
    tables: PublicTables,
    decisions: Iterable[Row] | None = None,
    *,
    title: str = "Experiment report",
) -> ReportView:
    """The whole report's view model.

    Args:
        tables: rows of the public tables.
        decisions: rows of ``cuped_decisions`` (one per experiment × treatment variant, columns
            ``experiment_id``, ``variant``, ``control_variant``, ``decision``, ``reasons`` and
            optionally the counts of :data:`DECISION_COUNT_COLUMNS`), or ``None`` when there is no
            such table: each experiment then leads with its verdict counts instead.
        title: the page title.
    """
    by_decision = None if decisions is None else decisions_by_experiment(decisions)
    groups = {
        field: _group(getattr(tables, field))
        for field in ("results", "health", "daily", "balance", "caps")
    }
    names = sorted(set(groups["results"]) | set(groups["health"]))
    experiments = tuple(
        experiment_view(
            i,
            name,
            PublicTables(**{field: tuple(g.get(name, ())) for field, g in groups.items()}),
            None if by_decision is None else by_decision.get(name, ()),
        )
        for i, name in enumerate(names)
    )
    return ReportView(
        title=title,
        subtitle=_subtitle(tables.results, len(experiments)),
        experiments=experiments,
        decisions_read=decisions is not None,
        adjusted_p_family=(
            ROLE_ADJUSTED_P_FAMILY
            if any(ROLE_ADJUSTED_P_COLUMN in row for row in tables.results)
            else ADJUSTED_P_FAMILY
        ),
    )
