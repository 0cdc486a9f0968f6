"""cuped_results_history keeps one snapshot of cuped_results per as-of day: a new day appends,
re-running a day replaces that day and never duplicates it, `--full-refresh` cannot erase it
(only the explicit var `cuped_rebuild_history: true` does), and a past `cuped_as_of` is refused
(today's data is not a past day's results; cuped_results_daily has those)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pandas as pd
import yaml

from tests.dbt_runner import REPO, run_dbt

DEMO = yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]["cuped"]


def _midday() -> tuple[str, dict]:
    """A time zone where it is about noon now, and the demo's config in it: the history's day is
    today in `timezone`, and a test that checks it must not run across that zone's midnight."""
    hours = (12 - datetime.now(timezone.utc).hour + 12) % 24 - 12  # UTC-12 .. UTC+11
    zone = "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"  # Etc/GMT-5 is UTC+5
    today = datetime.now(timezone(timedelta(hours=hours))).date()
    return zone, {"cuped": {**DEMO, "timezone": zone}, "today": today}


def _history(database) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql("select * from cuped_results_history").df()


def _days(database) -> dict[str, int]:
    history = _history(database)
    return history.groupby(history["as_of_date"].astype(str)).size().to_dict()


def test_history_appends_replaces_and_survives_full_refresh(tmp_path) -> None:
    _, config = _midday()
    today = config.pop("today")
    yesterday = str(today - timedelta(days=1))

    def build(*extra: str, select: str = "cuped_results_history", variables=None):
        args = ["build", "--select", select, *extra]
        variables = {**config, **(variables or {})}
        return run_dbt(args, project_dir=REPO, work_dir=tmp_path, variables=variables).check()

    first = build(select="+cuped_results_history", variables={"cuped_as_of": str(today)})
    with duckdb.connect(str(first.database), read_only=True) as con:
        n_results = con.sql("select count(*) from cuped_results").fetchall()[0][0]
    assert n_results > 0
    assert _days(first.database) == {str(today): n_results}

    # a day recorded by an earlier run (the same rows, one day back)
    with duckdb.connect(str(first.database)) as con:
        con.execute(
            "insert into cuped_results_history select * replace "
            "(cast(? as date) as as_of_date) from cuped_results_history",
            [yesterday],
        )
    build()  # today again: replaced, not duplicated; yesterday kept
    assert _days(first.database) == {yesterday: n_results, str(today): n_results}

    build("--full-refresh")  # history is protected from a full refresh
    assert _days(first.database) == {yesterday: n_results, str(today): n_results}
    history = _history(first.database)
    columns = [c for c in history.columns if c not in ("as_of_date", "computed_at")]
    day_before = history[history["as_of_date"] == pd.Timestamp(yesterday)][columns]
    day = history[history["as_of_date"] == pd.Timestamp(today)][columns]
    pd.testing.assert_frame_equal(
        day_before.sort_values(columns[:7]).reset_index(drop=True),
        day.sort_values(columns[:7]).reset_index(drop=True),
    )

    build("--full-refresh", variables={"cuped_rebuild_history": True})  # the explicit opt-in
    assert _days(first.database) == {str(today): n_results}


def test_history_refuses_a_past_as_of_pointing_to_the_daily_series(tmp_path) -> None:
    zone, config = _midday()
    today = config.pop("today")
    variables = {**config, "cuped_as_of": "2026-10-15"}
    run = run_dbt(["parse"], project_dir=REPO, work_dir=tmp_path, variables=variables)
    assert run.returncode != 0
    assert (
        f"cuped: the var `cuped_as_of` (2026-10-15) is before today ({today} in {zone}); "
        "cuped_results_history stores what each run computed on its day, and today's data "
        "cannot be stored as a past day's results. For results as of each past day (data cut "
        "at the end of that day) use cuped_results_daily (`daily_series: true`)."
    ) in " ".join(run.output.split())


def test_history_rejects_an_as_of_that_is_not_a_date(tmp_path) -> None:
    run = run_dbt(
        ["parse"], project_dir=REPO, work_dir=tmp_path, variables={"cuped_as_of": "yesterday"}
    )
    assert run.returncode != 0
    assert "`cuped_as_of` must be a date written YYYY-MM-DD, got: yesterday" in run.output
