"""Reading the public cuped tables out of a DuckDB file, as plain rows.

The report reads only the package's public tables (the contracts in ``models/public``), never its
internal models. ``cuped_results`` and ``cuped_health`` are required; the daily series, balance and
caps are drawn when present. DuckDB is imported only here and only when a file is read: the
statistics core does not depend on it, and a missing ``duckdb`` gives
:class:`MissingDependencyError` with the command that installs it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "OPTIONAL_TABLES",
    "REQUIRED_TABLES",
    "MissingDependencyError",
    "PublicTables",
    "import_dependency",
    "load_tables",
]

Row = Mapping[str, Any]

REQUIRED_TABLES = ("cuped_results", "cuped_health")
OPTIONAL_TABLES = ("cuped_results_daily", "cuped_balance", "cuped_caps", "cuped_decisions")


class MissingDependencyError(ImportError):
    """A package of the ``report`` extra is not installed; the message says how to install it."""


def import_dependency(name: str) -> ModuleType:
    """``import name``, or :class:`MissingDependencyError` saying what to install and where."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise MissingDependencyError(
            f"cuped-report needs the Python package `{name}`, which is not installed in the "
            f"environment running it ({sys.executable}). Install the report extra there: "
            f'pip install "cuped-stats[report]" (or: pip install duckdb jinja2).'
        ) from error


@dataclass(frozen=True)
class PublicTables:
    """The rows of the public tables the report reads (an absent optional table: no rows)."""

    results: tuple[Row, ...]
    health: tuple[Row, ...]
    daily: tuple[Row, ...] = ()
    balance: tuple[Row, ...] = ()
    caps: tuple[Row, ...] = ()
    #: ``None``: no ``cuped_decisions`` table (the page then says no decision table was read).
    decisions: tuple[Row, ...] | None = None


_FIELDS = {
    "cuped_results": "results",
    "cuped_health": "health",
    "cuped_results_daily": "daily",
    "cuped_balance": "balance",
    "cuped_caps": "caps",
    "cuped_decisions": "decisions",
}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _missing_message(
    database: str | Path, schema: str, missing: list[str], schemas: Mapping[str, set[str]]
) -> str:
    found = sorted(name for name, tables in schemas.items() if set(REQUIRED_TABLES) <= tables)
    where = (
        f"they are in schema {', '.join(repr(s) for s in found)}: pass --schema {found[0]}"
        if found
        else "run `dbt build` first, or pass --schema (the schema dbt built the cuped tables in; "
        "with a custom `+schema` dbt names it <target schema>_<custom schema>)"
    )
    return f"schema {schema!r} of {database} has no {', '.join(missing)}: {where}"


def load_tables(database: str | Path, schema: str = "main") -> PublicTables:
    """The public tables of ``schema`` in the DuckDB file ``database`` (opened read-only).

    Raises:
        MissingDependencyError: ``duckdb`` is not installed.
        LookupError: ``cuped_results`` or ``cuped_health`` is not in ``schema``.
    """
    duckdb = import_dependency("duckdb")
    con = duckdb.connect(str(database), read_only=True)
    try:
        schemas: dict[str, set[str]] = {}
        for table_schema, table_name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall():
            schemas.setdefault(table_schema, set()).add(table_name)
        present = schemas.get(schema, set())
        missing = [t for t in REQUIRED_TABLES if t not in present]
        if missing:
            raise LookupError(_missing_message(database, schema, missing, schemas))
        rows: dict[str, tuple[Row, ...]] = {}
        for table in REQUIRED_TABLES + OPTIONAL_TABLES:
            if table in present:
                relation = con.sql(f"select * from {_quote(schema)}.{_quote(table)}")
                columns = relation.columns
                rows[_FIELDS[table]] = tuple(
                    dict(zip(columns, row, strict=True)) for row in relation.fetchall()
                )
        return PublicTables(**rows)
    finally:
        con.close()
