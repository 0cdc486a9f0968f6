"""`missing: exclude`: a metric whose outcome is not an event (a survey score) is analysed on the
units that have a value, and the others are counted, not dropped silently.

A scratch project installs the package with a survey table: about half of the units answer after
exposure (some twice, some only with an empty score, some only on the internal `test` channel the
filter drops, some only after the 7-day window), about half answered before. The reference
recomputes every unit's value from the CSV rows with pandas, keeps the units with a value, caps
them at the 95th percentile of those units, and fits statsmodels OLS on them (SE with θ estimated:
tests.helpers.estimated_theta_reference). The same metric with the default `missing: zero` is
checked on all units, and the daily series against a recomputation as of a day mid-experiment.

A second source (visits) lets the same project be built staged (one source at a time,
macros/sql/cuped__staged_sources.sql): its first table is the survey source's per-unit
aggregates in the many-metrics shape with a row for every unit, units without answers included,
and its per-unit values and public tables must equal the one-statement build's exactly.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from tests.dbt_runner import deps_and_build, run_dbt, write_installing_project
from tests.helpers import PUBLIC_TABLES, assert_same_tables, estimated_theta_reference

WINDOW = pd.Timedelta(days=7)
PRE = pd.Timedelta(days=14)
SURVEY = {
    "source": "surveys",
    "timestamp_column": "answered_at",
    "agg": "max",
    "value": "score",
    "filter": "channel <> 'test'",
    "window_days": 7,
    "cap": {"upper_quantile": 0.95},
}
CONFIG = {
    "assignments": "exposures",
    "daily_series": True,
    "unit_attributes": {"relation": "users", "columns": ["platform"]},
    "segments": ["platform"],
    "metrics": [
        {"name": "satisfaction", **SURVEY, "missing": "exclude"},
        {"name": "satisfaction_or_zero", **SURVEY},
        # more metrics on the same source: over 8, its per-unit query groups by period
        # (cuped__per_unit_aggregates); the demo and the other scratch projects run the other shape
        *(
            {
                "name": f"answers_above_{k}",
                "source": "surveys",
                "timestamp_column": "answered_at",
                "agg": "count",
                "filter": f"score > {k}",
                "covariates": [],
            }
            for k in range(8)
        ),
        # a second source, so the project can also be built staged (test_staged_build_...)
        {
            "name": "visits",
            "source": "visits",
            "timestamp_column": "visited_at",
            "agg": "count",
        },
    ],
}
#: the day the daily series is checked on (units assigned March 1-5, answers up to March 13)
AS_OF = pd.Timestamp("2026-03-07")


def _data(seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    units, answers = [], []
    for unit in range(900):
        experiment = "sparse" if unit >= 840 else "survey"
        variant = ("control", "treatment")[unit % 2]
        assigned = pd.Timestamp(f"2026-03-0{1 + unit % 5} 08:00:00") + pd.Timedelta(minutes=unit)
        units.append((experiment, unit, variant, assigned))
        taste = rng.normal(6.0, 1.5)
        if rng.random() < 0.5:  # answered before exposure
            at = assigned - pd.Timedelta(days=float(rng.uniform(1, 13)))
            answers.append((unit, at, round(taste + rng.normal(0, 1), 2), "web"))
        if experiment == "sparse" and variant == "control":
            continue  # no control unit of `sparse` has a post-period answer
        kind = rng.random()
        lift = 0.4 if variant == "treatment" else 0.0
        if kind < 0.45:  # one or two answers in the window
            for _ in range(1 + (rng.random() < 0.3)):
                at = assigned + pd.Timedelta(days=float(rng.uniform(0, 6.9)))
                answers.append((unit, at, round(taste + lift + rng.normal(0, 1), 2), "web"))
        elif kind < 0.52:  # an answer without a score
            answers.append((unit, assigned + pd.Timedelta(days=1), None, "web"))
        elif kind < 0.58:  # only on the channel the filter drops
            answers.append((unit, assigned + pd.Timedelta(days=2), 9.9, "test"))
        elif kind < 0.63:  # only after the 7-day window
            answers.append((unit, assigned + pd.Timedelta(days=8), 9.9, "web"))
    exposures = pd.DataFrame(units, columns=["experiment_id", "unit_id", "variant", "assigned_at"])
    surveys = pd.DataFrame(answers, columns=["unit_id", "answered_at", "score", "channel"])
    users = pd.DataFrame(
        {
            "unit_id": exposures["unit_id"],
            "platform": np.where(exposures["unit_id"] % 3, "ios", "web"),
        }
    )
    return exposures, surveys, users


def _visits(exposures: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """0-3 visits per unit around its assignment (a unit without any included)."""
    rng = np.random.default_rng(seed)
    rows = [
        (unit, assigned + pd.Timedelta(hours=float(rng.uniform(-200, 200))))
        for unit, assigned in zip(exposures["unit_id"], exposures["assigned_at"], strict=True)
        for _ in range(rng.integers(0, 4))
    ]
    return pd.DataFrame(rows, columns=["unit_id", "visited_at"])


def _write(root: Path, exposures, surveys, users) -> None:
    write_installing_project(root)
    seeds = root / "seeds"
    _visits(exposures).to_csv(seeds / "visits.csv", index=False)
    exposures.to_csv(seeds / "exposures.csv", index=False)
    surveys.to_csv(seeds / "surveys.csv", index=False)
    users.to_csv(seeds / "users.csv", index=False)
    (seeds / "_seeds.yml").write_text(
        "version: 2\nseeds:\n  - name: surveys\n    config:\n      column_types:\n"
        "        {unit_id: bigint, answered_at: timestamp, score: double, channel: varchar}\n"
    )


def _unit_values(exposures, surveys, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Each unit's post value (max score of its qualifying answers, NaN without one), pre value
    (0 without one) and pre-period indicator (any answer at all), from the rows themselves."""
    data = exposures.copy()
    joined = data.merge(surveys, on="unit_id")
    t, start = joined["answered_at"], joined["assigned_at"]
    valid = (joined["channel"] != "test") & joined["score"].notna()
    post = valid & (t >= start) & (t < start + WINDOW)
    if until is not None:
        post &= t < until + pd.Timedelta(days=1)
    pre_window = (t >= start - PRE) & (t < start)
    key = ["experiment_id", "unit_id"]
    index = pd.MultiIndex.from_frame(data[key])
    data["y"] = joined[post].groupby(key)["score"].max().reindex(index).to_numpy()
    data["pre"] = (
        joined[valid & pre_window].groupby(key)["score"].max().reindex(index).fillna(0).to_numpy()
    )
    data["had_pre"] = (
        joined[pre_window].groupby(key).size().reindex(index).fillna(0) > 0
    ).to_numpy() * 1.0
    return data


def _capped(data: pd.DataFrame, observed_only: bool) -> pd.DataFrame:
    """Winsorized at the 95th percentile of the experiment's units the metric is analysed on."""
    data = data.copy()
    pool = data[data["y"].notna()] if observed_only else data.assign(y=data["y"].fillna(0))
    for column in ("y", "pre"):
        caps = pool.groupby("experiment_id")[column].quantile(0.95)
        data[column] = np.minimum(data[column], data["experiment_id"].map(caps))
    return data


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory):
    exposures, surveys, users = _data()
    root = tmp_path_factory.mktemp("missing")
    _write(root, exposures, surveys, users)
    return root, exposures, surveys


@pytest.fixture(scope="module")
def built(scratch, tmp_path_factory: pytest.TempPathFactory):
    root, exposures, surveys = scratch
    run = deps_and_build(root, tmp_path_factory.mktemp("missing_work"), CONFIG)
    with duckdb.connect(str(run.database), read_only=True) as con:
        tables = {
            name: con.sql(f"select * from {name}").df()
            for name in ("cuped_results", "cuped_results_daily", "cuped_caps", "cuped_health")
        }
    return run, exposures, surveys, tables


def _all_tables(database: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            name: con.sql(f"select * from {name}").df()
            for name in [*PUBLIC_TABLES, "cuped__unit_values"]
        }


def _check_against_ols(data: pd.DataFrame, row: pd.Series) -> None:
    covariates = ["pre", "had_pre"]
    fit = smf.ols("y ~ C(variant, Treatment('control')) + pre + had_pre", data=data).fit()
    effect = fit.params["C(variant, Treatment('control'))[T.treatment]"]
    assert row["absolute_effect"] == pytest.approx(effect, rel=1e-9, abs=1e-12)
    arms = {v: (g["y"].to_numpy(), g[covariates].to_numpy()) for v, g in data.groupby("variant")}
    ref = estimated_theta_reference(arms, "control", "treatment")
    assert row["absolute_effect_se"] == pytest.approx(ref.se, rel=1e-9)
    control, treated = data[data["variant"] == "control"], data[data["variant"] == "treatment"]
    assert row["control_mean"] == pytest.approx(control["y"].mean(), rel=1e-12)
    assert row["variant_mean"] == pytest.approx(treated["y"].mean(), rel=1e-12)
    assert (row["n_control"], row["n_variant"]) == (len(control), len(treated))


def test_excluded_metric_is_ols_on_the_units_with_a_value(built) -> None:
    _, exposures, surveys, tables = built
    data = _capped(_unit_values(exposures, surveys), observed_only=True)
    results = tables["cuped_results"].set_index(["experiment_id", "segment_name", "metric_name"])
    row = results.loc[("survey", "all", "satisfaction")]
    survey = data[data["experiment_id"] == "survey"]
    observed = survey[survey["y"].notna()]
    assert 0.3 < len(observed) / len(survey) < 0.6  # the scenario leaves many units out
    _check_against_ols(observed, row)
    # every unit left out is counted, per arm
    for arm, column in (("control", "n_control_missing"), ("treatment", "n_variant_missing")):
        in_arm = survey[survey["variant"] == arm]
        assert row[column] == in_arm["y"].isna().sum() > 0


def test_the_default_counts_units_without_a_value_as_zero(built) -> None:
    _, exposures, surveys, tables = built
    data = _unit_values(exposures, surveys).assign(y=lambda d: d["y"].fillna(0.0))
    data = _capped(data, observed_only=False)
    results = tables["cuped_results"].set_index(["experiment_id", "segment_name", "metric_name"])
    row = results.loc[("survey", "all", "satisfaction_or_zero")]
    _check_against_ols(data[data["experiment_id"] == "survey"], row)
    assert row["n_control_missing"] == row["n_variant_missing"] == 0


def test_caps_are_quantiles_of_the_units_with_a_value(built) -> None:
    _, exposures, surveys, tables = built
    data = _unit_values(exposures, surveys)
    survey = data[(data["experiment_id"] == "survey") & data["y"].notna()]
    caps = tables["cuped_caps"].set_index(["experiment_id", "metric_name", "period"])
    for period, column in (("post", "y"), ("pre", "pre")):
        cap = caps.loc[("survey", "satisfaction", period)]
        assert cap["upper_threshold"] == pytest.approx(survey[column].quantile(0.95), rel=1e-12)
        assert cap["n_units_above"] == (survey[column] > survey[column].quantile(0.95)).sum()


def test_segments_count_the_units_with_a_value_of_each_segment(built) -> None:
    _, exposures, surveys, tables = built
    data = _unit_values(exposures, surveys)
    data = data[data["experiment_id"] == "survey"]
    platform = np.where(data["unit_id"] % 3, "ios", "web")
    results = tables["cuped_results"]
    rows = results[
        (results["experiment_id"] == "survey")
        & (results["metric_name"] == "satisfaction")
        & (results["segment_name"] == "platform")
    ]
    assert len(rows) == 2
    for _, row in rows.iterrows():
        in_segment = data[platform == row["segment_value"]]
        control = in_segment[in_segment["variant"] == "control"]
        assert row["n_control"] == control["y"].notna().sum()
        assert row["n_control_missing"] == control["y"].isna().sum()


def test_an_arm_without_any_value_is_reported_not_dropped(built) -> None:
    _, exposures, _, tables = built
    results = tables["cuped_results"].set_index(["experiment_id", "segment_name", "metric_name"])
    row = results.loc[("sparse", "all", "satisfaction")]
    sparse = exposures[
        (exposures["experiment_id"] == "sparse") & (exposures["variant"] == "control")
    ]
    assert row["status"] == "missing_control"
    assert row["n_control"] == 0 and row["n_control_missing"] == len(sparse)
    # the experiment's other metric still has every unit
    other = results.loc[("sparse", "all", "satisfaction_or_zero")]
    assert other["n_control"] == len(sparse) and other["status"] != "missing_control"


def test_daily_series_as_of_a_day_is_the_analysis_of_that_days_units_with_a_value(built) -> None:
    _, exposures, surveys, tables = built
    daily = tables["cuped_results_daily"]
    daily = daily[(daily["experiment_id"] == "survey") & (daily["metric_name"] == "satisfaction")]
    # the final day equals the results
    final = daily.sort_values("as_of_date").iloc[-1]
    results = tables["cuped_results"].set_index(["experiment_id", "segment_name", "metric_name"])
    row = results.loc[("survey", "all", "satisfaction")]
    for column in ("n_control", "n_variant", "absolute_effect", "absolute_effect_se", "p_value"):
        assert final[column] == pytest.approx(row[column], rel=1e-9)
    # mid-experiment: the units assigned by the end of AS_OF with a value by then, capped at the
    # final thresholds (the daily series applies those)
    final = _unit_values(exposures, surveys)
    final = final[(final["experiment_id"] == "survey") & final["y"].notna()]
    data = _unit_values(exposures, surveys, until=AS_OF)
    end = AS_OF + pd.Timedelta(days=1)
    data = data[(data["experiment_id"] == "survey") & (data["assigned_at"] < end)]
    data = data[data["y"].notna()].copy()
    assert len(final) > len(data) > 50
    for column in ("y", "pre"):
        data[column] = np.minimum(data[column], final[column].quantile(0.95))
    _check_against_ols(data, daily[pd.to_datetime(daily["as_of_date"]) == AS_OF].iloc[0])


def test_the_source_is_read_in_the_many_metrics_shape(built) -> None:
    run = built[0]
    compiled = next(run.database.parent.glob("target/compiled/**/cuped__unit_values.sql"))
    assert "with per_period as" in compiled.read_text()


def test_counts_of_the_many_metrics_shape_are_the_rows_counted_per_unit(built) -> None:
    """The count metrics of the source read in the many-metrics shape (whose counts are held as
    32-bit integers on DuckDB, cuped__narrow_count): every unit's post- and pre-period value is
    its number of qualifying rows in each window, counted here from the rows themselves."""
    run, exposures, surveys, _ = built
    with duckdb.connect(str(run.database), read_only=True) as con:
        values = con.sql("select * from cuped__unit_values").df()
    key = ["experiment_id", "unit_id"]
    values = values.set_index(key).sort_index()
    joined = exposures.merge(surveys, on="unit_id")
    t, start = joined["answered_at"], joined["assigned_at"]
    index = pd.MultiIndex.from_frame(exposures[key]).sort_values()
    assert len(values) == len(index) == 900
    for k in range(8):
        i = 2 + k  # its position in CONFIG["metrics"]
        qualifying = joined["score"] > k
        for period, rows in (
            ("post", qualifying & (t >= start)),
            ("pre", qualifying & (t >= start - PRE) & (t < start)),
        ):
            expected = joined[rows].groupby(key).size().reindex(index).fillna(0)
            got = values[f"metric_{i}_{period}"]
            assert expected.sum() > 0, (k, period)
            np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy(), f"{k} {period}")


def test_a_count_beyond_32_bits_stops_the_build_naming_metric_unit_and_experiment(built) -> None:
    """The guard around each narrowed count (cuped__narrow_count), as compiled, run with a count
    past 2,147,483,647: an error naming the metric, the unit and the experiment, never a wrapped
    or dropped value."""
    import re

    run = built[0]
    compiled = next(run.database.parent.glob("target/run/**/cuped__unit_values.sql")).read_text()
    # (a metric's aggregate starts with a comment naming it)
    guard = r"case when (?:/\* [^\n]*? \*/ )?(count\(.*?\)) > 2147483647 then (error\(.*?\)) else"
    guards = re.findall(guard, compiled, re.DOTALL)  # a window's condition spans lines
    assert len(guards) == 8 + 1  # the counts, and the excluded metric's rows with a value
    aggregate, error = next((a, e) for a, e in guards if "answers_above_3" in e)
    expression = f"case when {aggregate} > 2147483647 then {error} else 0 end"
    expression = expression.replace(aggregate, "cast(3000000000 as bigint)")
    with duckdb.connect() as con, pytest.raises(duckdb.InvalidInputException) as raised:
        con.sql(
            f"select {expression} from (select 'survey' as experiment_id, 42 as unit_id) as units"
        ).fetchall()
    assert (
        "cuped: metric 'answers_above_3' counts more than 2,147,483,647 events of unit 42 in "
        "experiment survey in one period: such a unit is usually a placeholder id (anonymous or "
        "test traffic); leave its events out with the metric's `filter`, or its rows out of the "
        "assignments"
    ) in str(raised.value)


def test_build_warns_about_nothing(built) -> None:
    run = built[0]
    assert "WARN=0" in run.output and "ERROR=0" in run.output


def test_staged_build_equals_the_one_statement_build(built, scratch, tmp_path_factory) -> None:
    """Built staged (forced by the var), the survey source is the chain's first table: its
    per-unit aggregates in the many-metrics shape carry every unit (cuped__per_unit_aggregates'
    `every_unit`), so units without answers or visits are kept with zeros. Every per-unit value
    equals the one-statement build's exactly, and so does every public table (to 1e-12: the
    units are stored in another order, so the moments add in another order)."""
    root = scratch[0]
    work = tmp_path_factory.mktemp("missing_staged")
    variables = {"cuped": CONFIG, "cuped_stage_sources": True}
    staged = run_dbt(["build"], project_dir=root, work_dir=work, variables=variables).check()
    sql = next(work.glob("target/run/**/cuped__unit_values.sql")).read_text()
    assert "from cuped__unit_values__stage_0" in sql  # the model joins visits to the chain
    got, want = _all_tables(staged.database), _all_tables(built[0].database)
    keys = ["experiment_id", "unit_id"]
    values = want["cuped__unit_values"]
    assert len(values) == 900 and (values["metric_0_observed"] == 0).sum() > 100
    assert (values["metric_10_post"] + values["metric_10_pre"] == 0).sum() > 50  # no visits
    pd.testing.assert_frame_equal(
        got["cuped__unit_values"].sort_values(keys).reset_index(drop=True),
        values.sort_values(keys).reset_index(drop=True),
        check_exact=True,
    )
    assert_same_tables(got, want, "staged vs one statement", PUBLIC_TABLES, rtol=1e-12)
