"""Categorical covariates and stratified randomization, end to end through `dbt build`.

A string `unit_attributes` column listed in `covariates` becomes indicator variables (reference
level the most frequent, rare levels pooled into '(other)', null or no attributes row its own
level '(missing)'); `strata` declares a stratified design whose indicators the core adjusts for in
both estimates. References, on unit-level data read from the same DuckDB file: statsmodels' formula
OLS ``y ~ C(variant) + C(country) + pre + had_pre`` (its dummy coding is the independent
construction of the indicators; the pooling is redone here in pandas) for the effects, and the
unit-level regression SE of tests.helpers.estimated_theta_reference (HC2 residual variances per
arm, Satterthwaite df: the core's convention) for SEs and degrees of freedom.
"""

from __future__ import annotations

import copy
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from tests.dbt_runner import REPO, DbtRun, deps_and_build, run_dbt, write_installing_project
from tests.helpers import estimated_theta_reference

RTOL = 1e-9
MIN_UNITS = 40
ASSIGNED_AT = datetime(2026, 3, 15, 12, 0, 0)
COUNTRIES = ["DE", "FR", "US", "LU", "MT", None]
COUNTRY_P = [0.42, 0.25, 0.18, 0.03, 0.01, 0.11]
SHIFT = {"DE": 0.0, "FR": 4.0, "US": -3.0, "LU": 8.0, "MT": -6.0, None: 2.0}
TIER_SHIFT = {1: 0.0, 2: 6.0, 3: 15.0}

CONFIG = {
    "assignments": "exposures",
    "unit_attributes": {
        "relation": "attrs",
        "unit_column": "unit_id",
        "columns": ["country", "tier", "zip"],
    },
    "categorical_min_units": MIN_UNITS,
    "daily_series": True,
    "experiment_settings": {"strat": {"strata": "tier"}},
    "metrics": [
        {
            "name": "spend",
            "source": "events",
            "timestamp_column": "event_at",
            "value": "amount",
            "covariates": ["pre_period", "country"],
        },
        {
            "name": "orders",
            "source": "events",
            "timestamp_column": "event_at",
            "agg": "count",
            "covariates": [],
        },
    ],
}


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _write(root: Path) -> None:
    """Experiment `post` (800 units, simple randomization) and `strat` (400 units randomized
    half and half within each of three tiers); 10 units of each have no attributes row."""
    rng = np.random.default_rng(13)
    write_installing_project(root)
    exposures = ["experiment_id,unit_id,variant,assigned_at"]
    events = ["unit_id,event_at,amount"]
    attrs = ["unit_id,country,tier,zip"]
    units = [("post", u) for u in range(800)] + [("strat", u) for u in range(1000, 1400)]
    variants: dict[int, str] = {}
    for experiment, block in (("post", range(800)), ("strat", range(1000, 1400))):
        tiers = {u: int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2])) for u in block}
        if experiment == "post":
            for u in block:
                variants[u] = ("control", "treatment")[int(rng.integers(2))]
        else:
            for tier in (1, 2, 3):
                members = [u for u in block if tiers[u] == tier]
                rng.shuffle(members)
                for k, u in enumerate(members):
                    variants[u] = ("control", "treatment")[k % 2]
        for u in block:
            country = COUNTRIES[int(rng.choice(len(COUNTRIES), p=COUNTRY_P))]
            if u % 400 < 390:  # the last 10 units of each 400 have no attributes row
                attrs.append(f"{u},{country or ''},{tiers[u]},z{u % 60:02d}")
            else:
                country = None
            base = rng.gamma(2.0, 4.0)
            if rng.random() < 0.85:  # the others have no pre-period activity
                at = ASSIGNED_AT - timedelta(days=int(rng.integers(1, 14)))
                events.append(f"{u},{_ts(at)},{base + rng.normal(0, 2):.4f}")
            lift = 1.5 if variants[u] == "treatment" else 0.0
            tier_shift = TIER_SHIFT[tiers[u]] if experiment == "strat" else 0.0
            for day in range(int(rng.integers(1, 4))):
                amount = base + SHIFT[country] + tier_shift + lift + rng.normal(0, 3)
                at = ASSIGNED_AT + timedelta(days=1 + day, hours=int(rng.integers(0, 10)))
                events.append(f"{u},{_ts(at)},{amount:.4f}")
    for experiment, u in units:
        exposures.append(f"{experiment},{u},{variants[u]},{_ts(ASSIGNED_AT)}")
    seeds = root / "seeds"
    (seeds / "exposures.csv").write_text("\n".join(exposures) + "\n")
    (seeds / "events.csv").write_text("\n".join(events) + "\n")
    (seeds / "attrs.csv").write_text("\n".join(attrs) + "\n")
    (seeds / "_seeds.yml").write_text(
        "version: 2\nseeds:\n  - name: attrs\n    config:\n"
        "      column_types: {unit_id: integer, country: varchar, tier: integer, zip: varchar}\n"
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    root, work = tmp_path_factory.mktemp("categorical"), tmp_path_factory.mktemp("categorical_w")
    _write(root)
    return deps_and_build(root, work, CONFIG)


def test_too_many_levels_stop_the_run_naming_the_column_and_the_setting(
    built: DbtRun, tmp_path: Path
) -> None:
    # `zip` has 60 levels of 20 units and '(missing)': with categorical_min_units 1 none is
    # pooled, 61 > 51
    work = tmp_path / "w"
    work.mkdir()
    shutil.copy(built.database, work / "cuped.duckdb")
    config = copy.deepcopy(CONFIG)
    config["categorical_min_units"] = 1
    config["metrics"][0]["covariates"] = ["pre_period", "zip"]
    run = run_dbt(
        ["run", "-s", "cuped__unit_values", "cuped__arm_moments"],
        project_dir=built.project_dir,
        work_dir=work,
        variables={"cuped": config},
    )
    assert run.returncode != 0
    assert "`unit_attributes` column 'zip' (a categorical covariate or strata column) has 61" in (
        run.output
    ), run.output[-3000:]
    assert "Raise `categorical_min_units`" in run.output
    assert "Traceback" not in run.output


def _sql(run: DbtRun, query: str) -> pd.DataFrame:
    with duckdb.connect(str(run.database), read_only=True) as con:
        return con.sql(query).df()


@pytest.fixture(scope="module")
def units(built: DbtRun) -> pd.DataFrame:
    """Unit-level data (metric 0 is spend, 1 orders) with the raw attributes, and the pooling
    of the country levels redone here: counts over every analysed unit row, levels below
    MIN_UNITS pooled into '(other)', null or no row '(missing)' (never pooled)."""
    frame = _sql(
        built,
        "select v.experiment_id, v.unit_id, v.variant, v.metric_0_post as y, "
        "v.metric_0_pre as pre, v.source_0_had_pre_period as had_pre, v.metric_1_post as orders, "
        "a.country, a.tier from cuped__unit_values as v left join attrs as a using (unit_id)",
    )
    raw = frame["country"].fillna("(missing)")
    counts = raw.value_counts()
    frame["level"] = [
        c if c == "(missing)" or counts[c] >= MIN_UNITS else "(other)" for c in raw.to_numpy()
    ]
    frame["tier"] = frame["tier"].map(lambda t: "(missing)" if pd.isna(t) else str(int(t)))
    return frame


def _reference_level(values: pd.Series) -> str:
    counts = values.value_counts()
    return sorted(counts.index[counts == counts.max()])[0]


def _indicators(frame: pd.DataFrame, column: str) -> list[str]:
    reference = _reference_level(frame[column])
    return sorted(level for level in frame[column].unique() if level != reference)


def _result(run: DbtRun, experiment: str, metric: str, table: str = "cuped_results") -> dict:
    rows = _sql(
        run,
        f"select * from {table} where experiment_id = '{experiment}' and metric_name = '{metric}'"
        + (
            " order by as_of_date desc limit 1" if "daily" in table else " and segment_name = 'all'"
        ),
    )
    assert len(rows) == 1, rows
    return rows.iloc[0].to_dict()


def _design(frame: pd.DataFrame, columns: dict[str, list[str]], numeric: list[str]) -> dict:
    """Per arm (y, X): the numeric columns, then the indicators of each categorical column."""
    data = {}
    for arm, group in frame.groupby("variant", sort=False):
        parts = [group[c].to_numpy(float) for c in numeric]
        for column, levels in columns.items():
            parts += [(group[column] == level).to_numpy(float) for level in levels]
        data[str(arm)] = (group["y"].to_numpy(float), np.column_stack(parts))
    return data


def test_the_rare_and_missing_levels_are_in_the_data(units: pd.DataFrame) -> None:
    levels = set(units["level"])
    assert {"(other)", "(missing)", "DE", "FR", "US"} <= levels
    assert units.loc[units["level"] == "(other)", "country"].nunique() >= 2  # LU and MT pooled
    assert _reference_level(units["level"]) == "DE"


def test_cuped_with_a_categorical_covariate_is_the_ols_with_c_of_the_pooled_levels(
    built: DbtRun, units: pd.DataFrame
) -> None:
    frame = units[units["experiment_id"] == "post"]
    reference = _reference_level(units["level"])
    formula = f"C(variant, Treatment('control')) + pre + C(level, Treatment('{reference}'))"
    fit = smf.ols(f"y ~ {formula} + had_pre", data=frame).fit()
    result = _result(built, "post", "spend")
    assert result["status"] == "ok"
    levels = _indicators(units, "level")
    expected_names = [
        "pre_period",
        *(f"country[{level}]" for level in levels),
        "pre_period_indicator",
    ]
    assert json.loads(result["covariates"]) == expected_names  # no tier: `post` is not stratified
    np.testing.assert_allclose(
        result["absolute_effect"],
        fit.params["C(variant, Treatment('control'))[T.treatment]"],
        rtol=RTOL,
    )
    theta = json.loads(result["theta"])
    for level in levels:
        np.testing.assert_allclose(
            theta[f"country[{level}]"],
            fit.params[f"C(level, Treatment('{reference}'))[T.{level}]"],
            rtol=1e-7,
        )
    ref = estimated_theta_reference(
        _design(frame, {"level": levels}, ["pre", "had_pre"]), "control", "treatment"
    )
    np.testing.assert_allclose(result["absolute_effect"], ref.effect, rtol=RTOL)
    np.testing.assert_allclose(result["absolute_effect_se"], ref.se, rtol=RTOL)
    np.testing.assert_allclose(result["degrees_of_freedom"], ref.df, rtol=RTOL)


def test_units_without_attributes_are_counted_and_analysed(
    built: DbtRun, units: pd.DataFrame
) -> None:
    health = _sql(
        built,
        "select experiment_id, sum(n_units) as n, sum(n_units_missing_attributes) as missing "
        "from cuped_health where segment_name = 'all' group by experiment_id order by 1",
    ).set_index("experiment_id")
    for experiment in ("post", "strat"):
        frame = units[units["experiment_id"] == experiment]
        assert health.loc[experiment, "n"] == len(frame)
        assert health.loc[experiment, "missing"] == (frame["level"] == "(missing)").sum()
        assert frame["country"].isna().sum() > 10  # null values and the 10 units without a row


def test_a_stratified_experiment_adjusts_both_estimates_for_its_strata(
    built: DbtRun, units: pd.DataFrame
) -> None:
    frame = units[units["experiment_id"] == "strat"]
    countries = _indicators(units, "level")
    tiers = _indicators(units, "tier")
    result = _result(built, "strat", "spend")
    assert result["status"] == "ok"
    names = json.loads(result["covariates"])
    # the design's strata are screened first, then the configured covariates
    assert names == [
        *(f"tier[{t}]" for t in tiers),
        "pre_period",
        *(f"country[{c}]" for c in countries),
        "pre_period_indicator",
    ]
    treatment = "C(variant, Treatment('control'))[T.treatment]"
    tier_ref = _reference_level(units["tier"])
    post_stratified = smf.ols(
        f"y ~ C(variant, Treatment('control')) + C(tier, Treatment('{tier_ref}'))", data=frame
    ).fit()
    np.testing.assert_allclose(
        result["unadjusted_absolute_effect"], post_stratified.params[treatment], rtol=RTOL
    )
    ref = estimated_theta_reference(_design(frame, {"tier": tiers}, []), "control", "treatment")
    np.testing.assert_allclose(result["unadjusted_se"], ref.se, rtol=RTOL)
    full = estimated_theta_reference(_full_design(frame, tiers, countries), "control", "treatment")
    np.testing.assert_allclose(result["absolute_effect"], full.effect, rtol=RTOL)
    np.testing.assert_allclose(result["absolute_effect_se"], full.se, rtol=RTOL)
    np.testing.assert_allclose(result["degrees_of_freedom"], full.df, rtol=RTOL)
    # the tier shifts (0, 6, 15) are a good part of the outcome's variance: ignoring the design,
    # the naive Welch SE is wider than the post-stratified one (2.28 vs 1.96 here)
    arms = frame.groupby("variant")["y"]
    naive = np.sqrt((arms.var() / arms.count()).sum())
    assert result["unadjusted_se"] < 0.9 * naive


def _full_design(frame: pd.DataFrame, tiers: list[str], countries: list[str]) -> dict:
    data = {}
    for arm, group in frame.groupby("variant", sort=False):
        parts = [(group["tier"] == t).to_numpy(float) for t in tiers]
        parts += [group["pre"].to_numpy(float)]
        parts += [(group["level"] == c).to_numpy(float) for c in countries]
        parts += [group["had_pre"].to_numpy(float)]
        data[str(arm)] = (group["y"].to_numpy(float), np.column_stack(parts))
    return data


def test_strata_indicators_of_another_experiment_stay_out(
    built: DbtRun, units: pd.DataFrame
) -> None:
    # `orders` has no covariates: in `strat` it is the post-stratified comparison, in `post`
    # the plain Welch comparison (the tier indicators are in its moments, and left out)
    post = _result(built, "post", "orders")
    assert json.loads(post["covariates"]) == []
    strat = _result(built, "strat", "orders")
    tiers = _indicators(units, "tier")
    assert json.loads(strat["covariates"]) == [f"tier[{t}]" for t in tiers]
    frame = units[units["experiment_id"] == "strat"].assign(y=lambda f: f["orders"])
    ref = estimated_theta_reference(_design(frame, {"tier": tiers}, []), "control", "treatment")
    np.testing.assert_allclose(strat["absolute_effect"], ref.effect, rtol=RTOL)
    np.testing.assert_allclose(strat["absolute_effect_se"], ref.se, rtol=RTOL)


def test_daily_series_and_balance_read_the_indicators(built: DbtRun, units: pd.DataFrame) -> None:
    for experiment in ("post", "strat"):
        final = _result(built, experiment, "spend")
        last_day = _result(built, experiment, "spend", "cuped_results_daily")
        for column in (
            "absolute_effect",
            "absolute_effect_se",
            "unadjusted_se",
            "variance_reduction",
        ):
            np.testing.assert_allclose(last_day[column], final[column], rtol=1e-9)
    balance = _sql(
        built,
        "select covariate, control_mean, variant_mean from cuped_balance where experiment_id = "
        "'post' and metric_name = 'spend' and segment_name = 'all'",
    ).set_index("covariate")
    frame = units[units["experiment_id"] == "post"]
    for level in _indicators(units, "level"):
        share = frame.assign(x=frame["level"] == level).groupby("variant")["x"].mean()
        np.testing.assert_allclose(
            balance.loc[f"country[{level}]", "control_mean"], share["control"]
        )
        np.testing.assert_allclose(
            balance.loc[f"country[{level}]", "variant_mean"], share["treatment"]
        )


# --- configuration mistakes stop `dbt parse` -----------------------------------------------------

DEMO_CASES = {
    "unknown strata column": (
        lambda c: c.update(strata="browser"),
        ["`strata`: unknown strata column 'browser'", "predicted_ltv, country, platform"],
    ),
    "unknown strata column of one experiment": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(strata="plan"),
        ["experiment_settings 'checkout_redesign': `strata`: unknown strata column 'plan'"],
    ),
    "categorical_min_units below 1": (
        lambda c: c.update(categorical_min_units=0),
        ["`categorical_min_units` must be a whole number of units >= 1, got: 0"],
    ),
    "categorical_min_units not a whole number": (
        lambda c: c.update(categorical_min_units=2.5),
        ["`categorical_min_units` must be a whole number of units >= 1, got: 2.5"],
    ),
}


@pytest.mark.parametrize("case", sorted(DEMO_CASES))
def test_a_bad_strata_or_min_units_stops_parse_naming_it(case: str, tmp_path: Path) -> None:
    import yaml

    change, fragments = DEMO_CASES[case]
    config = copy.deepcopy(yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]["cuped"])
    change(config)
    run = run_dbt(["parse"], project_dir=REPO, work_dir=tmp_path, variables={"cuped": config})
    assert run.returncode != 0
    for fragment in fragments:
        assert fragment in run.output, run.output[-3000:]
    assert "Traceback" not in run.output


# --- the statistics step's reading of the plan (no dbt) -------------------------------------------


def test_the_plan_picks_the_experiments_strata_and_leaves_out_other_strata() -> None:
    from cuped_stats import ArmMoments, analyze_metric
    from cuped_stats.tables import results_rows
    from tests.helpers import moment_rows

    rng = np.random.default_rng(3)
    arms, rows = [], []
    for variant in ("control", "treatment"):
        n = 300
        tier = rng.integers(0, 3, n)
        country = rng.integers(0, 2, n)
        x = rng.normal(size=n)
        y = 2 * tier + country + x + rng.normal(size=n) + (variant == "treatment")
        columns = {
            "@y": y,
            "x": x,
            "tier[1]": (tier == 1).astype(float),
            "tier[2]": (tier == 2).astype(float),
            "seg[b]": country.astype(float),
        }
        arms.append(ArmMoments.from_units(variant, columns))
        for experiment in ("stratified", "other"):
            rows += moment_rows(experiment, "m", variant, columns)
    plan = {
        "metric_name": "m",
        "metric_type": "mean",
        "control_variant": "control",
        "alpha": 0.05,
        "theta_method": "within",
        "higher_is_better": True,
        "strata_only_attributes": json.dumps(["tier", "seg"]),
    }
    plans = [
        {**plan, "experiment_id": "stratified", "strata_attribute": "tier"},
        {**plan, "experiment_id": "other", "strata_attribute": None},
    ]
    found = {row["experiment_id"]: row for row in results_rows(rows, plans)}
    tiers = ("tier[1]", "tier[2]")
    (stratified,) = analyze_metric(
        [arm.select(("@y", "x", *tiers)) for arm in arms], "control", strata=tiers
    )
    (other,) = analyze_metric([arm.select(("@y", "x")) for arm in arms], "control")
    for name, expected in (("stratified", stratified), ("other", other)):
        row = found[name]
        assert json.loads(row["covariates"]) == list(expected.covariates)
        for column, value in (
            ("absolute_effect", expected.cuped.effect),
            ("absolute_effect_se", expected.cuped.se),
            ("unadjusted_absolute_effect", expected.unadjusted.effect),
            ("unadjusted_se", expected.unadjusted.se),
        ):
            np.testing.assert_allclose(row[column], value, rtol=1e-12)
    assert json.loads(found["stratified"]["covariates"])[:2] == list(tiers)
