"""The README's tables of demo output and the SQL shown under each.

A Markdown table followed by a ``<details>`` block holding an SQL query is a table of demo
output: the query, run on the demo's DuckDB file, returns exactly its cells (each printed with
``str()``, empty for NULL). tests/test_readme.py checks that; after a change that moves the
figures, rewrite the tables from a fresh demo build with

    python -m tests.readme_tables target/cuped.duckdb
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

README = Path(__file__).resolve().parents[1] / "README.md"

_BLOCK = re.compile(
    r"(?P<table>(?:^\|[^\n]*\|[ \t]*\n)+)\n"
    r"<details><summary>[^\n]*</summary>\n\n```sql\n(?P<sql>(?:(?!```)[\s\S])*)```",
    re.MULTILINE,
)


@dataclass(frozen=True)
class ReadmeTable:
    sql: str
    header: list[str]
    rows: list[list[str]]
    span: tuple[int, int]  # of the Markdown table in the README's text


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def readme_tables(text: str) -> list[ReadmeTable]:
    tables = []
    for match in _BLOCK.finditer(text):
        lines = match.group("table").strip().splitlines()
        rows = [_cells(line) for line in lines[2:]]
        tables.append(ReadmeTable(match.group("sql"), _cells(lines[0]), rows, match.span("table")))
    return tables


def query(database: Path, sql: str) -> tuple[list[str], list[list[str]]]:
    """The columns and the cells, as text, of ``sql`` on the DuckDB file ``database``."""
    with duckdb.connect(str(database), read_only=True) as con:
        result = con.sql(sql)
        columns = list(result.columns)
        rows = [["" if value is None else str(value) for value in row] for row in result.fetchall()]
    return columns, rows


def markdown(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(database: str) -> None:
    text = README.read_text(encoding="utf-8")
    for table in reversed(readme_tables(text)):
        start, end = table.span
        text = text[:start] + markdown(*query(Path(database), table.sql)) + text[end:]
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
