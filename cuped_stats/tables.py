"""Row-in, columns-out glue for the thin dbt Python models.

Input rows are dicts (the warehouse tables ``cuped__moments``, ``cuped__analysis_plan`` and
``cuped__arm_counts``); outputs are dicts of equal-length numpy arrays: float64 with ``nan`` for a
missing number (DuckDB reads it as NULL), int64 counts, bool flags and object arrays of
``str``/``None`` for text.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from cuped_stats._version import __version__
from cuped_stats.balance import covariate_balance
from cuped_stats.batch import MetricRequest, analyze_metrics
from cuped_stats.bayes import NormalPrior, bayes_readout, empirical_bayes_prior, fixed_prior
from cuped_stats.cuped import (
    METRIC_TYPES,
    OUTCOME_VARIABLES,
    RELATIVE_CI_METHODS,
    THETA_METHODS,
)
from cuped_stats.decisions import (
    DECISION_COLUMNS,
    ROLES,
    ExperimentContext,
    MetricResult,
    comparison_verdict,
    decide,
    decision_row,
)
from cuped_stats.moment_arms import (
    GroupArms,
    Moments,
    arms_by_group,
    arms_from_moment_rows,
    group_keys,
    moment_columns,
    rows_of_columns,
)
from cuped_stats.moments import ArmMoments
from cuped_stats.multiplicity import benjamini_hochberg, holm
from cuped_stats.one_sided import Margin, non_inferiority_test
from cuped_stats.power import days_needed, mde_from_se, plan_sample_size
from cuped_stats.quantile import QuantileArm, QuantileComparison, analyze_quantile
from cuped_stats.sequential import DEFAULT_PLANNED_N, confidence_sequence_bounds
from cuped_stats.srm import expected_shares, sample_ratio_mismatch

__all__ = [
    "ALPHA_BOUNDS",
    "BALANCE_COLUMNS",
    "DECISIONS_COLUMNS",
    "HEALTH_COLUMNS",
    "PLAN_METRIC_TYPES",
    "POWER_COLUMNS",
    "RESULTS_COLUMNS",
    "STATISTICS_COLUMNS",
    "STATISTICS_KINDS",
    "arms_from_moment_rows",
    "balance_rows",
    "balance_table",
    "decisions_rows",
    "health_rows",
    "health_table",
    "power_rows",
    "power_table",
    "results_rows",
    "results_table",
    "statistics_rows",
]

Row = Mapping[str, Any]

#: Metric types an analysis plan row may have: the moment-based ones of the core, and
#: ``quantile`` (its arms come as ``quantile_rows``, :class:`cuped_stats.quantile.QuantileArm`).
PLAN_METRIC_TYPES: tuple[str, ...] = (*METRIC_TYPES, "quantile")

_TEXT, _FLOAT, _INT, _BOOL, _DATE = object, np.float64, np.int64, np.bool_, dt.date

#: Column name → dtype of :func:`results_table`, in output order.
RESULTS_COLUMNS: dict[str, type] = {
    "experiment_id": _TEXT,
    "segment_name": _TEXT,
    "segment_value": _TEXT,
    "metric_name": _TEXT,
    "metric_label": _TEXT,
    "metric_type": _TEXT,
    "variant": _TEXT,
    "control_variant": _TEXT,
    "n_control": _INT,
    "n_variant": _INT,
    "control_mean": _FLOAT,
    "variant_mean": _FLOAT,
    "control_mean_adjusted": _FLOAT,
    "variant_mean_adjusted": _FLOAT,
    "absolute_effect": _FLOAT,
    "absolute_effect_se": _FLOAT,
    "absolute_ci_lower": _FLOAT,
    "absolute_ci_upper": _FLOAT,
    "sequential_ci_lower": _FLOAT,
    "sequential_ci_upper": _FLOAT,
    "degrees_of_freedom": _FLOAT,
    "relative_effect": _FLOAT,
    "relative_ci_lower": _FLOAT,
    "relative_ci_upper": _FLOAT,
    "p_value": _FLOAT,
    "p_value_holm": _FLOAT,
    "p_value_bh": _FLOAT,
    "unadjusted_absolute_effect": _FLOAT,
    "unadjusted_se": _FLOAT,
    "unadjusted_ci_lower": _FLOAT,
    "unadjusted_ci_upper": _FLOAT,
    "unadjusted_relative_effect": _FLOAT,
    "unadjusted_relative_ci_lower": _FLOAT,
    "unadjusted_relative_ci_upper": _FLOAT,
    "unadjusted_p_value": _FLOAT,
    "variance_reduction": _FLOAT,
    "chance_to_win": _FLOAT,
    "bayes_relative_ci_lower": _FLOAT,
    "bayes_relative_ci_upper": _FLOAT,
    "expected_loss": _FLOAT,
    "prior": _TEXT,
    "theta": _TEXT,
    "covariates": _TEXT,
    "covariates_dropped": _TEXT,
    "alpha": _FLOAT,
    "theta_method": _TEXT,
    "relative_ci_method": _TEXT,
    "higher_is_better": _BOOL,
    "status": _TEXT,
    "status_reason": _TEXT,
    "package_version": _TEXT,
    # roles (experiment_settings): families and guardrail non-inferiority
    "metric_role": _TEXT,
    "p_value_role_holm": _FLOAT,
    "p_value_role_bh": _FLOAT,
    "non_inferiority_margin": _FLOAT,
    "non_inferiority_margin_kind": _TEXT,
    "non_inferiority_p_value": _FLOAT,
    "non_inferiority_bound": _FLOAT,
    "comparison_verdict": _TEXT,
    # `missing: exclude`: units of each arm left out of the metric for having no value
    "n_control_missing": _INT,
    "n_variant_missing": _INT,
}

#: Column name → dtype of :func:`health_table`, in output order.
HEALTH_COLUMNS: dict[str, type] = {
    "experiment_id": _TEXT,
    "segment_name": _TEXT,
    "segment_value": _TEXT,
    "variant": _TEXT,
    "n_units": _INT,
    "expected_share": _FLOAT,
    "srm_chi2": _FLOAT,
    "srm_df": _INT,
    "srm_p_value": _FLOAT,
    "srm_flag": _BOOL,
    "srm_status": _TEXT,
}

#: The open interval of significance levels the tables accept (as the `cuped` var's `alpha`).
ALPHA_BOUNDS: tuple[float, float] = (0.0, 0.5)

_PLAN_KEYS = (
    "experiment_id",
    "metric_name",
    "metric_type",
    "control_variant",
    "alpha",
    "theta_method",
    "higher_is_better",
)


def _columns(rows: list[dict[str, Any]], spec: Mapping[str, type]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, dtype in spec.items():
        values = [row.get(name) for row in rows]
        if dtype is _FLOAT:
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif dtype is _TEXT:
            column = np.empty(len(values), dtype=object)
            column[:] = [None if v is None else str(v) for v in values]
            out[name] = column
        elif any(v is None for v in values):
            raise ValueError(f"column {name!r} ({dtype.__name__}) has a missing value")
        else:
            out[name] = np.array(values, dtype=dtype)
    return out


def _sort_key(value: Any) -> tuple[bool, str]:
    return (value is None, "" if value is None else str(value))


def _check_plan_row(row: Row) -> dict[str, Any]:
    missing = [key for key in _PLAN_KEYS if key not in row]
    where = f"experiment {row.get('experiment_id')!r}, metric {row.get('metric_name')!r}"
    if missing:
        raise ValueError(f"{where}: analysis plan row lacks {missing}")
    if row["metric_type"] not in PLAN_METRIC_TYPES:
        raise ValueError(
            f"{where}: unknown metric_type {row['metric_type']!r}; "
            f"expected one of {PLAN_METRIC_TYPES}"
        )
    if row["metric_type"] == "quantile" and (
        row.get("quantile") is None or row.get("quantile_level") not in ("unit", "event")
    ):
        raise ValueError(
            f"{where}: a quantile metric's plan row needs quantile and quantile_level "
            f"(unit or event), got {row.get('quantile')!r}, {row.get('quantile_level')!r}"
        )
    if row["theta_method"] not in THETA_METHODS:
        raise ValueError(
            f"{where}: unknown theta_method {row['theta_method']!r}; "
            f"expected one of {THETA_METHODS}"
        )
    alpha = row["alpha"]
    low, high = ALPHA_BOUNDS
    if alpha is None or not low < float(alpha) < high:
        raise ValueError(f"{where}: alpha must be in ({low}, {high}), got {alpha!r}")
    if not isinstance(row["higher_is_better"], (bool, np.bool_)):
        raise ValueError(
            f"{where}: higher_is_better must be a bool, got {row['higher_is_better']!r}"
        )
    if not row["control_variant"]:
        raise ValueError(f"{where}: control_variant is empty")
    plan = dict(row)
    # Optional column: absent or null means the symmetric delta-method relative CI.
    if plan.get("relative_ci_method") is None:
        plan["relative_ci_method"] = "delta"
    if plan.get("planned_units") is None:
        plan["planned_units"] = DEFAULT_PLANNED_N
    elif not float(plan["planned_units"]) >= 2:
        raise ValueError(
            f"{where}: planned_units must be at least 2, got {plan['planned_units']!r}"
        )
    if plan["relative_ci_method"] not in RELATIVE_CI_METHODS:
        raise ValueError(
            f"{where}: unknown relative_ci_method {plan['relative_ci_method']!r}; "
            f"expected one of {RELATIVE_CI_METHODS}"
        )
    # Optional columns: absent or null role means `secondary` (no experiment_settings).
    if plan.get("metric_role") is None:
        plan["metric_role"] = "secondary"
    if plan["metric_role"] not in ROLES:
        raise ValueError(
            f"{where}: unknown metric_role {plan['metric_role']!r}; expected one of {ROLES}"
        )
    value = plan.get("non_inferiority_margin")
    value = None if value is None or (isinstance(value, float) and math.isnan(value)) else value
    plan["margin"] = None
    if (plan["metric_role"] == "guardrail") != (value is not None):
        raise ValueError(
            f"{where}: a guardrail, and only a guardrail, has a non_inferiority_margin "
            f"(role {plan['metric_role']!r}, margin {value!r})"
        )
    if value is not None:
        try:
            plan["margin"] = Margin(float(value), str(plan.get("non_inferiority_margin_kind")))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error
    return plan


def _non_inferiority(plan: Row, comparison: Any) -> tuple[float | None, float | None]:
    """The guardrail's fixed-horizon one-sided non-inferiority p-value and its (1 − alpha)
    bound on the margin's scale (:func:`cuped_stats.one_sided.non_inferiority_test` on the CUPED
    estimate); ``(None, None)`` for other roles or when the test is undefined."""
    margin = plan["margin"]
    if margin is None:
        return None, None
    test = non_inferiority_test(
        comparison.cuped,
        margin,
        higher_is_better=bool(plan["higher_is_better"]),
        alpha=comparison.alpha,
        relative_ci_method=comparison.relative_ci_method,
    )
    return test.p_value, test.bound


#: Result columns read from a comparison as they are: column → the comparison's attribute.
_COMPARISON_COLUMNS: dict[str, str] = {
    "metric_type": "metric_type",
    "variant": "variant",
    "control_variant": "control_variant",
    "n_control": "n_control",
    "n_variant": "n_variant",
    "control_mean": "unadjusted.control_mean",
    "variant_mean": "unadjusted.variant_mean",
    "control_mean_adjusted": "cuped.control_mean",
    "variant_mean_adjusted": "cuped.variant_mean",
    "absolute_effect": "cuped.effect",
    "absolute_effect_se": "cuped.se",
    "absolute_ci_lower": "cuped.ci_lower",
    "absolute_ci_upper": "cuped.ci_upper",
    "degrees_of_freedom": "cuped.degrees_of_freedom",
    "relative_effect": "cuped.relative_effect",
    "relative_ci_lower": "cuped.relative_ci_lower",
    "relative_ci_upper": "cuped.relative_ci_upper",
    "relative_se": "cuped.relative_se",  # not a column: the Bayesian read-out's input
    "p_value": "cuped.p_value",
    "unadjusted_absolute_effect": "unadjusted.effect",
    "unadjusted_se": "unadjusted.se",
    "unadjusted_ci_lower": "unadjusted.ci_lower",
    "unadjusted_ci_upper": "unadjusted.ci_upper",
    "unadjusted_relative_effect": "unadjusted.relative_effect",
    "unadjusted_relative_ci_lower": "unadjusted.relative_ci_lower",
    "unadjusted_relative_ci_upper": "unadjusted.relative_ci_upper",
    "unadjusted_p_value": "unadjusted.p_value",
    "variance_reduction": "variance_reduction",
    "alpha": "alpha",
    "theta_method": "theta_method",
    "relative_ci_method": "relative_ci_method",
    "status": "status",
    "status_reason": "status_reason",
}
_COMPARISON_GETTER = operator.attrgetter(*_COMPARISON_COLUMNS.values())
#: Result columns that are null until a later step fills them (Holm/BH, the verdict, the
#: Bayesian read-out, which the daily series has not).
_LATER_COLUMNS = (
    "p_value_holm",
    "p_value_bh",
    "p_value_role_holm",
    "p_value_role_bh",
    "comparison_verdict",
    "chance_to_win",
    "bayes_relative_ci_lower",
    "bayes_relative_ci_upper",
    "expected_loss",
    "prior",
)


class _ResultItem(NamedTuple):
    """One comparison to write as a result row: its group's key (experiment, segment name and
    value, metric, day), plan row, the comparison (or a :class:`_QuantileAsComparison`) and
    the group's analysed units per arm."""

    key: tuple[Any, ...]
    plan: Row
    comparison: Any
    arm_units: Mapping[str, int]


def _result_columns(items: Sequence[_ResultItem]) -> dict[str, list[Any]]:
    """The result row of each comparison as columns (RESULTS_COLUMNS, ``as_of_date`` and
    ``relative_se``): the comparisons' figures read by one C-level getter each, the
    always-valid intervals in one array computation
    (:func:`cuped_stats.sequential.confidence_sequence_bounds`)."""
    if not items:
        return {name: [] for name in _RESULT_COLUMN_NAMES}
    keys, plans, comparisons, arm_units = zip(*items, strict=True)
    columns: dict[str, Sequence[Any]] = dict(
        zip(
            _COMPARISON_COLUMNS,
            zip(*map(_COMPARISON_GETTER, comparisons), strict=True),
            strict=True,
        )
    )
    n_rows = len(items)
    (
        columns["experiment_id"],
        columns["segment_name"],
        columns["segment_value"],
        columns["metric_name"],
        columns["as_of_date"],
    ) = zip(*keys, strict=True)
    columns["sequential_ci_lower"], columns["sequential_ci_upper"] = confidence_sequence_bounds(
        columns["absolute_effect"],
        columns["absolute_effect_se"],
        [c + v for c, v in zip(columns["n_control"], columns["n_variant"], strict=True)],
        columns["alpha"],
        [plan["planned_units"] for plan in plans],
    )
    columns["metric_label"] = [
        plan.get("metric_label") or name
        for plan, name in zip(plans, columns["metric_name"], strict=True)
    ]
    columns["higher_is_better"] = [bool(plan["higher_is_better"]) for plan in plans]
    columns["metric_role"] = [plan["metric_role"] for plan in plans]
    margins = [plan["margin"] for plan in plans]
    columns["non_inferiority_margin"] = [None if m is None else m.value for m in margins]
    columns["non_inferiority_margin_kind"] = [None if m is None else m.kind for m in margins]
    tests = [
        (None, None) if plan["margin"] is None else _non_inferiority(plan, comparison)
        for plan, comparison in zip(plans, comparisons, strict=True)
    ]
    columns["non_inferiority_p_value"], columns["non_inferiority_bound"] = zip(*tests, strict=True)
    columns["theta"] = [_theta_json(tuple(c.covariates), c.theta) for c in comparisons]
    columns["covariates"] = [_json_of_names(tuple(c.covariates)) for c in comparisons]
    columns["covariates_dropped"] = [
        _json_of_pairs(tuple(c.covariates_dropped)) for c in comparisons
    ]
    columns["package_version"] = [__version__] * n_rows
    columns["n_control_missing"] = [
        _missing_units(c, units, c.control_variant)
        for c, units in zip(comparisons, arm_units, strict=True)
    ]
    columns["n_variant_missing"] = [
        _missing_units(c, units, c.variant) for c, units in zip(comparisons, arm_units, strict=True)
    ]
    for name in _LATER_COLUMNS:
        columns[name] = [None] * n_rows
    return {name: list(columns[name]) for name in _RESULT_COLUMN_NAMES}


#: The columns of :func:`_result_columns`, in order.
_RESULT_COLUMN_NAMES = (*RESULTS_COLUMNS, "as_of_date", "relative_se")


def _result_rows(items: Sequence[_ResultItem]) -> list[dict[str, Any]]:
    """:func:`_result_columns` as rows."""
    return list(rows_of_columns(_result_columns(items)))


@functools.lru_cache(maxsize=1024)
def _json_of_names(names: tuple[str, ...]) -> str:
    """``json.dumps(list(names))``, once per list of covariates (a result row each)."""
    return json.dumps(list(names))


@functools.lru_cache(maxsize=1024)
def _json_of_pairs(pairs: tuple[tuple[str, str], ...]) -> str:
    """``json.dumps(dict(pairs))``, once per list of dropped covariates."""
    return json.dumps(dict(pairs))


@functools.lru_cache(maxsize=1024)
def _json_keys(names: tuple[str, ...]) -> tuple[str, ...] | None:
    """Each name's JSON and ``": "``, or None when a name repeats (a dict keeps one of them)."""
    if len(set(names)) != len(names):
        return None
    return tuple(json.dumps(name) + ": " for name in names)


def _theta_json(names: tuple[str, ...], theta: Sequence[float]) -> str:
    """``json.dumps(dict(zip(names, theta)))``: written out for finite floats (json writes
    them with ``float.__repr__``, whose text of a finite float has no letter n, while NaN and
    infinities do; the keys' JSON once per list of names), by json otherwise."""
    keys = _json_keys(names)
    if keys is not None and len(keys) == len(theta):
        try:
            values = list(map(float.__repr__, theta))
        except TypeError:  # not a float: json.dumps says what it makes of it
            values = None
        if values is not None and "n" not in "".join(values):
            return "{" + ", ".join([k + v for k, v in zip(keys, values, strict=True)]) + "}"
    return json.dumps(dict(zip(names, theta, strict=True)))


def _missing_units(comparison: Any, arm_units: Mapping[str, int], variant: str) -> int:
    """Units of ``variant`` left out of the metric for having no value (``missing: exclude``)."""
    if isinstance(comparison, _QuantileAsComparison):
        return comparison.missing[variant]
    analysed = (
        comparison.n_control if variant == comparison.control_variant else comparison.n_variant
    )
    return arm_units.get(variant, analysed) - analysed


#: Statuses of a row that stands for an experiment x segment x metric with nothing to compare:
#: ``no_units`` (no analysed unit at all) and ``single_arm`` (units in one variant only). Such a
#: row has a null ``variant`` and null statistics, so the experiment is reported, not dropped.
PLACEHOLDER_STATUSES: tuple[str, ...] = ("no_units", "single_arm")


def _placeholder_row(
    key: tuple[Any, ...],
    plan: Row,
    arms: Sequence[ArmMoments],
    status: str,
    reason: str,
    arm_units: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    experiment_id, segment_name, segment_value, metric_name, as_of_date = key
    control = next((arm for arm in arms if arm.variant == str(plan["control_variant"])), None)
    row: dict[str, Any] = dict.fromkeys(RESULTS_COLUMNS)
    row.update(
        experiment_id=experiment_id,
        as_of_date=as_of_date,
        segment_name=segment_name,
        segment_value=segment_value,
        metric_name=metric_name,
        metric_label=plan.get("metric_label") or metric_name,
        metric_type=plan["metric_type"],
        control_variant=plan["control_variant"],
        n_control=0 if control is None else control.n,
        n_variant=0,
        n_control_missing=0
        if control is None
        else (arm_units or {}).get(control.variant, control.n) - control.n,
        n_variant_missing=0,
        theta="{}",
        covariates="[]",
        covariates_dropped="{}",
        alpha=float(plan["alpha"]),
        theta_method=plan["theta_method"],
        relative_ci_method=plan["relative_ci_method"],
        higher_is_better=bool(plan["higher_is_better"]),
        status=status,
        status_reason=reason,
        package_version=__version__,
        metric_role=plan["metric_role"],
        non_inferiority_margin=None if plan["margin"] is None else plan["margin"].value,
        non_inferiority_margin_kind=None if plan["margin"] is None else plan["margin"].kind,
    )
    return row


def results_table(moment_rows: Moments, plan_rows: Iterable[Row]) -> dict[str, np.ndarray]:
    """:func:`results_rows` as columns (RESULTS_COLUMNS)."""
    return _columns(results_rows(moment_rows, plan_rows), RESULTS_COLUMNS)


def results_rows(
    moment_rows: Moments,
    plan_rows: Iterable[Row],
    *,
    daily: bool = False,
    quantile_rows: Iterable[Row] = (),
    arms_cache: dict[tuple[Any, ...], list[ArmMoments]] | None = None,
) -> list[dict[str, Any]]:
    """One row per experiment x segment x metric x treatment variant (keys: RESULTS_COLUMNS).

    Each (experiment, metric) of the plan is analysed in every segment its moments cover, with
    :func:`cuped_stats.cuped.analyze_metric` (all groups at once:
    :func:`cuped_stats.batch.analyze_metrics`). The moments are rows or columns, and each
    group's arms are read from them at once (:func:`cuped_stats.moment_arms.arms_by_group`).
    The plan's optional ``relative_ci_method`` (``delta`` or ``log``; absent or null:
    ``delta``) picks the relative CI. Holm and Benjamini-Hochberg p-values adjust the CUPED
    p-values within each experiment x segment family (all metrics x treatment variants). Rows
    are sorted by experiment, segment name, segment value, metric and variant.

    A plan row without any moments (no analysed unit) gives one ``no_units`` row; an experiment x
    segment x metric whose units are all in one variant gives one ``single_arm`` row (null
    ``variant`` and statistics): experiments are reported, never silently dropped. The plan's
    optional ``planned_units`` tunes the always-valid confidence sequence
    (:func:`cuped_stats.sequential.confidence_sequence`; default its ``DEFAULT_PLANNED_N``).

    A ``quantile`` metric is analysed from ``quantile_rows`` instead of moments (the
    ``cuped__quantile_arms`` rows: experiment, segment, variant, metric and the fields of
    :class:`cuped_stats.quantile.QuantileArm`) with :func:`cuped_stats.quantile.analyze_quantile`;
    its arm "means" are the arm quantiles, its unadjusted figures are its figures (no CUPED), and
    ``n_control``/``n_variant`` count the units with a value (level ``unit``) or every unit
    (level ``event``). The daily series has no quantile rows.

    With ``daily=True`` the moments are those of the daily series: each row carries the day it
    is as of (``as_of_date``), every day is analysed as its own table (its own multiple-testing
    families), rows carry ``as_of_date`` too, and a plan row without moments gives no row (the
    experiment has not started on any day).

    ``arms_cache``, when given, receives each group's arms as read from its moment rows (keyed
    by experiment, segment name, segment value and metric; not for the daily series), for
    :func:`balance_rows` of the same moments to use instead of reading them again.

    Raises:
        ValueError: for an invalid or duplicate plan row, moments without a plan row, or
            incomplete moments; the message names experiment and metric.
    """
    plans = _checked_plans(plan_rows)
    columns = _results_columns(
        moment_rows, plans, daily=daily, quantile_rows=quantile_rows, arms_cache=arms_cache
    )
    rows = list(rows_of_columns(columns))
    if not daily:
        _add_bayes_readouts(rows, plans)
    return rows


def _checked_plans(plan_rows: Iterable[Row]) -> dict[tuple[Any, Any], dict[str, Any]]:
    """The plan rows, checked (:func:`_check_plan_row`), by experiment and metric.

    Raises:
        ValueError: for an invalid or duplicate plan row.
    """
    plans: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in plan_rows:
        plan = _check_plan_row(row)
        key = (plan["experiment_id"], plan["metric_name"])
        if key in plans:
            raise ValueError(f"experiment {key[0]!r}, metric {key[1]!r}: duplicate plan rows")
        plans[key] = plan
    return plans


def _results_columns(
    moment_rows: Moments,
    plans: Mapping[tuple[Any, Any], dict[str, Any]],
    *,
    daily: bool,
    quantile_rows: Iterable[Row],
    arms_cache: dict[tuple[Any, ...], list[ArmMoments]] | None,
) -> dict[str, list[Any]]:
    """:func:`results_rows` as columns (its keys → values, the rows in its order) of checked
    plans (:func:`_checked_plans`), without the Bayesian read-out (filled on the rows of the
    overall results)."""
    columns = moment_columns(moment_rows)
    experiments, metrics = columns.get("experiment_id", ()), columns.get("metric_name", ())
    unplanned = sorted(set(zip(experiments, metrics, strict=True)) - set(plans), key=repr)
    if unplanned:
        experiment_id, metric_name = unplanned[0]
        raise ValueError(
            f"experiment {experiment_id!r}, metric {metric_name!r}: moments without an "
            "analysis plan row"
        )
    groups = arms_by_group(columns, daily=daily, context=_group_context)
    rows: list[dict[str, Any]] = []
    quantile_groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in quantile_rows:
        key = (row["experiment_id"], row["segment_name"], row["segment_value"], row["metric_name"])
        quantile_groups[(*key, None)].append(row)
    for key, arm_rows in quantile_groups.items():
        plan = plans.get((key[0], key[3]))
        if plan is None or plan["metric_type"] != "quantile":
            raise ValueError(
                f"experiment {key[0]!r}, metric {key[3]!r}: quantile inputs without a quantile "
                "analysis plan row"
            )
        if not daily:
            rows.extend(_analyse_quantile_group(key, plan, arm_rows))
    covered = {(k[0], k[3]) for k in groups} | {(k[0], k[3]) for k in quantile_groups}
    for (experiment_id, metric_name), plan in plans.items():
        if daily and plan["metric_type"] == "quantile":
            continue
        if not daily and (experiment_id, metric_name) not in covered:
            key = (experiment_id, "all", "all", metric_name, None)
            reason = "the experiment has no analysed unit (see cuped_health for exclusions)"
            rows.append(_placeholder_row(key, plan, [], "no_units", reason))

    prepared = [
        _prepare_group(key, plans[(key[0], key[3])], groups[key], arms_cache)
        for key in sorted(groups, key=lambda k: tuple(map(_sort_key, k)))
    ]
    analysed = analyze_metrics(
        [group.request for group in prepared], labels=[group.context for group in prepared]
    )
    items: list[_ResultItem] = []
    for group, comparisons in zip(prepared, analysed, strict=True):
        if comparisons:
            items.extend(
                _ResultItem(group.key, group.plan, c, group.arm_units) for c in comparisons
            )
        else:
            rows.append(_single_arm_row(group))
    table = _result_columns(items)
    for name in table:  # the placeholder and quantile rows after the comparisons
        table[name].extend([row.get(name) for row in rows])
    order = ("experiment_id", "as_of_date", "segment_name", "segment_value", "metric_name")
    group_keys: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # each group's sort key, once

    def group_key(group: tuple[Any, ...]) -> tuple[Any, ...]:
        memo = (group, tuple(map(type, group)))  # 1 and 1.0 are equal keys but sort apart
        key = group_keys.get(memo)
        if key is None:
            key = group_keys[memo] = tuple(map(_sort_key, group))
        return key

    keys = [
        (*group_key(group), _sort_key(variant))
        for group, variant in zip(
            zip(*(table[c] for c in order), strict=True), table["variant"], strict=True
        )
    ]
    ranked = sorted(range(len(keys)), key=keys.__getitem__)
    if len(ranked) > 1 and ranked != list(range(len(ranked))):
        take = operator.itemgetter(*ranked)  # one C-level gather per column
        for name, values in table.items():
            table[name] = list(take(values))

    family = list(zip(*(table[c] for c in order[:-1]), strict=True))
    table["p_value_holm"], table["p_value_bh"] = _adjusted_within(table["p_value"], family)
    role_family = list(zip(family, table["metric_role"], strict=True))
    table["p_value_role_holm"], table["p_value_role_bh"] = _adjusted_within(
        table["p_value"], role_family
    )
    table["comparison_verdict"] = [
        None
        if variant is None
        else comparison_verdict(effect, p_value, float(alpha), higher_is_better)
        for variant, effect, p_value, alpha, higher_is_better in zip(
            table["variant"],
            table["absolute_effect"],
            table["p_value_role_holm"],
            table["alpha"],
            table["higher_is_better"],
            strict=True,
        )
    ]
    return table


def _adjusted_within(
    p_values: Sequence[float | None], family_of: Sequence[Any]
) -> tuple[list[float | None], list[float | None]]:
    """Holm and Benjamini-Hochberg adjusted ``p_values`` within each family (``family_of[i]``
    is p-value ``i``'s)."""
    families: dict[Any, list[int]] = defaultdict(list)
    for i, family in enumerate(family_of):
        families[family].append(i)
    adjusted_holm: list[float | None] = [None] * len(p_values)
    adjusted_bh: list[float | None] = [None] * len(p_values)
    for members in families.values():
        within = [p_values[i] for i in members]
        for i, p_holm, p_bh in zip(members, holm(within), benjamini_hochberg(within), strict=True):
            adjusted_holm[i], adjusted_bh[i] = p_holm, p_bh
    return adjusted_holm, adjusted_bh


def _prior_for(plan: Row, experiment_id: Any, metric_rows: Sequence[dict[str, Any]]) -> NormalPrior:
    """The prior of ``experiment_id``'s relative effect on a metric: the configured fixed prior,
    or empirical Bayes from the metric's other experiments (their overall comparisons)."""
    if plan.get("bayes_prior_sd") is not None:
        return fixed_prior(
            float(plan.get("bayes_prior_mean") or 0.0), float(plan["bayes_prior_sd"])
        )
    others = [
        row
        for row in metric_rows
        if row["experiment_id"] != experiment_id
        and row["segment_name"] == "all"
        and row["variant"] is not None
        and _positive_control(row)
    ]
    return empirical_bayes_prior(
        [row["relative_effect"] for row in others], [row.get("relative_se") for row in others]
    )


def _positive_control(row: Mapping[str, Any]) -> bool:
    """Whether a comparison's CUPED relative effect ``m_t/m_c - 1`` has the sign of its effect:
    only over a positive adjusted control mean. Over a negative one (a margin, a net change)
    the relative effect is positive when the metric went down, so a read-out or a prior of
    relative effects in the metric's direction would point the wrong way."""
    control_mean = row.get("control_mean_adjusted")
    return control_mean is not None and control_mean > 0.0


def _add_bayes_readouts(rows: list[dict[str, Any]], plans: Mapping[tuple[Any, Any], Row]) -> None:
    """Fill each comparison's Bayesian read-out (:func:`cuped_stats.bayes.bayes_readout`) of the
    CUPED relative effect, with the prior of :func:`_prior_for` (left out of the experiment's
    own estimate: the prior of an experiment never contains its own data). A comparison whose
    adjusted control mean is not positive gets none (:func:`_positive_control`): its figures
    stay null, as for a comparison without a relative effect."""
    by_metric: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_metric[row["metric_name"]].append(row)
    priors: dict[tuple[Any, Any], NormalPrior] = {}
    texts: dict[tuple[Any, Any], str] = {}  # each prior's JSON, once
    for row in rows:
        if row["variant"] is None:
            continue
        key = (row["experiment_id"], row["metric_name"])
        if key not in priors:
            priors[key] = _prior_for(plans[key], key[0], by_metric[key[1]])
            texts[key] = priors[key].to_json()
        readout = bayes_readout(
            row["relative_effect"] if _positive_control(row) else None,
            row.get("relative_se"),
            priors[key],
            higher_is_better=bool(row["higher_is_better"]),
            alpha=float(row["alpha"]),
        )
        row.update(
            chance_to_win=readout.chance_to_win,
            bayes_relative_ci_lower=readout.ci_lower,
            bayes_relative_ci_upper=readout.ci_upper,
            expected_loss=readout.expected_loss,
            prior=texts[key],
        )


def _group_context(key: tuple[Any, ...]) -> str:
    """How messages name one experiment x segment x metric (x day) group."""
    experiment_id, segment_name, segment_value, metric_name, as_of_date = key
    return (
        f"experiment {experiment_id!r}, metric {metric_name!r}, "
        f"segment {segment_name!r}={segment_value!r}"
        + ("" if as_of_date is None else f", as of {as_of_date}")
    )


_QUANTILE_ARM_FIELDS = tuple(f for f in QuantileArm.__dataclass_fields__ if f != "variant")


def _analyse_quantile_group(
    key: tuple[Any, ...], plan: dict[str, Any], arm_rows: list[Row]
) -> list[dict[str, Any]]:
    """The result rows of one experiment x segment x quantile metric: one per treatment
    variant, or one ``single_arm`` placeholder."""
    context = _group_context(key)
    arms = []
    for row in arm_rows:
        values = {f: row.get(f) for f in _QUANTILE_ARM_FIELDS}
        for f, value in values.items():
            if isinstance(value, float) and math.isnan(value):
                values[f] = None
        arms.append(QuantileArm(variant=str(row["variant"]), **values))
    level = str(plan["quantile_level"])
    try:
        comparisons = analyze_quantile(
            arms,
            str(plan["control_variant"]),
            quantile=float(plan["quantile"]),
            level=level,
            alpha=float(plan["alpha"]),
            relative_ci_method=plan["relative_ci_method"],
        )
    except ValueError as error:
        raise ValueError(f"{context}: {error}") from error
    by_variant = {arm.variant: arm for arm in arms}
    if not comparisons:
        variants = ", ".join(sorted(by_variant))
        reason = f"only one variant has units ({variants}): there is nothing to compare"
        control = by_variant.get(str(plan["control_variant"]))
        row = _placeholder_row(key, plan, [], "single_arm", reason)
        if control is not None:
            row["n_control"] = control.n_values if level == "unit" else control.n_units
            row["n_control_missing"] = control.n_units - row["n_control"] if level == "unit" else 0
        return [row]
    return _result_rows(
        [_ResultItem(key, plan, _QuantileAsComparison(c, plan), {}) for c in comparisons]
    )


class _QuantileAsComparison:
    """A :class:`QuantileComparison` in the shape of a CUPED comparison for :func:`_result_rows`:
    its estimate is both the adjusted and the unadjusted one (no CUPED), no covariates, and the
    arms' counts are their units with a value (level ``unit``) or their units (``event``)."""

    def __init__(self, comparison: QuantileComparison, plan: Row) -> None:
        self.cuped = self.unadjusted = comparison.estimate
        self.variant = comparison.variant
        self.control_variant = comparison.control_variant
        self.metric_type = "quantile"
        self.alpha = comparison.alpha
        self.theta_method = plan["theta_method"]
        self.relative_ci_method = comparison.relative_ci_method
        self.variance_reduction = None
        self.theta: tuple[float, ...] = ()
        self.covariates: tuple[str, ...] = ()
        self.covariates_dropped: tuple[tuple[str, str], ...] = ()
        self.status, self.status_reason = comparison.status, comparison.status_reason
        unit_level = comparison.level == "unit"
        self.n_control = comparison.n_values_control if unit_level else comparison.n_control
        self.n_variant = comparison.n_values_variant if unit_level else comparison.n_variant
        # unit level with `missing: exclude`: the units without a value
        self.missing = {
            comparison.control_variant: comparison.n_control - self.n_control,
            comparison.variant: comparison.n_variant - self.n_variant,
        }


def _is_indicator_of(name: str, attribute: str) -> bool:
    """Whether variable ``name`` is an indicator ``<attribute>[<level>]`` of a categorical
    unit attribute (the SQL layer's names, macros/sql/cuped__categorical.sql)."""
    return name.startswith(attribute + "[") and name.endswith("]")


def _design_variables(
    arms: list[ArmMoments], plan: Row
) -> tuple[list[ArmMoments], tuple[str, ...]]:
    """The arms with the indicators of the strata columns that are not the metric's covariates
    left out unless the experiment is stratified on them (plan ``strata_only_attributes``, a JSON
    list), and the indicators of the experiment's own strata column (plan ``strata_attribute``),
    passed to the core as ``strata``. Both plan columns are optional."""
    stratum = plan.get("strata_attribute")
    stratum = None if stratum is None or stratum != stratum else str(stratum)  # NaN: null
    raw = plan.get("strata_only_attributes")
    others = [] if raw is None or raw != raw else json.loads(str(raw))
    others = [attribute for attribute in others if attribute != stratum]
    names = arms[0].names if arms else ()
    if others:
        keep = [n for n in names if not any(_is_indicator_of(n, a) for a in others)]
        if len(keep) != len(names):
            arms = [arm.select(keep) for arm in arms]
            names = tuple(keep)
    if stratum is None:
        return arms, ()
    # a single stratum (one level after pooling) has no indicator: nothing to adjust for
    return arms, tuple(n for n in names if _is_indicator_of(n, stratum))


class _Group(NamedTuple):
    """One experiment x segment x metric (x day) ready for analysis: its key, plan row, the
    analysis request (its arms) and every analysed unit of each arm."""

    key: tuple[Any, ...]
    plan: dict[str, Any]
    context: str
    request: MetricRequest
    arm_units: dict[str, int]


def _prepare_group(
    key: tuple[Any, ...],
    plan: dict[str, Any],
    group: GroupArms,
    arms_cache: dict[tuple[Any, ...], list[ArmMoments]] | None = None,
) -> _Group:
    """The arms of one experiment x segment x metric (x day), checked, and its request.
    ``group``: its arms and every analysed unit of each arm (`n_arm`; `n` counts those the
    metric is analysed on), from :func:`cuped_stats.moment_arms.arms_by_group`."""
    context = _group_context(key)
    arms, arm_units = group
    if arms_cache is not None and key[4] is None:
        arms_cache[key[:4]] = arms
    outcome = OUTCOME_VARIABLES[plan["metric_type"]]
    for arm in arms:
        if arm.names[: len(outcome)] != outcome or arm.names != arms[0].names:
            raise ValueError(
                f"{context}: variant {arm.variant!r} has variables {arm.names}; a "
                f"{plan['metric_type']} metric needs {outcome} first and the same variables "
                f"in every variant (variant {arms[0].variant!r}: {arms[0].names})"
            )
    arms, strata = _design_variables(arms, plan)
    request = MetricRequest(
        arms,
        str(plan["control_variant"]),
        metric_type=plan["metric_type"],
        alpha=float(plan["alpha"]),
        theta_method=plan["theta_method"],
        relative_ci_method=plan["relative_ci_method"],
        strata=tuple(strata),
    )
    return _Group(key, plan, context, request, arm_units)


def _single_arm_row(group: _Group) -> dict[str, Any]:
    """The ``single_arm`` placeholder row of an analysed group with nothing to compare."""
    arms = group.request.arms
    variants = ", ".join(sorted(arm.variant for arm in arms))
    reason = f"only one variant has units ({variants}): there is nothing to compare"
    return _placeholder_row(group.key, group.plan, arms, "single_arm", reason, group.arm_units)


def health_table(count_rows: Iterable[Row]) -> dict[str, np.ndarray]:
    """:func:`health_rows` as columns (HEALTH_COLUMNS)."""
    return _columns(health_rows(count_rows), HEALTH_COLUMNS)


def health_rows(count_rows: Iterable[Row]) -> list[dict[str, Any]]:
    """One row per experiment x segment x variant with its SRM test (keys: HEALTH_COLUMNS).

    The SRM statistics of an experiment x segment (:func:`cuped_stats.srm.sample_ratio_mismatch`)
    repeat on each of its variant rows. ``expected_weight`` ``None`` on every variant of an
    experiment x segment means equal shares over the variants present.

    Raises:
        ValueError: for duplicate variants, negative counts or inconsistent weights, naming the
            experiment and segment.
    """
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in count_rows:
        groups[(row["experiment_id"], row["segment_name"], row["segment_value"])].append(row)
    rows: list[dict[str, Any]] = []
    for key in sorted(groups, key=lambda k: tuple(map(_sort_key, k))):
        experiment_id, segment_name, segment_value = key
        where = f"experiment {experiment_id!r}, segment {segment_name!r}={segment_value!r}"
        members = sorted(groups[key], key=lambda r: str(r["variant"]))
        variants = [str(r["variant"]) for r in members]
        if len(set(variants)) != len(variants):
            raise ValueError(f"{where}: duplicate variants in arm counts: {variants}")
        counts = [r["n_units"] for r in members]
        weights = [r["expected_weight"] for r in members]
        weights = [
            None if w is None or (isinstance(w, float) and math.isnan(w)) else w for w in weights
        ]
        try:
            shares = expected_shares(weights)
            srm = sample_ratio_mismatch(counts, weights)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error
        for row, share in zip(members, shares, strict=True):
            rows.append(
                {
                    "experiment_id": experiment_id,
                    "segment_name": segment_name,
                    "segment_value": segment_value,
                    "variant": row["variant"],
                    "n_units": int(row["n_units"]),
                    "expected_share": share,
                    "srm_chi2": srm.chi2,
                    "srm_df": srm.df,
                    "srm_p_value": srm.p_value,
                    "srm_flag": srm.flag,
                    "srm_status": srm.status,
                }
            )
    return rows


#: Column name → dtype of :func:`balance_table`, in output order.
BALANCE_COLUMNS: dict[str, type] = {
    "experiment_id": _TEXT,
    "segment_name": _TEXT,
    "segment_value": _TEXT,
    "metric_name": _TEXT,
    "covariate": _TEXT,
    "variant": _TEXT,
    "control_variant": _TEXT,
    "n_control": _INT,
    "n_variant": _INT,
    "control_mean": _FLOAT,
    "variant_mean": _FLOAT,
    "standardized_difference": _FLOAT,
    "balance_chi2": _FLOAT,
    "balance_df": _INT,
    "balance_p_value": _FLOAT,
    "imbalance_flag": _BOOL,
    "status": _TEXT,
    "status_reason": _TEXT,
    "package_version": _TEXT,
}


def balance_table(moment_rows: Moments, plan_rows: Iterable[Row]) -> dict[str, np.ndarray]:
    """:func:`balance_rows` as columns (BALANCE_COLUMNS)."""
    return _columns(balance_rows(moment_rows, plan_rows), BALANCE_COLUMNS)


def balance_rows(
    moment_rows: Moments,
    plan_rows: Iterable[Row],
    *,
    arms_cache: dict[tuple[Any, ...], list[ArmMoments]] | None = None,
) -> list[dict[str, Any]]:
    """One row per experiment x segment x metric x covariate x treatment variant (keys:
    BALANCE_COLUMNS).

    Every covariate variable of the moments (each variable but the outcomes, ratio parts
    included as they are) is tested for equal means across all arms and compared, treatment vs
    control, by its standardized difference (:func:`cuped_stats.balance.covariate_balance`). The
    plan supplies each experiment's control variant. Rows are sorted by experiment, segment name,
    segment value, metric, then covariate in variable order and variant.

    ``arms_cache``: the arms :func:`results_rows` read from the same moment rows (its
    ``arms_cache``); a group it lacks is read here.

    Raises:
        ValueError: for moments without a plan row, a plan row without a control variant, or
            incomplete moments; the message names experiment and metric.
    """
    controls: dict[tuple[Any, Any], str] = {}
    for row in plan_rows:
        if not row.get("control_variant"):
            raise ValueError(
                f"experiment {row.get('experiment_id')!r}, metric {row.get('metric_name')!r}: "
                "analysis plan row without a control_variant"
            )
        controls[(row["experiment_id"], row["metric_name"])] = str(row["control_variant"])

    columns = moment_columns(moment_rows)
    keys = sorted(
        {key[:4] for key in group_keys(columns, daily=False)},
        key=lambda k: tuple(map(_sort_key, k)),
    )
    for key in keys:
        if (key[0], key[3]) not in controls:
            raise ValueError(
                f"{_group_context((*key, None))}: moments without an analysis plan row"
            )
    groups = dict(arms_cache or {})
    if any(key not in groups for key in keys):  # read here what results_rows did not
        read = arms_by_group(columns, daily=False, context=_group_context)
        groups.update({key[:4]: arms for key, (arms, _) in read.items() if key[:4] not in groups})

    rows: list[dict[str, Any]] = []
    for key in keys:
        experiment_id, segment_name, segment_value, metric_name = key
        context = _group_context((*key, None))
        arms = groups[key]
        try:
            balances = covariate_balance(arms, controls[(experiment_id, metric_name)])
        except ValueError as error:
            raise ValueError(f"{context}: {error}") from error
        rows.extend(
            {
                "experiment_id": experiment_id,
                "segment_name": segment_name,
                "segment_value": segment_value,
                "metric_name": metric_name,
                "covariate": balance.covariate,
                "variant": balance.variant,
                "control_variant": balance.control_variant,
                "n_control": balance.n_control,
                "n_variant": balance.n_variant,
                "control_mean": balance.control_mean,
                "variant_mean": balance.variant_mean,
                "standardized_difference": balance.standardized_difference,
                "balance_chi2": balance.test.chi2,
                "balance_df": balance.test.df,
                "balance_p_value": balance.test.p_value,
                "imbalance_flag": balance.test.flag,
                "status": balance.status,
                "status_reason": balance.status_reason,
                "package_version": __version__,
            }
            for balance in balances
        )
    return rows


#: Column name → dtype of :func:`power_table`, in output order.
POWER_COLUMNS: dict[str, type] = {
    "experiment_id": _TEXT,
    "metric_name": _TEXT,
    "metric_type": _TEXT,
    "variant": _TEXT,
    "control_variant": _TEXT,
    "n_control": _INT,
    "n_variant": _INT,
    "units_per_day": _FLOAT,
    "control_mean": _FLOAT,
    "alpha": _FLOAT,
    "power": _FLOAT,
    "mde_absolute": _FLOAT,
    "mde_relative": _FLOAT,
    "mde_absolute_unadjusted": _FLOAT,
    "mde_relative_unadjusted": _FLOAT,
    "target_relative_mde": _FLOAT,
    "units_needed": _FLOAT,  # a whole number, or missing
    "units_needed_unadjusted": _FLOAT,  # a whole number, or missing
    "days_needed": _FLOAT,  # a whole number, or missing
    "days_needed_unadjusted": _FLOAT,  # a whole number, or missing
    "pre_period_variance": _FLOAT,
    "history_correlation": _FLOAT,
    "planned_units_for_target": _FLOAT,  # a whole number, or missing
    "planned_units_for_target_unadjusted": _FLOAT,  # a whole number, or missing
    "status": _TEXT,
    "package_version": _TEXT,
}


def _units_for_target(n_total: int, mde: float | None, target: float | None) -> int | None:
    """Units that shrink ``mde`` to ``target`` at the same allocation: SE ∝ 1/√N, so
    ``N' = N·(mde/target)²``."""
    if mde is None or target is None or not target > 0 or n_total < 2:
        return None
    return max(4, math.ceil(n_total * (mde / target) ** 2))


def _history(moment_rows: Moments) -> dict[tuple[Any, Any], tuple[float, float, float]]:
    """Per (experiment, metric), over the overall segment's arms: the mean and pooled within-arm
    variance of the metric's pre-period value, and its pooled within-arm correlation with the
    post-period value."""
    sums: dict[tuple[Any, Any], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    names = {("@y", "@y"): "yy", ("@y", "pre_period"): "xy", ("pre_period", "pre_period"): "xx"}
    columns = moment_columns(moment_rows)
    wanted = ("experiment_id", "metric_name", "segment_name", "variable_1", "variable_2", "n")
    rows = zip(*(columns.get(c, ()) for c in (*wanted, "covariance", "mean_1")), strict=True)
    for experiment_id, metric_name, segment, variable_1, variable_2, n, covariance, mean in rows:
        name = names.get((variable_1, variable_2))
        if name is None or segment != "all" or n < 2:
            continue
        key = (experiment_id, metric_name)
        sums[key][name] += (n - 1) * covariance
        if name == "xx":
            sums[key]["dof"] += n - 1
            sums[key]["n"] += n
            sums[key]["x"] += n * mean
    history = {}
    for key, s in sums.items():
        if s["dof"] > 0 and s["xx"] > 0 and s["yy"] > 0:
            correlation = s["xy"] / math.sqrt(s["xx"] * s["yy"])
            history[key] = (s["x"] / s["n"], s["xx"] / s["dof"], correlation)
    return history


def power_table(
    result_rows: Iterable[Row], moment_rows: Moments, plan_rows: Iterable[Row]
) -> dict[str, np.ndarray]:
    """:func:`power_rows` as columns (POWER_COLUMNS)."""
    return _columns(power_rows(result_rows, moment_rows, plan_rows), POWER_COLUMNS)


def power_rows(
    result_rows: Iterable[Row], moment_rows: Moments, plan_rows: Iterable[Row]
) -> list[dict[str, Any]]:
    """Minimum detectable effects and sample sizes per experiment x metric x treatment variant
    (overall segment; keys: POWER_COLUMNS).

    - At the current sample: ``MDE = (z_{1−α/2} + z_{power})·SE`` with the CUPED and with the
      unadjusted SE of ``cuped_results`` (:func:`cuped_stats.power.mde_from_se`).
    - For the plan's ``target_relative_mde``: the units (control + variant, same allocation)
      that bring the MDE down to it, ``N·(MDE/target)²``, and the days at the arrival rate
      observed so far (``units_per_day`` of the two arms).
    - For a future experiment on the metric, analysed over a window as long as the pre-period:
      the units needed with and without CUPED from the metric's pre-period mean and variance and
      its correlation with its own history (:func:`cuped_stats.power.plan_sample_size`), all
      measured here before any treatment could act on them (except the correlation).

    Plan rows carry ``power``, ``target_relative_mde`` and ``assignment_days`` (days over which
    the experiment's units arrived).
    """
    plans = {(r["experiment_id"], r["metric_name"]): r for r in plan_rows}
    history = _history(moment_rows)
    rows = []
    for result in result_rows:
        if result["segment_name"] != "all" or result["variant"] is None:
            continue
        key = (result["experiment_id"], result["metric_name"])
        plan = plans[key]
        alpha, power = float(result["alpha"]), float(plan["power"])
        target_relative = plan["target_relative_mde"]
        control_mean = result["control_mean"]
        n_total = int(result["n_control"]) + int(result["n_variant"])
        days = plan["assignment_days"]
        rate = n_total / days if days else None
        cuped = mde_from_se(
            result["absolute_effect_se"], alpha=alpha, power=power, baseline_mean=control_mean
        )
        raw = mde_from_se(
            result["unadjusted_se"], alpha=alpha, power=power, baseline_mean=control_mean
        )
        target = None
        if target_relative is not None and control_mean is not None and control_mean != 0:
            target = float(target_relative) * abs(float(control_mean))
        needed = _units_for_target(n_total, cuped.mde, target)
        needed_raw = _units_for_target(n_total, raw.mde, target)
        pre_mean, variance, correlation = history.get(key, (None, None, None))
        planned = planned_raw = None
        if variance is not None and target_relative is not None and pre_mean:
            plan_result = plan_sample_size(
                variance,
                correlation,
                relative_mde=float(target_relative),
                baseline_mean=float(pre_mean),
                alpha=alpha,
                power=power,
            )
            planned, planned_raw = plan_result.cuped.n_total, plan_result.unadjusted.n_total
        rows.append(
            {
                "experiment_id": result["experiment_id"],
                "metric_name": result["metric_name"],
                "metric_type": result["metric_type"],
                "variant": result["variant"],
                "control_variant": result["control_variant"],
                "n_control": int(result["n_control"]),
                "n_variant": int(result["n_variant"]),
                "units_per_day": rate,
                "control_mean": control_mean,
                "alpha": alpha,
                "power": power,
                "mde_absolute": cuped.mde,
                "mde_relative": cuped.relative_mde,
                "mde_absolute_unadjusted": raw.mde,
                "mde_relative_unadjusted": raw.relative_mde,
                "target_relative_mde": target_relative,
                "units_needed": needed,
                "units_needed_unadjusted": needed_raw,
                "days_needed": days_needed(needed, rate),
                "days_needed_unadjusted": days_needed(needed_raw, rate),
                "pre_period_variance": variance,
                "history_correlation": correlation,
                "planned_units_for_target": planned,
                "planned_units_for_target_unadjusted": planned_raw,
                "status": cuped.status,
                "package_version": __version__,
            }
        )
    rows.sort(
        key=lambda r: tuple(_sort_key(r[c]) for c in ("experiment_id", "metric_name", "variant"))
    )
    return rows


#: Column name → dtype of :func:`decisions_rows`, in output order: the columns of
#: :data:`cuped_stats.decisions.DECISION_COLUMNS`, then the package version.
DECISIONS_COLUMNS: dict[str, type] = {
    **{
        name: _TEXT
        for name in ("experiment_id", "variant", "control_variant", "decision", "reasons")
    },
    "inference": _TEXT,
    "alpha": _FLOAT,
    "n_units": _INT,
    "planned_units": _INT,
    "srm_flag": _BOOL,
    "control_present": _BOOL,
    **{
        name: _INT
        for name in DECISION_COLUMNS
        if name.startswith(("n_", "primaries_", "guardrails_")) and name != "n_units"
    },
    "package_version": _TEXT,
}


def decisions_rows(
    result_rows: Iterable[Row], health_rows: Iterable[Row], plan_rows: Iterable[Row]
) -> list[dict[str, Any]]:
    """One recommendation per experiment × treatment variant (keys: DECISIONS_COLUMNS), by
    :func:`cuped_stats.decisions.decide` (``inference="auto"``) on the overall segment's result
    rows (with their ``metric_role`` and margin), each experiment's overall health rows (units
    per variant, SRM flag) and its plan (control variant, ``planned_units``). An experiment of the
    plan without health rows (no analysed unit) gets one ``unhealthy`` row with a null variant.

    Raises:
        ValueError: from :func:`decide` or :meth:`MetricResult.from_row`, naming the experiment.
    """
    plans: dict[Any, Row] = {}
    guardrails: dict[Any, list[str]] = defaultdict(list)
    for row in plan_rows:
        plans.setdefault(row["experiment_id"], row)
        if row.get("metric_role") == "guardrail":
            guardrails[row["experiment_id"]].append(str(row["metric_name"]))
    health: dict[Any, list[Row]] = defaultdict(list)
    for row in health_rows:
        if row["segment_name"] == "all" and row["segment_value"] == "all":
            health[row["experiment_id"]].append(row)
    contexts = []
    for experiment_id, plan in plans.items():
        planned = plan.get("planned_units")
        planned = DEFAULT_PLANNED_N if planned is None else int(planned)
        control = str(plan["control_variant"])
        if health.get(experiment_id):
            contexts.append(
                ExperimentContext.from_health_rows(
                    health[experiment_id],
                    control_variant=control,
                    planned_units=planned,
                    guardrails=tuple(guardrails[experiment_id]),
                )
            )
        else:
            contexts.append(
                ExperimentContext(
                    experiment_id=str(experiment_id),
                    control_variant=control,
                    variant_units=(),
                    srm_flag=False,
                    planned_units=planned,
                    guardrails=tuple(guardrails[experiment_id]),
                )
            )
    results = [
        MetricResult.from_row(row)
        for row in result_rows
        if row["segment_name"] == "all" and row["segment_value"] == "all"
    ]
    return [
        {**decision_row(decision), "package_version": __version__}
        for decision in decide(results, contexts)
    ]


#: The kinds of rows of :func:`statistics_table`, each split into its own public table by dbt.
STATISTICS_KINDS: dict[str, dict[str, type]] = {
    "results": RESULTS_COLUMNS,
    "results_daily": {**RESULTS_COLUMNS, "as_of_date": _DATE},
    "health": HEALTH_COLUMNS,
    "balance": BALANCE_COLUMNS,
    "power": POWER_COLUMNS,
    "decisions": DECISIONS_COLUMNS,
}


def _union_columns(kinds: Mapping[str, Mapping[str, type]]) -> dict[str, type]:
    union: dict[str, type] = {"table_name": _TEXT}
    for kind, spec in kinds.items():
        for name, dtype in spec.items():
            if union.setdefault(name, dtype) is not dtype:
                raise TypeError(f"column {name!r} of {kind!r} is {dtype}, elsewhere {union[name]}")
    return union


#: Column name → dtype of :func:`statistics_table`: ``table_name``, then every column of every
#: kind (a name means the same and has the same type in every kind that has it).
STATISTICS_COLUMNS: dict[str, type] = _union_columns(STATISTICS_KINDS)


def statistics_rows(
    *,
    moment_rows: Moments,
    plan_rows: Iterable[Row],
    count_rows: Iterable[Row],
    daily_moment_rows: Moments = (),
    quantile_rows: Iterable[Row] = (),
) -> list[dict[str, Any]]:
    """Every statistic of the package as rows of one table (keys: STATISTICS_COLUMNS), so that
    one Python step serves every public table: ``table_name`` says which (a key of
    STATISTICS_KINDS); a row has only its kind's columns (the others are null).

    - ``results``: :func:`results_rows` of the moments, the quantile metrics' arm inputs and
      the analysis plan;
    - ``results_daily``: the same for the moments as of each day (``as_of_date``);
    - ``health``: :func:`health_rows` of the arm counts;
    - ``balance``: :func:`balance_rows`;
    - ``power``: :func:`power_rows` of the results;
    - ``decisions``: :func:`decisions_rows` of the results, health and plan.

    The moments may be rows or columns (:func:`cuped_stats.io.read_columns`).
    """
    kinds = _statistics_kinds(moment_rows, plan_rows, count_rows, daily_moment_rows, quantile_rows)
    return [
        {"table_name": kind, **{name: row[name] for name in STATISTICS_KINDS[kind]}}
        for kind, kind_rows in kinds.items()
        for row in (rows_of_columns(kind_rows) if isinstance(kind_rows, dict) else kind_rows)
    ]


def statistics_columns(
    *,
    moment_rows: Moments,
    plan_rows: Iterable[Row],
    count_rows: Iterable[Row],
    daily_moment_rows: Moments = (),
    quantile_rows: Iterable[Row] = (),
) -> dict[str, list[Any]]:
    """:func:`statistics_rows` as columns (STATISTICS_COLUMNS → values, the rows in the same
    order), built a kind at a time: the columns a kind lacks are nulls without a row to look
    them up in (most of the table: each kind has a fraction of the columns)."""
    kinds = _statistics_kinds(moment_rows, plan_rows, count_rows, daily_moment_rows, quantile_rows)
    columns: dict[str, list[Any]] = {name: [] for name in STATISTICS_COLUMNS}
    for kind, rows in kinds.items():
        names = list(STATISTICS_KINDS[kind])  # more than one: itemgetter gives tuples
        values: Mapping[str, Sequence[Any]]
        if isinstance(rows, dict):  # a kind given as columns
            values, n_rows = rows, len(rows[names[0]])
        else:
            # one C-level lookup of every column per row, then the rows transposed
            tuples = list(map(operator.itemgetter(*names), rows))
            values = dict(zip(names, zip(*tuples, strict=True), strict=True)) if tuples else {}
            n_rows = len(rows)
        for name, column in columns.items():
            if name == "table_name":
                column.extend([kind] * n_rows)
            elif name in STATISTICS_KINDS[kind] and n_rows:
                column.extend(values[name])
            else:
                column.extend([None] * n_rows)
    return columns


def _statistics_kinds(
    moment_rows: Moments,
    plan_rows: Iterable[Row],
    count_rows: Iterable[Row],
    daily_moment_rows: Moments,
    quantile_rows: Iterable[Row],
) -> dict[str, list[dict[str, Any]] | dict[str, list[Any]]]:
    """Each kind's rows (a key of STATISTICS_KINDS → its rows, or its columns), in the
    table's order."""
    moments, plans = moment_columns(moment_rows), list(plan_rows)
    # each group's arms, read from its moment rows once for the results and the balance checks
    arms_cache: dict[tuple[Any, ...], list[ArmMoments]] = {}
    results = results_rows(moments, plans, quantile_rows=quantile_rows, arms_cache=arms_cache)
    health = health_rows(count_rows)
    return {
        "results": results,
        # as columns: thousands of rows with the daily series, none of them read as a row
        "results_daily": _results_columns(
            moment_columns(daily_moment_rows),
            _checked_plans(plans),
            daily=True,
            quantile_rows=(),
            arms_cache=None,
        ),
        "health": health,
        "balance": balance_rows(moments, plans, arms_cache=arms_cache),
        "power": power_rows(results, moments, plans),
        "decisions": decisions_rows(results, health, plans),
    }
