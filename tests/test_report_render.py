"""The report without a database: rendering hand-made rows (escaping, nulls, decisions, verdicts,
exclusions), the chart geometry (ranges, clipping, text columns), the command's failure modes
(missing DuckDB or Jinja2, missing file or tables) and the wheel carrying the templates."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from cuped_stats.report import PublicTables, build_report, main, render_report
from cuped_stats.report.svg import (
    MAX_LABEL_W,
    SETTLED_SHARE,
    forest_chart,
    series_chart,
    text_width,
)
from cuped_stats.report.view import Comparison, DayPoint, Interval, Series
from tests.dbt_runner import REPO
from tests.html_dom import Node, parse

LEAKS = re.compile(r"\b(nan|NaN|None|inf|-inf)\b")
BASE = {
    "segment_name": "all",
    "segment_value": "all",
    "control_variant": "control",
    "metric_type": "mean",
    "alpha": 0.05,
    "higher_is_better": True,
    "status": "ok",
    "status_reason": "",
}


def result(experiment: str, metric: str, variant: str = "B", **values) -> dict:
    """A cuped_results row: +25% [+5%, +45%], p 0.01, Holm p 0.02 unless overridden."""
    return {
        **BASE,
        "experiment_id": experiment,
        "metric_name": metric,
        "metric_label": None,
        "variant": variant,
        "n_control": 100,
        "n_variant": 90,
        "control_mean": 2.0,
        "absolute_effect": 0.5,
        "absolute_ci_lower": 0.1,
        "absolute_ci_upper": 0.9,
        "relative_effect": 0.25,
        "relative_ci_lower": 0.05,
        "relative_ci_upper": 0.45,
        "p_value": 0.01,
        "p_value_holm": 0.02,
        "unadjusted_absolute_effect": 0.6,
        "unadjusted_ci_lower": -0.1,
        "unadjusted_ci_upper": 1.3,
        "unadjusted_relative_effect": 0.3,
        "unadjusted_relative_ci_lower": -0.07,
        "unadjusted_relative_ci_upper": 0.67,
        "unadjusted_p_value": 0.09,
        "variance_reduction": 0.4,
        **values,
    }


def health(experiment: str, counts: dict[str, int], **values) -> list[dict]:
    total = sum(counts.values())
    return [
        {
            **BASE,
            "experiment_id": experiment,
            "variant": variant,
            "is_control": variant == "control",
            "n_units": n,
            "observed_share": n / total,
            "expected_share": 1 / len(counts),
            "srm_p_value": 0.5,
            "srm_flag": False,
            "srm_status": "ok",
            "pre_period_coverage": 0.8,
            **values,
        }
        for variant, n in counts.items()
    ]


def sections(page: Node) -> dict[str, Node]:
    return {s.attrs["data-experiment"]: s for s in page.find_all("section", data_experiment=True)}


# --------------------------------------------------------------------------------------------
# Rendering


def test_names_are_escaped_exactly_once() -> None:
    """`A&B` is written `A&amp;B` in the HTML and reads `A&B`, in text, attributes, SVG titles
    and table cells alike; markup in a name stays text."""
    nasty = '<script>alert("x")</script> & ü'
    tables = PublicTables(
        results=(result("A&B", nasty, variant="x&y", metric_label="Rev & <i>co</i>"),),
        health=tuple(health("A&B", {"control": 100, "x&y": 90})),
    )
    html = render_report(tables, title="Q&A")
    assert "<script>" not in html and "&amp;amp;" not in html and "&amp;lt;" not in html
    page = parse(html)
    assert page.find("head").find("title").text(skip=()) == "Q&A"
    section = sections(page)["A&B"]
    assert section.find("h2").text() == "A&B"
    row = section.find("tr", data_metric=nasty, data_variant="x&y")
    assert row.find("span", class_="metric").text() == "Rev & <i>co</i>"
    forest_row = section.find("g", class_="forest-row")
    assert forest_row.find("title").text(skip=()) == f"Rev & <i>co</i> · {nasty} · x&y vs control"
    assert [t.text() for t in forest_row.find_all("text", class_="label")] == ["Rev & <i>co</i>"]
    assert page.find("tr", data_experiment="A&B").find("a").text() == "A&B"


def test_render_degrades_gracefully_on_nulls_nan_srm_and_missing_tables() -> None:
    ok = result("exp", "revenue", higher_is_better=False)
    empty = result(
        "exp",
        "empty",
        metric_label="Empty",
        n_variant=0,
        control_mean=float("nan"),
        absolute_effect=None,
        relative_effect=float("nan"),
        relative_ci_lower=None,
        relative_ci_upper=None,
        p_value=None,
        p_value_holm=None,
        unadjusted_relative_effect=None,
        unadjusted_relative_ci_lower=None,
        unadjusted_relative_ci_upper=None,
        variance_reduction=float("inf"),
        status="insufficient_sample",
        status_reason="an arm has fewer than 2 units",
    )
    rows = health("exp", {"control": 100, "B": 90}, srm_p_value=1e-6, srm_flag=True)
    html = render_report(PublicTables(results=(ok, empty), health=tuple(rows)))
    assert not LEAKS.findall(html), sorted(set(LEAKS.findall(html)))
    page = parse(html)
    section = sections(page)["exp"]
    assert "Sample-ratio mismatch" in section.text() and "Do not trust" in section.text()
    assert section.find("div", data_block="health").attrs["class"] == "health danger"
    blank = section.find("tr", data_metric="empty")
    assert blank.field("relative_effect") == "—" and blank.field("variance_reduction") == "—"
    assert blank.field("status") == "insufficient_sample"
    assert blank.find(data_field="verdict").text() == "no estimate"
    # lower is better: a significant increase is worse
    assert section.find("tr", data_metric="revenue").find(data_field="verdict").text() == "▼ worse"
    assert "No daily series" in section.text()
    nothing = render_report(PublicTables((), ()))
    assert "No experiments" in nothing and not LEAKS.findall(nothing)


def test_verdicts_and_counts_use_the_adjusted_p_value_shown_beside_them() -> None:
    """p 0.01 but Holm p 0.2: inconclusive, not better; Holm p 0.02: better."""
    rows = (
        result("exp", "a", p_value=0.01, p_value_holm=0.2),
        result("exp", "b", p_value=0.001, p_value_holm=0.02),
        result("exp", "c", p_value=0.001, p_value_holm=0.002, absolute_effect=-0.5),
    )
    view = build_report(PublicTables(rows, tuple(health("exp", {"control": 100, "B": 90}))))
    (experiment,) = view.experiments
    assert [c.verdict for c in experiment.comparisons] == ["inconclusive", "better", "worse"]
    assert (experiment.verdicts.better, experiment.verdicts.worse) == (1, 1)
    page = parse(render_report(PublicTables(rows, ())))
    overview = page.find("tr", data_experiment="exp")
    assert [overview.field(v) for v in ("better", "worse", "inconclusive")] == ["1", "1", "1"]


def test_metrics_are_ordered_by_role_when_results_have_one() -> None:
    """With a `metric_role` column: primaries first, then guardrails, then secondaries, the role
    printed under the metric name in the table and the forest plot."""
    rows = tuple(
        result("exp", name, metric_role=role)
        for name, role in (("a", "secondary"), ("b", "guardrail"), ("c", "primary"))
    )
    section = sections(parse(render_report(PublicTables(rows, ()))))["exp"]
    order = [tr.attrs["data-metric"] for tr in section.find_all("tr", data_metric=True)]
    assert order == ["c", "b", "a"]
    row = section.find("tr", data_metric="b")
    assert row.find_all("span", class_="sub")[0].text() == "b · guardrail"
    subs = [t.text() for t in section.find_all("text", class_="sub")]
    assert subs == ["c · primary", "b · guardrail", "a · secondary"]


@pytest.mark.parametrize(
    ("counts", "shown"),
    [
        ({"control": 6, "B": 6}, "6 units"),  # two variants: each unit on both rows
        ({"control": 4, "B": 3, "C": 3}, "between 4 and 5 units"),  # 10 / 2 = 5 at most
        ({"control": 2, "B": 2, "C": 2}, "between 2 and 3 units"),
    ],
)
def test_units_in_several_variants_are_counted_once(counts: dict, shown: str) -> None:
    rows = [
        {**h, "n_units_excluded_multiple_variants": counts[h["variant"]]}
        for h in health("exp", {v: 100 for v in counts})
    ]
    section = sections(parse(render_report(PublicTables((), tuple(rows)))))["exp"]
    item = section.find("li", data_field="excluded_multiple_variants")
    assert shown in " ".join(item.text().split())


def test_decisions_lead_each_experiment() -> None:
    """With cuped_decisions rows, each experiment opens with its decision per variant, reasons
    and counts; an experiment without a row says so; an unknown decision is an error."""
    results = (result("one", "m"), result("two", "m"))
    decisions = [
        {
            "experiment_id": "one",
            "variant": "B",
            "control_variant": "control",
            "decision": "ship",
            "reasons": "ship: m improved +25.0% (p = 0.01); fixed-horizon tests at alpha 0.05",
            "n_primary": 1,
            "primaries_improved": 1,
        }
    ]
    page = parse(render_report(PublicTables(results, ()), decisions))
    one, two = sections(page)["one"], sections(page)["two"]
    first_block = next(n for n in one.walk() if "data-block" in n.attrs)
    assert first_block.attrs["data-block"] == "decision"
    card = first_block.find("div", data_variant="B")
    assert card.field("decision") == "Ship"
    assert [li.text() for li in card.find_all("li")] == [
        "ship: m improved +25.0% (p = 0.01)",
        "fixed-horizon tests at alpha 0.05",
    ]
    assert "primary metrics: 1 · primaries improved: 1" in card.text()
    assert "cuped_decisions has no row for this experiment" in two.text()
    assert page.find("tr", data_experiment="one").find("span", data_variant="B").text() == "Ship"
    assert page.find("tr", data_experiment="two").text().count("no decision row") == 1
    with pytest.raises(ValueError, match=r"experiment 'one', variant 'B'.*'launch'"):
        build_report(PublicTables(results, ()), [{**decisions[0], "decision": "launch"}])
    with pytest.raises(ValueError, match="two rows for experiment 'one', variant 'B'"):
        build_report(PublicTables(results, ()), decisions * 2)


# --------------------------------------------------------------------------------------------
# Chart geometry


def _points(path: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in path.split()]


def test_cumulative_chart_range_starts_where_the_units_have_settled() -> None:
    """Day 1 has 10 of 1,000 units and an interval of ±1,000; from day 3 on the intervals are
    within ±3. The y-range follows the settled days; day 1 is cut and marked."""
    day0 = dt.date(2026, 1, 1)
    units = [10, 100, 300, 600, 1000]
    width = [1000, 10, 3, 2, 1.5]
    series = Series(
        "m",
        "M",
        "B",
        "control",
        tuple(
            DayPoint(
                day0 + dt.timedelta(days=i), n, 0.5, 0.5 - w, 0.5 + w, 0.5 - 2 * w, 0.5 + 2 * w
            )
            for i, (n, w) in enumerate(zip(units, width, strict=True))
        ),
    )
    assert SETTLED_SHARE * 1000 <= 300
    chart = series_chart(series)
    top, bottom = chart.y0, chart.y1
    ticks = [float(t.text.replace("−", "-")) for t in chart.y_ticks]
    assert max(ticks) <= 8 and min(ticks) >= -8  # set by ±2 × 3 around 0.5, not by ±2,000
    assert len(chart.clipped_markers) == 4  # days 1 and 2, above and below
    assert chart.clipped_until_x is not None and chart.clipped_until_x > chart.x0
    for polygon in (*chart.sequential_bands, *chart.fixed_bands, *chart.lines):
        for _, y in _points(polygon):
            assert top - 1e-9 <= y <= bottom + 1e-9
    # nothing to clip: no markers, no shading
    calm = Series("m", "M", "B", "control", series.points[2:])
    assert series_chart(calm).clipped_markers == () and series_chart(calm).clipped_until_x is None


def _comparison(metric_label: str, relative: Interval, unadjusted: Interval) -> Comparison:
    return Comparison(
        metric_name=metric_label.lower(),
        metric_label=metric_label,
        metric_role=None,
        segment_name="all",
        segment_value="all",
        variant="B",
        control_variant="control",
        n_control=100,
        n_variant=100,
        control_mean=1.0,
        absolute_effect=relative.estimate,
        relative=relative,
        unadjusted_relative=unadjusted,
        p_value=0.5,
        adjusted_p_value=0.5,
        unadjusted_p_value=0.5,
        variance_reduction=0.3,
        status="ok",
        status_reason="",
        verdict="inconclusive",
    )


def test_forest_plot_keeps_labels_intervals_and_values_in_their_columns() -> None:
    long_label = "Revenue per user in the first fourteen days after exposure, capped " * 3
    rows = [
        _comparison("Orders", Interval(0.02, -0.01, 0.05), Interval(0.03, -0.02, 0.08)),
        _comparison(long_label, Interval(0.01, -0.03, 0.05), Interval(0.0, -0.05, 0.05)),
        # an interval 400 times as wide as the others: cut at the edge, not squashing them
        _comparison("Noisy", Interval(0.04, -20.0, 20.0), Interval(0.05, -0.04, 0.14)),
    ]
    chart = forest_chart(rows, multi_variant=False, adjusted_label="Holm p")
    label_right = max(
        line.x + text_width(line.text, 13, True) for row in chart.rows for line in row.label_lines
    )
    assert label_right <= chart.x0
    long_row = chart.rows[1]
    assert len(long_row.label_lines) == 2 and long_row.label_lines[-1].text.endswith("…")
    assert all(text_width(t.text, 13, True) <= MAX_LABEL_W for t in long_row.label_lines)
    assert long_label in long_row.tooltip
    for row in chart.rows:
        for mark in (row.cuped, row.unadjusted):
            for x in (mark.x, mark.x_lower, mark.x_upper):
                assert chart.x0 <= x <= chart.x1
        value_left = row.value.x - text_width(row.value.text, 12.5, True)
        assert value_left >= chart.x1
    noisy = chart.rows[2].cuped
    assert len(noisy.arrows) == 2 and noisy.x_lower == chart.x0 and noisy.x_upper == chart.x1
    assert "[−2000.0%, +2000.0%]" in chart.rows[2].value.text
    # the others are not squashed: the plot spans about −5% .. +14%
    tick_values = [float(t.text.rstrip("%").replace("−", "-")) for t in chart.ticks]
    assert max(tick_values) <= 20 and min(tick_values) >= -10


# --------------------------------------------------------------------------------------------
# The command


def test_cli_reports_a_missing_database(tmp_path: Path, capsys) -> None:
    assert main(["--database", str(tmp_path / "no.duckdb"), "--output", str(tmp_path / "r")]) == 2
    assert "no database file" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_cli_finds_the_schema_the_tables_are_in(tmp_path: Path, capsys) -> None:
    """Tables built under a custom `+schema` (dbt-duckdb: main_cuped): the message names the
    schema to pass; with --schema the report is written."""
    database = tmp_path / "custom.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute(
            "create schema main_cuped; "
            "create table main_cuped.cuped_results (experiment_id varchar); "
            "create table main_cuped.cuped_health (experiment_id varchar)"
        )
    output = tmp_path / "r.html"
    assert main(["--database", str(database), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert "schema 'main'" in err and "has no cuped_results, cuped_health" in err
    assert "they are in schema 'main_cuped': pass --schema main_cuped" in err
    assert not output.exists()
    assert (
        main(["--database", str(database), "--output", str(output), "--schema", "main_cuped"]) == 0
    )
    assert "No experiments" in output.read_text(encoding="utf-8")
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    assert main(["--database", str(empty), "--output", str(output)]) == 2
    assert "run `dbt build` first, or pass --schema" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["duckdb", "jinja2"])
def test_cli_without_the_report_extra_says_what_to_install(tmp_path: Path, module: str) -> None:
    """The command run in an environment where `module` cannot be imported (simulated by
    blocking the import): a one-line message with the pip command, no traceback."""
    database = tmp_path / "cuped.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create table cuped_results (x int); create table cuped_health (x int)")
    code = (
        f"import sys; sys.modules[{module!r}] = None; "
        "from cuped_stats.report.cli import main; "
        f"raise SystemExit(main(['--database', {str(database)!r}, "
        f"'--output', {str(tmp_path / 'r.html')!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"needs the Python package `{module}`" in done.stderr
    assert 'pip install "cuped-stats[report]"' in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_wheel_carries_the_templates(tmp_path: Path) -> None:
    """A wheel built from the repository renders a report from its own copy of the package,
    outside the checkout: the templates are package data. The wheel is pure Python (no compiled
    part), so the one file installs on any cluster or stage that runs dbt Python models."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = tmp_path.glob("cuped_stats-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    templates = sorted(p.name for p in (REPO / "cuped_stats/report/templates").iterdir())
    assert (
        sorted(Path(n).name for n in names if n.startswith("cuped_stats/report/templates/"))
        == templates
    )
    code = (
        "import cuped_stats.report as r; "
        f"assert r.__file__.startswith({str(site)!r}), r.__file__; "
        "print(r.render_report(r.PublicTables((), ()))[:15])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<!DOCTYPE html>")
