"""cuped_results_history keeps one snapshot of cuped_results per as-of day: a new day appends,
re-running a day replaces that day and never duplicates it."""

from __future__ import annotations

import duckdb
import pandas as pd

from tests.dbt_runner import REPO, run_dbt


def _history(database) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql("select * from cuped_results_history").df()


def test_history_appends_new_days_and_replaces_a_rerun_day(tmp_path) -> None:
    def build(day: str, select: str = "cuped_results_history"):
        variables = {"cuped_as_of": day}
        args = ["build", "--select", select]
        return run_dbt(args, project_dir=REPO, work_dir=tmp_path, variables=variables).check()

    first = build("2026-10-15", select="+cuped_results_history")
    day_one = _history(first.database)
    with duckdb.connect(str(first.database), read_only=True) as con:
        n_results = con.sql("select count(*) from cuped_results").fetchall()[0][0]
    assert len(day_one) == n_results > 0
    assert set(day_one["as_of_date"].astype(str)) == {"2026-10-15"}

    build("2026-10-15")  # the same day again: replaced, not duplicated
    again = _history(first.database)
    assert len(again) == n_results

    build("2026-10-16")
    both = _history(first.database)
    assert both.groupby(both["as_of_date"].astype(str)).size().to_dict() == {
        "2026-10-15": n_results,
        "2026-10-16": n_results,
    }
    columns = [c for c in both.columns if c not in ("as_of_date", "computed_at")]
    day15 = both[both["as_of_date"] == pd.Timestamp("2026-10-15")][columns]
    day16 = both[both["as_of_date"] == pd.Timestamp("2026-10-16")][columns]
    pd.testing.assert_frame_equal(
        day15.sort_values(columns[:7]).reset_index(drop=True),
        day16.sort_values(columns[:7]).reset_index(drop=True),
    )


def test_history_rejects_an_as_of_that_is_not_a_date(tmp_path) -> None:
    run = run_dbt(
        ["parse"], project_dir=REPO, work_dir=tmp_path, variables={"cuped_as_of": "yesterday"}
    )
    assert run.returncode != 0
    assert "`cuped_as_of` must be a date written YYYY-MM-DD, got: yesterday" in run.output
