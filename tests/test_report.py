"""The HTML experiment report (cuped_stats.report): rendered from the demo database by the
`cuped-report` console script, checked as text and in a headless Chromium (DOM, screenshot, and
with every host name unresolvable, to show the page needs no network)."""

from __future__ import annotations

import html
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import duckdb
import pytest

from cuped_stats.report import render_report
from tests.dbt_runner import DbtRun

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


def _report_command() -> list[str]:
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
        [*_report_command(), "--database", str(demo_build.database), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert output.is_file()
    return output


@pytest.fixture(scope="module")
def expected(demo_build: DbtRun) -> dict:
    """What the report must show, read independently from the demo database."""
    con = duckdb.connect(str(demo_build.database), read_only=True)
    try:
        metrics = con.execute(
            "select distinct experiment_id, metric_name, metric_label from cuped_results"
        ).fetchall()
        series = con.execute(
            "select experiment_id, count(distinct (metric_name, variant)) "
            "from cuped_results_daily group by 1"
        ).fetchall()
    finally:
        con.close()
    experiments = sorted({e for e, _, _ in metrics})
    return {
        "experiments": experiments,
        "metrics": metrics,
        # per experiment: one forest plot + one cumulative chart per metric × variant
        "svgs": {e: 1 + dict(series).get(e, 0) for e in experiments},
    }


def _sections(page: str) -> dict[str, str]:
    """Experiment id → the HTML of its section."""
    parts = re.split(r'(?=<section class="experiment")', page)
    out = {}
    for part in parts[1:]:
        match = re.search(r'data-experiment="([^"]*)"', part)
        assert match, part[:200]
        out[html.unescape(match.group(1))] = part
    return out


def _visible_text(page: str) -> str:
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


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


# --------------------------------------------------------------------------------------------
# Static checks


def test_report_shows_every_experiment_and_metric(report: Path, expected: dict) -> None:
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    sections = _sections(page)
    assert sorted(sections) == expected["experiments"]
    for experiment, metric, label in expected["metrics"]:
        section = sections[experiment]
        assert html.escape(metric) in section, (experiment, metric)
        assert html.escape(label or metric) in section, (experiment, label)
    for experiment, n_svg in expected["svgs"].items():
        section = sections[experiment]
        assert section.count("<svg") == n_svg, experiment
        assert section.count('class="chart forest"') == 1
        assert 'class="health' in section


def test_report_has_no_leaked_nulls(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert not LEAKS.findall(page), sorted(set(LEAKS.findall(page)))
    assert not LEAKS.findall(_visible_text(page))


def test_report_loads_nothing_external(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    for pattern in EXTERNAL:
        assert not pattern.search(page), pattern.pattern
    assert "<script src" not in page.lower()
    assert "<link" not in page.lower()


def test_cli_reports_a_missing_database(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *_report_command(),
            "--database",
            str(tmp_path / "nope.duckdb"),
            "--output",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no database file" in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_render_escapes_and_degrades_gracefully() -> None:
    """Pure rendering: hostile names, null and NaN statistics, SRM, no daily/balance tables."""
    nasty = '<script>alert("x")</script> & ü'
    base = {
        "experiment_id": "exp <b>1</b>",
        "segment_name": "all",
        "segment_value": "all",
        "control_variant": "control",
        "metric_type": "mean",
        "alpha": 0.05,
        "higher_is_better": False,
    }
    ok_row = {
        **base,
        "metric_name": nasty,
        "metric_label": None,
        "variant": "B",
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
        "unadjusted_p_value": 0.09,
        "variance_reduction": 0.4,
        "status": "ok",
        "status_reason": "",
    }
    null_row = {
        **base,
        "metric_name": "empty metric",
        "metric_label": "Empty",
        "variant": "B",
        "n_control": 1,
        "n_variant": 0,
        "control_mean": float("nan"),
        "absolute_effect": None,
        "relative_effect": float("nan"),
        "p_value": None,
        "variance_reduction": float("inf"),
        "status": "insufficient_sample",
        "status_reason": "an arm has fewer than 2 units",
    }
    health = [
        {
            **base,
            "variant": v,
            "is_control": v == "control",
            "n_units": n,
            "observed_share": n / 190,
            "expected_share": 0.5,
            "srm_p_value": 1e-6,
            "srm_flag": True,
            "srm_status": "ok",
            "pre_period_coverage": None,
        }
        for v, n in (("control", 100), ("B", 90))
    ]
    daily = [
        {
            **base,
            "metric_name": nasty,
            "variant": "B",
            "as_of_date": f"2026-01-0{d}",
            "relative_effect": e,
            "relative_ci_lower": e and e - 0.1,
            "relative_ci_upper": e and e + 0.1,
        }
        for d, e in ((1, 0.2), (2, None), (3, 0.25), (4, 0.3))
    ]
    page = render_report([ok_row, null_row], daily, health, None, None)
    assert "<script>alert" not in page
    assert html.escape(nasty) in page
    assert "exp &lt;b&gt;1&lt;/b&gt;" in page
    assert "Sample-ratio mismatch" in page and "Do not trust" in page
    assert "insufficient_sample" in page and "—" in page
    # the metric's direction is lower-is-better: a significant increase is "worse"
    assert "▼ worse" in page
    assert not LEAKS.findall(page)
    section = _sections(page)["exp <b>1</b>"]
    assert section.count("<svg") == 2  # forest + the one daily series
    # nothing at all
    empty = render_report([], [], [], [], [])
    assert "No experiments" in empty and not LEAKS.findall(empty)


# --------------------------------------------------------------------------------------------
# Headless browser


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


def test_browser_renders_the_charts(report: Path, expected: dict, chromium: str, tmp_path: Path):
    done = _run_chromium(chromium, tmp_path, "--dump-dom", url=report.as_uri())
    dom = done.stdout
    assert dom.count("<svg") == sum(expected["svgs"].values())
    for experiment in expected["experiments"]:
        assert html.escape(experiment) in dom
    assert dom.count("<circle") > 10 and "<polyline" in dom and "<polygon" in dom


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


def test_browser_needs_no_network(report: Path, expected: dict, chromium: str, tmp_path: Path):
    done = _run_chromium(
        chromium,
        tmp_path,
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--dump-dom",
        url=report.as_uri(),
    )
    assert done.stdout.count("<svg") == sum(expected["svgs"].values())
    assert "Cumulative effect over time" in done.stdout
