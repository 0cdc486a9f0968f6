"""cuped_stats.io: rows from what dbt.ref() returns, and typed output tables, per engine.

DuckDB and pandas are real here. PySpark, Snowpark and BigQuery DataFrames are lightweight fakes
with the shapes of their APIs (a DataFrame with `columns` and `collect()` of tuple-like rows, or
`to_pandas()`; a session's `createDataFrame`/`create_dataframe`/`read_pandas` with an explicit
schema), registered under their real module names so that the engine is recognised as it is in
a real dbt Python model. The Spark test suite runs the same code on a real local Spark.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
import types
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from cuped_stats.io import engine_of, read_rows, to_frame

SPEC = {"name": object, "value": np.float64, "count": np.int64, "flag": np.bool_}
ROWS = [
    {"name": "a", "value": 1.5, "count": 3, "flag": True},
    {"name": None, "value": float("nan"), "count": None, "flag": None},
    {"value": float("inf")},  # absent keys are NULL; a non-finite float is NULL
]
EXPECTED = [
    ("a", 1.5, 3, True),
    (None, None, None, None),
    (None, None, None, None),
]


def _fake_class(module: str, name: str, **members: Any) -> type:
    cls = type(name, (), members)
    cls.__module__ = module
    return cls


def test_duckdb_relation_rows_are_plain_python_keyed_by_lower_case_name() -> None:
    con = duckdb.connect()
    relation = con.sql(
        "select 'x' as Name, 2.5::double as value, 7::bigint as n, null::double as missing, "
        "date '2026-01-02' as day, 1.25::decimal(5, 2) as amount"
    )
    assert engine_of(relation) == "duckdb"
    assert read_rows(relation) == [
        {
            "name": "x",
            "value": 2.5,
            "n": 7,
            "missing": None,
            "day": dt.date(2026, 1, 2),
            "amount": 1.25,
        }
    ]


def test_duckdb_output_is_typed_by_the_spec_not_by_the_values() -> None:
    con = duckdb.connect()
    relation = to_frame(ROWS, SPEC, con)
    assert relation.columns == list(SPEC)
    assert [str(t) for t in relation.types] == ["VARCHAR", "DOUBLE", "BIGINT", "BOOLEAN"]
    assert relation.fetchall() == EXPECTED
    # a column that is null on every row still has its type
    empty = to_frame([{"name": None}], SPEC, con)
    assert [str(t) for t in empty.types] == ["VARCHAR", "DOUBLE", "BIGINT", "BOOLEAN"]


def test_pandas_rows_turn_nan_and_na_into_none() -> None:
    frame = pd.DataFrame(
        {
            "A": pd.array([1, None], dtype="Int64"),
            "b": [np.nan, 2.0],
            "c": pd.array(["x", None], dtype="string"),
            "d": [decimal.Decimal("1.5"), decimal.Decimal("NaN")],
        }
    )
    assert read_rows(frame) == [
        {"a": 1, "b": None, "c": "x", "d": 1.5},
        {"a": None, "b": 2.0, "c": None, "d": None},
    ]


def test_pandas_output_has_nullable_types_without_a_session() -> None:
    frame = to_frame(ROWS, SPEC, None)
    assert [str(t) for t in frame.dtypes] == ["string", "Float64", "Int64", "boolean"]
    assert frame.iloc[0].tolist() == ["a", 1.5, 3, True]
    assert frame.iloc[1].isna().all() and frame.iloc[2].isna().all()


class _Row(tuple):
    """A Row of PySpark/Snowpark: a tuple in column order (attribute access not needed)."""


@pytest.fixture
def fake_spark(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """pyspark.sql.types and a DataFrame/session with PySpark's shapes."""
    spark_types = types.ModuleType("pyspark.sql.types")

    class _Type:
        def __eq__(self, other: object) -> bool:
            return type(self) is type(other)

    for name in ("StringType", "DoubleType", "LongType", "BooleanType", "DateType"):
        setattr(spark_types, name, type(name, (_Type,), {}))
    spark_types.StructField = lambda name, kind, nullable: (name, kind, nullable)
    spark_types.StructType = lambda fields: list(fields)
    for name in ("pyspark", "pyspark.sql"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "pyspark.sql.types", spark_types)
    sys.modules["pyspark.sql"].types = spark_types

    def collect(self):
        return [_Row(row) for row in self._rows]

    frame_class = _fake_class("pyspark.sql.dataframe", "DataFrame", collect=collect)
    created: dict[str, Any] = {}

    def create_data_frame(self, data, schema):
        created.update(data=data, schema=schema)
        return "spark frame"

    session_class = _fake_class(
        "pyspark.sql.session", "SparkSession", createDataFrame=create_data_frame
    )
    return types.SimpleNamespace(
        types=spark_types, frame_class=frame_class, session=session_class(), created=created
    )


def test_spark_rows_are_collected_and_keyed_by_lower_case_name(fake_spark) -> None:
    frame = fake_spark.frame_class()
    frame.columns = ["Experiment_ID", "n"]
    frame._rows = [("e1", 3), ("e2", None)]
    assert engine_of(frame) == "spark"
    assert read_rows(frame) == [{"experiment_id": "e1", "n": 3}, {"experiment_id": "e2", "n": None}]


def test_spark_output_has_an_explicit_schema_and_none_for_missing(fake_spark) -> None:
    assert to_frame(ROWS, SPEC, fake_spark.session) == "spark frame"
    t = fake_spark.types
    assert fake_spark.created["schema"] == [
        ("name", t.StringType(), True),
        ("value", t.DoubleType(), True),
        ("count", t.LongType(), True),
        ("flag", t.BooleanType(), True),
    ]
    assert fake_spark.created["data"] == EXPECTED
    # never the float NaN or the text 'nan' that a pandas round trip would write
    assert all(v is None for row in fake_spark.created["data"][1:] for v in row)


def test_snowpark_rows_and_output_with_upper_case_names(monkeypatch) -> None:
    snow_types = types.ModuleType("snowflake.snowpark.types")
    for name in ("StringType", "DoubleType", "LongType", "BooleanType", "DateType"):
        setattr(snow_types, name, type(name, (), {}))
    snow_types.StructField = lambda name, kind, nullable: (name, type(kind).__name__, nullable)
    snow_types.StructType = lambda fields: list(fields)
    for name in ("snowflake", "snowflake.snowpark"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "snowflake.snowpark.types", snow_types)
    sys.modules["snowflake.snowpark"].types = snow_types

    frame = _fake_class(
        "snowflake.snowpark.dataframe",
        "DataFrame",
        columns=["EXPERIMENT_ID", "N"],
        collect=lambda self: [_Row(("e1", 2))],
    )()
    assert engine_of(frame) == "snowpark"
    assert read_rows(frame) == [{"experiment_id": "e1", "n": 2}]

    created: dict[str, Any] = {}
    session = _fake_class(
        "snowflake.snowpark.session",
        "Session",
        create_dataframe=lambda self, data, schema: created.update(data=data, schema=schema),
    )()
    to_frame(ROWS, SPEC, session)
    assert created["schema"] == [
        ("NAME", "StringType", True),
        ("VALUE", "DoubleType", True),
        ("COUNT", "LongType", True),
        ("FLAG", "BooleanType", True),
    ]
    assert created["data"] == EXPECTED


def test_bigframes_rows_via_to_pandas_and_output_via_read_pandas(monkeypatch) -> None:
    frame = _fake_class(
        "bigframes.dataframe",
        "DataFrame",
        to_pandas=lambda self: pd.DataFrame({"Experiment_ID": ["e1"], "mean": [np.nan]}),
    )()
    assert engine_of(frame) == "bigframes"
    assert read_rows(frame) == [{"experiment_id": "e1", "mean": None}]

    bpd = types.ModuleType("bigframes.pandas")
    bpd.read_pandas = lambda pandas_frame: ("bigframes frame", pandas_frame)
    monkeypatch.setitem(sys.modules, "bigframes", types.ModuleType("bigframes"))
    monkeypatch.setitem(sys.modules, "bigframes.pandas", bpd)
    session = _fake_class("bigframes.session", "Session")()
    kind, pandas_frame = to_frame(ROWS, SPEC, session)
    assert kind == "bigframes frame"
    assert [str(t) for t in pandas_frame.dtypes] == ["string", "Float64", "Int64", "boolean"]


def test_unknown_objects_are_refused_naming_their_type() -> None:
    with pytest.raises(TypeError, match=r"cannot read rows from a builtins\.object"):
        read_rows(object())
    with pytest.raises(TypeError, match=r"session of type builtins\.object"):
        to_frame(ROWS, SPEC, object())


#: Values of every kind a column can hold: plain ones (kept as they are by the column-wise fast
#: paths) and those the per-value conversion changes (NULL-like, numpy, decimal, non-finite,
#: subclasses, text of a number).
MIXED_VALUES: list[Any] = [
    None,
    "text",
    "",
    "2.5",
    0,
    -7,
    True,
    False,
    1.5,
    -0.0,
    float("nan"),
    float("inf"),
    -float("inf"),
    1e300,
    np.float64(2.25),
    np.float64("nan"),
    np.int64(4),
    np.bool_(True),
    decimal.Decimal("1.25"),
    decimal.Decimal("NaN"),
    dt.date(2026, 1, 2),
    dt.datetime(2026, 1, 2, 3, 4),
    pd.NA,
    pd.NaT,
]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or (a != a and b != b))


def test_column_wise_reading_gives_what_each_value_gives() -> None:
    """_records converts a column at a time, skipping values that need nothing: every value of
    every kind, alone and mixed with others in its column, comes out as _plain makes it."""
    from cuped_stats.io import _plain, _records

    columns = [
        MIXED_VALUES,
        [1.0, 2.0, None],
        ["a", None, "b"],
        [float("nan"), 1.0, 2.0],
        # beside floats and None (the NaN test is one array of the column)
        *([1.0, None, value] for value in MIXED_VALUES),
        [10**400, 1.5, float("nan")],  # no float array: value by value
        [10**400, 1.5],
    ]
    for column in columns:
        got = _records(["C"], [(value,) for value in column])
        want = [_plain(value) for value in column]
        assert all(_same(row["c"], w) for row, w in zip(got, want, strict=True)), column
    assert _records(["A", "b"], []) == []
    with pytest.raises(ValueError, match="a row has 1 values for 2 columns"):
        _records(["a", "b"], [(1,)])


def test_column_wise_typing_gives_what_each_value_gives() -> None:
    """_typed_columns checks a column at a time, calling the per-value check only where it would
    change the value: for every type, every kind of value gives what _checked_value gives, or the
    same error."""
    from cuped_stats.io import _checked_value, _typed_columns

    for dtype in (object, np.float64, np.int64, np.bool_, dt.date):
        for value in MIXED_VALUES:
            try:
                want: Any = _checked_value(value, dtype, "c")
            except (TypeError, ValueError, OverflowError, decimal.InvalidOperation) as error:
                with pytest.raises(type(error)):
                    _typed_columns([{"c": value}], {"c": dtype})
                continue
            got = _typed_columns([{"c": value}, {}], {"c": dtype})
            assert _same(got[0][0], want) and got[0][1] is None, (dtype, value)


def test_duckdb_output_of_float_columns_gives_what_each_value_gives() -> None:
    """to_frame of columns on DuckDB passes a float column of plain numbers as a float64 array
    (NULL for None, NaN and infinities): every kind of value, beside floats and None, is
    written as _checked_value makes it, or raises the same error."""
    from cuped_stats.io import _checked_value

    con = duckdb.connect()
    for value in [*MIXED_VALUES, 10**400, 2**60 + 1]:
        column = [1.0, None, value]
        try:
            want = [_checked_value(v, np.float64, "c") for v in column]
        except (TypeError, ValueError, OverflowError, decimal.InvalidOperation) as error:
            with pytest.raises(type(error)):
                to_frame({"c": column}, {"c": np.float64}, con)
            continue
        got = [row[0] for row in to_frame({"c": column}, {"c": np.float64}, con).fetchall()]
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (value, got)
