"""The statistics step on a warehouse whose dbt adapter has no Python models (PostgreSQL,
Redshift, Trino...), through any DB-API 2.0 connection.

dbt builds the moments in SQL; this module reads the five tables the Python model
``cuped__statistics`` reads, computes the same rows with :func:`cuped_stats.tables.statistics_rows`
and writes them as a table of the same name and columns, which the public models then read. The
``cuped-stats statistics`` command (:mod:`cuped_stats.cli`) runs it between two dbt builds with
the connection and relation names of the dbt project; this module needs neither dbt nor pandas.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cuped_stats.io import Spec, _records, _typed_tuples
from cuped_stats.tables import STATISTICS_COLUMNS, statistics_rows

__all__ = [
    "INPUTS_BUILD",
    "STATISTICS_INPUTS",
    "column_types",
    "fetch_rows",
    "paramstyle_of",
    "run_statistics",
    "write_table",
]

#: keyword of :func:`statistics_rows` → the dbt model whose rows it takes
STATISTICS_INPUTS: dict[str, str] = {
    "moment_rows": "cuped__moments",
    "daily_moment_rows": "cuped__daily_moments",
    "plan_rows": "cuped__analysis_plan",
    "count_rows": "cuped__arm_counts",
    "quantile_rows": "cuped__quantile_arms",
}

_TYPES: dict[str, dict[type, str]] = {
    # dbt adapter type → the SQL type of each column kind of a spec
    "postgres": {
        object: "text",
        np.float64: "double precision",
        np.int64: "bigint",
        np.bool_: "boolean",
        dt.date: "date",
    },
    "redshift": {
        object: "varchar(65535)",
        np.float64: "double precision",
        np.int64: "bigint",
        np.bool_: "boolean",
        dt.date: "date",
    },
}
_STANDARD = {
    object: "varchar",
    np.float64: "double",
    np.int64: "bigint",
    np.bool_: "boolean",
    dt.date: "date",
}

#: the column of cuped__analysis_plan (on adapters without Python models) that names the build
#: of the statistics' inputs; written into every row of the output, which the public models check
INPUTS_BUILD = "inputs_build"

#: rows per INSERT statement: one statement per row is a round trip per row on most drivers
_BATCH = 500


def column_types(adapter_type: str) -> dict[type, str]:
    """The SQL type of each column kind (``object``, ``numpy.float64``...) on a dbt adapter type:
    ``double precision`` on PostgreSQL and Redshift, standard names (``varchar``, ``double``)
    elsewhere (Trino, DuckDB, Snowflake)."""
    return _TYPES.get(adapter_type, _STANDARD)


def paramstyle_of(connection: Any) -> str:
    """The DB-API ``paramstyle`` of the driver module a connection comes from (``psycopg2``:
    ``pyformat``, ``sqlite3``: ``qmark``...)."""
    package = (type(connection).__module__ or "").split(".")[0]
    try:
        style = importlib.import_module(package).paramstyle
    except (ImportError, AttributeError):
        raise TypeError(
            f"cuped: cannot tell the DB-API paramstyle of a {type(connection).__module__}."
            f"{type(connection).__name__}; pass paramstyle= explicitly"
        ) from None
    return str(style)


def _placeholders(count: int, start: int, paramstyle: str) -> str:
    if paramstyle == "qmark":
        marks = ["?"] * count
    elif paramstyle in ("format", "pyformat"):
        marks = ["%s"] * count
    elif paramstyle == "numeric":
        marks = [f":{start + i + 1}" for i in range(count)]
    elif paramstyle == "named":
        marks = [f":p{start + i}" for i in range(count)]
    else:
        raise ValueError(f"cuped: unsupported DB-API paramstyle {paramstyle!r}")
    return "(" + ", ".join(marks) + ")"


def fetch_rows(connection: Any, relation: str) -> list[dict[str, Any]]:
    """Every row of ``relation`` (a rendered, quoted relation name) as dicts keyed by lower-case
    column name, with plain Python values and None for NULL."""
    cursor = connection.cursor()
    try:
        cursor.execute(f"select * from {relation}")
        names = [column[0] for column in cursor.description]
        return _records(names, cursor.fetchall())
    finally:
        cursor.close()


def write_table(
    connection: Any,
    relation: str,
    rows: Sequence[Mapping[str, Any]],
    spec: Spec,
    *,
    types: Mapping[type, str],
    paramstyle: str,
    quote: str = '"',
) -> int:
    """Replace ``relation`` by a table of exactly the columns of ``spec`` (in its order, typed by
    ``types``) holding ``rows``; a key absent from a row, and a float that is not finite, is
    written as NULL. Drop, create and insert run in one transaction, committed at the end (one
    atomic replacement where the database has transactional DDL, as PostgreSQL has).
    Returns the number of rows written."""
    _placeholders(len(spec), 0, paramstyle)  # an unsupported style fails before any change
    tuples = _typed_tuples(rows, spec)
    columns = ", ".join(f"{quote}{name}{quote} {types[kind]}" for name, kind in spec.items())
    names = ", ".join(f"{quote}{name}{quote}" for name in spec)
    width = len(spec)
    cursor = connection.cursor()
    try:
        cursor.execute(f"drop table if exists {relation}")
        cursor.execute(f"create table {relation} ({columns})")
        for start in range(0, len(tuples), _BATCH):
            batch = tuples[start : start + _BATCH]
            values = ", ".join(
                _placeholders(width, i * width, paramstyle) for i in range(len(batch))
            )
            flat = [value for row in batch for value in row]
            parameters: Any = (
                {f"p{i}": value for i, value in enumerate(flat)} if paramstyle == "named" else flat
            )
            cursor.execute(f"insert into {relation} ({names}) values {values}", parameters)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        cursor.close()
    return len(tuples)


def run_statistics(
    connection: Any,
    inputs: Mapping[str, str],
    output: str,
    *,
    types: Mapping[type, str] = _STANDARD,
    paramstyle: str | None = None,
    quote: str = '"',
) -> int:
    """The statistics step: read the input relations (``inputs``: dbt model name → rendered
    relation, the models of STATISTICS_INPUTS), compute every statistic and write it to
    ``output``, the relation the public models read. Returns the number of rows written.

    When the analysis plan has the column INPUTS_BUILD (dbt writes it on adapters without Python
    models), or has no rows, the output has it too, every row holding the plan's value: the
    public models check it against the plan before they read the rows, so statistics of older
    moments are never published as new.

    Raises:
        KeyError: when an input model of STATISTICS_INPUTS is missing from ``inputs``.
        ValueError: when the plan's rows name more than one build.
    """
    missing = [model for model in STATISTICS_INPUTS.values() if model not in inputs]
    if missing:
        raise KeyError(f"cuped: no relation given for {', '.join(missing)}")
    read = {
        keyword: fetch_rows(connection, inputs[model])
        for keyword, model in STATISTICS_INPUTS.items()
    }
    rows = statistics_rows(**read)
    spec: Spec = STATISTICS_COLUMNS
    plans = read["plan_rows"]
    if not plans or INPUTS_BUILD in plans[0]:
        # the build of the inputs, which the public models check before they read the rows
        builds = {row.get(INPUTS_BUILD) for row in plans}
        if len(builds) > 1:
            raise ValueError(
                f"cuped: {inputs['cuped__analysis_plan']} holds rows of {len(builds)} builds "
                f"({', '.join(sorted(map(str, builds)))}); build the inputs again in one run"
            )
        build = next(iter(builds), None)
        spec = {**STATISTICS_COLUMNS, INPUTS_BUILD: object}
        rows = [{**row, INPUTS_BUILD: build} for row in rows]
    return write_table(
        connection,
        output,
        rows,
        spec,
        types=types,
        paramstyle=paramstyle or paramstyle_of(connection),
        quote=quote,
    )
