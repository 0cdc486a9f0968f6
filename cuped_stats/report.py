"""A self-contained HTML report of the cuped tables: health, forest plots, cumulative series.

``cuped-report --database target/cuped.duckdb --output target/cuped_report.html`` reads the public
tables (``cuped_results``, ``cuped_health`` and, when present, ``cuped_results_daily``,
``cuped_balance``, ``cuped_caps``) and writes one HTML file with inline CSS and inline SVG: it
loads nothing from the network and needs no JavaScript.

The rendering is a pure function of lists of dicts (:func:`render_report`), so it is testable
without a database; only :func:`load_tables` needs DuckDB, and imports it lazily.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["load_tables", "main", "render_report"]

Row = Mapping[str, Any]

REQUIRED_TABLES = ("cuped_results", "cuped_health")
OPTIONAL_TABLES = ("cuped_results_daily", "cuped_balance", "cuped_caps")

DASH = "—"
# Colours: significant in the good direction, in the bad direction, not significant, unadjusted.
GOOD, BAD, NEUTRAL, UNADJ = "#1a7f37", "#cf222e", "#3b5998", "#98a2b3"
INK, MUTED, GRID = "#1f2328", "#656d76", "#e6e8eb"
LOW_COVERAGE = 0.5
STD_DIFF_NOTABLE = 0.1


# --------------------------------------------------------------------------------------------
# Loading


def load_tables(database: str | Path, schema: str = "main") -> dict[str, list[dict[str, Any]]]:
    """The public tables of ``schema`` as lists of dicts; optional tables missing → ``[]``.

    Raises ``LookupError`` when a required table (cuped_results, cuped_health) is missing.
    """
    import duckdb  # lazily: the statistics core does not depend on DuckDB

    con = duckdb.connect(str(database), read_only=True)
    try:
        present = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [schema],
            ).fetchall()
        }
        missing = [t for t in REQUIRED_TABLES if t not in present]
        if missing:
            raise LookupError(
                f"schema {schema!r} of the database has no {', '.join(missing)}: "
                "run `dbt build` first (or pass --schema)"
            )
        quoted_schema = '"' + schema.replace('"', '""') + '"'
        tables: dict[str, list[dict[str, Any]]] = {}
        for table in REQUIRED_TABLES + OPTIONAL_TABLES:
            if table not in present:
                tables[table] = []
                continue
            cursor = con.execute(f"select * from {quoted_schema}.{table}")
            columns = [d[0] for d in cursor.description]
            tables[table] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return tables
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# Formatting helpers (every number goes through one of these: null/NaN/inf → "—")


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any) -> float | None:
    """A finite float, or None for null, NaN, inf and anything that is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _int(value: Any) -> int | None:
    x = _num(value)
    return None if x is None else round(x)


def fmt_num(value: Any) -> str:
    x = _num(value)
    if x is None:
        return DASH
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}".replace("-", "−")
    text = f"{x:.4g}" if abs(x) >= 0.001 else f"{x:.2e}"
    return text.replace("-", "−")


def fmt_signed(value: Any) -> str:
    x = _num(value)
    if x is None:
        return DASH
    text = fmt_num(x)
    return text if text.startswith("−") or x == 0 else "+" + text


def fmt_pct(value: Any, digits: int = 1, signed: bool = True) -> str:
    x = _num(value)
    if x is None:
        return DASH
    text = f"{x * 100:+.{digits}f}%" if signed else f"{x * 100:.{digits}f}%"
    if text.lstrip("+−-").rstrip("%") == f"{0:.{digits}f}":
        text = text.lstrip("+-")
    return text.replace("-", "−")


def fmt_p(value: Any) -> str:
    x = _num(value)
    if x is None:
        return DASH
    if x < 0.0001:
        return "<0.0001"
    if x < 0.001:
        return f"{x:.4f}"
    return f"{x:.3f}"


def p_is(value: Any) -> str:
    """``p = 0.012``, ``p < 0.0001`` or ``p —``."""
    text = fmt_p(value)
    if text == DASH:
        return f"p {DASH}"
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def fmt_int(value: Any) -> str:
    x = _int(value)
    return DASH if x is None else f"{x:,}"


def _text(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def _is_true(value: Any) -> bool:
    return value is True or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value == 1
    )


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return None


def _sort_key(*values: Any) -> tuple:
    return tuple(_text(v) for v in values)


# --------------------------------------------------------------------------------------------
# Verdicts


def _alpha(row: Row) -> float:
    a = _num(row.get("alpha"))
    return a if a is not None and 0 < a < 1 else 0.05


def verdict(row: Row) -> str:
    """``better``, ``worse``, ``inconclusive`` or ``unavailable`` (null statistics)."""
    effect, p = _num(row.get("absolute_effect")), _num(row.get("p_value"))
    if effect is None or p is None:
        return "unavailable"
    if p >= _alpha(row) or effect == 0:
        return "inconclusive"
    higher_is_better = row.get("higher_is_better")
    good = effect > 0 if higher_is_better is None or _is_true(higher_is_better) else effect < 0
    return "better" if good else "worse"


_VERDICT_COLOUR = {"better": GOOD, "worse": BAD, "inconclusive": NEUTRAL, "unavailable": UNADJ}
_VERDICT_LABEL = {
    "better": "▲ better",
    "worse": "▼ worse",
    "inconclusive": "inconclusive",
    "unavailable": "no estimate",
}


def _relative(row: Row) -> tuple[float | None, float | None, float | None]:
    return (
        _num(row.get("relative_effect")),
        _num(row.get("relative_ci_lower")),
        _num(row.get("relative_ci_upper")),
    )


def _unadjusted_relative(row: Row) -> tuple[float | None, float | None, float | None]:
    """Unadjusted relative effect; its interval is the absolute one over the control mean."""
    effect = _num(row.get("unadjusted_relative_effect"))
    control = _num(row.get("control_mean"))
    lo, hi = _num(row.get("unadjusted_ci_lower")), _num(row.get("unadjusted_ci_upper"))
    if control is None or control == 0 or lo is None or hi is None:
        return effect, None, None
    lo, hi = lo / control, hi / control
    return effect, min(lo, hi), max(lo, hi)


# --------------------------------------------------------------------------------------------
# SVG helpers


def _nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude
    for m in (1, 2, 2.5, 5, 10):
        step = m * magnitude
        if step >= raw:
            break
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _domain(values: Iterable[float | None], include_zero: bool = True) -> tuple[float, float]:
    finite = [v for v in values if v is not None]
    if include_zero:
        finite.append(0.0)
    if not finite:
        return -1.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 0.01
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def _tick_label(t: float, percent: bool) -> str:
    if percent:
        return f"{round(t * 100, 6):g}%".replace("-", "−")
    return fmt_num(round(t, 12))


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _f(x: float) -> str:
    return f"{x:.1f}"


# --------------------------------------------------------------------------------------------
# Forest plot


def forest_svg(rows: Sequence[Row], multi_variant: bool) -> str:
    """Relative effect (%) with CI per metric × variant, CUPED beside unadjusted, zero line."""
    width, label_w, value_w = 980, 250, 210
    x0, x1 = label_w + 10, width - value_w - 10
    row_h, top, bottom = 46, 34, 36
    height = top + max(len(rows), 1) * row_h + bottom

    values: list[float | None] = []
    for row in rows:
        values += list(_relative(row)) + list(_unadjusted_relative(row))
    lo, hi = _domain(values)
    ticks = _nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])

    def sx(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    out = [
        f'<svg class="chart forest" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="Forest plot of relative effects">'
    ]
    # legend
    out.append(
        f'<g font-size="12" fill="{MUTED}">'
        f'<circle cx="{x0 + 6}" cy="14" r="5" fill="{NEUTRAL}"/>'
        f'<text x="{x0 + 16}" y="18">CUPED (colour: ▲ better / ▼ worse / not significant)</text>'
        f'<circle cx="{x1 - 150}" cy="14" r="4" fill="#fff" stroke="{UNADJ}" stroke-width="2"/>'
        f'<text x="{x1 - 140}" y="18">unadjusted</text>'
        f'<text x="{width - 8}" y="18" text-anchor="end">relative effect [CI], p</text>'
        f"</g>"
    )
    plot_bottom = top + max(len(rows), 1) * row_h
    for i in range(0, len(rows), 2):
        out.append(
            f'<rect x="0" y="{top + i * row_h}" width="{width}" height="{row_h}" fill="#f6f8fa"/>'
        )
    for t in ticks:
        x = sx(t)
        out.append(
            f'<line x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{plot_bottom}" stroke="{GRID}"/>'
            f'<text x="{_f(x)}" y="{plot_bottom + 18}" font-size="12" fill="{MUTED}" '
            f'text-anchor="middle">{_esc(_tick_label(t, True))}</text>'
        )
    zx = sx(0.0)
    out.append(
        f'<line x1="{_f(zx)}" y1="{top - 4}" x2="{_f(zx)}" y2="{plot_bottom + 4}" '
        f'stroke="{INK}" stroke-width="1.5"/>'
    )
    if not rows:
        out.append(
            f'<text x="{(x0 + x1) / 2}" y="{top + row_h / 2 + 4}" text-anchor="middle" '
            f'fill="{MUTED}">No results</text>'
        )
    for i, row in enumerate(rows):
        cy = top + i * row_h + row_h / 2
        name = _text(row.get("metric_label")) or _text(row.get("metric_name"))
        label = _truncate(name, 36)
        sub = f"{_text(row.get('variant'))} vs {_text(row.get('control_variant'))}"
        out.append(
            f'<g class="forest-row"><title>{_esc(name)} · {_esc(sub)}</title>'
            f'<text x="8" y="{_f(cy - 3)}" font-size="13" fill="{INK}" font-weight="600">'
            f"{_esc(label)}</text>"
            f'<text x="8" y="{_f(cy + 13)}" font-size="11" fill="{MUTED}">'
            f"{_esc(_truncate(sub if multi_variant else _text(row.get('metric_name')), 40))}"
            f"</text>"
        )
        colour = _VERDICT_COLOUR[verdict(row)]
        effect, clo, chi = _relative(row)
        u_effect, ulo, uhi = _unadjusted_relative(row)
        yc, yu = cy - 7, cy + 8
        if clo is not None and chi is not None:
            out.append(
                f'<line x1="{_f(sx(clo))}" y1="{_f(yc)}" x2="{_f(sx(chi))}" y2="{_f(yc)}" '
                f'stroke="{colour}" stroke-width="3" stroke-linecap="round"/>'
            )
        if effect is not None:
            out.append(f'<circle cx="{_f(sx(effect))}" cy="{_f(yc)}" r="5.5" fill="{colour}"/>')
        if ulo is not None and uhi is not None:
            out.append(
                f'<line x1="{_f(sx(ulo))}" y1="{_f(yu)}" x2="{_f(sx(uhi))}" y2="{_f(yu)}" '
                f'stroke="{UNADJ}" stroke-width="2" stroke-linecap="round"/>'
            )
        if u_effect is not None:
            out.append(
                f'<circle cx="{_f(sx(u_effect))}" cy="{_f(yu)}" r="4" fill="#fff" '
                f'stroke="{UNADJ}" stroke-width="2"/>'
            )
        tx = width - 8
        if effect is None:
            absolute = _num(row.get("absolute_effect"))
            status = _text(row.get("status"), "unknown")
            main_text = f"{DASH} ({status})"
            if absolute is not None:
                main_text = f"{DASH} relative ({status}); Δ {fmt_signed(absolute)}"
            out.append(
                f'<text x="{tx}" y="{_f(cy - 3)}" font-size="12" fill="{BAD}" '
                f'text-anchor="end">{_esc(main_text)}</text>'
            )
        else:
            out.append(
                f'<text x="{tx}" y="{_f(cy - 3)}" font-size="12.5" fill="{colour}" '
                f'text-anchor="end" font-weight="600">{_esc(fmt_pct(effect))} '
                f"[{_esc(fmt_pct(clo))}, {_esc(fmt_pct(chi))}] "
                f"{_esc(p_is(row.get('p_value')))}</text>"
            )
        out.append(
            f'<text x="{tx}" y="{_f(cy + 13)}" font-size="11" fill="{MUTED}" text-anchor="end">'
            f"unadjusted {_esc(fmt_pct(u_effect))}, {_esc(p_is(row.get('unadjusted_p_value')))}"
            f"</text></g>"
        )
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Cumulative series


def series_svg(points: Sequence[Row], title: str, subtitle: str) -> str:
    """Cumulative CUPED effect with its CI band over as_of_date (relative % when available)."""
    width, height = 380, 220
    x0, x1, y0, y1 = 46, width - 12, 52, height - 28
    dated = sorted(
        ((d, p) for p in points if (d := _date(p.get("as_of_date"))) is not None),
        key=lambda dp: dp[0],
    )
    percent = any(_num(p.get("relative_effect")) is not None for _, p in dated)
    keys = (
        ("relative_effect", "relative_ci_lower", "relative_ci_upper")
        if percent
        else ("absolute_effect", "absolute_ci_lower", "absolute_ci_upper")
    )
    series = [(d, *(_num(p.get(k)) for k in keys)) for d, p in dated]
    out = [
        f'<svg class="chart series" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Cumulative effect of {_esc(title)}">'
        f"<title>{_esc(title)} · {_esc(subtitle)}</title>"
        f'<text x="8" y="18" font-size="13.5" font-weight="600" fill="{INK}">'
        f"{_esc(_truncate(title, 46))}</text>"
        f'<text x="8" y="36" font-size="11.5" fill="{MUTED}">{_esc(_truncate(subtitle, 26))} · '
        f"{'relative' if percent else 'absolute'}"
        "</text>"
    ]
    usable = [s for s in series if s[1] is not None]
    if not usable:
        out.append(
            f'<text x="{width / 2}" y="{height / 2 + 10}" text-anchor="middle" '
            f'fill="{MUTED}" font-size="12">No estimable day yet</text></svg>'
        )
        return "".join(out)
    lo, hi = _domain([v for s in series for v in s[1:]])
    ticks = _nice_ticks(lo, hi, 4)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    first, last = series[0][0], series[-1][0]
    span = max((last - first).days, 1)

    def sx(d: dt.date) -> float:
        return x0 + (d - first).days / span * (x1 - x0)

    def sy(v: float) -> float:
        return y1 - (v - lo) / (hi - lo) * (y1 - y0)

    for t in ticks:
        out.append(
            f'<line x1="{x0}" y1="{_f(sy(t))}" x2="{x1}" y2="{_f(sy(t))}" stroke="{GRID}"/>'
            f'<text x="{x0 - 5}" y="{_f(sy(t) + 4)}" font-size="10.5" fill="{MUTED}" '
            f'text-anchor="end">{_esc(_tick_label(t, percent))}</text>'
        )
    out.append(
        f'<line x1="{x0}" y1="{_f(sy(0))}" x2="{x1}" y2="{_f(sy(0))}" stroke="{INK}" '
        f'stroke-width="1.2"/>'
    )
    for d, anchor in ((first, "start"), (last, "end")):
        out.append(
            f'<text x="{_f(sx(d))}" y="{height - 12}" font-size="10.5" fill="{MUTED}" '
            f'text-anchor="{anchor}">{_esc(d.isoformat())}</text>'
        )
    # contiguous runs of days with a full estimate: band + line per run
    runs: list[list[tuple]] = [[]]
    for s in series:
        if s[1] is None or s[2] is None or s[3] is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(s)
    for run in (r for r in runs if r):
        upper = " ".join(f"{_f(sx(d))},{_f(sy(h))}" for d, _, _, h in run)
        lower = " ".join(f"{_f(sx(d))},{_f(sy(lo_))}" for d, _, lo_, _ in reversed(run))
        out.append(f'<polygon points="{upper} {lower}" fill="{NEUTRAL}" fill-opacity="0.16"/>')
        line = " ".join(f"{_f(sx(d))},{_f(sy(e))}" for d, e, _, _ in run)
        if len(run) == 1:
            d, e, _, _ = run[0]
            out.append(f'<circle cx="{_f(sx(d))}" cy="{_f(sy(e))}" r="3" fill="{NEUTRAL}"/>')
        else:
            out.append(
                f'<polyline points="{line}" fill="none" stroke="{NEUTRAL}" stroke-width="2"/>'
            )
    d_last, e_last, lo_last, hi_last = usable[-1]
    label = fmt_pct(e_last) if percent else fmt_signed(e_last)
    if lo_last is not None and hi_last is not None:
        ci = (
            f"[{fmt_pct(lo_last)}, {fmt_pct(hi_last)}]"
            if percent
            else f"[{fmt_num(lo_last)}, {fmt_num(hi_last)}]"
        )
        label = f"{label} {ci}"
    out.append(
        f'<circle cx="{_f(sx(d_last))}" cy="{_f(sy(e_last))}" r="3.5" fill="{NEUTRAL}"/>'
        f'<text x="{width - 8}" y="36" font-size="12" font-weight="600" fill="{NEUTRAL}" '
        f'text-anchor="end"><title>as of {_esc(d_last.isoformat())}</title>{_esc(label)}</text>'
        "</svg>"
    )
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Health banner


def _health_banner(
    experiment: str,
    health: Sequence[Row],
    balance: Sequence[Row],
    caps: Sequence[Row],
    results: Sequence[Row],
) -> str:
    overall = [h for h in health if _text(h.get("segment_name"), "all") == "all"]
    segments = [h for h in health if _text(h.get("segment_name"), "all") != "all"]
    problems: list[str] = []  # red: do not trust the effects
    warnings: list[str] = []  # amber: read before deciding
    facts: list[str] = []

    if not overall:
        warnings.append("No health rows for this experiment: the sample ratio was not checked.")
    srm_flag = any(_is_true(h.get("srm_flag")) for h in overall)
    srm_p = next((_num(h.get("srm_p_value")) for h in overall), None)
    srm_status = next((_text(h.get("srm_status")) for h in overall), "")
    if srm_flag:
        problems.append(
            f"Sample-ratio mismatch: {p_is(srm_p)} (flagged below 0.001). "
            "The assignment or the exclusions are broken; do not trust these effects."
        )
    elif overall and srm_p is None:
        warnings.append(f"Sample-ratio test not run ({srm_status or 'unknown'}).")
    seg_flags = sorted(
        {
            f"{_text(h.get('segment_name'))} = {_text(h.get('segment_value'))}"
            for h in segments
            if _is_true(h.get("srm_flag"))
        }
    )
    if seg_flags:
        warnings.append(f"Sample-ratio mismatch within segment {', '.join(seg_flags)}.")

    # arms
    arms = []
    for h in sorted(
        overall, key=lambda h: (not _is_true(h.get("is_control")), _text(h.get("variant")))
    ):
        role = " (control)" if _is_true(h.get("is_control")) else ""
        coverage = _num(h.get("pre_period_coverage"))
        arms.append(
            f"<tr><td>{_esc(h.get('variant'))}{role}</td>"
            f'<td class="num">{fmt_int(h.get("n_units"))}</td>'
            f'<td class="num">{fmt_pct(h.get("observed_share"), 1, False)}</td>'
            f'<td class="num">{fmt_pct(h.get("expected_share"), 1, False)}</td>'
            f'<td class="num">{fmt_pct(coverage, 0, False)}</td></tr>'
        )
        if coverage is not None and coverage < LOW_COVERAGE:
            warnings.append(
                f"Low pre-period coverage in {_esc(h.get('variant'))}: "
                f"{fmt_pct(coverage, 0, False)} of units have pre-period data, "
                "so CUPED removes little variance."
            )
        missing = _int(h.get("n_units_missing_attributes")) or 0
        if missing:
            warnings.append(
                f"{missing:,} units in {_esc(h.get('variant'))} have no unit attribute "
                "(imputed as 0)."
            )

    exclusions = {
        "units assigned to more than one variant": sum(
            _int(h.get("n_units_excluded_multiple_variants")) or 0 for h in overall
        ),
        "units first assigned after the analysis end": sum(
            _int(h.get("n_units_excluded_after_analysis_end")) or 0 for h in overall
        ),
        "duplicate assignment rows (unit analysed once)": sum(
            _int(h.get("n_duplicate_assignment_rows")) or 0 for h in overall
        ),
        "invalid assignment rows (null unit, variant or time)": max(
            (_int(h.get("n_invalid_assignment_rows")) or 0 for h in overall), default=0
        ),
    }
    excluded = [f"{n:,} {what}" for what, n in exclusions.items() if n]
    if excluded:
        facts.append("Left out: " + "; ".join(excluded) + ".")
    else:
        facts.append("Nothing excluded: no multiple-variant units, duplicates or invalid rows.")

    # balance (overall rows; the same covariate repeats under every metric that uses it)
    overall_balance = [b for b in balance if _text(b.get("segment_name"), "all") == "all"]
    if balance:
        tested = {(_text(b.get("covariate")), _text(b.get("variant"))) for b in overall_balance}
        flagged = sorted(
            {
                (_text(b.get("covariate")), _text(b.get("variant")))
                for b in overall_balance
                if _is_true(b.get("imbalance_flag"))
            }
        )
        seg_flagged = sum(
            1
            for b in balance
            if _text(b.get("segment_name"), "all") != "all" and _is_true(b.get("imbalance_flag"))
        )
        diffs = [
            abs(d)
            for b in overall_balance
            if (d := _num(b.get("standardized_difference"))) is not None
        ]
        worst = max(diffs, default=None)
        if flagged:
            names = ", ".join(f"{c} ({v})" for c, v in flagged)
            warnings.append(
                f"Pre-period imbalance flagged for {names}: the CUPED estimate may be shifted "
                "by it, not only made more precise."
            )
        if seg_flagged:
            warnings.append(f"{seg_flagged} covariate × segment rows flagged as imbalanced.")
        text = f"Balance: {len(tested)} covariate × variant pairs tested, {len(flagged)} flagged"
        if worst is not None:
            text += f"; largest |standardized difference| {fmt_num(worst)}"
            if worst > STD_DIFF_NOTABLE:
                text += " (above the 0.1 rule of thumb)"
        facts.append(text + ".")
    else:
        facts.append("Balance: no cuped_balance rows (table absent or no covariates).")

    for cap in sorted(caps, key=lambda c: _sort_key(c.get("metric_name"), c.get("period"))):
        bounds = []
        if _num(cap.get("lower_threshold")) is not None:
            bounds.append(
                f"≥ {fmt_num(cap.get('lower_threshold'))} ({_text(cap.get('lower_rule'))})"
            )
        if _num(cap.get("upper_threshold")) is not None:
            bounds.append(
                f"≤ {fmt_num(cap.get('upper_threshold'))} ({_text(cap.get('upper_rule'))})"
            )
        n_capped = (_int(cap.get("n_units_below")) or 0) + (_int(cap.get("n_units_above")) or 0)
        facts.append(
            f"Capped {_esc(cap.get('metric_name'))} ({_esc(cap.get('period'))}): "
            f"{_esc(', '.join(bounds) or DASH)}, {n_capped:,} units capped."
        )

    not_ok = sorted(
        {
            (_text(r.get("status")), _text(r.get("status_reason")))
            for r in results
            if _text(r.get("status"), "ok") != "ok"
        }
    )
    for status, reason in not_ok:
        count = sum(1 for r in results if _text(r.get("status")) == status)
        warnings.append(
            f"{count} result rows with status {status}{': ' + reason if reason else ''}."
        )

    level = "danger" if problems else ("warn" if warnings else "ok")
    if problems:
        headline = "✕ Do not trust these results"
    elif warnings:
        headline = "! Healthy sample ratio, with warnings"
    else:
        headline = "✓ Healthy"
    srm_text = f"SRM {p_is(srm_p)}" if srm_p is not None else f"SRM {srm_status or 'not run'}"
    items = "".join(f'<li class="problem">{_esc(t)}</li>' for t in problems)
    items += "".join(f'<li class="warning">{_esc(t)}</li>' for t in warnings)
    items += "".join(f"<li>{_esc(t)}</li>" for t in facts)
    return (
        f'<div class="health {level}" data-experiment="{_esc(experiment)}">'
        f'<div class="health-head"><strong>{_esc(headline)}</strong>'
        f'<span class="pill">{_esc(srm_text)}{" · flagged" if srm_flag else ""}</span></div>'
        f'<div class="health-body"><table class="arms"><thead><tr><th>variant</th>'
        f'<th class="num">units</th><th class="num">observed</th><th class="num">expected</th>'
        f'<th class="num">pre-period coverage</th></tr></thead><tbody>{"".join(arms)}</tbody>'
        f"</table><ul>{items}</ul></div></div>"
    )


# --------------------------------------------------------------------------------------------
# Tables


def _figures_table(rows: Sequence[Row], with_segment: bool) -> str:
    head = (
        ("<th>segment</th>" if with_segment else "")
        + "<th>metric</th><th>variant</th><th class='num'>units control / variant</th>"
        "<th class='num'>control mean</th><th class='num'>effect (abs.)</th>"
        "<th class='num'>relative [CI]</th>"
        "<th class='num'>p</th><th class='num'>Holm p</th><th class='num'>variance reduction</th>"
        "<th class='num'>unadjusted</th><th>status</th>"
    )
    body = []
    for r in rows:
        v = verdict(r)
        effect, lo, hi = _relative(r)
        status = _text(r.get("status"), "unknown")
        status_cell = (
            f'<span class="chip" style="--c:{_VERDICT_COLOUR[v]}">{_esc(_VERDICT_LABEL[v])}</span>'
        )
        if status != "ok":
            reason = _text(r.get("status_reason"))
            status_cell += f' <span class="badge" title="{_esc(reason)}">{_esc(status)}</span>'
        ci = f"[{fmt_pct(lo)}, {fmt_pct(hi)}]" if lo is not None and hi is not None else DASH
        segment = (
            f"<td>{_esc(r.get('segment_name'))} = {_esc(r.get('segment_value'))}</td>"
            if with_segment
            else ""
        )
        name = _text(r.get("metric_label")) or _text(r.get("metric_name"))
        body.append(
            f"<tr>{segment}<td><span class='metric'>{_esc(name)}</span>"
            f"<span class='sub'>{_esc(r.get('metric_name'))}</span></td>"
            f"<td>{_esc(r.get('variant'))}</td>"
            f"<td class='num'>{fmt_int(r.get('n_control'))} / {fmt_int(r.get('n_variant'))}</td>"
            f"<td class='num'>{fmt_num(r.get('control_mean'))}</td>"
            f"<td class='num'>{fmt_signed(r.get('absolute_effect'))}</td>"
            f"<td class='num'><span class='strong' style='color:{_VERDICT_COLOUR[v]}'>"
            f"{fmt_pct(effect)}</span><span class='sub'>{ci}</span></td>"
            f"<td class='num'>{fmt_p(r.get('p_value'))}</td>"
            f"<td class='num'>{fmt_p(r.get('p_value_holm'))}</td>"
            f"<td class='num'>{fmt_pct(r.get('variance_reduction'), 0, False)}</td>"
            f"<td class='num'>{fmt_pct(r.get('unadjusted_relative_effect'))}"
            f"<span class='sub'>{p_is(r.get('unadjusted_p_value'))}</span></td>"
            f"<td>{status_cell}</td></tr>"
        )
    return (
        f'<div class="table-wrap"><table class="figures"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


# --------------------------------------------------------------------------------------------
# Page

_CSS = """
:root{--ink:#1f2328;--muted:#656d76;--line:#d8dee4;--bg:#f4f6f8;--card:#fff;
--good:#1a7f37;--bad:#cf222e;--warn:#9a6700;--accent:#3b5998}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header.top{background:#1f2937;color:#fff;padding:28px 40px 22px}
header.top h1{margin:0 0 4px;font-size:26px;font-weight:650;letter-spacing:-.01em}
header.top p{margin:0;color:#c9d1d9;font-size:13px}
main{max-width:1180px;margin:0 auto;padding:24px 24px 60px}
.overview{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:6px 0;
margin-bottom:28px}
.overview table{width:100%;border-collapse:collapse}
.overview td,.overview th{padding:8px 18px;text-align:left;border-bottom:1px solid #eef1f4}
.overview tr:last-child td{border-bottom:0}
.overview a{color:var(--accent);font-weight:600;text-decoration:none}
section.experiment{background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:22px 22px 26px;margin-bottom:32px;box-shadow:0 1px 2px rgba(31,35,40,.04)}
section.experiment h2{margin:0 0 2px;font-size:21px}
.meta{color:var(--muted);font-size:13px;margin-bottom:14px}
h3{font-size:15px;margin:26px 0 8px;color:#24292f;border-bottom:1px solid #eef1f4;
padding-bottom:4px}
.health{border-radius:10px;border:1px solid;padding:12px 16px;margin:6px 0 4px}
.health.ok{background:#f0faf3;border-color:#9ad2aa}
.health.warn{background:#fff8e6;border-color:#e6c25c}
.health.danger{background:#fff0f0;border-color:#f19a9a}
.health-head{display:flex;gap:12px;align-items:center;font-size:15px;margin-bottom:6px}
.health.ok .health-head strong{color:var(--good)}
.health.warn .health-head strong{color:var(--warn)}
.health.danger .health-head strong{color:var(--bad)}
.pill{font-size:12px;background:rgba(255,255,255,.8);border:1px solid var(--line);
border-radius:999px;padding:1px 10px;color:var(--muted)}
.health-body{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px 28px}
.health ul{margin:4px 0;padding-left:18px;flex:1 1 380px}
.health li{margin:2px 0}
.health li.problem{color:var(--bad);font-weight:600}
.health li.warning{color:var(--warn);font-weight:600}
table.arms{border-collapse:collapse;font-size:13px;flex:0 0 auto}
table.arms th,table.arms td{padding:3px 10px 3px 0;text-align:left}
table.arms th{color:var(--muted);font-weight:500}
.num{text-align:right!important;font-variant-numeric:tabular-nums}
td.num{white-space:nowrap}
svg.chart{display:block;font-family:inherit;height:auto}
.series-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
.series-grid figure{margin:0;border:1px solid #eef1f4;border-radius:8px;padding:4px}
.table-wrap{overflow-x:auto}
table.figures{border-collapse:collapse;width:100%;font-size:12.5px}
table.figures th{font-weight:600;color:var(--muted);text-align:left;padding:6px 7px;
border-bottom:2px solid var(--line);vertical-align:bottom}
table.figures td{padding:6px 7px;border-bottom:1px solid #eef1f4;vertical-align:top}
table.figures tr:hover td{background:#f6f8fa}
.metric{display:block;font-weight:600}
.sub{display:block;color:var(--muted);font-size:11px}
.strong{font-weight:650}
.chip{display:inline-block;border-radius:999px;padding:0 8px;font-size:11.5px;color:#fff;
background:var(--c);white-space:nowrap}
.badge{display:inline-block;border-radius:4px;padding:0 6px;font-size:11.5px;
background:#fff1c2;color:#7a5200;border:1px solid #e6c25c;white-space:nowrap}
details{margin-top:14px}
summary{cursor:pointer;color:var(--accent);font-weight:600}
.note{color:var(--muted);font-size:12px;margin-top:6px}
footer{color:var(--muted);font-size:12px;max-width:1180px;margin:0 auto;padding:0 24px 40px}
@media print{body{background:#fff}section.experiment{break-inside:avoid-page;box-shadow:none}}
"""


def _group(rows: Iterable[Row], *keys: str) -> dict[tuple, list[Row]]:
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for row in rows:
        groups[tuple(_text(row.get(k)) for k in keys)].append(row)
    return groups


def _experiment_section(
    index: int,
    experiment: str,
    results: Sequence[Row],
    daily: Sequence[Row],
    health: Sequence[Row],
    balance: Sequence[Row],
    caps: Sequence[Row],
) -> str:
    overall = sorted(
        (r for r in results if _text(r.get("segment_name"), "all") == "all"),
        key=lambda r: _sort_key(r.get("metric_name"), r.get("variant")),
    )
    segmented = sorted(
        (r for r in results if _text(r.get("segment_name"), "all") != "all"),
        key=lambda r: _sort_key(
            r.get("segment_name"), r.get("segment_value"), r.get("metric_name"), r.get("variant")
        ),
    )
    variants = sorted({_text(r.get("variant")) for r in results})
    controls = sorted(
        {_text(r.get("control_variant")) for r in results if r.get("control_variant")}
    )
    if not controls:
        controls = sorted(
            {_text(h.get("variant")) for h in health if _is_true(h.get("is_control"))}
        )
    alphas = {_alpha(r) for r in results}
    alpha = alphas.pop() if len(alphas) == 1 else 0.05
    level = round((1 - alpha) * 100, 2)
    units = sum(
        _int(h.get("n_units")) or 0 for h in health if _text(h.get("segment_name"), "all") == "all"
    )
    meta = (
        f"control arm <b>{_esc(', '.join(controls) or DASH)}</b> · "
        f"treatment {'arms' if len(variants) > 1 else 'arm'} "
        f"<b>{_esc(', '.join(variants) or DASH)}</b> · {units:,} units analysed · "
        f"{level:g}% intervals (alpha {alpha:g})"
    )
    parts = [
        f'<section class="experiment" id="experiment-{index}" '
        f'data-experiment="{_esc(experiment)}">',
        f"<h2>{_esc(experiment)}</h2><div class='meta'>{meta}</div>",
        _health_banner(experiment, health, balance, caps, results),
        "<h3>Effects: CUPED beside unadjusted</h3>",
        forest_svg(overall, multi_variant=len(variants) > 1),
        "<p class='note'>Relative effect over the control mean with its "
        f"{level:g}% interval. Filled: CUPED (green: significant in the metric's better "
        "direction, red: significant in its worse direction, blue: not significant). Hollow "
        "grey: without CUPED; its interval is the absolute interval divided by the control "
        "mean.</p>",
    ]
    parts.append("<h3>Cumulative effect over time</h3>")
    if daily:
        charts = []
        for (metric, variant), points in sorted(_group(daily, "metric_name", "variant").items()):
            label = _text(points[0].get("metric_label")) or metric
            control = _text(points[0].get("control_variant"))
            subtitle = f"{variant} vs {control}" if control else variant
            charts.append(f"<figure>{series_svg(points, label, subtitle)}</figure>")
        parts.append(f'<div class="series-grid">{"".join(charts)}</div>')
        parts.append(
            "<p class='note'>Each day: units assigned so far, metrics accumulated so far, CUPED "
            "effect with its fixed-horizon interval (shaded). Reading a fixed-horizon interval "
            "every day is not a valid stopping rule.</p>"
        )
    else:
        parts.append(
            "<p class='note'>No daily series for this experiment (cuped_results_daily is empty "
            "or absent: set <code>daily_series: true</code> in the <code>cuped</code> var).</p>"
        )
    parts.append("<h3>Figures</h3>")
    parts.append(_figures_table(overall, with_segment=False))
    parts.append(
        "<p class='note'>Holm p: adjusted for all metrics × variants of the experiment. "
        "Variance reduction: 1 − SE²(CUPED)/SE²(unadjusted).</p>"
    )
    if segmented:
        parts.append(
            f"<details><summary>Segments ({len(segmented)} rows)</summary>"
            f"{_figures_table(segmented, with_segment=True)}</details>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_report(
    results_rows: Sequence[Row],
    daily_rows: Sequence[Row] | None = None,
    health_rows: Sequence[Row] | None = None,
    balance_rows: Sequence[Row] | None = None,
    caps_rows: Sequence[Row] | None = None,
    *,
    title: str = "Experiment report",
) -> str:
    """The whole HTML document (a string) for the rows of the public tables."""
    daily_rows, health_rows = daily_rows or [], health_rows or []
    balance_rows, caps_rows = balance_rows or [], caps_rows or []
    experiments = sorted({_text(r.get("experiment_id")) for r in [*results_rows, *health_rows]})
    by = {
        name: _group(rows, "experiment_id")
        for name, rows in (
            ("results", results_rows),
            ("daily", daily_rows),
            ("health", health_rows),
            ("balance", balance_rows),
            ("caps", caps_rows),
        )
    }
    overview, sections = [], []
    for i, experiment in enumerate(experiments):
        key = (experiment,)
        results = by["results"].get(key, [])
        health = by["health"].get(key, [])
        overall = [r for r in results if _text(r.get("segment_name"), "all") == "all"]
        verdicts = [verdict(r) for r in overall]
        srm = any(
            _is_true(h.get("srm_flag"))
            for h in health
            if _text(h.get("segment_name"), "all") == "all"
        )
        srm_chip = (
            f'<span class="chip" style="--c:{BAD}">SRM</span>'
            if srm
            else f'<span class="chip" style="--c:{GOOD}">SRM ok</span>'
        )
        overview.append(
            f'<tr><td><a href="#experiment-{i}">{_esc(experiment)}</a></td>'
            f"<td>{srm_chip}</td><td>{len(overall)} comparisons</td>"
            f"<td style='color:{GOOD}'>{verdicts.count('better')} better</td>"
            f"<td style='color:{BAD}'>{verdicts.count('worse')} worse</td>"
            f"<td style='color:{NEUTRAL}'>{verdicts.count('inconclusive')} inconclusive</td>"
            f"<td style='color:{MUTED}'>{verdicts.count('unavailable')} without estimate</td></tr>"
        )
        sections.append(
            _experiment_section(
                i,
                experiment,
                results,
                by["daily"].get(key, []),
                health,
                by["balance"].get(key, []),
                by["caps"].get(key, []),
            )
        )
    computed = sorted(
        {_text(r.get("computed_at"))[:19] for r in results_rows if r.get("computed_at")}
    )
    versions = sorted(
        {_text(r.get("package_version")) for r in results_rows if r.get("package_version")}
    )
    subtitle = f"{len(experiments)} experiments"
    if computed:
        subtitle += f" · computed {computed[-1]}"
    if versions:
        subtitle += f" · cuped {', '.join(versions)}"
    if not experiments:
        sections.append(
            "<section class='experiment'><h2>No experiments</h2>"
            "<p>cuped_results and cuped_health have no rows.</p></section>"
        )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header class='top'><h1>{_esc(title)}</h1><p>{_esc(subtitle)}</p></header><main>"
        f"<div class='overview'><table><tbody>{''.join(overview)}</tbody></table></div>"
        f"{''.join(sections)}</main>"
        "<footer>CUPED: Deng, Xu, Kohavi, Walker (2013). Effects are treatment − control; "
        "relative effects are over the CUPED-adjusted control mean (delta-method interval). "
        "Read the health banner first: a sample-ratio mismatch invalidates the effects."
        "</footer></body></html>\n"
    )


# --------------------------------------------------------------------------------------------
# CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cuped-report",
        description="Render a self-contained HTML report of the cuped tables in a DuckDB file.",
    )
    parser.add_argument("--database", default="target/cuped.duckdb", help="DuckDB file")
    parser.add_argument("--output", default="target/cuped_report.html", help="HTML file to write")
    parser.add_argument("--schema", default="main", help="schema of the cuped tables")
    parser.add_argument("--title", default="Experiment report", help="title of the page")
    args = parser.parse_args(argv)

    database = Path(args.database)
    if not database.is_file():
        print(f"cuped-report: no database file {database}", file=sys.stderr)
        return 2
    try:
        tables = load_tables(database, args.schema)
    except LookupError as error:
        print(f"cuped-report: {error}", file=sys.stderr)
        return 2
    page = render_report(
        tables["cuped_results"],
        tables["cuped_results_daily"],
        tables["cuped_health"],
        tables["cuped_balance"],
        tables["cuped_caps"],
        title=args.title,
    )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    print(f"cuped-report: wrote {output} ({len(page) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
