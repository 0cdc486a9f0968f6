"""The columnar reading of moment rows (cuped_stats.moment_arms.arms_by_group) against the row
by row reading of each group (arms_from_moment_rows), which stays the reference and the one
source of error messages; and the columnar input and output of the statistics step."""

from __future__ import annotations

import datetime as dt
import gc
import random

import duckdb
import numpy as np
import pytest

from cuped_stats import moment_arms
from cuped_stats.io import _duckdb_arrays, _plain, gc_paused, read_columns, read_rows, to_frame
from cuped_stats.moment_arms import (
    arms_by_group,
    arms_from_moment_rows,
    moment_columns,
    rows_of_columns,
)
from cuped_stats.moments import ArmMoments
from cuped_stats.tables import (
    STATISTICS_COLUMNS,
    _group_context,
    balance_rows,
    results_rows,
    statistics_columns,
    statistics_rows,
)
from tests.helpers import moment_rows as arm_rows
from tests.test_core_tables_roles import _plan


def _random_rows(seed: int, *, daily: bool) -> list[dict]:
    """Moment rows of many groups: 1-4 variables, 1-4 variants, arms of 0, 1 and more units,
    missing means and covariances where an arm's size allows them, ratio-style names."""
    rng = np.random.default_rng(seed)
    rows = []
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=d) for d in range(3)] if daily else [None]
    for experiment in ("e1", "e2"):
        for metric in ("m1", "m2", "m3"):
            p = int(rng.integers(1, 5))
            names = ["@y", *[f"x{k}@numerator" for k in range(p - 1)]]
            for day in days:
                for segment in (("all", "all"), ("platform", "ios")):
                    for variant in ["control", "b", "c", "d"][: int(rng.integers(1, 5))]:
                        size = int(rng.choice([0, 1, 2, 5, 40]))
                        data = rng.normal(size=(max(size, 1), p)) @ rng.normal(size=(p, p))
                        columns = {name: data[:, k] for k, name in enumerate(names)}
                        group = arm_rows(experiment, metric, variant, columns, segment)
                        if size == 0:  # an arm with no unit: n 0, no mean
                            group = [{**r, "n": 0, "mean_1": None, "mean_2": None} for r in group]
                        for row in group:
                            row["n_arm"] = row["n"] + int(rng.integers(0, 3))
                            if daily:
                                row["as_of_date"] = day
                        rows.extend(group)
    random.Random(seed).shuffle(rows)
    return rows


def _reference(rows: list[dict], *, daily: bool) -> dict:
    """Each group's arms and analysed units, row by row as the statistics step read them."""
    groups: dict = {}
    for row in rows:
        key = (
            row["experiment_id"],
            row["segment_name"],
            row["segment_value"],
            row["metric_name"],
            row.get("as_of_date") if daily else None,
        )
        groups.setdefault(key, []).append(row)
    return {
        key: (
            arms_from_moment_rows(group, context=_group_context(key)),
            {
                str(r["variant"]): int(r["n_arm"] if r.get("n_arm") is not None else r["n"])
                for r in group
            },
        )
        for key, group in groups.items()
    }


def _assert_same_arms(got: list[ArmMoments], want: list[ArmMoments]) -> None:
    assert [a.variant for a in got] == [a.variant for a in want]
    for a, b in zip(got, want, strict=True):
        assert (a.n, a.names) == (b.n, b.names)
        assert type(a.n) is int and all(type(name) is str for name in a.names)
        np.testing.assert_array_equal(a.mean, b.mean)  # bit for bit
        np.testing.assert_array_equal(a.cov, b.cov)
        assert not a.mean.flags.writeable and not a.cov.flags.writeable


@pytest.mark.parametrize("daily", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_columns_give_the_arms_of_the_rows_group_by_group(seed: int, daily: bool) -> None:
    rows = _random_rows(seed, daily=daily)
    got = arms_by_group(moment_columns(rows), daily=daily, context=_group_context)
    want = _reference(rows, daily=daily)
    assert got.keys() == want.keys()
    for key, (arms, units) in got.items():
        _assert_same_arms(arms, want[key][0])
        assert units == want[key][1]


def test_without_n_arm_the_units_are_n_and_the_daily_key_is_none_when_not_daily() -> None:
    rows = [
        {k: v for k, v in row.items() if k != "n_arm"}
        for row in _random_rows(4, daily=True)
        if row["as_of_date"] == dt.date(2026, 1, 1)
    ]
    got = arms_by_group(moment_columns(rows), daily=False, context=_group_context)
    assert all(key[4] is None for key in got)
    for arms, units in got.values():
        assert units == {arm.variant: arm.n for arm in arms}


def _one_group() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for variant in ("control", "treatment"):
        data = rng.normal(size=(30, 3))
        columns = {"@y": data[:, 0], "pre": data[:, 1], "ltv": data[:, 2]}
        rows.extend(arm_rows("e1", "revenue", variant, columns))
    return rows


def _neighbour() -> list[dict]:
    return [
        {**row, "metric_name": "sessions"}
        for row in _one_group()
        if row["variable_1"] != "ltv" and row["variable_2"] != "ltv"
    ]


def _change(index: int, **values) -> list[dict]:
    rows = _one_group()
    rows[index] = {**rows[index], **values}
    return rows


CORRUPTIONS = {
    "inconsistent n": _change(1, n=29),
    "duplicate pair": [*_one_group(), _one_group()[2]],
    "duplicate pair in place of another": _change(4, **_one_group()[2]),
    "missing pair": [row for k, row in enumerate(_one_group()) if k != 4],
    "a name clash": _change(3, variable_1="other"),
    "missing covariance": _change(2, covariance=None),
    "missing mean": [
        {**row, **({"mean_1": None} if row["index_1"] == 1 else {})}
        | ({"mean_2": None} if row["index_2"] == 1 else {})
        for row in _one_group()
    ],
    "index_1 > index_2": _change(1, index_1=2, index_2=1),
    "negative index": _change(0, index_1=-1),
    "index of None": _change(0, index_1=None),
    "a mean that is no number": _change(0, mean_1="abc"),
    "an infinite covariance": _change(2, covariance=float("inf")),
    "a negative n": [{**row, "n": -1} for row in _one_group()],
    "a NaN mean after a mean": _change(2, mean_1=float("nan")),  # the last of index 0
    "a mean of a numpy date": _change(0, mean_1=np.datetime64("2020-01-01")),
    "duplicate variable names": [
        {
            **row,
            "variable_1": "pre" if row["variable_1"] == "ltv" else row["variable_1"],
            "variable_2": "pre" if row["variable_2"] == "ltv" else row["variable_2"],
        }
        for row in _one_group()
    ],
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_bad_group_raises_what_row_by_row_raises(corruption: str) -> None:
    rows = [*_neighbour(), *CORRUPTIONS[corruption]]
    key = ("e1", "all", "all", "revenue", None)
    with pytest.raises(Exception) as want:
        arms_from_moment_rows(CORRUPTIONS[corruption], context=_group_context(key))
    with pytest.raises(type(want.value)) as got:
        arms_by_group(moment_columns(rows), daily=False, context=_group_context)
    assert str(got.value) == str(want.value)
    assert "experiment 'e1', metric 'revenue'" in str(got.value) or corruption in (
        "index of None",
        "a mean that is no number",
        "an infinite covariance",
        "duplicate variable names",
        "a negative n",
        "a mean of a numpy date",
    )


@pytest.mark.parametrize(
    "rows",
    [
        # an arm of no unit: a NaN mean replaces the mean before it (a None would not)
        [{**row, "n": 0, "covariance": None, "mean_2": float("nan")} for row in _one_group()],
        # beyond half the largest float, symmetrizing the covariance overflows, as row by row
        _change(0, covariance=1e308),
    ],
)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # ArmMoments, at 1e308
def test_odd_values_give_the_arms_row_by_row_gives(rows: list[dict]) -> None:
    key = ("e1", "all", "all", "revenue", None)
    got = arms_by_group(moment_columns(rows), daily=False, context=_group_context)
    _assert_same_arms(got[key][0], arms_from_moment_rows(rows, context=_group_context(key)))


def test_unit_counts_that_are_not_whole_numbers_fail_as_row_by_row() -> None:
    """Every row's n_arm is converted, as the statistics step always did, not only the last."""
    rows = [{**row, "n_arm": 30} for row in _one_group()]
    rows[0]["n_arm"] = float("nan")
    with pytest.raises(ValueError, match="cannot convert float NaN to integer"):
        arms_by_group(moment_columns(rows), daily=False, context=_group_context)
    rows[0]["n_arm"] = 30.0  # a float that is a whole number counts as it did
    got = arms_by_group(moment_columns(rows), daily=False, context=_group_context)
    assert got[("e1", "all", "all", "revenue", None)][1] == {"control": 30, "treatment": 30}


def test_the_first_group_in_sorted_order_names_the_error_whatever_the_row_order() -> None:
    bad = [
        {**row, "experiment_id": f"e{k}"}
        for k in range(10, 30)
        for row in _change(2, covariance=None)
    ]
    for seed in range(5):
        rows = [*_neighbour(), *bad]
        random.Random(seed).shuffle(rows)
        with pytest.raises(ValueError, match=r"^experiment 'e10', metric 'revenue'"):
            arms_by_group(moment_columns(rows), daily=False, context=_group_context)


@pytest.mark.parametrize("index", [-1, 2000])
def test_indices_out_of_every_range_raise_what_row_by_row_raises(index: int) -> None:
    """Every index negative, or one far beyond any arm's width: the whole table is read row by
    row (no array as wide as the index is made)."""
    rows = [{**row, "index_1": -1, "index_2": index} for row in _one_group()]
    with pytest.raises(ValueError) as want:
        arms_from_moment_rows(rows, context=_group_context(("e1", "all", "all", "revenue", None)))
    with pytest.raises(ValueError) as got:
        arms_by_group(moment_columns(rows), daily=False, context=_group_context)
    assert str(got.value) == str(want.value)


def test_only_the_odd_group_is_read_row_by_row(monkeypatch) -> None:
    """An infinite mean passes row by row (it becomes the largest float); the columnar checks
    send its group there, and only its group."""
    calls = []
    original = moment_arms.arms_from_moment_rows

    def counting(rows, *, context=""):
        calls.append(context)
        return original(rows, context=context)

    monkeypatch.setattr(moment_arms, "arms_from_moment_rows", counting)
    odd = [
        {**row, **({"mean_1": float("inf")} if row["index_1"] == 0 else {})} for row in _one_group()
    ]
    got = arms_by_group(moment_columns([*_neighbour(), *odd]), daily=False, context=_group_context)
    assert calls == [_group_context(("e1", "all", "all", "revenue", None))]
    assert got[("e1", "all", "all", "revenue", None)][0][0].mean[0] == np.finfo(float).max
    _assert_same_arms(
        got[("e1", "all", "all", "sessions", None)][0],
        arms_from_moment_rows(_neighbour()),
    )


def test_moment_columns_name_what_is_missing() -> None:
    rows = _one_group()
    with pytest.raises(ValueError, match="a moment row has no 'covariance'"):
        moment_columns([*rows[:-1], {k: v for k, v in rows[-1].items() if k != "covariance"}])
    columns = moment_columns(rows)
    with pytest.raises(ValueError, match="the moments have no column 'n'"):
        moment_columns({k: v for k, v in columns.items() if k != "n"})
    with pytest.raises(ValueError, match="different lengths"):
        moment_columns({**columns, "n": columns["n"][1:]})
    assert list(rows_of_columns(columns)) == [{k: row.get(k) for k in columns} for row in rows]
    assert arms_by_group(moment_columns([]), daily=True, context=_group_context) == {}


def test_checked_arms_must_be_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        ArmMoments._checked("a", 2, ("@y",), np.zeros(1), np.zeros((1, 1)))


def test_read_columns_are_the_columns_of_read_rows() -> None:
    con = duckdb.connect()
    relation = con.sql(
        "select * from (values ('e1', 2::bigint, 1.5::double, date '2026-01-02'), "
        "('e2', null, 'nan'::double, null)) t(Experiment_ID, n, mean, day)"
    )
    rows = read_rows(relation)
    columns = read_columns(relation)
    assert list(columns) == ["experiment_id", "n", "mean", "day"]
    assert {k: list(v) for k, v in columns.items()} == {
        k: [row[k] for row in rows] for k in columns
    }
    assert columns["mean"][1] is None
    empty = read_columns(con.sql("select 1 as a, 'x' as b where false"))
    assert {k: list(v) for k, v in empty.items()} == {"a": [], "b": []}


def test_duckdb_columns_through_numpy_are_the_values_of_its_rows() -> None:
    # read_columns reads a DuckDB relation through numpy arrays when every column's type allows
    # it; the values (and their Python types) are those of its rows as tuples, with NULL, NaN,
    # infinities, every integer width, text, booleans and dates, and it falls back to the
    # tuples for a date numpy cannot hold or a type it does not take (a decimal)
    con = duckdb.connect()
    con.sql(
        "create table t as select case when i % 3 = 0 then null else 'x' || i end as s, "
        "(i * 1.5)::double as d, case when i % 2 = 0 then null else i end::bigint as b, "
        "case when i = 3 then null else i % 2 = 0 end as bo, "
        "case when i % 4 = 0 then null else date '2020-01-01' + i::int end as dt, "
        "'nan'::double as nn, i::int as ii, i::smallint as si, (-i)::tinyint as ti, "
        "case when i = 1 then 'inf'::double when i = 2 then '-inf'::double "
        "when i = 5 then 1e308 end as edge, "
        "case when i = 2 then 'nan'::double when i = 3 then null else i end::double as mixed "
        "from range(10) r(i)"
    )
    queries = [
        "from t",
        "from t where false",
        "select 'infinity'::date as d, 1 as i",
        "select '12000-01-01'::date as d",
        "select 1.5::decimal(5, 2) as x, 'a' as y",
        "select 'a' as \"Mixed Case\"",
    ]
    for query in queries:
        names, tuples = con.sql(query).columns, con.sql(query).fetchall()
        expected = {
            name.lower(): [_plain(row[i]) for row in tuples] for i, name in enumerate(names)
        }
        columns = read_columns(con.sql(query))
        assert {k: list(v) for k, v in columns.items()} == expected, query
        assert {k: list(map(type, v)) for k, v in columns.items()} == {
            k: list(map(type, v)) for k, v in expected.items()
        }, query
    assert _duckdb_arrays(con.sql("from t")) is not None  # the numpy path is the one tested
    for query in queries[2:5]:
        assert _duckdb_arrays(con.sql(query)) is None, query


def _statistics_inputs() -> dict:
    rng = np.random.default_rng(5)
    moments, daily, plans, counts = [], [], [], []
    for metric in ("revenue", "orders"):
        plans.append(_plan("e1", metric))
        for variant in ("control", "treatment"):
            data = rng.normal(size=(200, 2))
            columns = {"@y": data[:, 0] + data[:, 1], "pre": data[:, 1]}
            moments.extend(arm_rows("e1", metric, variant, columns))
            for day in range(3):
                part = {k: v[: 50 * (day + 1)] for k, v in columns.items()}
                daily.extend(
                    {**row, "as_of_date": dt.date(2026, 1, 1 + day)}
                    for row in arm_rows("e1", metric, variant, part)
                )
    for variant in ("control", "treatment"):
        counts.append(
            {
                "experiment_id": "e1",
                "segment_name": "all",
                "segment_value": "all",
                "variant": variant,
                "n_units": 200,
                "expected_weight": None,
            }
        )
    return {
        "moment_rows": moments,
        "daily_moment_rows": daily,
        "plan_rows": plans,
        "count_rows": counts,
    }


def test_statistics_columns_are_the_rows_transposed_and_frame_alike() -> None:
    inputs = _statistics_inputs()
    rows = statistics_rows(**inputs)
    assert {r["table_name"] for r in rows} >= {"results", "results_daily", "balance"}
    from_columns = statistics_columns(
        **{**inputs, "moment_rows": moment_columns(inputs["moment_rows"])}
    )
    assert list(from_columns) == list(STATISTICS_COLUMNS)
    assert {k: list(v) for k, v in from_columns.items()} == {
        name: [row.get(name) for row in rows] for name in STATISTICS_COLUMNS
    }
    con = duckdb.connect()
    assert (
        to_frame(from_columns, STATISTICS_COLUMNS, con).fetchall()
        == to_frame(rows, STATISTICS_COLUMNS, con).fetchall()
    )
    with pytest.raises(ValueError, match="not among the output's columns"):
        to_frame({"no_such_column": [1]}, STATISTICS_COLUMNS, con)
    with pytest.raises(ValueError, match="different lengths"):
        to_frame({"table_name": ["a"], "n_units": [1, 2]}, STATISTICS_COLUMNS, con)


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_balance_reads_the_groups_the_results_cache_lacks() -> None:
    inputs = _statistics_inputs()
    moments, plans = inputs["moment_rows"], inputs["plan_rows"]
    cache: dict = {}
    results_rows(moments, plans, arms_cache=cache)
    assert len(cache) == 2
    partial = {key: arms for key, arms in cache.items() if key[3] == "revenue"}
    want = balance_rows(moments, plans)
    assert balance_rows(moments, plans, arms_cache=partial) == want
    assert balance_rows(moments, plans, arms_cache=cache) == want
    assert {row["metric_name"] for row in want} == {"revenue", "orders"}
