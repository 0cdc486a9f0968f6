"""Rows of a warehouse relation as plain dicts, for the thin dbt Python models.

The statistics core takes plain Python rows so that it needs neither dbt nor pandas. A DuckDB
relation (what dbt-duckdb's ``dbt.ref`` returns) exposes ``columns`` and ``fetchall()``; so does
anything built to look like one in tests.
"""

from __future__ import annotations

from typing import Any, Protocol


class RelationLike(Protocol):
    @property
    def columns(self) -> list[str]: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...


def records(relation: RelationLike) -> list[dict[str, Any]]:
    """Every row of ``relation`` as a dict keyed by lower-case column name."""
    names = [str(name).lower() for name in relation.columns]
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]
