"""A self-contained HTML report of the cuped tables: decisions, health, forest plots, series.

``cuped-report --database target/cuped.duckdb --output target/cuped_report.html`` reads the
public tables and writes one HTML file with inline CSS and SVG: no JavaScript, nothing loaded
from the network. One module per job:

- :mod:`~cuped_stats.report.load`: reading the public tables from a DuckDB file;
- :mod:`~cuped_stats.report.view`: the view model, what each experiment shows (verdicts, counts,
  health), from the rows of the tables (and of ``cuped_decisions``, when given);
- :mod:`~cuped_stats.report.svg`: chart geometry (forest plot, cumulative charts);
- ``templates/``: the page, its CSS and the SVG markup, as Jinja templates (autoescaped), drawn
  by :mod:`~cuped_stats.report.render`;
- :mod:`~cuped_stats.report.cli`: the ``cuped-report`` command.

It needs the ``report`` extra (``pip install "cuped-stats[report]"``: Jinja2 and DuckDB); the
statistics core does not. Importing this package imports neither: they are loaded when a report
is read or rendered, so
the command can say what to install.
"""

from cuped_stats.report.cli import main
from cuped_stats.report.load import MissingDependencyError, PublicTables, load_tables
from cuped_stats.report.render import render_report
from cuped_stats.report.view import build_report

__all__ = [
    "MissingDependencyError",
    "PublicTables",
    "build_report",
    "load_tables",
    "main",
    "render_report",
]
