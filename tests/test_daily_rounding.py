"""The daily series on days where an outcome is 0 for every unit: exact zeros, not rounding noise.

Units are assigned over the first five days of March and buy nothing before March 6 (they have
pre-period purchases, so the covariate is not constant). On the first days every outcome is 0:
the control mean must be exactly 0 and the relative figures undefined, where centred running
sums used to leave means of order 1e-16 and relative effects with intervals of ±1e7.
"""

from __future__ import annotations

import copy
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tests.dbt_runner import DbtRun, deps_and_build, write_installing_project

CONFIG = {
    "assignments": "exposures",
    "daily_series": True,
    "metrics": [
        {
            "name": "spend",
            "source": "events",
            "timestamp_column": "event_at",
            "value": "amount",
        },
        {
            "name": "bought",
            "type": "proportion",
            "source": "events",
            "timestamp_column": "event_at",
        },
    ],
}


def _write(root: Path) -> None:
    rng = np.random.default_rng(3)
    write_installing_project(root)
    exposures, events = ["experiment_id,unit_id,variant,assigned_at"], ["unit_id,event_at,amount"]
    for unit in range(400):
        day = 1 + unit % 5
        exposures.append(f"e,{unit},{('control', 'treatment')[unit % 2]},2026-03-0{day} 08:00:00")
        events.append(f"{unit},2026-02-25 10:00:00,{rng.gamma(2.0, 7.3):.2f}")
        if rng.random() < 0.6:
            events.append(f"{unit},2026-03-{6 + unit % 7:02d} 10:00:00,{rng.gamma(2.0, 9.1):.2f}")
    (root / "seeds" / "exposures.csv").write_text("\n".join(exposures) + "\n")
    (root / "seeds" / "events.csv").write_text("\n".join(events) + "\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    root, work = tmp_path_factory.mktemp("daily"), tmp_path_factory.mktemp("daily_work")
    _write(root)
    return deps_and_build(root, work, CONFIG)


def test_days_with_all_zero_outcomes_have_exact_zero_means_and_no_relative_figures(
    built: DbtRun,
) -> None:
    with duckdb.connect(str(built.database), read_only=True) as con:
        daily = con.sql("select * from cuped_results_daily order by as_of_date").df()
    early = daily[daily["as_of_date"] < np.datetime64("2026-03-06")]
    assert len(early) == 10  # five days, two metrics
    assert (early["control_mean"] == 0).all() and (early["variant_mean"] == 0).all()
    assert early["relative_effect"].isna().all()
    assert early["relative_ci_lower"].isna().all() and early["relative_ci_upper"].isna().all()
    assert early["absolute_effect"].eq(0).all()
    assert (early["status"] == "zero_variance").all(), early["status_reason"].tolist()
    later = daily[daily["as_of_date"] >= np.datetime64("2026-03-07")]
    assert (later["status"] == "ok").all() and later["relative_effect"].notna().all()
    for column in ("control_mean", "variant_mean", "absolute_effect_se"):
        values = daily[column].dropna().abs()
        assert not ((values > 0) & (values < 1e-9)).any(), column


def test_without_covariates_the_last_day_is_the_results(tmp_path: Path) -> None:
    """With no covariate (no pre-period indicator either) no variable is fixed at assignment:
    the daily changes are all signed sums (cuped__unit_daily_changes), and the last day's
    figures are the results'."""
    root, work = tmp_path / "project", tmp_path / "work"
    root.mkdir()
    _write(root)
    config = copy.deepcopy(CONFIG)
    for metric in config["metrics"]:
        metric["covariates"] = []
    built = deps_and_build(root, work, config)
    with duckdb.connect(str(built.database), read_only=True) as con:
        last = con.sql(
            "select metric_name, absolute_effect, absolute_effect_se from cuped_results_daily"
            " where as_of_date = (select max(as_of_date) from cuped_results_daily)"
            " order by metric_name"
        ).df()
        results = con.sql(
            "select metric_name, absolute_effect, absolute_effect_se from cuped_results"
            " where segment_name = 'all' order by metric_name"
        ).df()
    assert last["metric_name"].tolist() == results["metric_name"].tolist() == ["bought", "spend"]
    for column in ("absolute_effect", "absolute_effect_se"):
        assert last[column].to_numpy() == pytest.approx(results[column].to_numpy(), rel=1e-9)
