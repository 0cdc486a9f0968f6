"""The README's demo (`dbt build` of this repository) against an independent recomputation.

The reference recomputes every unit's metrics from the seed CSVs with pandas (not the package's
SQL), fits `y ~ C(variant) + covariates` with statsmodels OLS (its residuals, leverages and design
give the SE with θ estimated: tests.helpers.estimated_theta_reference), and runs Welch tests with
scipy.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml
from scipy import stats

from tests.dbt_runner import REPO, DbtRun
from tests.helpers import estimated_theta_reference

PRE_DAYS = pd.Timedelta(days=14)
SEEDS = REPO / "seeds"

# The demo configuration of dbt_project.yml, restated: metric → (outcome, covariates in order).
# `*_had_pre` is the pre-period indicator of the metric's source, added last.
METRICS = {
    "revenue_per_user": ("revenue_post", ["revenue_pre", "predicted_ltv", "orders_had_pre"]),
    "revenue_per_user_capped": (
        "revenue_capped_post",
        ["revenue_capped_pre", "predicted_ltv", "orders_had_pre"],
    ),
    "orders_per_user": ("orders_post", ["orders_pre", "orders_had_pre"]),
    "conversion": ("converted_post", ["converted_pre", "sessions_pre", "orders_had_pre"]),
    "sessions_per_user": ("sessions_post", ["sessions_pre", "sessions_had_pre"]),
    "pages_per_user_7d": ("pages7_post", ["pages_pre", "sessions_had_pre"]),
}


def _units() -> pd.DataFrame:
    assignments = pd.read_csv(SEEDS / "demo_assignments.csv", parse_dates=["first_exposure_at"])
    experiments = pd.read_csv(SEEDS / "demo_experiments.csv", parse_dates=["analysis_end_at"])
    grouped = assignments.groupby(["experiment_id", "user_id"]).agg(
        n_variants=("variant", "nunique"),
        variant=("variant", "first"),
        assigned_at=("first_exposure_at", "min"),
    )
    units = grouped[grouped["n_variants"] == 1].reset_index()
    return units.merge(experiments, on="experiment_id")


def _window_sum(
    units: pd.DataFrame,
    events: pd.DataFrame,
    time: str,
    value: pd.Series | None,
    start_offset: pd.Timedelta | None,
    window: pd.Timedelta | None,
    post: bool,
) -> pd.Series:
    joined = units[["experiment_id", "user_id", "assigned_at", "analysis_end_at"]].merge(
        events.assign(_value=1.0 if value is None else value), on="user_id"
    )
    t = joined[time]
    if post:
        keep = (t >= joined["assigned_at"]) & (t <= joined["analysis_end_at"])
        if window is not None:
            keep &= t < joined["assigned_at"] + window
    else:
        keep = (t >= joined["assigned_at"] - start_offset) & (t < joined["assigned_at"])
    sums = joined[keep].groupby(["experiment_id", "user_id"])["_value"].sum()
    index = pd.MultiIndex.from_frame(units[["experiment_id", "user_id"]])
    return sums.reindex(index, fill_value=0.0).to_numpy()


@pytest.fixture(scope="module")
def unit_data() -> pd.DataFrame:
    units = _units()
    sessions = pd.read_csv(SEEDS / "demo_sessions.csv", parse_dates=["session_started_at"])
    orders = pd.read_csv(SEEDS / "demo_orders.csv", parse_dates=["ordered_at"])
    users = pd.read_csv(SEEDS / "demo_users.csv")
    completed = orders[orders["status"] == "completed"]
    ot, st = "ordered_at", "session_started_at"
    data = units.copy()
    data["revenue_post"] = _window_sum(units, completed, ot, completed["revenue"], None, None, True)
    data["revenue_pre"] = _window_sum(
        units, completed, ot, completed["revenue"], PRE_DAYS, None, False
    )
    data["orders_post"] = _window_sum(units, completed, ot, None, None, None, True)
    data["orders_pre"] = _window_sum(units, completed, ot, None, PRE_DAYS, None, False)
    data["converted_post"] = (data["orders_post"] > 0).astype(float)
    data["converted_pre"] = (data["orders_pre"] > 0).astype(float)
    data["orders_had_pre"] = (_window_sum(units, orders, ot, None, PRE_DAYS, None, False) > 0) * 1.0
    data["sessions_post"] = _window_sum(units, sessions, st, None, None, None, True)
    data["sessions_pre"] = _window_sum(units, sessions, st, None, PRE_DAYS, None, False)
    data["sessions_had_pre"] = (data["sessions_pre"] > 0) * 1.0
    data["pages7_post"] = _window_sum(
        units, sessions, st, sessions["pages_viewed"], None, pd.Timedelta(days=7), True
    )
    data["pages_pre"] = _window_sum(
        units, sessions, st, sessions["pages_viewed"], PRE_DAYS, None, False
    )
    # winsorized at the 99th percentile of the experiment's units, post and pre separately
    # (numpy's default interpolation is the continuous quantile the SQL uses)
    for period in ("post", "pre"):
        cap = data.groupby("experiment_id")[f"revenue_{period}"].transform(
            lambda v: np.quantile(v.to_numpy(), 0.99)
        )
        data[f"revenue_capped_{period}"] = np.minimum(data[f"revenue_{period}"], cap)
    return data.merge(users[["user_id", "predicted_ltv", "platform"]], on="user_id", how="left")


@pytest.fixture(scope="module")
def outputs(demo_build: DbtRun) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(demo_build.database), read_only=True) as con:
        tables = {
            "results": con.sql("select * from cuped_results").df(),
            "results_v1": con.sql("select * from cuped_results_v1").df(),
            "results_v2": con.sql("select * from cuped_results_v2").df(),
            "health": con.sql("select * from cuped_health").df(),
            "caps": con.sql("select * from cuped_caps").df(),
            "daily": con.sql("select * from cuped_results_daily").df(),
        }
    tables["overall"] = tables["results"][tables["results"]["segment_name"] == "all"]
    return tables


def test_demo_build_has_no_warnings_or_errors(demo_build: DbtRun) -> None:
    assert "WARN=0 ERROR=0 SKIP=0" in demo_build.output
    assert "[WARNING]" not in demo_build.output and "Deprecat" not in demo_build.output


#: Internal tables and the keys that identify their rows by construction (the build tests only
#: the public tables, and the per-unit values in incremental builds): checked here instead.
INTERNAL_KEYS = {
    "cuped__experiments": ["experiment_id"],
    "cuped__units": ["experiment_id", "unit_id"],
    "cuped__unit_values": ["experiment_id", "unit_id"],
    "cuped__unit_daily_values": ["experiment_id", "unit_id", "day"],
    "cuped__analysis_plan": ["experiment_id", "metric_name"],
    "cuped__arm_moments": ["experiment_id", "segment_name", "segment_value", "variant"],
    "cuped__daily_arm_moments": ["experiment_id", "variant", "as_of_date"],
}


@pytest.mark.parametrize("table", sorted(INTERNAL_KEYS))
def test_internal_tables_are_unique_on_their_keys(table, demo_build: DbtRun) -> None:
    keys = ", ".join(INTERNAL_KEYS[table])
    with duckdb.connect(str(demo_build.database), read_only=True) as con:
        rows, distinct = con.sql(
            f"select count(*), count(distinct ({keys})) from {table}"
        ).fetchall()[0]
    assert rows > 0 and rows == distinct, f"{table}: {rows} rows, {distinct} distinct ({keys})"


def test_daily_moments_on_the_last_day_are_the_overall_moments(demo_build: DbtRun) -> None:
    """Every column of the daily series' arm moments (outcomes, pre-period values, attributes,
    indicators, capped values and every product) as of each experiment's last day equals the
    overall moments: by then every unit is assigned and every event counted. The fixed
    variables' sums come from each unit's first day alone (cuped__unit_daily_changes)."""
    with duckdb.connect(str(demo_build.database), read_only=True) as con:
        overall = con.sql(
            "select * from cuped__arm_moments where segment_name = 'all' order by 1, 4"
        ).df()
        last = con.sql(
            """select * exclude (as_of_date) from cuped__daily_arm_moments
            where (experiment_id, as_of_date) in (
                select (experiment_id, max(as_of_date)) from cuped__daily_arm_moments
                group by experiment_id)
            order by experiment_id, variant"""
        ).df()
    columns = [c for c in last.columns if c.startswith(("n_units", "mean__", "cov__"))]
    assert any(c.startswith("cov__") and "attribute" in c for c in columns)  # attributes too
    assert len(last) == len(overall) == 7 and set(columns) <= set(overall.columns)
    assert (last["experiment_id"] + last["variant"]).tolist() == (
        overall["experiment_id"] + overall["variant"]
    ).tolist()
    for column in columns:
        expected = overall[column].to_numpy(dtype=float)
        scale = np.nanmax(np.abs(expected)) or 1.0  # a covariance of 0 is 0 to rounding
        assert last[column].to_numpy(dtype=float) == pytest.approx(
            expected, rel=1e-9, abs=1e-12 * scale, nan_ok=True
        ), column


def test_results_cover_every_experiment_metric_and_treatment(outputs) -> None:
    results = outputs["overall"]
    expected = {
        ("checkout_redesign", "treatment"),
        ("homepage_aa", "treatment"),
        ("recommendations", "carousel"),
        ("recommendations", "personalized"),
    }
    assert set(zip(results["experiment_id"], results["variant"], strict=True)) == expected
    assert len(results) == len(expected) * (len(METRICS) + 1)  # + the ratio metric
    assert (outputs["results"]["status"] == "ok").all()
    # null only where a column does not apply: the guardrail columns of other roles
    numeric = (
        outputs["results"]
        .select_dtypes("number")
        .drop(
            columns=["non_inferiority_margin", "non_inferiority_p_value", "non_inferiority_bound"]
        )
    )
    assert np.isfinite(numeric.to_numpy()).all(), "a statistic is NaN, infinite or null"
    # labels come from the configuration (the name when a metric has none)

    metrics = yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]["cuped"]["metrics"]
    labels = {m["name"]: m.get("label", m["name"]) for m in metrics}
    assert (
        outputs["results"]["metric_label"] == outputs["results"]["metric_name"].map(labels)
    ).all()
    # the unversioned name is a view over the latest version; version 1 is version 2 without the
    # columns version 2 added
    pd.testing.assert_frame_equal(outputs["results"], outputs["results_v2"])
    v1 = outputs["results_v1"]
    assert set(outputs["results_v2"].columns) - set(v1.columns) == {
        "unadjusted_relative_ci_lower",
        "unadjusted_relative_ci_upper",
        "metric_role",
        "p_value_role_holm",
        "p_value_role_bh",
        "non_inferiority_margin",
        "non_inferiority_margin_kind",
        "non_inferiority_p_value",
        "non_inferiority_bound",
        "chance_to_win",
        "bayes_relative_ci_lower",
        "bayes_relative_ci_upper",
        "expected_loss",
        "prior",
        "comparison_verdict",
        "n_control_missing",
        "n_variant_missing",
    }
    same = [c for c in v1.columns if c != "computed_at"]  # each version is built at its own time
    pd.testing.assert_frame_equal(v1[same], outputs["results_v2"][same])


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_demo_effects_equal_statsmodels_ols_on_unit_data(metric, unit_data, outputs) -> None:
    _check_against_ols(metric, unit_data, outputs["overall"])


def _check_against_ols(metric: str, unit_data: pd.DataFrame, results: pd.DataFrame) -> None:
    outcome, covariates = METRICS[metric]
    results = results.set_index(["experiment_id", "metric_name", "variant"])
    for experiment, data in unit_data.groupby("experiment_id"):
        formula = f"{outcome} ~ C(variant, Treatment('control')) + " + " + ".join(covariates)
        fit = smf.ols(formula, data=data).fit()
        theta = fit.params[covariates].to_numpy()
        control = data["variant"].to_numpy() == "control"
        arms = {
            variant: (group[outcome].to_numpy(), group[covariates].to_numpy())
            for variant, group in data.groupby("variant")
        }
        for variant in sorted(set(data["variant"]) - {"control"}):
            row = results.loc[(experiment, metric, variant)]
            treated = data["variant"].to_numpy() == variant
            effect = fit.params[f"C(variant, Treatment('control'))[T.{variant}]"]
            assert row["absolute_effect"] == pytest.approx(effect, rel=1e-9, abs=1e-12)
            if "theta" in row:
                assert list(json.loads(row["theta"]).values()) == pytest.approx(theta, rel=1e-9)
            # SE and df with θ estimated, from the unit-level regression
            ref = estimated_theta_reference(arms, "control", variant)
            se = ref.se
            assert row["absolute_effect_se"] == pytest.approx(se, rel=1e-9)
            if "degrees_of_freedom" in row:  # not in the daily series
                assert row["degrees_of_freedom"] == pytest.approx(ref.df, rel=1e-9)
            p_value = 2 * stats.t.sf(abs(effect) / se, ref.df)
            assert row["p_value"] == pytest.approx(p_value, rel=1e-9)
            # unadjusted: Welch on the raw outcome
            y = data[outcome].to_numpy()
            raw = stats.ttest_ind(y[treated], y[control], equal_var=False)
            assert row["unadjusted_absolute_effect"] == pytest.approx(
                y[treated].mean() - y[control].mean(), rel=1e-9
            )
            assert row["unadjusted_p_value"] == pytest.approx(raw.pvalue, rel=1e-9)
            assert row["variance_reduction"] == pytest.approx(
                1 - se**2 / row["unadjusted_se"] ** 2, rel=1e-9
            )
            assert row["n_variant"] == treated.sum() and row["n_control"] == control.sum()


def test_health_counts_and_srm_equal_independent_computation(unit_data, outputs) -> None:
    health = outputs["health"]
    health = health[health["segment_name"] == "all"].set_index(["experiment_id", "variant"])
    weights = pd.read_csv(SEEDS / "demo_variant_weights.csv")
    assignments = pd.read_csv(SEEDS / "demo_assignments.csv")
    variants_per_unit = assignments.groupby(["experiment_id", "user_id"])["variant"].nunique()
    multi = variants_per_unit[variants_per_unit > 1].reset_index()[["experiment_id", "user_id"]]
    for experiment, group in weights.groupby("experiment_id"):
        counts = unit_data[unit_data["experiment_id"] == experiment]["variant"].value_counts()
        observed = np.array([counts.get(v, 0) for v in group["variant"]])
        share = group["weight"].to_numpy() / group["weight"].sum()
        chi2 = stats.chisquare(observed, observed.sum() * share)
        for variant, n in zip(group["variant"], observed, strict=True):
            row = health.loc[(experiment, variant)]
            assert row["n_units"] == n
            assert row["srm_chi2"] == pytest.approx(chi2.statistic, rel=1e-9)
            assert row["srm_p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)
            assert not row["srm_flag"]
            excluded = multi.merge(
                assignments[
                    (assignments["experiment_id"] == experiment)
                    & (assignments["variant"] == variant)
                ]
            )
            assert row["n_units_excluded_multiple_variants"] == excluded["user_id"].nunique()
            subset = unit_data[
                (unit_data["experiment_id"] == experiment) & (unit_data["variant"] == variant)
            ]
            had_pre = ((subset["orders_had_pre"] > 0) | (subset["sessions_had_pre"] > 0)).mean()
            assert row["pre_period_coverage"] == pytest.approx(had_pre, rel=1e-12)
    assert health["n_units_excluded_multiple_variants"].sum() == 12  # 6 units, seen in 2 variants


def test_demo_shows_cuped_reducing_variance_on_the_planted_effect(outputs) -> None:
    results = outputs["overall"].set_index(["experiment_id", "metric_name", "variant"])
    revenue = results.loc[("checkout_redesign", "revenue_per_user", "treatment")]
    assert revenue["variance_reduction"] > 0.3
    assert revenue["absolute_effect_se"] < revenue["unadjusted_se"]


def test_segment_results_fit_theta_within_each_segment(unit_data, outputs) -> None:
    results = outputs["results"]
    for platform, data in unit_data.groupby("platform"):
        rows = results[
            (results["segment_name"] == "platform") & (results["segment_value"] == platform)
        ]
        assert len(rows) == len(outputs["overall"])
        for metric in ("revenue_per_user", "sessions_per_user", "conversion"):
            _check_against_ols(metric, data, rows)


def test_capped_metric_reports_the_thresholds_it_applied(unit_data, outputs) -> None:
    caps = outputs["caps"].set_index(["experiment_id", "period"])
    for experiment, data in unit_data.groupby("experiment_id"):
        for period in ("post", "pre"):
            row = caps.loc[(experiment, period)]
            expected = np.quantile(data[f"revenue_{period}"], 0.99)
            assert row["upper_threshold"] == pytest.approx(expected, rel=1e-12)
            assert row["n_units_above"] == (data[f"revenue_{period}"] > expected).sum()
            assert (
                pd.isna(row["lower_threshold"]) and row["metric_name"] == "revenue_per_user_capped"
            )


def test_ratio_metric_equals_numpy_delta_method_linearisation(unit_data, outputs) -> None:
    """revenue_per_order = Σ revenue / Σ orders, CUPED on the linearised pre-period ratio."""
    results = outputs["overall"].set_index(["experiment_id", "metric_name", "variant"])
    for experiment, data in unit_data.groupby("experiment_id"):
        data = data.copy()
        arm_stats = {}
        for variant, arm in data.groupby("variant"):
            a, b = arm["revenue_post"], arm["orders_post"]
            a0, b0 = arm["revenue_pre"], arm["orders_pre"]
            ratio, ratio0 = a.mean() / b.mean(), a0.mean() / b0.mean()
            data.loc[arm.index, "lin"] = (a - ratio * b) / b.mean()
            data.loc[arm.index, "lin0"] = (a0 - ratio0 * b0) / b0.mean()
            arm_stats[variant] = (ratio, ratio0, arm["orders_had_pre"].mean())
        fit = smf.ols("lin ~ C(variant) + lin0 + orders_had_pre", data=data).fit()
        theta = fit.params[["lin0", "orders_had_pre"]].to_numpy()
        # the linearised units shifted to their feature values (arm ratio, pre-period ratio)
        shifted = {
            variant: (
                arm["lin"].to_numpy() + arm_stats[variant][0],
                np.column_stack([arm["lin0"] + arm_stats[variant][1], arm["orders_had_pre"]]),
            )
            for variant, arm in data.groupby("variant")
        }
        for variant in sorted(set(data["variant"]) - {"control"}):
            (rt, r0t, it), (rc, r0c, ic) = arm_stats[variant], arm_stats["control"]
            effect = (rt - rc) - theta @ np.array([r0t - r0c, it - ic])
            se = estimated_theta_reference(shifted, "control", variant).se
            row = results.loc[(experiment, "revenue_per_order", variant)]
            assert row["absolute_effect"] == pytest.approx(effect, rel=1e-9)
            assert row["absolute_effect_se"] == pytest.approx(se, rel=1e-9)
            assert row["unadjusted_absolute_effect"] == pytest.approx(rt - rc, rel=1e-9)
            assert row["metric_type"] == "ratio"


def test_comparison_verdicts_are_the_reports_badges_and_follow_the_adjusted_p(outputs) -> None:
    """The table says what the report's badge says: better/worse on the role-family Holm p."""
    from cuped_stats.report.view import comparison

    results = outputs["results"]
    for row in results.to_dict("records"):
        significant = row["p_value_role_holm"] < row["alpha"]
        up = row["absolute_effect"] > 0
        expected = (
            ("better" if up == bool(row["higher_is_better"]) else "worse")
            if significant
            else "inconclusive"
        )
        assert row["comparison_verdict"] == expected, (row["experiment_id"], row["metric_name"])
        assert comparison(row).verdict == row["comparison_verdict"]
    assert {"better", "inconclusive"} <= set(results["comparison_verdict"])


def test_daily_series_equals_a_recomputation_as_of_that_day(outputs) -> None:
    """As of the end of 2026-10-10: units assigned by then, sessions counted through then."""
    day = pd.Timestamp("2026-10-10")
    end = day + pd.Timedelta(days=1)
    units = _units()
    units = units[units["assigned_at"] < end].copy()
    units["analysis_end_at"] = np.minimum(units["analysis_end_at"], end - pd.Timedelta(seconds=1))
    sessions = pd.read_csv(SEEDS / "demo_sessions.csv", parse_dates=["session_started_at"])
    st = "session_started_at"
    units["sessions_post"] = _window_sum(units, sessions, st, None, None, None, True)
    units["sessions_pre"] = _window_sum(units, sessions, st, None, PRE_DAYS, None, False)
    units["sessions_had_pre"] = (units["sessions_pre"] > 0) * 1.0
    daily = outputs["daily"]
    rows = daily[(daily["as_of_date"] == day) & (daily["metric_name"] == "sessions_per_user")]
    assert len(rows) == 4
    _check_against_ols("sessions_per_user", units, rows.assign(segment_name="all"))
    last = daily[daily["as_of_date"] == daily["as_of_date"].max()].set_index(
        ["experiment_id", "metric_name", "variant"]
    )
    final = outputs["overall"].set_index(["experiment_id", "metric_name", "variant"])
    assert last["absolute_effect"].to_numpy() == pytest.approx(
        final.loc[last.index, "absolute_effect"].to_numpy(), rel=1e-9
    )
