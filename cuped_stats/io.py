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

import contextlib
import datetime as dt
import decimal
import gc
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["engine_of", "gc_paused", "read_columns", "read_rows", "to_frame"]

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


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block (on again after it, if it was on).

    The statistics step makes hundreds of thousands of small objects (moment values, result
    rows), and each allocation count past a threshold starts a collection; in dbt's process
    the oldest generation holds dbt's manifest, and a full collection walks all of it. The
    step makes no garbage that needs the collector (its objects are freed by reference
    counting, or collected once it is on again).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
_PLAIN_TYPES_OR_NONE = _PLAIN_TYPES | {type(None)}


def _plain_column(values: Sequence[Any]) -> Sequence[Any]:
    """``_plain`` of every value of a column; the column itself when that changes nothing
    (the usual case, found without a call per value: the set of the values' types, and for a
    column of floats one array test for NaN)."""
    types = set(map(type, values))
    if types <= _PLAIN_TYPES_OR_NONE and (float not in types or not _has_nan(values)):
        return values
    return [_plain(value) for value in values]


def _has_nan(values: Sequence[Any]) -> bool:
    """Whether a column of plain values and None holds a float NaN."""
    try:  # numbers and None only: one array, None as NaN; a None alone is no reason to copy
        if not np.isnan(np.array(values, dtype=np.float64)).any():
            return False
    except (TypeError, ValueError, OverflowError):
        pass
    return any(type(value) is float and value != value for value in values)


def _column_lists(
    names: Sequence[Any], tuples: Iterable[Sequence[Any]]
) -> tuple[list[str], list[Sequence[Any]], int]:
    """Lower-case names, the plain values of each column, and the number of rows."""
    keys = [str(name).lower() for name in names]
    rows = tuples if isinstance(tuples, list) else list(tuples)
    for row in rows:
        if len(row) != len(keys):
            raise ValueError(f"a row has {len(row)} values for {len(keys)} columns {keys}")
    return keys, [_plain_column(column) for column in zip(*rows, strict=True)], len(rows)


def _records(names: Sequence[Any], tuples: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    keys, columns, n_rows = _column_lists(names, tuples)
    return (
        [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
        if columns
        else [{} for _ in range(n_rows)]
    )


def _names_and_tuples(relation: Any) -> tuple[Sequence[Any], Iterable[Sequence[Any]]]:
    """The column names and the rows (tuples) of what ``dbt.ref()`` returned.

    Raises:
        TypeError: for an object of no engine this module knows, naming its type.
    """
    engine = engine_of(relation)
    if engine == "duckdb" or (hasattr(relation, "fetchall") and hasattr(relation, "columns")):
        return relation.columns, relation.fetchall()
    if engine in ("spark", "snowpark"):
        # Snowpark Rows are tuples in column order; column names come back upper-cased.
        return relation.columns, [tuple(row) for row in relation.collect()]
    if engine in ("bigframes", "pandas"):
        frame = relation.to_pandas() if engine == "bigframes" else relation
        return list(frame.columns), frame.itertuples(index=False, name=None)
    raise TypeError(
        f"cuped: cannot read rows from a {type(relation).__module__}.{type(relation).__name__}; "
        "expected a DuckDB relation or a PySpark, Snowpark, BigQuery DataFrames or pandas "
        "DataFrame"
    )


def read_rows(relation: Any) -> list[dict[str, Any]]:
    """Every row of what ``dbt.ref()`` returned, as dicts keyed by lower-case column name, with
    plain Python values and None for NULL.

    Raises:
        TypeError: for an object of no engine this module knows, naming its type.
    """
    return _records(*_names_and_tuples(relation))


def read_columns(relation: Any) -> dict[str, Sequence[Any]]:
    """The columns of what ``dbt.ref()`` returned: lower-case column name → its values, plain
    Python values and None for NULL, as :func:`read_rows` gives them but without a dict per row
    (for the moment tables, which :mod:`cuped_stats.moment_arms` reads as columns).

    Raises:
        TypeError: for an object of no engine this module knows, naming its type.
    """
    arrays = _duckdb_arrays(relation)
    if arrays is not None:
        return arrays
    keys, columns, _ = _column_lists(*_names_and_tuples(relation))
    return dict(zip(keys, columns or [()] * len(keys), strict=True))


#: DuckDB types whose numpy arrays (``fetchnumpy``) give, through ``tolist()``, the values
#: ``fetchall`` gives (None for NULL: those arrays are masked).
_DUCKDB_ARRAY_TYPES = frozenset(
    {"VARCHAR", "DOUBLE", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "BOOLEAN", "DATE"}
)


def _duckdb_arrays(relation: Any) -> dict[str, list[Any]] | None:
    """A DuckDB relation's columns (lower-case name → plain values, as ``_plain_column``
    makes them) through numpy arrays, a C loop per column rather than a Python tuple per row
    (the daily moments of 100 metrics: 0.11 s instead of 0.35 s); None for anything else, or a
    column of another type (then the rows are fetched as tuples). Of these types only a double
    can hold a value ``_plain`` changes (NaN, to None), found with one array test."""
    if engine_of(relation) != "duckdb" or not hasattr(relation, "fetchnumpy"):
        return None
    types = [str(t) for t in relation.types]
    if not set(types) <= _DUCKDB_ARRAY_TYPES:
        return None
    try:
        arrays = relation.fetchnumpy()
    except Exception:  # e.g. a date at infinity: fetchall reads it (or raises the error)
        return None
    columns = {}
    for name, kind in zip(relation.columns, types, strict=True):
        if kind == "DATE":
            values = arrays[name].astype("datetime64[D]").tolist()
            # a year past 9999 is no datetime.date here (an int): read the rows as tuples
            if not set(map(type, values)) <= {dt.date, type(None)}:
                return None
        else:
            array = arrays[name]
            values = array.tolist()
            if (
                kind == "DOUBLE"
                and np.isnan(np.ma.getdata(array)[~np.ma.getmaskarray(array)]).any()
            ):
                values = [None if value != value else value for value in values]
        columns[str(name).lower()] = values
    return columns


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
            if (type(value) is float and value - value == 0.0) or value is None
            else _checked_value(value, dtype, name)
            for value in values
        ]
    if set(map(type, values)) <= {kept, type(None)}:  # nothing to change: no test per value
        return values
    return [
        value if type(value) is kept or value is None else _checked_value(value, dtype, name)
        for value in values
    ]


def _typed_columns(rows: Iterable[Mapping[str, Any]], spec: Spec) -> list[list[Any]]:
    """The columns of ``spec``, each a list of ``_checked_value`` of its rows' values."""
    rows = rows if isinstance(rows, list) else list(rows)
    return [
        _typed_column([row.get(name) for row in rows], dtype, name) for name, dtype in spec.items()
    ]


def _typed_given_columns(
    columns: Mapping[str, Sequence[Any]], spec: Spec, *, float_arrays: bool = False
) -> list[Sequence[Any]]:
    """The columns of ``spec`` from ``columns`` (name → values; a column it lacks is null),
    each a list of ``_checked_value`` of its values; with ``float_arrays``, each float column
    is a float64 array instead, NaN where the list would hold None (see ``_float_array``).

    Raises:
        ValueError: for columns of different lengths, or a column not in ``spec``.
    """
    extra = [name for name in columns if name not in spec]
    if extra:
        raise ValueError(f"columns {extra} are not among the output's columns {list(spec)}")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"the columns have different lengths: {sorted(lengths)}")
    n_rows = lengths.pop() if lengths else 0
    typed: list[Sequence[Any]] = []
    for name, dtype in spec.items():
        values = list(columns[name]) if name in columns else [None] * n_rows
        array = _float_array(values) if float_arrays and dtype is np.float64 else None
        typed.append(array if array is not None else _typed_column(values, dtype, name))
    return typed


#: The types of the values ``_float_array`` converts as ``_checked_value`` does.
_FLOAT_ARRAY_TYPES = frozenset({float, int, bool, type(None)})


def _float_array(values: list[Any]) -> np.ndarray | None:
    """A float column as a float64 array, NaN for None and for values that are not finite
    (``_checked_value`` gives None for all three), when its values are Python numbers and None
    only (None otherwise: the column is checked value by value). One C loop instead of a test
    per value, and DuckDB reads the array without a Python object per value."""
    if not set(map(type, values)) <= _FLOAT_ARRAY_TYPES:
        return None
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:  # an int beyond the floats: float() raises the error row by row
        return None
    array[~np.isfinite(array)] = np.nan
    return array


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
    arrays: dict[str, np.ndarray] = {}
    select = []
    for (name, dtype), values in zip(spec.items(), columns, strict=True):
        if isinstance(values, np.ndarray):  # a float column: NaN is NULL (``_float_array``)
            arrays[name] = values
            select.append(f'case when not isnan("{name}") then "{name}" end as "{name}"')
            continue
        array = np.empty(len(values), dtype=object)
        array[:] = values
        arrays[name] = array
        select.append(f'cast("{name}" as {_SQL_TYPES[dtype]}) as "{name}"')
    view = f"__cuped_rows_{id(arrays):x}"
    session.register(view, arrays)
    return session.sql(f"select {', '.join(select)} from {view}")


def to_frame(
    rows: Iterable[Mapping[str, Any]] | Mapping[str, Sequence[Any]], spec: Spec, session: Any
) -> Any:
    """The table a dbt Python model returns on ``session``'s engine: ``rows`` (dicts; a key
    absent from a row is NULL), or the table's columns (a mapping of column name to values; a
    column absent is NULL), with exactly the columns of ``spec``, in its order and types.
    Floats that are not finite are written as NULL.

    Raises:
        TypeError: for a session of no engine this module knows, naming its type.
        ValueError: for columns of different lengths or not in ``spec``.
    """
    engine = engine_of(session)
    if isinstance(rows, Mapping):
        columns = _typed_given_columns(rows, spec, float_arrays=engine == "duckdb")
        n_rows = len(columns[0]) if columns else 0
    else:
        rows = rows if isinstance(rows, list) else list(rows)
        columns = _typed_columns(rows, spec)
        n_rows = len(rows)
    if engine == "duckdb":
        return _duckdb_relation(columns, spec, session)
    if engine == "spark":
        return session.createDataFrame(_tuples(columns, n_rows), schema=_spark_schema(spec))
    if engine == "snowpark":
        return session.create_dataframe(_tuples(columns, n_rows), schema=_snowpark_schema(spec))
    if engine == "bigframes":
        import bigframes.pandas as bpd

        return bpd.read_pandas(_pandas_frame(columns, spec))
    if session is None or engine == "pandas":
        return _pandas_frame(columns, spec)
    raise TypeError(
        f"cuped: cannot build an output table for a session of type "
        f"{type(session).__module__}.{type(session).__name__}"
    )
