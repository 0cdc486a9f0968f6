"""The HTML report of the demo (`cuped-report` on the demo database): every figure it shows is
read back from the page (stdlib html.parser) and compared with the public tables in the DuckDB
file, to the precision the page prints; then the page is checked in a headless Chromium (DOM,
screenshot, and with every host name unresolvable, to show it needs no network)."""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from tests.dbt_runner import DbtRun
from tests.html_dom import Node, parse

# Words a null, NaN or inf leaks as when it is formatted without care (case-sensitive: CSS has
# "none" as a keyword).
LEAKS = re.compile(r"\b(nan|NaN|None|inf|-inf)\b")
EXTERNAL = [
    re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"@import", re.I),
    re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"https?://", re.I),
]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DASH = "—"


# --------------------------------------------------------------------------------------------
# Reading figures back: the page prints 1-decimal percentages, p-values to 3 decimals (4 below
# 0.001), other numbers to 4 significant digits; each comparison allows half a printed digit.


def number(shown: str) -> float | None:
    shown = shown.strip()
    if shown == DASH:
        return None
    cleaned = shown.replace("−", "-").replace(",", "").replace("+", "")
    if cleaned.endswith("%"):
        return float(cleaned[:-1]) / 100
    return float(cleaned)


def assert_pct(shown: str, value: float | None, where: object, digits: int = 1) -> None:
    if value is None or not math.isfinite(value):
        assert shown == DASH, (where, shown, value)
        return
    assert shown.endswith("%"), (where, shown)
    tolerance = 0.5 * 10 ** -(digits + 2)
    assert abs(number(shown) - value) <= tolerance + 1e-12, (where, shown, value)


def assert_p(shown: str, value: float | None, where: object) -> None:
    if value is None:
        assert shown == DASH, (where, shown)
    elif value < 0.0001:
        assert shown == "<0.0001", (where, shown, value)
    else:
        tolerance = 0.00005 if value < 0.001 else 0.0005
        assert abs(number(shown) - value) <= tolerance + 1e-12, (where, shown, value)


def assert_num(shown: str, value: float | None, where: object) -> None:
    if value is None:
        assert shown == DASH, (where, shown)
        return
    exponent = math.floor(math.log10(abs(value))) if value else 0
    if abs(value) >= 1000:
        tolerance = 0.5
    elif abs(value) >= 0.001:
        tolerance = 5e-4 * 10**exponent
    else:
        tolerance = 5e-3 * 10**exponent
    assert abs(number(shown) - value) <= tolerance + 1e-12, (where, shown, value)


def expected_verdict(row: dict) -> str:
    """The rule the report states: the Holm-adjusted p-value of the metric's role family below
    alpha, in the metric's direction."""
    effect, adjusted = row["absolute_effect"], row["p_value_role_holm"]
    if effect is None or adjusted is None:
        return "unavailable"
    if adjusted >= row["alpha"] or effect == 0:
        return "inconclusive"
    up_is_good = row["higher_is_better"] is None or row["higher_is_better"]
    return "better" if (effect > 0) == up_is_good else "worse"


# --------------------------------------------------------------------------------------------
# Fixtures


def _find_chromium() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed with apt-get when missing and this process is root."""
    found = _find_chromium()
    if found:
        return found
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if not (is_root and shutil.which("apt-get")):
        pytest.skip(
            "chromium is not installed (neither /usr/bin/chromium nor `chromium` on PATH) and "
            "cannot be installed here (needs root and apt-get): "
            "apt-get install --no-install-recommends chromium"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=1200, check=False
        )
        if done.returncode != 0:
            pytest.skip(
                f"installing chromium failed ({' '.join(command)}): "
                f"{(done.stdout + done.stderr)[-1500:]}"
            )
    found = _find_chromium()
    if not found:
        pytest.skip("apt-get installed chromium but no chromium executable was found")
    return found


def report_command() -> list[str]:
    script = Path(sys.executable).with_name("cuped-report")
    assert script.exists(), (
        f"console script {script.name} missing next to the interpreter: "
        "reinstall the package (pip install -e .)"
    )
    return [str(script)]


@pytest.fixture(scope="module")
def report(demo_build: DbtRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cuped-report` run on the demo database, as a user runs it."""
    output = tmp_path_factory.mktemp("report") / "out" / "cuped_report.html"
    done = subprocess.run(
        [*report_command(), "--database", str(demo_build.database), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert output.is_file()
    return output


@pytest.fixture(scope="module")
def page(report: Path) -> Node:
    return parse(report.read_text(encoding="utf-8"))


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    relation = con.sql(sql)
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


@pytest.fixture(scope="module")
def tables(demo_build: DbtRun) -> dict[str, list[dict]]:
    """The public tables (and the demo's raw assignments), read independently of the report."""
    con = duckdb.connect(str(demo_build.database), read_only=True)
    try:
        return {
            name: _rows(con, f"select * from {name}")
            for name in ("cuped_results", "cuped_health", "cuped_results_daily", "cuped_decisions")
        } | {
            # units with more than one variant, straight from the demo's assignment seed
            "multi_variant_units": _rows(
                con,
                "select experiment_id, count(*) as n from (select experiment_id, user_id "
                "from demo_assignments where user_id is not null and variant is not null "
                "and first_exposure_at is not null group by all "
                "having count(distinct variant) > 1) group by 1",
            )
        }
    finally:
        con.close()


def _sections(page: Node) -> dict[str, Node]:
    return {s.attrs["data-experiment"]: s for s in page.find_all("section", data_experiment=True)}


# --------------------------------------------------------------------------------------------
# The figures shown are the tables' figures


def test_report_shows_every_experiment_and_metric(page: Node, tables: dict) -> None:
    sections = _sections(page)
    results = tables["cuped_results"]
    assert sorted(sections) == sorted({r["experiment_id"] for r in results})
    series = {
        (r["experiment_id"], r["metric_name"], r["variant"]) for r in tables["cuped_results_daily"]
    }
    for experiment, section in sections.items():
        overall = [r for r in results if r["experiment_id"] == experiment]
        overall = [r for r in overall if r["segment_name"] == "all"]
        assert len(section.find_all("svg", class_="chart forest")) == 1
        forest_rows = section.find_all("g", class_="forest-row")
        assert len(forest_rows) == len(overall)
        charts = section.find_all("svg", class_="chart series")
        assert len(charts) == sum(1 for s in series if s[0] == experiment)
        labels = {n.text() for n in section.find_all("span", class_="metric")}
        assert {r["metric_label"] for r in overall} <= labels


def test_figures_table_shows_the_numbers_of_cuped_results(page: Node, tables: dict) -> None:
    sections = _sections(page)
    checked = 0
    for r in tables["cuped_results"]:
        where = (r["experiment_id"], r["metric_name"], r["segment_value"], r["variant"])
        row = sections[r["experiment_id"]].find(
            "tr",
            data_metric=r["metric_name"],
            data_variant=r["variant"],
            data_segment_name=r["segment_name"],
            data_segment_value=r["segment_value"],
        )
        assert row.field("n_control") == f"{r['n_control']:,}", where
        assert row.field("n_variant") == f"{r['n_variant']:,}", where
        assert_num(row.field("control_mean"), r["control_mean"], where)
        assert_num(row.field("absolute_effect"), r["absolute_effect"], where)
        for column in ("relative_effect", "relative_ci_lower", "relative_ci_upper"):
            assert_pct(row.field(column), r[column], (*where, column))
        for column in (
            "unadjusted_relative_effect",
            "unadjusted_relative_ci_lower",
            "unadjusted_relative_ci_upper",
        ):
            assert_pct(row.field(column), r[column], (*where, column))
        assert_p(row.field("p_value"), r["p_value"], where)
        assert_p(row.field("adjusted_p_value"), r["p_value_role_holm"], where)
        assert row.field("unadjusted_p_value").startswith("p ")
        assert_p(row.field("unadjusted_p_value").split()[-1], r["unadjusted_p_value"], where)
        assert_pct(row.field("variance_reduction"), r["variance_reduction"], where, digits=0)
        verdict = row.find(data_field="verdict").attrs["class"].split()[-1]
        assert verdict == expected_verdict(r), where
        checked += 1
    assert checked == len(tables["cuped_results"]) > 50


def test_unadjusted_relative_interval_is_the_cores_not_a_rescaled_absolute_one(
    page: Node, tables: dict
) -> None:
    """The core's delta-method interval (cuped_results v2) is shown; the absolute interval over
    the control mean, which the report used to print, differs from it at the printed precision
    on the demo, so this test tells the two apart."""
    sections = _sections(page)
    differs = 0
    for r in tables["cuped_results"]:
        if r["segment_name"] != "all":
            continue
        row = sections[r["experiment_id"]].find(
            "tr", data_metric=r["metric_name"], data_variant=r["variant"], data_segment_name="all"
        )
        shown = number(row.field("unadjusted_relative_ci_lower"))
        assert abs(shown - r["unadjusted_relative_ci_lower"]) <= 0.0005 + 1e-12
        rescaled = r["unadjusted_ci_lower"] / r["control_mean"]
        differs += abs(shown - rescaled) > 0.0005
    assert differs >= 5


def test_forest_plot_prints_the_relative_effect_interval_and_adjusted_p(
    page: Node, tables: dict
) -> None:
    pattern = re.compile(r"^(\S+) \[(\S+), (\S+)\] · Holm p ([=<]) (\S+)$")
    for section_id, section in _sections(page).items():
        for r in tables["cuped_results"]:
            if r["experiment_id"] != section_id or r["segment_name"] != "all":
                continue
            where = (section_id, r["metric_name"], r["variant"])
            g = section.find("g", data_metric=r["metric_name"], data_variant=r["variant"])
            assert g.attrs["data-verdict"] == expected_verdict(r), where
            match = pattern.match(g.field("forest-value"))
            assert match, (where, g.field("forest-value"))
            effect, lower, upper, sign, p = match.groups()
            assert_pct(effect, r["relative_effect"], where)
            assert_pct(lower, r["relative_ci_lower"], where)
            assert_pct(upper, r["relative_ci_upper"], where)
            assert_p(("<" if sign == "<" else "") + p, r["p_value_role_holm"], where)


def test_better_and_worse_counts_use_the_adjusted_p_value(page: Node, tables: dict) -> None:
    overall = [r for r in tables["cuped_results"] if r["segment_name"] == "all"]
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    raw_better: dict[str, int] = defaultdict(int)
    for r in overall:
        expected[r["experiment_id"]][expected_verdict(r)] += 1
        raw_better[r["experiment_id"]] += r["p_value"] < r["alpha"] and r["absolute_effect"] > 0
    for experiment, counts in expected.items():
        row = page.find("tr", data_experiment=experiment)
        for verdict in ("better", "worse", "inconclusive", "unavailable"):
            assert int(row.field(verdict)) == counts[verdict], (experiment, verdict)
    # the demo has effects significant before the multiplicity adjustment only (in experiments
    # without roles, whose one family holds every metric)
    assert raw_better["recommendations"] > expected["recommendations"]["better"]


def test_each_experiment_leads_with_the_decision_of_its_variants(page: Node, tables: dict):
    """The block that leads each experiment is cuped_decisions': per treatment variant its
    decision and every clause of its reasons."""
    decisions = {(r["experiment_id"], r["variant"]): r for r in tables["cuped_decisions"]}
    sections = _sections(page)
    assert set(sections) == {e for e, _ in decisions}
    for experiment, section in sections.items():
        blocks = [n for n in section.walk() if "data-block" in n.attrs]
        assert blocks[0].attrs["data-block"] == "decision", experiment
        cards = blocks[0].find_all("div", data_variant=True)
        assert {(experiment, c.attrs["data-variant"]) for c in cards} == {
            key for key in decisions if key[0] == experiment
        }
        for card in cards:
            row = decisions[(experiment, card.attrs["data-variant"])]
            label = row["decision"].replace("_", " ").capitalize()
            assert card.field("decision").lower() == label.lower()
            assert [" ".join(li.text().split()) for li in card.find_all("li")] == row[
                "reasons"
            ].split("; ")


def test_units_in_two_variants_are_counted_once(page: Node, tables: dict) -> None:
    sections = _sections(page)
    multi = {r["experiment_id"]: r["n"] for r in tables["multi_variant_units"]}
    assert multi == {"checkout_redesign": 6}
    for experiment, section in sections.items():
        health = [
            h
            for h in tables["cuped_health"]
            if h["experiment_id"] == experiment and h["segment_name"] == "all"
        ]
        if experiment in multi:
            item = section.find("li", data_field="excluded_multiple_variants")
            assert [int(n.text()) for n in item.find_all("span", class_="n")] == [multi[experiment]]
            duplicates = sum(h["n_duplicate_assignment_rows"] for h in health)
            shown = section.find("li", data_field="duplicate_assignment_rows")
            assert int(shown.find("span", class_="n").text()) == duplicates > 0
        else:
            assert section.find_all("li", data_field="nothing-excluded")
        assert number(section.field("units")) == sum(h["n_units"] for h in health)
        for h in health:
            arm = section.find(data_block="health").find("tr", data_variant=h["variant"])
            assert arm.field("n_units") == f"{h['n_units']:,}"


def test_cumulative_charts_show_the_last_day_and_the_sequential_band(
    page: Node, tables: dict
) -> None:
    last: dict[tuple, dict] = {}
    for r in tables["cuped_results_daily"]:
        key = (r["experiment_id"], r["metric_name"], r["variant"])
        if r["absolute_effect"] is not None and (
            key not in last or r["as_of_date"] > last[key]["as_of_date"]
        ):
            last[key] = r
    sections = _sections(page)
    for (experiment, metric, variant), r in last.items():
        figure = sections[experiment].find("figure", data_metric=metric, data_variant=variant)
        where = (experiment, metric, variant)
        assert figure.field("as_of_date") == r["as_of_date"].isoformat(), where
        for column in (
            "absolute_effect",
            "absolute_ci_lower",
            "absolute_ci_upper",
            "sequential_ci_lower",
            "sequential_ci_upper",
        ):
            assert_num(figure.field(column), r[column], (*where, column))
        svg = figure.find("svg")
        assert svg.find_all("polygon", class_="band-sequential"), where
        assert svg.find_all("polygon", class_="band-fixed"), where
    for section in sections.values():
        assert "is not a valid stopping rule" in " ".join(section.text().split())


def test_report_has_no_leaked_nulls(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert not LEAKS.findall(page), sorted(set(LEAKS.findall(page)))
    assert "&amp;amp;" not in page


def test_report_loads_nothing_external(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    for pattern in EXTERNAL:
        assert not pattern.search(page), pattern.pattern
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()


# --------------------------------------------------------------------------------------------
# Headless browser


def _run_chromium(binary: str, tmp: Path, *args: str, url: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _png_pixels_vary(path: Path) -> tuple[int, int, float]:
    """(width, height, share of non-zero bytes in the filtered scanlines); a single-colour image
    filters to (almost) all zeros, whatever filter the encoder chose."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = len(raw) // height
    filter_bytes = raw[::stride].count(0)
    nonzero = len(raw) - raw.count(0) - (height - filter_bytes)
    return width, height, nonzero / len(raw)


def test_browser_renders_the_charts(report: Path, page: Node, chromium: str, tmp_path: Path):
    done = _run_chromium(chromium, tmp_path, "--dump-dom", url=report.as_uri())
    dom = parse(done.stdout)
    assert len(dom.find_all("svg")) == len(page.find_all("svg")) > 10
    assert sorted(_sections(dom)) == sorted(_sections(page))
    assert len(dom.find_all("circle")) > 10
    assert dom.find_all("polyline") and dom.find_all("polygon")


def test_browser_screenshot_is_not_blank(report: Path, chromium: str, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    _run_chromium(
        chromium, tmp_path, f"--screenshot={png}", "--window-size=1280,2000", url=report.as_uri()
    )
    assert png.is_file()
    assert png.stat().st_size > 50_000, png.stat().st_size
    width, height, varied = _png_pixels_vary(png)
    assert (width, height) == (1280, 2000)
    assert varied > 0.01, varied
    assert not math.isnan(varied)


def test_browser_needs_no_network(report: Path, page: Node, chromium: str, tmp_path: Path):
    done = _run_chromium(
        chromium,
        tmp_path,
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--dump-dom",
        url=report.as_uri(),
    )
    dom = parse(done.stdout)
    assert len(dom.find_all("svg")) == len(page.find_all("svg"))
    assert "Cumulative effect over time" in dom.text()
