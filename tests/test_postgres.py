"""The package on PostgreSQL, a warehouse without dbt Python models: the demo built in two dbt
steps around the `cuped-stats statistics` command (README "PostgreSQL and other warehouses
without Python models") gives every public table the DuckDB build gives. The test starts its own
server (tests/postgres_server.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.dbt_runner import REPO, DbtRun, run_dbt
from tests.helpers import PUBLIC_TABLES, assert_same_tables, incremental_demo_copy, same_run_day
from tests.postgres_server import local_postgres, unavailable

pytestmark = pytest.mark.postgres

TABLES = {
    **PUBLIC_TABLES,
    "cuped_decisions": ["experiment_id", "variant"],
    "cuped_results_history": ["as_of_date", *PUBLIC_TABLES["cuped_results"]],
    "cuped_incremental_state": ["experiment_id"],
}
SCHEMA = "demo"


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with local_postgres() as env:
        yield {**env, "CUPED_PG_SCHEMA": SCHEMA}


def _dbt(args: list[str], work: Path, env: dict[str, str], project: Path = REPO) -> DbtRun:
    return run_dbt([*args, "--target", "postgres"], project_dir=project, work_dir=work, env=env)


def _statistics(work: Path, env: dict[str, str], target: str = "postgres", project: Path = REPO):
    """The command as a user runs it, from the project folder, beside dbt's own runs."""
    command = [
        str(Path(sys.executable).with_name("cuped-stats")),
        "statistics",
        "--target",
        target,
        "--profiles-dir",
        str(project),
    ]
    env = {
        **os.environ,
        **env,
        "CUPED_DUCKDB_PATH": str(work / "cuped.duckdb"),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _build(work: Path, env: dict[str, str], project: Path = REPO, args: tuple = ()) -> str:
    """The README's three steps (the first build loads the demo's seeds: they are upstream of
    the tagged models; `args` go to it); returns what the command printed."""
    _dbt(["build", "--select", "+tag:cuped_statistics_input", *args], work, env, project).check()
    step = _statistics(work, env, project=project)
    assert step.returncode == 0, step.stdout + step.stderr
    build = _dbt(["build", "--exclude", "+tag:cuped_statistics_input"], work, env, project)
    assert "ERROR=0" in build.check().output and "WARN=0" in build.output
    return step.stdout


def _duckdb_tables(database: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {name: con.sql(f"select * from {name}").df() for name in TABLES}


def _postgres_tables(env: dict[str, str]) -> dict[str, pd.DataFrame]:
    import psycopg2

    connection = psycopg2.connect(
        host=env["CUPED_PG_HOST"],
        port=int(env["CUPED_PG_PORT"]),
        user=env["CUPED_PG_USER"],
        dbname=env["CUPED_PG_DBNAME"],
    )
    tables = {}
    try:
        with connection.cursor() as cursor:
            for name in TABLES:
                cursor.execute(f'select * from "{env["CUPED_PG_SCHEMA"]}"."{name}"')
                columns = [column[0] for column in cursor.description]
                tables[name] = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    finally:
        connection.close()
    return tables


@pytest.fixture(scope="module")
def postgres_demo(postgres: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The demo built on PostgreSQL in the README's three steps: (work folder, printed)."""
    work = tmp_path_factory.mktemp("postgres_demo") / "work"
    return work, _build(work, postgres)


def test_demo_on_postgres_equals_the_duckdb_build(
    demo_build: DbtRun, postgres: dict[str, str], postgres_demo: tuple
) -> None:
    """The first build (seeds included), the command, the second build: every public table
    equals the DuckDB build to 1e-9 relative (counts, statuses and decisions exactly), and every
    data test of the package (contracts, guardrails) passes on PostgreSQL."""
    with duckdb.connect(str(demo_build.database), read_only=True) as con:
        (statistics,) = con.sql("select count(*) from cuped__statistics").fetchall()[0]
    printed = postgres_demo[1]
    assert f'wrote {statistics} rows to "postgres"."{SCHEMA}"."cuped__statistics"' in printed
    got = _postgres_tables(postgres)
    assert all(len(got[name]) > 0 for name in PUBLIC_TABLES)
    want = _duckdb_tables(demo_build.database)
    same_run_day(got, want)
    assert_same_tables(got, want, "postgres", TABLES, rtol=1e-9)


def test_statistics_of_another_build_are_never_published(
    postgres: dict[str, str], postgres_demo: tuple
) -> None:
    """A run that rebuilt the statistics' inputs without the step between (a plain `dbt build`,
    a failed or skipped `cuped-stats statistics`, one run on another target) would publish the
    older statistics under a new `computed_at`: the public models stop it, naming the three
    steps; so they do when the statistics were never computed."""
    work = postgres_demo[0]
    stale = _dbt(["run", "--select", "cuped__analysis_plan", "cuped_results_v2"], work, postgres)
    assert stale.returncode != 0
    assert "was computed from another build of the moments (" in stale.output
    assert "than the one this target has now (" in stale.output
    assert "then `cuped-stats statistics` (with the same --target and --vars)" in stale.output
    step = _statistics(work, postgres)
    assert step.returncode == 0, step.stdout + step.stderr
    _dbt(["run", "--select", "cuped_results_v2"], work, postgres).check()

    import psycopg2

    connection = psycopg2.connect(
        host=postgres["CUPED_PG_HOST"],
        port=int(postgres["CUPED_PG_PORT"]),
        user=postgres["CUPED_PG_USER"],
        dbname=postgres["CUPED_PG_DBNAME"],
    )
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(f'drop table "{SCHEMA}"."cuped__statistics"')
    finally:
        connection.close()
    missing = _dbt(["run", "--select", "cuped_results_v2"], work, postgres)
    assert missing.returncode != 0
    assert (
        f'"postgres"."{SCHEMA}"."cuped__statistics" does not exist. dbt runs no Python models on '
        "postgres, so the statistics are a step of their own between two builds: `dbt build "
        "--select +tag:cuped_statistics_input`, then `cuped-stats statistics`"
    ) in missing.output
    step = _statistics(work, postgres)  # the demo's tables as they were, for the tests below
    assert step.returncode == 0, step.stdout + step.stderr


def test_demo_in_two_incremental_runs_on_postgres_equals_the_duckdb_build(
    demo_build: DbtRun, postgres: dict[str, str], tmp_path: Path
) -> None:
    """`incremental: true` on PostgreSQL (delete+insert of the stored per-unit values): the demo
    built on its events before October 20, then on all of them, equals the DuckDB full build;
    so does a third run that backfills five days (its units computed again from every event)."""
    project = tmp_path / "demo"
    seeds = incremental_demo_copy(project, before="2026-10-20")
    env, work = {**postgres, "CUPED_PG_SCHEMA": "demo_incremental"}, tmp_path / "work"
    # the first run stores the per-unit values (they are upstream of the moments); the second
    # folds the later days into them and builds everything (each loads the seeds it reads)
    _dbt(["build", "--select", "+tag:cuped_statistics_input"], work, env, project).check()
    for name, text in seeds.items():
        (project / "seeds" / name).write_text(text)
    _build(work, env, project)
    compared = {name: keys for name, keys in TABLES.items() if name != "cuped_incremental_state"}
    want = _duckdb_tables(demo_build.database)
    states = []
    for label in ("incremental", "backfill"):
        if label == "backfill":
            days = ("--event-time-start", "2026-10-10", "--event-time-end", "2026-10-15")
            _build(work, env, project, days)
        got = _postgres_tables(env)
        same_run_day(got, want)
        assert_same_tables(got, want, label, compared, rtol=1e-9)
        states.append(got["cuped_incremental_state"])
        assert list(states[-1]["settled_until"].unique()) == [pd.Timestamp("2026-10-29")]
    # the backfill's units were computed on its run
    assert states[1]["last_units_added_at"].max() > states[0]["last_units_added_at"].max()


def test_the_command_refuses_a_target_that_runs_python_models(tmp_path: Path) -> None:
    """On DuckDB the Python model computes the statistics inside `dbt build`: the command says
    so instead of writing a second copy of the table."""
    step = _statistics(tmp_path, {}, target="duckdb")
    assert step.returncode == 2, step.stdout + step.stderr
    assert "runs dbt Python models" in step.stderr
    assert "Traceback" not in step.stderr


def test_staging_by_source_is_refused_on_postgres(postgres: dict[str, str], tmp_path: Path) -> None:
    """The staged per-unit aggregation is built for DuckDB (benchmarks/MEASUREMENTS.md): forcing
    it on another adapter names the var and the target instead of failing in the warehouse. (Runs
    after the demo build above, whose seeds its compile reads.)"""
    run = run_dbt(
        ["compile", "--select", "cuped__unit_values", "--target", "postgres"],
        project_dir=REPO,
        work_dir=tmp_path,
        variables={"cuped_stage_sources": True},
        env=postgres,
    )
    assert run.returncode != 0
    assert (
        "the var `cuped_stage_sources` is true, but the per-unit aggregation is staged by source "
        "on DuckDB only (this target is postgres)" in run.output
    )
