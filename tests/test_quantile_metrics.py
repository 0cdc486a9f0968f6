"""`type: quantile` through dbt: p50/p90 of per-unit values and of event values, in cuped_results.

A scratch project installs the package with page loads (`latency_ms`, lognormal, slower in the
treatment arm) for 1,200 units over two arms; some units load nothing. The reference recomputes
every unit's value and every event row in the post window from the CSV rows with pandas, builds
each arm's inputs the way their definitions read (tests.quantile_reference: np.quantile, explicit
per-unit counts) and compares: the arm quantiles with np.quantile, and the effect, SE, CI,
p-value and relative figures with the statistics of those inputs (the statistics themselves are
checked against the bootstrap in tests/test_quantile_coverage.py).
"""

from __future__ import annotations

import json
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from cuped_stats.quantile import analyze_quantile
from tests.dbt_runner import deps_and_build, write_installing_project
from tests.helpers import undeclared_reads
from tests.quantile_reference import reference_arm

WINDOW = pd.Timedelta(days=7)
LOADS = {"source": "page_loads", "timestamp_column": "loaded_at", "value": "latency_ms"}
CONFIG = {
    "assignments": "exposures",
    "unit_attributes": {"relation": "users", "columns": ["platform"]},
    "segments": ["platform"],
    "metrics": [
        # the p90 of each unit's slowest load in its first week (units without loads: 0)
        {
            "name": "slowest_load_p90",
            "type": "quantile",
            "quantile": 0.9,
            "agg": "max",
            "window_days": 7,
            **LOADS,
        },
        # the same over the units that loaded anything
        {
            "name": "slowest_load_p90_loaders",
            "type": "quantile",
            "quantile": 0.9,
            "agg": "max",
            "window_days": 7,
            "missing": "exclude",
            **LOADS,
        },
        # the median page load, clustered by unit, only successful loads
        {
            "name": "load_p50",
            "type": "quantile",
            "quantile": 0.5,
            "level": "event",
            "filter": "status = 'ok'",
            "higher_is_better": False,
            **LOADS,
        },
        {"name": "loads", "agg": "count", **{k: v for k, v in LOADS.items() if k != "value"}},
    ],
}


def _data(seed: int = 7):
    rng = np.random.default_rng(seed)
    exposures, loads = [], []
    for unit in range(1200):
        variant = ("control", "treatment")[unit % 2]
        assigned = pd.Timestamp(f"2026-04-0{1 + unit % 4} 09:00:00") + pd.Timedelta(minutes=unit)
        exposures.append(("checkout", unit, variant, assigned))
        speed = rng.lognormal(5.0, 0.4) * (1.15 if variant == "treatment" else 1.0)
        for _ in range(rng.poisson(2.5)):  # some units load nothing
            at = assigned + pd.Timedelta(hours=float(rng.uniform(-48, 24 * 10)))
            status = "ok" if rng.random() < 0.9 else "error"
            loads.append((unit, at, round(speed * rng.lognormal(0, 0.5), 1), status))
    exposures = pd.DataFrame(
        exposures, columns=["experiment_id", "unit_id", "variant", "assigned_at"]
    )
    loads = pd.DataFrame(loads, columns=["unit_id", "loaded_at", "latency_ms", "status"])
    users = pd.DataFrame(
        {
            "unit_id": exposures["unit_id"],
            "platform": np.where(exposures["unit_id"] % 3, "ios", "web"),
        }
    )
    return exposures, loads, users


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    exposures, loads, users = _data()
    root, work = tmp_path_factory.mktemp("quantile"), tmp_path_factory.mktemp("quantile_work")
    write_installing_project(root)
    seeds = root / "seeds"
    exposures.to_csv(seeds / "exposures.csv", index=False)
    loads.to_csv(seeds / "page_loads.csv", index=False)
    users.to_csv(seeds / "users.csv", index=False)
    run = deps_and_build(root, work, CONFIG)
    with duckdb.connect(str(run.database), read_only=True) as con:
        results = con.sql("select * from cuped_results").df()
    return run, exposures, loads, users, results


def _post_loads(exposures: pd.DataFrame, loads: pd.DataFrame, window: bool) -> pd.DataFrame:
    joined = exposures.merge(loads, on="unit_id")
    keep = joined["loaded_at"] >= joined["assigned_at"]
    if window:
        keep &= joined["loaded_at"] < joined["assigned_at"] + WINDOW
    return joined[keep]


def _arms(frame: pd.DataFrame, value: str, q: float, level: str) -> list:
    return [
        reference_arm(
            variant,
            group[value].to_numpy(dtype=float),
            q,
            level,
            unit_ids=group["unit_id"].to_numpy() if level == "event" else None,
        )
        for variant, group in frame.groupby("variant")
    ]


def _check(row: pd.Series, arms: list, q: float, level: str, n: dict) -> None:
    (expected,) = analyze_quantile(arms, "control", quantile=q, level=level)
    by_variant = {arm.variant: arm for arm in arms}
    assert row["control_mean"] == pytest.approx(by_variant["control"].quantile_value, rel=1e-12)
    assert row["variant_mean"] == pytest.approx(by_variant["treatment"].quantile_value, rel=1e-12)
    estimate = expected.estimate
    for column, value in (
        ("absolute_effect", estimate.effect),
        ("absolute_effect_se", estimate.se),
        ("absolute_ci_lower", estimate.ci_lower),
        ("absolute_ci_upper", estimate.ci_upper),
        ("p_value", estimate.p_value),
        ("relative_effect", estimate.relative_effect),
        ("relative_ci_lower", estimate.relative_ci_lower),
        ("relative_ci_upper", estimate.relative_ci_upper),
        ("unadjusted_absolute_effect", estimate.effect),
        ("unadjusted_se", estimate.se),
    ):
        assert row[column] == pytest.approx(value, rel=1e-9), column
    assert row["status"] == expected.status == "ok"
    # the Bayesian read-out, as for the other metric types: the conjugate normal update of the
    # row's prior with the relative effect and its delta-method SE (written out here)
    q_c, q_t = estimate.control_mean, estimate.variant_mean
    se_rel = math.hypot(expected.variant_se / q_c, q_t * expected.control_se / q_c**2)
    prior = json.loads(row["prior"])
    precision = 1 / prior["sd"] ** 2 + 1 / se_rel**2
    mean = (prior["mean"] / prior["sd"] ** 2 + estimate.relative_effect / se_rel**2) / precision
    direction = 1.0 if row["higher_is_better"] else -1.0
    chance = scipy.stats.norm.cdf(direction * mean * math.sqrt(precision))
    assert row["chance_to_win"] == pytest.approx(chance, rel=1e-9, abs=1e-15)
    z = scipy.stats.norm.ppf(1 - row["alpha"] / 2)
    assert row["bayes_relative_ci_lower"] == pytest.approx(mean - z / math.sqrt(precision))
    assert row["bayes_relative_ci_upper"] == pytest.approx(mean + z / math.sqrt(precision))
    assert row["expected_loss"] >= 0.0
    assert row["metric_type"] == "quantile"
    assert row["covariates"] == "[]" and pd.isna(row["variance_reduction"])
    assert (row["n_control"], row["n_variant"]) == (n["control"], n["treatment"])


def _row(results: pd.DataFrame, metric: str, segment=("all", "all")) -> pd.Series:
    key = (results["metric_name"] == metric) & (results["segment_name"] == segment[0])
    return results[key & (results["segment_value"] == segment[1])].iloc[0]


def test_quantile_models_depend_on_every_relation_they_read(built) -> None:
    """An event-level quantile reads its metric's source in cuped__quantile_arms: a dependency
    recorded at parse time without rendering the model's SQL (cuped.cuped__parse_dependencies)."""
    reads = undeclared_reads(built[0].database.parent / "target")
    assert "cuped__quantile_arms" in reads and not any(reads.values()), reads


def test_unit_level_quantile_of_per_unit_values(built) -> None:
    _, exposures, loads, _, results = built
    post = _post_loads(exposures, loads, window=True)
    slowest = post.groupby("unit_id")["latency_ms"].max()
    units = exposures.assign(value=exposures["unit_id"].map(slowest).fillna(0.0))
    arms = _arms(units, "value", 0.9, "unit")
    n = units.groupby("variant").size().to_dict()
    row = _row(results, "slowest_load_p90")
    _check(row, arms, 0.9, "unit", n)
    assert row["control_mean"] == pytest.approx(
        np.quantile(units[units.variant == "control"].value, 0.9)
    )
    assert row["n_control_missing"] == row["n_variant_missing"] == 0


def test_unit_level_quantile_with_missing_exclude_counts_the_units_left_out(built) -> None:
    _, exposures, loads, _, results = built
    post = _post_loads(exposures, loads, window=True)
    slowest = post.groupby("unit_id")["latency_ms"].max()
    units = exposures.assign(value=exposures["unit_id"].map(slowest))  # NaN: no value
    arms = _arms(units, "value", 0.9, "unit")
    n = units.dropna(subset=["value"]).groupby("variant").size().to_dict()
    row = _row(results, "slowest_load_p90_loaders")
    _check(row, arms, 0.9, "unit", n)
    missing = units[units["value"].isna()].groupby("variant").size()
    assert row["n_control_missing"] == missing["control"] > 0
    assert row["n_variant_missing"] == missing["treatment"] > 0


def test_event_level_quantile_is_clustered_by_unit(built) -> None:
    _, exposures, loads, _, results = built
    ok = loads[loads["status"] == "ok"]
    post = _post_loads(exposures, ok, window=False)[["unit_id", "variant", "latency_ms"]]
    # a unit without a successful load in its post window is one row without a value
    silent = exposures[~exposures["unit_id"].isin(post["unit_id"])][["unit_id", "variant"]]
    rows = pd.concat([post, silent.assign(latency_ms=np.nan)])
    arms = _arms(rows, "latency_ms", 0.5, "event")
    n = exposures.groupby("variant").size().to_dict()
    _check(_row(results, "load_p50"), arms, 0.5, "event", n)


def test_segments_have_their_own_quantiles(built) -> None:
    _, exposures, loads, users, results = built
    post = _post_loads(exposures, loads, window=True)
    slowest = post.groupby("unit_id")["latency_ms"].max()
    units = exposures.merge(users, on="unit_id")
    units = units.assign(value=units["unit_id"].map(slowest).fillna(0.0))
    for platform, group in units.groupby("platform"):
        row = _row(results, "slowest_load_p90", ("platform", platform))
        _check(
            row,
            _arms(group, "value", 0.9, "unit"),
            0.9,
            "unit",
            group.groupby("variant").size().to_dict(),
        )


def test_mean_metrics_are_unchanged_beside_quantiles(built) -> None:
    _, exposures, loads, _, results = built
    post = _post_loads(exposures, loads, window=False)
    counts = exposures["unit_id"].map(post.groupby("unit_id").size()).fillna(0)
    row = _row(results, "loads")
    for variant, column in (("control", "control_mean"), ("treatment", "variant_mean")):
        assert row[column] == pytest.approx(
            counts[exposures["variant"] == variant].mean(), rel=1e-12
        )
