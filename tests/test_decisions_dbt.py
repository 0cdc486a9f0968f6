"""Experiments as configuration and the decision table, through `dbt build`.

- The demo (its checkout experiment has a primary, a guardrail and secondaries): `cuped_decisions`
  equals `cuped_stats.decisions.decide` run on the public `cuped_results` and `cuped_health` rows
  read back from the warehouse; the role-family p-values equal statsmodels' `multipletests`
  within experiment × segment × role; the guardrail's one-sided non-inferiority p-value and bound
  equal scipy's t distribution on the row's own estimate and interval.
- A second build of the demo data with per-experiment overrides: a metric list, no segments, a
  7-day pre-period (checked against OLS on unit data recomputed with 7-day windows), alpha, θ and
  relative-CI overrides, a control that is not in the data, a constructed guardrail breach (the
  shipped `cuped.guardrails_hold` fails the build, `cuped.control_present` warns) and an
  experiment id without assignment rows (warned, named).
"""

from __future__ import annotations

import copy
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml
from scipy import stats
from statsmodels.stats.multitest import multipletests

from cuped_stats.decisions import DECISION_COLUMNS, ExperimentContext, MetricResult, decide
from tests.dbt_runner import REPO, DbtRun, run_dbt
from tests.helpers import estimated_theta_reference
from tests.test_demo_build import SEEDS, _units, _window_sum

DEMO = yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]["cuped"]


def _tables(database) -> dict[str, list[dict]]:
    with duckdb.connect(str(database), read_only=True) as con:
        out = {}
        for name in ("cuped_results", "cuped_health", "cuped_decisions"):
            relation = con.sql(f"select * from {name}")
            columns = relation.columns
            out[name] = [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
        return out


def _none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _decide_from_public_rows(tables: dict[str, list[dict]], planned_units: int) -> list[dict]:
    """decisions.decide on the public tables' overall rows, as a user would call it."""
    overall = [
        r
        for r in tables["cuped_results"]
        if r["segment_name"] == "all" and r["variant"] is not None
    ]
    results = [MetricResult.from_row(r) for r in overall]
    controls = {r["experiment_id"]: r["control_variant"] for r in tables["cuped_results"]}
    health: dict[str, list[dict]] = {}
    for r in tables["cuped_health"]:
        health.setdefault(r["experiment_id"], []).append(r)
    contexts = [
        ExperimentContext.from_health_rows(
            rows, control_variant=controls[experiment_id], planned_units=planned_units
        )
        for experiment_id, rows in health.items()
    ]
    return [
        {name: getattr(d, name) for name in DECISION_COLUMNS}
        for d in decide(results, contexts, inference="auto")
    ]


def _check_decisions_table(tables: dict[str, list[dict]], planned_units: int) -> None:
    expected = _decide_from_public_rows(tables, planned_units)
    got = sorted(tables["cuped_decisions"], key=lambda r: (r["experiment_id"], r["variant"]))
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        for name in DECISION_COLUMNS:
            if name == "alpha":
                assert row[name] == pytest.approx(want[name], rel=1e-12)
            else:
                assert row[name] == want[name], (row["experiment_id"], row["variant"], name)


def _check_role_families(results: list[dict]) -> None:
    """Holm and BH within experiment × segment × role, by statsmodels."""
    frame = pd.DataFrame(results)
    for _, family in frame.groupby(
        ["experiment_id", "segment_name", "segment_value", "metric_role"]
    ):
        tested = family[family["p_value"].notna()]
        if tested.empty:
            continue
        holm = multipletests(tested["p_value"], method="holm")[1]
        bh = multipletests(tested["p_value"], method="fdr_bh")[1]
        np.testing.assert_allclose(tested["p_value_role_holm"], holm, rtol=1e-12)
        np.testing.assert_allclose(tested["p_value_role_bh"], bh, rtol=1e-12)


def _check_non_inferiority(row: dict) -> None:
    """The guardrail's one-sided test from the row's own estimate and CI, with scipy."""
    alpha, df, margin = row["alpha"], row["degrees_of_freedom"], row["non_inferiority_margin"]
    sign = 1.0 if row["higher_is_better"] else -1.0
    q = stats.t.ppf(1 - alpha / 2, df)
    if row["non_inferiority_margin_kind"] == "absolute":
        estimate, se, boundary = row["absolute_effect"], row["absolute_effect_se"], -sign * margin
        t = sign * (estimate - boundary) / se
        bound = estimate - sign * stats.t.ppf(1 - alpha, df) * se
    elif row["relative_ci_method"] == "log":
        lo, hi = math.log1p(row["relative_ci_lower"]), math.log1p(row["relative_ci_upper"])
        se = (hi - lo) / (2 * q)
        estimate, boundary = math.log1p(row["relative_effect"]), math.log1p(-sign * margin)
        t = sign * (estimate - boundary) / se
        bound = math.expm1(estimate - sign * stats.t.ppf(1 - alpha, df) * se)
    else:
        se = (row["relative_ci_upper"] - row["relative_ci_lower"]) / (2 * q)
        estimate, boundary = row["relative_effect"], -sign * margin
        t = sign * (estimate - boundary) / se
        bound = estimate - sign * stats.t.ppf(1 - alpha, df) * se
    assert row["non_inferiority_p_value"] == pytest.approx(stats.t.sf(t, df), rel=1e-9)
    assert row["non_inferiority_bound"] == pytest.approx(bound, rel=1e-9)


# ---------------------------------------------------------------------------------------------
# The demo


@pytest.fixture(scope="module")
def demo_tables(demo_build: DbtRun) -> dict[str, list[dict]]:
    return _tables(demo_build.database)


def test_demo_roles_are_the_configured_ones(demo_tables) -> None:
    settings = DEMO["experiment_settings"]["checkout_redesign"]
    expected = {name: "primary" for name in settings["primary"]}
    expected |= {name: "secondary" for name in settings["secondary"]}
    expected |= {g["metric"]: "guardrail" for g in settings["guardrails"]}
    for row in demo_tables["cuped_results"]:
        if row["experiment_id"] == "checkout_redesign":
            assert row["metric_role"] == expected[row["metric_name"]]
            if row["metric_role"] == "guardrail":
                assert row["non_inferiority_margin"] == 0.05
                assert row["non_inferiority_margin_kind"] == "relative"
            else:
                assert row["non_inferiority_margin"] is None
                assert row["non_inferiority_p_value"] is None
        else:  # unlisted experiments: every metric, role secondary
            assert row["metric_role"] == "secondary"
    metrics = {m["name"] for m in DEMO["metrics"]}
    assert set(expected) == metrics


def test_demo_role_family_p_values_equal_statsmodels(demo_tables) -> None:
    _check_role_families(demo_tables["cuped_results"])
    # an unconfigured experiment is one family, as before: the role p-values are the old ones
    for row in demo_tables["cuped_results"]:
        if row["experiment_id"] != "checkout_redesign" and row["p_value"] is not None:
            assert row["p_value_role_holm"] == pytest.approx(row["p_value_holm"], rel=1e-15)


def test_demo_guardrail_non_inferiority_equals_scipy(demo_tables) -> None:
    guardrails = [r for r in demo_tables["cuped_results"] if r["metric_role"] == "guardrail"]
    assert {r["segment_name"] for r in guardrails} == {"all", "platform"}
    for row in guardrails:
        _check_non_inferiority(row)


def test_demo_decisions_equal_the_rule_on_the_public_tables(demo_tables) -> None:
    _check_decisions_table(demo_tables, DEMO.get("planned_units", 5000))
    checkout = next(
        r for r in demo_tables["cuped_decisions"] if r["experiment_id"] == "checkout_redesign"
    )
    assert (checkout["n_primary"], checkout["n_guardrails"], checkout["n_secondary"]) == (1, 1, 5)
    assert checkout["control_present"] and not checkout["srm_flag"]


# ---------------------------------------------------------------------------------------------
# Overrides, a constructed breach and a missing control


def _override_config() -> dict:
    config = copy.deepcopy(DEMO)
    # sessions count as a cost here, so the personalized recommendations' +0.7 sessions per
    # user (a planted, clearly significant effect) breach the guardrail
    next(m for m in config["metrics"] if m["name"] == "sessions_per_user")["higher_is_better"] = (
        False
    )
    config["experiment_settings"] = {
        "checkout_redesign": {
            "primary": ["revenue_per_user"],
            "secondary": ["conversion"],
            "segments": [],
            "pre_period_days": 7,
            "alpha": 0.1,
        },
        "recommendations": {
            "primary": ["revenue_per_user"],
            "guardrails": [{"metric": "sessions_per_user", "margin_absolute": 0.1}],
            "theta": "total",
            "relative_ci": "log",
        },
        "homepage_aa": {"control_variant": "nonexistent", "segments": ["country"]},
        "ghost_experiment": {"alpha": 0.1},
    }
    config["decision_tests"] = {
        "guardrails_hold": "error",
        "control_present": "warn",
        "guardrails_require_non_inferior": True,
    }
    return {"cuped": config}


@pytest.fixture(scope="module")
def override_build(tmp_path_factory) -> DbtRun:
    return run_dbt(
        ["build"],
        project_dir=REPO,
        work_dir=tmp_path_factory.mktemp("overrides"),
        variables=_override_config(),
    )


@pytest.fixture(scope="module")
def override_tables(override_build: DbtRun) -> dict[str, list[dict]]:
    return _tables(override_build.database)


def test_breach_fails_the_build_and_missing_control_warns(override_build: DbtRun) -> None:
    output = " ".join(override_build.output.split())
    assert override_build.returncode != 0
    assert "Failure in test cuped_decisions_guardrails_hold " in output
    assert "Warning in test cuped_decisions_control_present " in output
    # each failing row is logged with the experiment, the variant and the decision's reasons
    assert (
        'cuped: guardrails_hold (on "cuped"."main"."cuped_decisions") does not hold: '
        "experiment 'recommendations', variant 'personalized', roll back: sessions_per_user "
        "(guardrail) is significantly worse +12.44%"
    ) in output
    # guardrails_require_non_inferior: a guardrail not shown non-inferior fails too
    assert (
        "does not hold: experiment 'recommendations', variant 'carousel', keep running: the "
        "planned units are not reached"
    ) in output
    assert (
        'cuped: control_present (on "cuped"."main"."cuped_decisions") does not hold: '
        "experiment 'homepage_aa', variant 'treatment', unhealthy: control variant 'nonexistent' "
        "has no analysed units"
    ) in output
    assert "ERROR=1" in output and "WARN=1" in output
    assert (
        "cuped: `experiment_settings` configures experiment 'ghost_experiment', which no "
        "assignment row has"
    ) in output
    assert "in the assignments are checkout_redesign, homepage_aa, recommendations" in output


def test_breach_and_missing_control_decisions(override_tables) -> None:
    decisions = {(r["experiment_id"], r["variant"]): r for r in override_tables["cuped_decisions"]}
    personalized = decisions[("recommendations", "personalized")]
    assert personalized["decision"] == "roll_back"
    assert personalized["guardrails_breached"] == 1
    assert personalized["reasons"].startswith(
        "roll back: sessions_per_user (guardrail) is significantly worse"
    )
    homepage = decisions[("homepage_aa", "treatment")]
    assert homepage["decision"] == "unhealthy" and not homepage["control_present"]
    assert "control variant 'nonexistent' has no analysed units" in homepage["reasons"]
    _check_decisions_table(override_tables, DEMO.get("planned_units", 5000))


def test_overrides_reach_the_results(override_tables) -> None:
    frame = pd.DataFrame(override_tables["cuped_results"])
    checkout = frame[frame["experiment_id"] == "checkout_redesign"]
    assert set(checkout["metric_name"]) == {"revenue_per_user", "conversion"}
    assert set(checkout["segment_name"]) == {"all"}  # segments: [] for this experiment
    assert (checkout["alpha"] == 0.1).all() and (checkout["theta_method"] == "within").all()
    recommendations = frame[frame["experiment_id"] == "recommendations"]
    assert set(recommendations["metric_name"]) == {"revenue_per_user", "sessions_per_user"}
    assert set(recommendations["segment_name"]) == {"all", "platform"}  # the global segments
    assert (recommendations["theta_method"] == "total").all()
    assert (recommendations["relative_ci_method"] == "log").all()
    assert (recommendations["alpha"] == 0.05).all()
    homepage = frame[frame["experiment_id"] == "homepage_aa"]
    assert len(set(homepage["metric_name"])) == len(DEMO["metrics"])  # unlisted metric list
    assert (homepage["control_variant"] == "nonexistent").all()
    assert (homepage["status"] == "missing_control").all()
    assert (homepage["metric_role"] == "secondary").all()
    # a segment only one experiment lists is computed for that experiment only
    assert set(homepage["segment_name"]) == {"all", "country"}
    assert "country" not in set(frame[frame["experiment_id"] != "homepage_aa"]["segment_name"])
    _check_role_families(override_tables["cuped_results"])
    for row in override_tables["cuped_results"]:
        if row["metric_role"] == "guardrail" and row["status"] == "ok":
            _check_non_inferiority(row)  # an absolute margin, lower is better
    health = pd.DataFrame(override_tables["cuped_health"])
    assert set(health[health["experiment_id"] == "checkout_redesign"]["segment_name"]) == {"all"}


def test_daily_series_follows_the_metric_list(override_build: DbtRun) -> None:
    with duckdb.connect(str(override_build.database), read_only=True) as con:
        daily = con.sql(
            "select distinct experiment_id, metric_name from cuped_results_daily"
        ).fetchall()
    checkout = {metric for experiment, metric in daily if experiment == "checkout_redesign"}
    assert checkout == {"revenue_per_user", "conversion"}
    homepage = {metric for experiment, metric in daily if experiment == "homepage_aa"}
    assert len(homepage) == len(DEMO["metrics"])  # no metric list: every metric


def test_pre_period_override_equals_ols_on_seven_day_windows(override_tables) -> None:
    units = _units()
    units = units[units["experiment_id"] == "checkout_redesign"].reset_index(drop=True)
    orders = pd.read_csv(SEEDS / "demo_orders.csv", parse_dates=["ordered_at"])
    users = pd.read_csv(SEEDS / "demo_users.csv")
    completed = orders[orders["status"] == "completed"]
    week = pd.Timedelta(days=7)
    data = units.copy()
    data["y"] = _window_sum(units, completed, "ordered_at", completed["revenue"], None, None, True)
    data["x"] = _window_sum(units, completed, "ordered_at", completed["revenue"], week, None, False)
    data["had_pre"] = (_window_sum(units, orders, "ordered_at", None, week, None, False) > 0) * 1.0
    data = data.merge(users[["user_id", "predicted_ltv"]], on="user_id", how="left")
    covariates = ["x", "predicted_ltv", "had_pre"]
    fit = smf.ols("y ~ C(variant, Treatment('control')) + " + " + ".join(covariates), data).fit()
    arms = {v: (g["y"].to_numpy(), g[covariates].to_numpy()) for v, g in data.groupby("variant")}
    reference = estimated_theta_reference(arms, "control", "treatment")
    row = next(
        r
        for r in override_tables["cuped_results"]
        if r["experiment_id"] == "checkout_redesign"
        and r["metric_name"] == "revenue_per_user"
        and r["segment_name"] == "all"
    )
    effect = fit.params["C(variant, Treatment('control'))[T.treatment]"]
    assert row["absolute_effect"] == pytest.approx(effect, rel=1e-9)
    assert row["absolute_effect_se"] == pytest.approx(reference.se, rel=1e-9)
    q = stats.t.ppf(1 - 0.1 / 2, reference.df)  # the experiment's alpha 0.1
    assert row["absolute_ci_upper"] == pytest.approx(effect + q * reference.se, rel=1e-9)


def test_decision_tests_are_off_unless_configured(tmp_path) -> None:
    config = copy.deepcopy(DEMO)
    config.pop("decision_tests")
    run = run_dbt(
        ["ls", "--resource-type", "test", "--select", "cuped_decisions"],
        project_dir=REPO,
        work_dir=tmp_path,
        variables={"cuped": config},
    ).check()
    assert "cuped_decisions_checks" in run.output
    assert "guardrails_hold" not in run.output and "control_present" not in run.output
