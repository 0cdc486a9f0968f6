"""The README's tables of demo output are what their SQL returns on the demo build, to the digit
(tests/readme_tables.py: how a table and its SQL are written, and how to rewrite them)."""

from __future__ import annotations

import pytest

from tests.dbt_runner import DbtRun
from tests.readme_tables import README, markdown, query, readme_tables

TABLES = readme_tables(README.read_text(encoding="utf-8"))


def test_the_readme_shows_its_sql_for_each_demo_table() -> None:
    assert len(TABLES) >= 5


@pytest.mark.parametrize("index", range(len(TABLES)))
def test_readme_table_is_what_its_sql_returns_on_the_demo(demo_build: DbtRun, index: int) -> None:
    table = TABLES[index]
    columns, rows = query(demo_build.database, table.sql)
    assert (columns, rows) == (table.header, table.rows), (
        f"README table {index} differs from what its SQL returns:\n{markdown(columns, rows)}"
    )
