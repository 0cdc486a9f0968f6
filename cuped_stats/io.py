"""Rows in and tables out for the dbt Python model, whatever engine runs it.

The statistics core takes plain Python rows (dicts) and returns plain rows, so it needs neither
dbt nor pandas. This module is the only place that knows what ``dbt.ref()`` returns and what a
Python model must return on each engine:

| engine (dbt adapter)            | ``dbt.ref()`` returns  | the model returns                 |
|---------------------------------|------------------------|-----------------------------------|
| DuckDB (dbt-duckdb)             | a DuckDB relation      | a DuckDB relation, typed in SQL   |
| Spark, Databricks (PySpark)     | a PySpark DataFrame    | a Spark DataFrame, typed schema   |
| Snowflake (Snowpark)            | a Snowpark DataFrame   | a Snowpark DataFrame, typed schema|
| BigQuery (BigQuery DataFrames)  | a bigframes DataFrame  | a bigframes DataFrame             |

Outputs are typed from a column spec (name → ``object`` for text, ``numpy.float64``,
``numpy.int64``, ``numpy.bool_``, ``datetime.date``), never inferred from the values: a column
that is null on every row still has its type, a missing number is NULL (never NaN), and text
stays text.
No engine library is imported at module level; each is recognised by the module of its type.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["engine_of", "read_rows", "to_frame"]

Spec = Mapping[str, type]

_SQL_TYPES = {
    object: "VARCHAR",
    np.float64: "DOUBLE",
    np.int64: "BIGINT",
    np.bool_: "BOOLEAN",
    dt.date: "DATE",
}


def engine_of(obj: Any) -> str:
    """``duckdb``, ``spark``, ``snowpark``, ``bigframes``, ``pandas`` or ``unknown``: the engine
    a relation, DataFrame or session belongs to, from the module of its type."""
    module = type(obj).__module__ or ""
    for prefix, engine in (
        ("duckdb", "duckdb"),
        ("_duckdb", "duckdb"),
        ("dbt.adapters.duckdb", "duckdb"),  # dbt-duckdb's cursor wrapper, the model's session
        ("pyspark", "spark"),
        ("snowflake.snowpark", "snowpark"),
        ("bigframes", "bigframes"),
        ("pandas", "pandas"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return engine
    return "unknown"


def _plain(value: Any) -> Any:
    """A value as plain Python: NULL-like values (None, NaN, pandas NA/NaT) become None,
    numpy scalars and decimals become Python numbers; text, dates and timestamps stay."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, decimal.Decimal):
        return None if value.is_nan() else float(value)
    if isinstance(value, (str, bool, int, dt.date)):
        return value
    # pandas.NA / NaT and other missing-value sentinels compare unequal to themselves or raise
    try:
        if value != value:
            return None
    except TypeError:
        return None
    return value


#: Types whose values ``_plain`` returns unchanged (a float only when it is not NaN).
_PLAIN_TYPES = frozenset({str, int, bool, float, dt.date, dt.datetime})


def _plain_column(values: Sequence[Any]) -> Sequence[Any]:
    """``_plain`` of every value of a column; the column itself when that changes nothing
    (the usual case: one type test per value instead of a call)."""
    plain = _PLAIN_TYPES
    if all(type(value) in plain and value == value for value in values if value is not None):
        return values
    return [_plain(value) for value in values]


def _records(names: Sequence[Any], tuples: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    keys = [str(name).lower() for name in names]
    rows = tuples if isinstance(tuples, list) else list(tuples)
    for row in rows:
        if len(row) != len(keys):
            raise ValueError(f"a row has {len(row)} values for {len(keys)} columns {keys}")
    columns = [_plain_column(column) for column in zip(*rows, strict=True)]
    return (
        [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
        if columns
        else [{} for _ in rows]
    )


def _pandas_records(frame: Any) -> list[dict[str, Any]]:
    return _records(list(frame.columns), frame.itertuples(index=False, name=None))


def read_rows(relation: Any) -> list[dict[str, Any]]:
    """Every row of what ``dbt.ref()`` returned, as dicts keyed by lower-case column name, with
    plain Python values and None for NULL.

    Raises:
        TypeError: for an object of no engine this module knows, naming its type.
    """
    engine = engine_of(relation)
    if engine == "duckdb" or (hasattr(relation, "fetchall") and hasattr(relation, "columns")):
        return _records(relation.columns, relation.fetchall())
    if engine == "spark":
        return _records(relation.columns, (tuple(row) for row in relation.collect()))
    if engine == "snowpark":
        # Snowpark Rows are tuples in column order; column names come back upper-cased.
        return _records(relation.columns, (tuple(row) for row in relation.collect()))
    if engine == "bigframes":
        return _pandas_records(relation.to_pandas())
    if engine == "pandas":
        return _pandas_records(relation)
    raise TypeError(
        f"cuped: cannot read rows from a {type(relation).__module__}.{type(relation).__name__}; "
        "expected a DuckDB relation or a PySpark, Snowpark, BigQuery DataFrames or pandas "
        "DataFrame"
    )


def _checked_value(value: Any, dtype: type, name: str) -> Any:
    value = _plain(value)
    if value is None:
        return None
    if dtype is object:
        return str(value)
    if dtype is np.float64:
        value = float(value)
        return value if math.isfinite(value) else None
    if dtype is np.int64:
        return int(value)
    if dtype is np.bool_:
        return bool(value)
    if dtype is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    raise TypeError(f"column {name!r}: unsupported type {dtype!r}")


#: Per column type, the type of the values that ``_checked_value`` returns unchanged.
_KEPT_TYPES = {object: str, np.float64: float, np.int64: int, np.bool_: bool, dt.date: dt.date}


def _typed_column(values: list[Any], dtype: type, name: str) -> list[Any]:
    """``_checked_value`` of every value of a column, calling it only for the values it would
    change (None, and anything not already of the column's Python type; for floats, values that
    are not finite)."""
    kept = _KEPT_TYPES[dtype]
    if dtype is np.float64:
        return [
            value
            if type(value) is float and value - value == 0.0
            else _checked_value(value, dtype, name)
            for value in values
        ]
    return [
        value if type(value) is kept else _checked_value(value, dtype, name) for value in values
    ]


def _typed_columns(rows: Iterable[Mapping[str, Any]], spec: Spec) -> list[list[Any]]:
    """The columns of ``spec``, each a list of ``_checked_value`` of its rows' values."""
    rows = rows if isinstance(rows, list) else list(rows)
    return [
        _typed_column([row.get(name) for row in rows], dtype, name) for name, dtype in spec.items()
    ]


def _tuples(columns: list[list[Any]], n_rows: int) -> list[tuple[Any, ...]]:
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(n_rows)]


def _typed_tuples(rows: Iterable[Mapping[str, Any]], spec: Spec) -> list[tuple[Any, ...]]:
    rows = rows if isinstance(rows, list) else list(rows)
    return _tuples(_typed_columns(rows, spec), len(rows))


def _spark_schema(spec: Spec) -> Any:
    from pyspark.sql import types

    kinds = {
        object: types.StringType,
        np.float64: types.DoubleType,
        np.int64: types.LongType,
        np.bool_: types.BooleanType,
        dt.date: types.DateType,
    }
    return types.StructType([types.StructField(name, kinds[t](), True) for name, t in spec.items()])


def _snowpark_schema(spec: Spec) -> Any:
    from snowflake.snowpark import types

    kinds = {
        object: types.StringType,
        np.float64: types.DoubleType,
        np.int64: types.LongType,
        np.bool_: types.BooleanType,
        dt.date: types.DateType,
    }
    return types.StructType(
        [types.StructField(name.upper(), kinds[t](), True) for name, t in spec.items()]
    )


def _pandas_frame(columns: Sequence[Sequence[Any]], spec: Spec) -> Any:
    import pandas as pd

    dtypes = {
        object: "string",
        np.float64: "Float64",
        np.int64: "Int64",
        np.bool_: "boolean",
        dt.date: "object",
    }
    return pd.DataFrame(
        {
            name: pd.array(list(values), dtype=dtypes[t])
            for (name, t), values in zip(spec.items(), columns, strict=True)
        }
    )


def _duckdb_relation(columns: Sequence[Sequence[Any]], spec: Spec, session: Any) -> Any:
    """A DuckDB relation over the rows, every column cast to its SQL type: an object array per
    column is registered as a view and a typed select is returned (DuckDB would otherwise infer
    a column's type from its values, and a column of nulls would have none)."""
    arrays = {}
    for name, values in zip(spec, columns, strict=True):
        array = np.empty(len(values), dtype=object)
        array[:] = values
        arrays[name] = array
    view = f"__cuped_rows_{id(arrays):x}"
    session.register(view, arrays)
    select = ", ".join(f'cast("{name}" as {_SQL_TYPES[t]}) as "{name}"' for name, t in spec.items())
    return session.sql(f"select {select} from {view}")


def to_frame(rows: Iterable[Mapping[str, Any]], spec: Spec, session: Any) -> Any:
    """The table a dbt Python model returns on ``session``'s engine: ``rows`` (dicts; a key
    absent from a row is NULL) with exactly the columns of ``spec``, in its order and types.
    Floats that are not finite are written as NULL.

    Raises:
        TypeError: for a session of no engine this module knows, naming its type.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    columns = _typed_columns(rows, spec)
    engine = engine_of(session)
    if engine == "duckdb":
        return _duckdb_relation(columns, spec, session)
    if engine == "spark":
        return session.createDataFrame(_tuples(columns, len(rows)), schema=_spark_schema(spec))
    if engine == "snowpark":
        return session.create_dataframe(_tuples(columns, len(rows)), schema=_snowpark_schema(spec))
    if engine == "bigframes":
        import bigframes.pandas as bpd

        return bpd.read_pandas(_pandas_frame(columns, spec))
    if session is None or engine == "pandas":
        return _pandas_frame(columns, spec)
    raise TypeError(
        f"cuped: cannot build an output table for a session of type "
        f"{type(session).__module__}.{type(session).__name__}"
    )
