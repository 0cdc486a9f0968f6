"""The statistics step through a plain DB-API connection (cuped_stats.warehouse), as the
`cuped-stats statistics` command runs it on SQL-only warehouses: checked here through Python's
sqlite3 driver (another engine, another paramstyle) against the Python model of the DuckDB demo."""

from __future__ import annotations

import datetime as dt
import math
import sqlite3

import duckdb
import numpy as np
import pandas as pd
import pytest

from cuped_stats.tables import STATISTICS_COLUMNS
from cuped_stats.warehouse import (
    INPUTS_BUILD,
    STATISTICS_INPUTS,
    column_types,
    fetch_rows,
    paramstyle_of,
    run_statistics,
    write_table,
)
from tests.helpers import assert_same_tables


def test_demo_statistics_through_sqlite_equal_the_python_model(demo_build) -> None:
    """The five input tables of the demo copied into SQLite, the step run there: the table it
    writes equals the `cuped__statistics` the Python model wrote inside `dbt build`, row for
    row (floats bit for bit: SQLite stores them as 8-byte IEEE numbers)."""
    # booleans as SQLite can hold them: a declared type that its driver converts back
    sqlite3.register_converter("boolean", lambda value: value == b"1")
    target = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
    with duckdb.connect(str(demo_build.database), read_only=True) as con:
        for model in STATISTICS_INPUTS.values():
            frame = con.sql(f"select * from {model}").df()
            booleans = {name: "boolean" for name in frame if frame[name].dtype == bool}
            frame.to_sql(model, target, index=False, dtype=booleans)
        want = con.sql("select * from cuped__statistics").df()
    assert paramstyle_of(target) == "qmark"
    inputs = {model: f'"{model}"' for model in STATISTICS_INPUTS.values()}
    written = run_statistics(target, inputs, '"cuped__statistics"', types=column_types("sqlite"))
    assert written == len(want) > 1000

    cursor = target.execute('select * from "cuped__statistics"')
    got = pd.DataFrame.from_records(
        cursor.fetchall(), columns=[column[0] for column in cursor.description]
    )
    keys = [
        "table_name",
        "experiment_id",
        "metric_name",
        "segment_name",
        "segment_value",
        "covariate",
        "variant",
        "as_of_date",
    ]
    for frame in (got, want):
        frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).astype(str)
        frame[keys] = frame[keys].fillna("")
    assert list(got.columns) == list(STATISTICS_COLUMNS) == list(want.columns)
    assert_same_tables({"s": got}, {"s": want}, "sqlite", {"s": keys}, rtol=0.0)


def test_every_row_carries_the_build_of_its_inputs(demo_build) -> None:
    """On adapters without Python models the plan names the build that wrote it
    (`inputs_build`), and the step copies it into every row, which the public models check
    before they read them; a plan of two builds stops the step and leaves the table as it was."""
    sqlite3.register_converter("boolean", lambda value: value == b"1")
    target = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
    with duckdb.connect(str(demo_build.database), read_only=True) as con:
        frames = {m: con.sql(f"select * from {m}").df() for m in STATISTICS_INPUTS.values()}
    plan_model = "cuped__analysis_plan"
    plan = frames[plan_model]
    plan[INPUTS_BUILD] = "2026-12-05 10:00:00 UTC, dbt invocation b1"
    for model, frame in frames.items():
        booleans = {name: "boolean" for name in frame if frame[name].dtype == bool}
        frame.to_sql(model, target, index=False, dtype=booleans)
    inputs = {model: f'"{model}"' for model in STATISTICS_INPUTS.values()}
    written = run_statistics(target, inputs, '"cuped__statistics"', types=column_types("sqlite"))
    cursor = target.execute('select * from "cuped__statistics"')
    names = [column[0] for column in cursor.description]
    assert names == [*STATISTICS_COLUMNS, INPUTS_BUILD]
    builds = {row[-1] for row in cursor.fetchall()}
    assert builds == {"2026-12-05 10:00:00 UTC, dbt invocation b1"} and written > 1000

    plan.loc[plan.index[-1], INPUTS_BUILD] = "2026-12-05 11:00:00 UTC, dbt invocation b2"
    booleans = {name: "boolean" for name in plan if plan[name].dtype == bool}
    plan.to_sql(plan_model, target, index=False, if_exists="replace", dtype=booleans)
    with pytest.raises(ValueError, match=r"holds rows of 2 builds .*invocation b1, .*b2"):
        run_statistics(target, inputs, '"cuped__statistics"', types=column_types("sqlite"))
    (count,) = target.execute('select count(*) from "cuped__statistics"').fetchone()
    assert count == written


def test_write_table_types_nulls_and_paramstyles() -> None:
    """Every column gets its spec's type whatever the rows hold; a key absent from a row, None,
    NaN and infinities are NULL; named parameters work as well as positional ones, in batches."""
    spec = {"name": object, "x": np.float64, "n": np.int64, "flag": np.bool_, "day": dt.date}
    rows = [{"name": f"r{i}", "x": i / 3, "n": i, "flag": i % 2 == 0} for i in range(1203)]
    rows[1] = {"name": "r1", "x": math.nan, "n": None}
    rows[2] = {"name": "r2", "x": math.inf, "day": dt.date(2026, 12, 3)}
    for paramstyle in ("qmark", "named"):
        target = sqlite3.connect(":memory:")
        write_table(target, "t", rows, spec, types=column_types("sqlite"), paramstyle=paramstyle)
        got = fetch_rows(target, "t")
        assert len(got) == 1203
        assert got[0] == {"name": "r0", "x": 0.0, "n": 0, "flag": 1, "day": None}
        assert got[1] == {"name": "r1", "x": None, "n": None, "flag": None, "day": None}
        assert got[2] == {"name": "r2", "x": None, "n": None, "flag": None, "day": "2026-12-03"}
        assert got[1202]["x"] == 1202 / 3
        types = {row[1]: row[2] for row in target.execute("pragma table_info(t)").fetchall()}
        assert types == {"name": "varchar", "x": "double", "n": "bigint", "flag": "boolean"} | {
            "day": "date"
        }


def test_a_failed_write_leaves_the_previous_table() -> None:
    """Drop, create and insert are one transaction: a row that cannot be written rolls them all
    back (where the database has transactional DDL, as SQLite and PostgreSQL have)."""
    target = sqlite3.connect(":memory:")
    spec = {"n": np.int64}
    write_table(target, "t", [{"n": 1}], spec, types=column_types("sqlite"), paramstyle="qmark")
    with pytest.raises(ValueError):
        write_table(target, "t", [{"n": "x"}], spec, types={np.int64: "bigint"}, paramstyle="qmark")
    assert fetch_rows(target, "t") == [{"n": 1}]


def test_missing_inputs_and_unknown_paramstyles_are_named() -> None:
    target = sqlite3.connect(":memory:")
    with pytest.raises(KeyError, match="cuped__quantile_arms"):
        run_statistics(target, {"cuped__moments": "m"}, "out")
    with pytest.raises(ValueError, match="paramstyle 'dollar'"):
        write_table(target, "t", [{"n": 1}], {"n": np.int64}, types={}, paramstyle="dollar")
    assert target.execute("select count(*) from sqlite_master").fetchall() == [(0,)]
    with pytest.raises(TypeError, match="paramstyle"):
        paramstyle_of(object())
