"""Roles in the row-level glue: the analysis plan's metric_role and margin flow into the result
rows (role families, guardrail non-inferiority) and into the decision rows."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.weightstats import ttest_ind

from cuped_stats.decisions import (
    DECISION_COLUMNS,
    ExperimentContext,
    MetricResult,
    decide,
    role_family_p_values,
)
from cuped_stats.tables import decisions_rows, health_rows, results_rows, statistics_rows
from tests.helpers import moment_rows

ALPHA = 0.05


def _plan(experiment: str, metric: str, **extra) -> dict:
    return {
        "experiment_id": experiment,
        "metric_name": metric,
        "metric_type": "mean",
        "control_variant": "control",
        "alpha": ALPHA,
        "theta_method": "within",
        "higher_is_better": True,
        "planned_units": 1000,
        "power": 0.8,
        "target_relative_mde": 0.05,
        "assignment_days": 10,
        **extra,
    }


@pytest.fixture(scope="module")
def data() -> dict:
    rng = np.random.default_rng(12)
    units: dict = {}
    for variant, n, lift in (("control", 400, 0.0), ("b", 420, 0.5), ("c", 390, 0.0)):
        pre = rng.gamma(2.0, 2.0, n)
        units[variant] = {
            "revenue": {"@y": 2.0 + lift + 0.8 * pre + rng.normal(0, 2, n), "pre_period": pre},
            # no covariates: the CUPED estimate is the Welch comparison of the raw values
            "latency": {"@y": 100.0 + 3.0 * lift + rng.normal(0, 5, n)},
            "clicks": {"@y": 5.0 + rng.normal(0, 1, n)},
        }
    moments = [
        row
        for experiment in ("e1", "e2")
        for variant, metrics in units.items()
        for metric, columns in metrics.items()
        for row in moment_rows(experiment, metric, variant, columns)
    ]
    plans = [
        _plan("e1", "revenue", metric_role="primary"),
        _plan(
            "e1",
            "latency",
            metric_role="guardrail",
            higher_is_better=False,
            non_inferiority_margin=1.0,
            non_inferiority_margin_kind="absolute",
        ),
        _plan("e1", "clicks", metric_role="secondary"),
        # e2: a plan without role columns, as before experiment_settings
        *(_plan("e2", metric) for metric in ("revenue", "latency", "clicks")),
    ]
    counts = [
        {
            "experiment_id": experiment,
            "segment_name": "all",
            "segment_value": "all",
            "variant": variant,
            "n_units": len(metrics["revenue"]["@y"]),
            "expected_weight": None,
        }
        for experiment in ("e1", "e2")
        for variant, metrics in units.items()
    ]
    return {"units": units, "moments": moments, "plans": plans, "counts": counts}


def test_roles_and_margins_reach_the_result_rows(data) -> None:
    rows = results_rows(data["moments"], data["plans"])
    roles = {(r["experiment_id"], r["metric_name"]): r["metric_role"] for r in rows}
    assert roles[("e1", "revenue")] == "primary" and roles[("e1", "latency")] == "guardrail"
    assert {roles[("e2", m)] for m in ("revenue", "latency", "clicks")} == {"secondary"}
    for row in rows:
        if row["metric_role"] == "guardrail":
            assert (row["non_inferiority_margin"], row["non_inferiority_margin_kind"]) == (
                1.0,
                "absolute",
            )
        else:
            assert row["non_inferiority_margin"] is None
            assert row["non_inferiority_p_value"] is None and row["non_inferiority_bound"] is None


def test_role_family_p_values_are_the_decision_modules(data) -> None:
    rows = results_rows(data["moments"], data["plans"])
    expected = role_family_p_values(rows)
    for row, (holm, bh) in zip(rows, expected, strict=True):
        assert row["p_value_role_holm"] == pytest.approx(holm, rel=1e-15)
        assert row["p_value_role_bh"] == pytest.approx(bh, rel=1e-15)
    # without roles the family is the experiment and segment, as p_value_holm's
    for row in rows:
        if row["experiment_id"] == "e2":
            assert row["p_value_role_holm"] == pytest.approx(row["p_value_holm"], rel=1e-15)


def test_guardrail_non_inferiority_equals_statsmodels_on_unit_data(data) -> None:
    """Lower is better, absolute margin 1: H0 Δ ≥ 1 against H1 Δ < 1, Welch."""
    rows = results_rows(data["moments"], data["plans"])
    control = data["units"]["control"]["latency"]["@y"]
    for row in rows:
        if row["experiment_id"] != "e1" or row["metric_name"] != "latency":
            continue
        treated = data["units"][row["variant"]]["latency"]["@y"]
        _, p, _ = ttest_ind(treated, control, alternative="smaller", usevar="unequal", value=1.0)
        assert row["non_inferiority_p_value"] == pytest.approx(p, rel=1e-9)
        # the bound is the upper (harmful side) one-sided 95% bound of Δ
        _, p_at_bound, _ = ttest_ind(
            treated,
            control,
            alternative="smaller",
            usevar="unequal",
            value=row["non_inferiority_bound"],
        )
        assert p_at_bound == pytest.approx(ALPHA, rel=1e-7)


def test_decision_rows_are_decide_on_the_overall_rows(data) -> None:
    results = results_rows(data["moments"], data["plans"])
    health = health_rows(data["counts"])
    rows = decisions_rows(results, health, data["plans"])
    contexts = [
        ExperimentContext.from_health_rows(
            [h for h in health if h["experiment_id"] == e],
            control_variant="control",
            planned_units=1000,
        )
        for e in ("e1", "e2")
    ]
    expected = decide([MetricResult.from_row(r) for r in results], contexts)
    assert [{k: r[k] for k in DECISION_COLUMNS} for r in rows] == [
        {k: getattr(d, k) for k in DECISION_COLUMNS} for d in expected
    ]
    by_key = {(r["experiment_id"], r["variant"]): r for r in rows}
    assert by_key[("e1", "b")]["n_primary"] == 1 and by_key[("e1", "b")]["n_guardrails"] == 1
    assert by_key[("e2", "b")]["n_secondary"] == 3 and by_key[("e2", "b")]["n_primary"] == 0
    everything = statistics_rows(
        moment_rows=data["moments"], plan_rows=data["plans"], count_rows=data["counts"]
    )
    assert sum(r["table_name"] == "decisions" for r in everything) == len(rows)


def test_an_experiment_without_units_gets_one_unhealthy_row(data) -> None:
    plans = [*data["plans"], _plan("e3", "revenue", metric_role="primary")]
    results = results_rows(data["moments"], plans)
    rows = decisions_rows(results, health_rows(data["counts"]), plans)
    e3 = [r for r in rows if r["experiment_id"] == "e3"]
    assert len(e3) == 1 and e3[0]["variant"] is None and e3[0]["decision"] == "unhealthy"
    # the counts are of comparisons made (models/public/_columns.md): none without units
    assert (e3[0]["n_primary"], e3[0]["n_guardrails"], e3[0]["n_secondary"]) == (0, 0, 0)


def test_a_guardrail_a_variant_cannot_be_compared_on_is_undetermined(data) -> None:
    # e1 lists a variant d without analysed units, and e3 has no unit at all: neither can test
    # e1's or e3's guardrail, so it counts as undetermined (which guardrails_hold with
    # require_non_inferior fails on) and the reasons name it; the comparison counts stay 0.
    counts = [*data["counts"]]
    counts.append({**counts[0], "variant": "d", "n_units": 0})
    plans = [
        *data["plans"],
        _plan("e3", "revenue", metric_role="primary"),
        _plan(
            "e3",
            "latency",
            metric_role="guardrail",
            non_inferiority_margin=1.0,
            non_inferiority_margin_kind="absolute",
        ),
    ]
    results = results_rows(data["moments"], plans)
    rows = decisions_rows(results, health_rows(counts), plans)
    by_key = {(r["experiment_id"], r["variant"]): r for r in rows}
    for key in (("e1", "d"), ("e3", None)):
        row = by_key[key]
        assert row["decision"] == "unhealthy", key
        assert (row["n_guardrails"], row["guardrails_undetermined"]) == (0, 1), key
        assert "latency (guardrail) cannot be tested: no comparison" in row["reasons"], key
    # a variant with units compares its guardrail: nothing is added
    assert by_key[("e1", "b")]["n_guardrails"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"metric_role": "success"}, "unknown metric_role 'success'"),
        ({"metric_role": "guardrail"}, "a guardrail, and only a guardrail, has a"),
        (
            {"metric_role": "secondary", "non_inferiority_margin": 0.1},
            "a guardrail, and only a guardrail, has a",
        ),
        (
            {
                "metric_role": "guardrail",
                "non_inferiority_margin": 0.1,
                "non_inferiority_margin_kind": "percent",
            },
            "unknown margin kind 'percent'",
        ),
    ],
)
def test_invalid_roles_in_the_plan_name_experiment_and_metric(data, extra, message) -> None:
    plans = [_plan("e1", "revenue", **extra)]
    moments = [
        r for r in data["moments"] if (r["experiment_id"], r["metric_name"]) == ("e1", "revenue")
    ]
    with pytest.raises(ValueError, match=message) as error:
        results_rows(moments, plans)
    assert "experiment 'e1', metric 'revenue'" in str(error.value)
