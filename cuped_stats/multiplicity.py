"""Multiple-testing adjustment of p-values within one family of hypotheses.

``None`` entries (a statistic that is not defined) pass through as ``None`` and do not count in
the family size ``m``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["benjamini_hochberg", "holm"]


def _split(p_values: Sequence[float | None]) -> tuple[list[int], np.ndarray]:
    index = [i for i, p in enumerate(p_values) if p is not None]
    values = np.array([p_values[i] for i in index], dtype=np.float64)
    if np.any(~np.isfinite(values)) or np.any((values < 0) | (values > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {list(p_values)}")
    return index, values


def _merge(
    p_values: Sequence[float | None], index: list[int], adjusted: np.ndarray
) -> list[float | None]:
    out: list[float | None] = [None] * len(p_values)
    for i, value in zip(index, adjusted, strict=True):
        out[i] = float(value)
    return out


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm (1979) step-down adjusted p-values (family-wise error rate).

    With ``p_(1) ≤ … ≤ p_(m)``: ``p̃_(i) = max_{j ≤ i} min(1, (m - j + 1)·p_(j))``.
    Holm, S. (1979) "A simple sequentially rejective multiple test procedure".
    """
    index, values = _split(p_values)
    m = len(values)
    order = np.argsort(values, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return _merge(p_values, index, adjusted)


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg (1995) step-up adjusted p-values (false discovery rate).

    With ``p_(1) ≤ … ≤ p_(m)``: ``p̃_(i) = min_{j ≥ i} min(1, m·p_(j)/j)``.
    Benjamini, Y., Hochberg, Y. (1995) "Controlling the false discovery rate".
    """
    index, values = _split(p_values)
    m = len(values)
    order = np.argsort(values, kind="stable")
    scaled = np.minimum(1.0, m * values[order] / np.arange(1, m + 1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return _merge(p_values, index, adjusted)
