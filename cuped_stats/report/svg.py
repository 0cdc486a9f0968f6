"""Chart geometry for the report: the forest plot and the cumulative charts, as coordinates.

The functions here turn the numbers of the view model (:mod:`cuped_stats.report.view`) into
shapes (positions, polygon points, text already laid out); the SVG markup is written by the
templates (``templates/charts.svg.j2``), so every text goes through the one autoescaping pass.

**Text widths.** SVG has no layout engine, so the report measures text itself, approximately: the
advance widths of DejaVu Sans (the widest of the usual sans-serif system fonts; Chromium on Linux
draws the page with it), bold 12% wider, plus a margin of :data:`FONT_SAFETY`; other characters
count 0.7 em, East Asian wide ones one em. Columns are sized from the measured text, labels that do
not fit wrap onto a second line and are then cut with an ellipsis, and the full text stays in the
row's ``<title>`` (the tooltip).

**Forest plot range.** It covers zero, every point estimate and every interval except those wider
than :data:`OUTLIER_WIDTH` times the typical (lower median) interval width of the plot: one
interval of ±2,000% does not squash all the others into a dot. An interval cut at the edge ends in
an arrowhead; its numbers are printed in full in the text column.

**Cumulative chart range.** The early days of an experiment have few units and very wide
intervals, which would flatten the rest of the series. The y-range covers zero and every value
(effect, fixed-horizon and sequential bounds) from the first day on which the units analysed so
far reach :data:`SETTLED_SHARE` of the last day's units; earlier values that fall outside it are
drawn cut at the edge, each such day marked with a triangle (▲ above, ▼ below), and the days
before that first day are shaded.
"""

from __future__ import annotations

import math
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from cuped_stats.report.format import DASH, fmt_num, fmt_pct, p_is
from cuped_stats.report.view import Comparison, DayPoint, Interval, Series

__all__ = [
    "FONT_SAFETY",
    "OUTLIER_WIDTH",
    "SETTLED_SHARE",
    "ForestChart",
    "SeriesChart",
    "fit_text",
    "forest_chart",
    "nice_ticks",
    "series_chart",
    "text_width",
    "wrap_text",
]

FONT_SAFETY = 1.03
OUTLIER_WIDTH = 5.0
SETTLED_SHARE = 0.25

# DejaVu Sans advance widths, 1/1000 em, for printable ASCII (space .. tilde), as Chromium
# renders them: the widest of the usual sans-serif system fonts, so text measured with it fits
# in Helvetica, Arial, Segoe UI or Roboto too.
_ASCII_WIDTHS = (
    (318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337)
    + (636,) * 10
    + (337, 337, 838, 838, 838, 531, 1000)
    + (698, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863)
    + (748, 787, 603, 787, 695, 635, 602, 732, 684, 989, 685, 611, 685)
    + (390, 337, 390, 838, 500, 500)
    + (613, 635, 550, 635, 615, 344, 635, 634, 278, 278, 579, 278, 974)
    + (634, 612, 635, 635, 402, 521, 392, 634, 592, 818, 592, 592, 525)
    + (636, 337, 636, 838)
)
_OTHER_WIDTHS = {"−": 838, "…": 1000, "·": 318, "×": 838, "≥": 838, "≤": 838, "Δ": 684}
BOLD_FACTOR = 1.12


def text_width(value: str, size: float, bold: bool = False) -> float:
    """Approximate rendered width in px of ``value`` at font size ``size`` (module docstring)."""
    total = 0
    for ch in value:
        code = ord(ch)
        if 32 <= code < 127:
            total += _ASCII_WIDTHS[code - 32]
        elif ch in _OTHER_WIDTHS:
            total += _OTHER_WIDTHS[ch]
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            total += 1000
        elif unicodedata.combining(ch):
            continue
        else:
            total += 700
    return total / 1000 * size * FONT_SAFETY * (BOLD_FACTOR if bold else 1.0)


def fit_text(value: str, width: float, size: float, bold: bool = False) -> str:
    """``value``, or its longest prefix that fits in ``width`` followed by an ellipsis."""
    if text_width(value, size, bold) <= width:
        return value
    low, high = 0, len(value)
    while low < high:
        mid = (low + high + 1) // 2
        if text_width(value[:mid].rstrip() + "…", size, bold) <= width:
            low = mid
        else:
            high = mid - 1
    return value[:low].rstrip() + "…"


def wrap_text(value: str, width: float, size: float, bold: bool, max_lines: int) -> list[str]:
    """``value`` broken at spaces into at most ``max_lines`` lines of ``width``; the last line
    is cut with an ellipsis if the text does not fit (a word longer than a line is cut too)."""
    lines: list[str] = []
    words = value.split(" ")
    while words and len(lines) < max_lines - 1:
        line = words[0]
        rest = words[1:]
        while rest and text_width(f"{line} {rest[0]}", size, bold) <= width:
            line = f"{line} {rest[0]}"
            rest = rest[1:]
        if text_width(line, size, bold) > width:
            break  # one word wider than the line: cut it on the last line
        lines.append(line)
        words = rest
    if words:
        lines.append(fit_text(" ".join(words), width, size, bold))
    return lines


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values in [lo, hi]: the step of 1, 2, 2.5 or 5 × 10^k whose number of steps
    is closest to ``target``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    magnitude = 10 ** math.floor(math.log10((hi - lo) / target))
    steps = [m * magnitude for m in (1, 2, 2.5, 5, 10, 20)]
    step = min(steps, key=lambda st: (abs((hi - lo) / st - target), -st))
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _domain(values: Sequence[float], target: int) -> tuple[float, float, list[float]]:
    """A padded range over ``values`` (and 0), widened to its outer ticks."""
    values = [*values, 0.0]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.06 if hi - lo > 1e-12 else (abs(hi) * 0.1 or 0.01)
    lo, hi = lo - pad, hi + pad
    ticks = nice_ticks(lo, hi, target)
    return min(lo, ticks[0]), max(hi, ticks[-1]), ticks


def _c(x: float) -> str:
    return f"{x:.1f}"


def _arrow(x: float, y: float, dx: float, dy: float) -> str:
    """Points of a small triangle with its tip at (x, y), pointing along (dx, dy)."""
    bx, by = x - 7 * dx, y - 7 * dy
    px, py = 4 * -dy, 4 * dx
    return f"{_c(x)},{_c(y)} {_c(bx + px)},{_c(by + py)} {_c(bx - px)},{_c(by - py)}"


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


# --------------------------------------------------------------------------------------------
# Forest plot


@dataclass(frozen=True)
class Mark:
    """One estimate with its interval on a forest row (``None``: not drawn)."""

    y: float
    x: float | None
    x_lower: float | None
    x_upper: float | None
    arrows: tuple[str, ...]


@dataclass(frozen=True)
class ForestRow:
    metric_name: str
    variant: str
    top: float
    height: float
    tooltip: str
    label_lines: tuple[Label, ...]
    sub: Label
    verdict: str
    cuped: Mark
    unadjusted: Mark
    value: Label
    value_sub: Label
    value_missing: bool


@dataclass(frozen=True)
class ForestChart:
    width: float
    height: float
    x0: float
    x1: float
    top: float
    bottom: float
    zero_x: float
    ticks: tuple[Label, ...]
    rows: tuple[ForestRow, ...]
    legend_x: float
    header: Label


PAD, GAP = 8.0, 16.0
LABEL_SIZE, SUB_SIZE, VALUE_SIZE, VALUE_SUB_SIZE = 13.0, 11.0, 12.5, 11.0
MIN_LABEL_W, MAX_LABEL_W, MIN_PLOT_W = 120.0, 300.0, 300.0
ROW_H, LINE_H, FOREST_TOP, FOREST_BOTTOM = 46.0, 15.0, 34.0, 36.0
FOREST_WIDTH = 980.0


def forest_domain(comparisons: Sequence[Comparison]) -> tuple[float, float, list[float]]:
    """The x-range of a forest plot (module docstring): zero, every estimate, every interval
    not wider than :data:`OUTLIER_WIDTH` × the lower median width."""
    intervals = [
        iv
        for c in comparisons
        for iv in (c.relative, c.unadjusted_relative)
        if iv.lower is not None and iv.upper is not None
    ]
    widths = [iv.upper - iv.lower for iv in intervals]
    typical = statistics.median_low(widths) if widths else 0.0
    values = [
        iv.estimate
        for c in comparisons
        for iv in (c.relative, c.unadjusted_relative)
        if iv.estimate is not None
    ]
    for iv, width in zip(intervals, widths, strict=True):
        if typical <= 0 or width <= OUTLIER_WIDTH * typical:
            values += [iv.lower, iv.upper]
    return _domain(values, 6)


def _values(c: Comparison, adjusted_label: str) -> tuple[str, str, bool]:
    """The two text lines of the value column, and whether the CUPED estimate is missing."""
    rel, unadj = c.relative, c.unadjusted_relative
    adjusted = f"{adjusted_label} {p_is(c.adjusted_p_value)[2:]}"
    if rel.estimate is None:
        main = f"{DASH} relative ({c.status})"
        if c.absolute_effect is not None:
            main += f"; Δ {fmt_num(c.absolute_effect)}"
    else:
        main = f"{fmt_pct(rel.estimate)} [{fmt_pct(rel.lower)}, {fmt_pct(rel.upper)}]"
    sub = (
        f"unadjusted {fmt_pct(unadj.estimate)} [{fmt_pct(unadj.lower)}, {fmt_pct(unadj.upper)}], "
        f"{p_is(c.unadjusted_p_value)}"
    )
    return f"{main} · {adjusted}", sub, rel.estimate is None


@dataclass(frozen=True)
class Scale:
    """Linear map of the data range [lo, hi] onto [start, end] px; values outside are clamped."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        v = min(max(value, self.lo), self.hi)
        return self.start + (v - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def _mark(iv: Interval, y: float, sx: Scale) -> Mark:
    x = None if iv.estimate is None else sx(iv.estimate)
    if iv.lower is None or iv.upper is None:
        return Mark(y, x, None, None, ())
    arrows = []
    if iv.lower < sx.lo:
        arrows.append(_arrow(sx(sx.lo), y, -1, 0))
    if iv.upper > sx.hi:
        arrows.append(_arrow(sx(sx.hi), y, 1, 0))
    return Mark(y, x, sx(iv.lower), sx(iv.upper), tuple(arrows))


def _forest_row(
    c: Comparison, sub: str, values: tuple[str, str, bool], top: float, layout: _ForestLayout
) -> ForestRow:
    main, value_sub, missing = values
    lines = wrap_text(c.metric_label, layout.label_w, LABEL_SIZE, True, 2)
    height = ROW_H + LINE_H * (len(lines) - 1)
    cy = top + height / 2
    first = cy - 3 - LINE_H * (len(lines) - 1) / 2
    return ForestRow(
        metric_name=c.metric_name,
        variant=c.variant,
        top=top,
        height=height,
        tooltip=f"{c.metric_label} · {c.metric_name} · {c.variant} vs {c.control_variant}",
        label_lines=tuple(Label(PAD, first + i * LINE_H, t) for i, t in enumerate(lines)),
        sub=Label(
            PAD, first + LINE_H * (len(lines) - 1) + 16, fit_text(sub, layout.label_w, SUB_SIZE)
        ),
        verdict=c.verdict,
        cuped=_mark(c.relative, cy - 7, layout.sx),
        unadjusted=_mark(c.unadjusted_relative, cy + 8, layout.sx),
        value=Label(layout.width - PAD, cy - 3, main),
        value_sub=Label(layout.width - PAD, cy + 13, value_sub),
        value_missing=missing,
    )


@dataclass(frozen=True)
class _ForestLayout:
    width: float
    label_w: float
    sx: Scale
    ticks: tuple[float, ...]


def _forest_layout(
    comparisons: Sequence[Comparison],
    subs: Sequence[str],
    values: Sequence[tuple[str, str, bool]],
    header: str,
) -> _ForestLayout:
    """Column widths from the measured text: labels up to :data:`MAX_LABEL_W` (then wrapped),
    the value column as wide as its widest line, the plot what is left (at least
    :data:`MIN_PLOT_W`: the chart gets wider rather than overlap)."""
    natural = max(
        [text_width(c.metric_label, LABEL_SIZE, True) for c in comparisons]
        + [text_width(s, SUB_SIZE) for s in subs]
        + [MIN_LABEL_W]
    )
    label_w = min(natural, MAX_LABEL_W)
    value_w = max(
        [text_width(main, VALUE_SIZE, True) for main, _, _ in values]
        + [text_width(sub, VALUE_SUB_SIZE) for _, sub, _ in values]
        + [text_width(header, 12)]
    )
    width = max(FOREST_WIDTH, PAD + label_w + GAP + MIN_PLOT_W + GAP + value_w + PAD)
    lo, hi, ticks = forest_domain(comparisons)
    sx = Scale(lo, hi, PAD + label_w + GAP, width - PAD - value_w - GAP)
    return _ForestLayout(width, label_w, sx, tuple(ticks))


def forest_chart(
    comparisons: Sequence[Comparison], *, multi_variant: bool, adjusted_label: str
) -> ForestChart:
    """Relative effects with intervals, CUPED beside unadjusted, one row per comparison."""
    subs = [
        f"{c.variant} vs {c.control_variant}" if multi_variant else c.metric_name
        for c in comparisons
    ]
    if any(c.metric_role for c in comparisons):
        subs = [
            f"{s} · {c.metric_role or 'no role'}" for s, c in zip(subs, comparisons, strict=True)
        ]
    values = [_values(c, adjusted_label) for c in comparisons]
    header = f"relative effect [CI] · {adjusted_label}"
    layout = _forest_layout(comparisons, subs, values, header)
    rows, top = [], FOREST_TOP
    for c, sub, value in zip(comparisons, subs, values, strict=True):
        rows.append(_forest_row(c, sub, value, top, layout))
        top += rows[-1].height
    bottom = top if rows else FOREST_TOP + ROW_H
    sx = layout.sx
    return ForestChart(
        width=layout.width,
        height=bottom + FOREST_BOTTOM,
        x0=sx.start,
        x1=sx.end,
        top=FOREST_TOP,
        bottom=bottom,
        zero_x=sx(0.0),
        ticks=tuple(Label(sx(t), bottom + 18, _tick_label(t, True)) for t in layout.ticks),
        rows=tuple(rows),
        legend_x=sx.start,
        header=Label(layout.width - PAD, 18, header),
    )


def _tick_label(t: float, percent: bool) -> str:
    if percent:
        return f"{round(t * 100, 6):g}%".replace("-", "−")
    return fmt_num(round(t, 12))


# --------------------------------------------------------------------------------------------
# Cumulative series


@dataclass(frozen=True)
class SeriesChart:
    width: float
    height: float
    title: str
    full_title: str
    subtitle: str
    x0: float
    x1: float
    y0: float
    y1: float
    y_ticks: tuple[Label, ...]
    zero_y: float
    x_labels: tuple[tuple[Label, str], ...]
    sequential_bands: tuple[str, ...]
    fixed_bands: tuple[str, ...]
    lines: tuple[str, ...]
    dots: tuple[tuple[float, float], ...]
    last: tuple[float, float] | None
    clipped_markers: tuple[str, ...]
    clipped_until_x: float | None
    empty: bool


SERIES_W, SERIES_H, SERIES_TOP, SERIES_BOTTOM = 380.0, 236.0, 48.0, 28.0


def settled_index(series: Series) -> int:
    """Index of the first day whose units reach :data:`SETTLED_SHARE` of the last day's."""
    final = series.points[-1].n_units if series.points else 0
    return next((i for i, p in enumerate(series.points) if p.n_units >= SETTLED_SHARE * final), 0)


def _day_values(p: DayPoint) -> list[float]:
    return [
        v
        for v in (p.effect, p.ci_lower, p.ci_upper, p.sequential_lower, p.sequential_upper)
        if v is not None
    ]


def _runs(points: Sequence[DayPoint], *attributes: str) -> list[list[DayPoint]]:
    """Maximal runs of consecutive points whose ``attributes`` are all present."""
    runs: list[list[DayPoint]] = [[]]
    for p in points:
        if all(getattr(p, a) is not None for a in attributes):
            runs[-1].append(p)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _bands(points: Sequence[DayPoint], lower: str, upper: str, sx, sy: Scale) -> tuple[str, ...]:
    """One polygon per run of days with both bounds: upper edge forward, lower edge back."""
    out = []
    for run in _runs(points, lower, upper):
        top = [f"{_c(sx(p.day))},{_c(sy(getattr(p, upper)))}" for p in run]
        bottom = [f"{_c(sx(p.day))},{_c(sy(getattr(p, lower)))}" for p in reversed(run)]
        out.append(" ".join(top + bottom))
    return tuple(out)


def _clipped_markers(points: Sequence[DayPoint], sx, sy: Scale) -> tuple[str, ...]:
    """A triangle at the top (bottom) edge for each day with a value above (below) the range."""
    markers = []
    for p in points:
        values = _day_values(p)
        if any(v > sy.hi for v in values):
            markers.append(_arrow(sx(p.day), sy.end - 1, 0, -1))
        if any(v < sy.lo for v in values):
            markers.append(_arrow(sx(p.day), sy.start + 1, 0, 1))
    return tuple(markers)


def series_chart(series: Series) -> SeriesChart:
    """Cumulative CUPED effect (absolute) with its fixed-horizon and sequential bands; the
    y-range as the module docstring says."""
    title = series.metric_label
    subtitle = f"{series.variant} vs {series.control_variant} · absolute effect"
    points = series.points
    start = settled_index(series)
    in_range = [v for p in points[start:] for v in _day_values(p)]
    lo, hi, ticks = _domain(in_range or [v for p in points for v in _day_values(p)], 4)
    tick_labels = [_tick_label(t, False) for t in ticks]
    x0 = PAD + max(text_width(t, 10.5) for t in tick_labels) + 6
    x1 = SERIES_W - 12
    sy = Scale(lo, hi, SERIES_H - SERIES_BOTTOM, SERIES_TOP)
    first = points[0].day if points else None
    span = max((points[-1].day - first).days, 1) if points else 1

    def sx(day) -> float:
        return x0 + (day - first).days / span * (x1 - x0)

    effect_runs = _runs(points, "effect")
    markers = _clipped_markers(points, sx, sy)
    last = series.last
    return SeriesChart(
        width=SERIES_W,
        height=SERIES_H,
        title=fit_text(title, SERIES_W - 2 * PAD, 13.5, True),
        full_title=f"{title} · {subtitle}",
        subtitle=fit_text(subtitle, SERIES_W - 2 * PAD, 11.5),
        x0=x0,
        x1=x1,
        y0=sy.end,
        y1=sy.start,
        y_ticks=tuple(Label(x0 - 5, sy(t), s) for t, s in zip(ticks, tick_labels, strict=True)),
        zero_y=sy(0.0),
        x_labels=tuple(
            (Label(sx(p.day), SERIES_H - 10, p.day.isoformat()), anchor)
            for p, anchor in (((points[0], "start"), (points[-1], "end")) if points else ())
        ),
        sequential_bands=_bands(points, "sequential_lower", "sequential_upper", sx, sy),
        fixed_bands=_bands(points, "ci_lower", "ci_upper", sx, sy),
        lines=tuple(
            " ".join(f"{_c(sx(p.day))},{_c(sy(p.effect))}" for p in run)
            for run in effect_runs
            if len(run) > 1
        ),
        dots=tuple((sx(run[0].day), sy(run[0].effect)) for run in effect_runs if len(run) == 1),
        last=None if last is None else (sx(last.day), sy(last.effect)),
        clipped_markers=markers,
        clipped_until_x=sx(points[start].day) if markers and start > 0 else None,
        empty=last is None,
    )
