"""``cuped-report``: read the public tables from a DuckDB file, write the HTML report.

DuckDB and Jinja2 are imported only when the tables are read and the page rendered: without the
``report`` extra the command says what to install instead of failing with a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cuped_stats.report.load import MissingDependencyError, import_dependency, load_tables
from cuped_stats.report.render import render_report

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cuped-report",
        description="Render a self-contained HTML report of the cuped tables in a DuckDB file.",
    )
    parser.add_argument("--database", default="target/cuped.duckdb", help="DuckDB file")
    parser.add_argument("--output", default="target/cuped_report.html", help="HTML file to write")
    parser.add_argument(
        "--schema", default="main", help="schema dbt built the cuped tables in (default: main)"
    )
    parser.add_argument("--title", default="Experiment report", help="title of the page")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (2: bad input or a missing dependency)."""
    args = _parser().parse_args(argv)
    database = Path(args.database)
    if not database.is_file():
        print(f"cuped-report: no database file {database}", file=sys.stderr)
        return 2
    try:
        for module in ("duckdb", "jinja2"):  # both, before any work
            import_dependency(module)
        tables = load_tables(database, args.schema)
        page = render_report(tables, tables.decisions, title=args.title)
    except (MissingDependencyError, LookupError) as error:
        print(f"cuped-report: {error}", file=sys.stderr)
        return 2
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    print(f"cuped-report: wrote {output} ({len(page) // 1024} KiB)")
    return 0
