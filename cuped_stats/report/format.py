"""How the report writes numbers: every figure on the page goes through one of these functions.

Null, NaN and infinite values (a warehouse NULL read through DuckDB is ``None``; a float NaN may
come from elsewhere) are written as an em dash, never as ``nan`` or ``None``. Negative numbers use
the typographic minus sign (U+2212). The templates use these functions as Jinja filters.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

__all__ = [
    "DASH",
    "as_date",
    "as_float",
    "as_int",
    "fmt_int",
    "fmt_num",
    "fmt_p",
    "fmt_pct",
    "fmt_signed",
    "is_true",
    "p_is",
    "text",
]

DASH = "—"
MINUS = "−"


def as_float(value: Any) -> float | None:
    """A finite float, or ``None`` for null, NaN, inf, booleans and anything not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def as_int(value: Any) -> int | None:
    x = as_float(value)
    return None if x is None else round(x)


def is_true(value: Any) -> bool:
    """``True`` for a boolean true or the number 1 (some drivers return flags as integers)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, (int, float)) and value == 1


def text(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return None


def _minus(text_: str) -> str:
    return text_.replace("-", MINUS)


def fmt_num(value: Any) -> str:
    """Four significant digits; thousands separators from 1,000; ``2.50e-04`` below 0.001."""
    x = as_float(value)
    if x is None:
        return DASH
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return _minus(f"{x:,.0f}")
    return _minus(f"{x:.4g}" if abs(x) >= 0.001 else f"{x:.2e}")


def fmt_signed(value: Any) -> str:
    """:func:`fmt_num` with an explicit ``+`` on positive numbers."""
    x = as_float(value)
    if x is None:
        return DASH
    out = fmt_num(x)
    return out if out.startswith(MINUS) or out == "0" else "+" + out


def fmt_pct(value: Any, digits: int = 1, signed: bool = True) -> str:
    """A share as a percentage: ``0.0531`` → ``+5.3%``; a value that rounds to zero has no sign."""
    x = as_float(value)
    if x is None:
        return DASH
    out = f"{x * 100:+.{digits}f}%" if signed else f"{x * 100:.{digits}f}%"
    if out.lstrip("+-").rstrip("%") == f"{0:.{digits}f}":
        out = out.lstrip("+-")
    return _minus(out)


def fmt_p(value: Any) -> str:
    """A p-value: three decimals, four below 0.001, ``<0.0001`` below that."""
    x = as_float(value)
    if x is None:
        return DASH
    if x < 0.0001:
        return "<0.0001"
    if x < 0.001:
        return f"{x:.4f}"
    return f"{x:.3f}"


def p_is(value: Any) -> str:
    """``p = 0.012``, ``p < 0.0001`` or ``p —``."""
    out = fmt_p(value)
    if out == DASH:
        return f"p {DASH}"
    return f"p < {out[1:]}" if out.startswith("<") else f"p = {out}"


def fmt_int(value: Any) -> str:
    x = as_int(value)
    return DASH if x is None else f"{x:,}"
