"""Sample-ratio mismatch (SRM): do the arm sizes match the expected traffic shares?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import scipy.special

__all__ = [
    "SRM_ALPHA",
    "SRM_STATUSES",
    "SampleRatioMismatch",
    "expected_shares",
    "sample_ratio_mismatch",
]

#: Flag an SRM below this p-value: strict, because the check runs on every experiment and
#: segment and a false alarm stops an analysis (Fabijan et al. 2019, "Diagnosing sample ratio
#: mismatch in online controlled experiments", KDD).
SRM_ALPHA = 0.001
SRM_STATUSES = ("ok", "single_arm", "no_units", "unexpected_units")


@dataclass(frozen=True)
class SampleRatioMismatch:
    """Pearson χ² test of the arm counts against the expected shares.

    ``chi2``/``p_value`` are ``None`` unless ``status == "ok"``; ``flag`` is ``p_value < SRM_ALPHA``
    (and ``True`` for ``unexpected_units``: units in an arm expected to receive none).
    """

    chi2: float | None
    df: int
    p_value: float | None
    flag: bool
    status: str
    status_reason: str


def expected_shares(weights: Sequence[float | None]) -> list[float]:
    """Expected shares ``w_g / Σ w`` of the arms; all ``None`` means equal shares ``1/G``.

    Raises:
        ValueError: for a mix of ``None`` and numbers, a negative or non-finite weight, or a zero
            total.
    """
    if not weights:
        return []
    if all(w is None for w in weights):
        return [1.0 / len(weights)] * len(weights)
    if any(w is None for w in weights):
        raise ValueError(f"expected weights are given for some arms only: {list(weights)}")
    values = [float(w) for w in weights]  # type: ignore[arg-type]
    if any(not math.isfinite(w) or w < 0 for w in values) or sum(values) <= 0:
        raise ValueError(f"expected weights must be finite, non-negative, not all 0: {values}")
    total = sum(values)
    return [w / total for w in values]


def sample_ratio_mismatch(
    counts: Sequence[int], weights: Sequence[float | None]
) -> SampleRatioMismatch:
    """Pearson χ² goodness-of-fit of arm counts to expected shares.

    ``χ² = Σ_g (n_g - N·π_g)² / (N·π_g)`` over the arms with ``π_g > 0`` (arms with 0 units but a
    positive share count), ``df = G - 1``, ``p = P(χ²_df > χ²)`` (Pearson 1900).

    Degenerate cases return ``None`` statistics: ``single_arm`` (fewer than two arms with a
    positive share), ``no_units`` (no units at all), ``unexpected_units`` (units in an arm whose
    expected share is 0, which is flagged).
    """
    if len(counts) != len(weights):
        raise ValueError(f"{len(counts)} counts but {len(weights)} weights")
    if any(int(n) != n or n < 0 for n in counts):
        raise ValueError(f"counts must be non-negative integers: {list(counts)}")
    shares = expected_shares(weights)
    tested = [(int(n), s) for n, s in zip(counts, shares, strict=True) if s > 0]
    df = max(len(tested) - 1, 0)
    total = sum(n for n, _ in tested)
    unexpected = sum(int(n) for n, s in zip(counts, shares, strict=True) if s == 0)
    if unexpected:
        return SampleRatioMismatch(
            None,
            df,
            None,
            True,
            "unexpected_units",
            f"{unexpected} units in arms with an expected share of 0",
        )
    if len(tested) < 2:
        return SampleRatioMismatch(
            None, df, None, False, "single_arm", "fewer than two arms with a positive share"
        )
    if total == 0:
        return SampleRatioMismatch(None, df, None, False, "no_units", "no units in any arm")
    chi2 = sum((n - total * s) ** 2 / (total * s) for n, s in tested)
    p_value = float(scipy.special.chdtrc(df, chi2))  # chi2.sf: scipy.stats costs 1.5 s to import
    return SampleRatioMismatch(float(chi2), df, p_value, p_value < SRM_ALPHA, "ok", "")
