"""The page: the view model and the chart geometry through the Jinja templates.

The templates (``templates/``, shipped as package data) are rendered by one Jinja environment
with autoescaping on for every template, so every name from the warehouse (experiment, metric,
variant, reason) is escaped exactly once, whether it lands in HTML text, an attribute or an SVG
``<title>``. Nothing else in the report escapes. Undefined template variables are errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from cuped_stats.report import format as fmt
from cuped_stats.report.load import PublicTables, import_dependency
from cuped_stats.report.svg import (
    OUTLIER_WIDTH,
    SETTLED_SHARE,
    forest_chart,
    series_chart,
)
from cuped_stats.report.view import ReportView, build_report

__all__ = ["environment", "render_report", "render_view"]

FILTERS = {
    "num": fmt.fmt_num,
    "signed": fmt.fmt_signed,
    "pct": fmt.fmt_pct,
    "p": fmt.fmt_p,
    "p_is": fmt.p_is,
    "int": fmt.fmt_int,
    "c": lambda x: f"{x:.1f}",
}


@lru_cache(maxsize=1)
def environment() -> Any:
    """The Jinja environment of the report's templates (autoescaping, strict undefined)."""
    jinja2 = import_dependency("jinja2")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cuped_stats.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    env.globals.update(
        forest_chart=forest_chart,
        series_chart=series_chart,
        settled_share=SETTLED_SHARE,
        outlier_width=OUTLIER_WIDTH,
    )
    return env


def render_view(view: ReportView) -> str:
    """The HTML document of a :class:`ReportView`."""
    return environment().get_template("report.html.j2").render(view=view)


def render_report(
    tables: PublicTables,
    decisions: Iterable[Mapping[str, Any]] | None = None,
    *,
    title: str = "Experiment report",
) -> str:
    """The whole HTML document for the rows of the public tables (and of ``cuped_decisions``,
    when given: see :func:`cuped_stats.report.view.build_report`)."""
    return render_view(build_report(tables, decisions, title=title))
