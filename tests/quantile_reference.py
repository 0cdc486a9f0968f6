"""Independent numpy references for quantile metrics: the per-arm inputs computed directly from
unit-level or event-level data (no sums formula), and bootstrap standard errors that resample
units (a cluster bootstrap at the event level)."""

from __future__ import annotations

import numpy as np

from cuped_stats.quantile import BAND_Z, QuantileArm


def reference_arm(
    variant: str,
    values: np.ndarray,
    quantile: float,
    level: str,
    unit_ids: np.ndarray | None = None,
    band_z: float = BAND_Z,
) -> QuantileArm:
    """The inputs of one arm the way their definitions read, with ``np.quantile`` (linear).

    ``values`` has one entry per unit (``unit``) or per event row (``event``, with ``unit_ids``);
    ``nan`` is no value (at the event level a row of a unit without events).
    """
    values = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    finite = values[valid]
    n_values = len(finite)
    q_hat = float(np.quantile(finite, quantile)) if n_values else None
    sums: dict[str, int | None] = dict.fromkeys(
        (
            "sum_below",
            "sum_at",
            "sum_events_squared",
            "sum_below_squared",
            "sum_at_squared",
            "sum_below_events",
            "sum_at_events",
            "sum_below_at",
        )
    )
    sigma = None
    if level == "unit":
        n_units = len(values)
        if n_values >= 2:
            sigma = float(np.sqrt(quantile * (1 - quantile) / n_values))
    else:
        assert unit_ids is not None
        _, inverse = np.unique(unit_ids, return_inverse=True)
        n_units = int(inverse.max()) + 1
        events = np.bincount(inverse[valid], minlength=n_units)
        below = np.zeros(n_units, dtype=np.int64)
        at = np.zeros(n_units, dtype=np.int64)
        if n_values:
            below = np.bincount(inverse[valid][finite < q_hat], minlength=n_units)
            at = np.bincount(inverse[valid][finite == q_hat], minlength=n_units)
        sums.update(
            sum_below=int(below.sum()),
            sum_at=int(at.sum()),
            sum_events_squared=int((events * events).sum()),
            sum_below_squared=int((below * below).sum()),
            sum_at_squared=int((at * at).sum()),
            sum_below_events=int((below * events).sum()),
            sum_at_events=int((at * events).sum()),
            sum_below_at=int((below * at).sum()),
        )
        if n_values >= 2 and n_units >= 2:
            share = 0.0
            if at.sum() > 0:
                share = float(np.clip((quantile * n_values - below.sum()) / at.sum(), 0, 1))
            s = below + share * at
            p = s.sum() / n_values
            squares = np.sum((s - p * events) ** 2) + share * (1 - share) * at.sum()
            sigma = float(np.sqrt(n_units / (n_units - 1) * squares) / n_values)
    band_lower = band_upper = value_lower = value_upper = None
    if sigma is not None:
        band_lower, band_upper = quantile - band_z * sigma, quantile + band_z * sigma
        if band_lower >= 0 and band_upper <= 1:
            value_lower = float(np.quantile(finite, band_lower))
            value_upper = float(np.quantile(finite, band_upper))
    return QuantileArm(
        variant=variant,
        n_units=n_units,
        n_values=n_values,
        quantile_value=q_hat,
        band_lower=band_lower,
        band_upper=band_upper,
        value_lower=value_lower,
        value_upper=value_upper,
        **sums,
    )


def bootstrap_unit_quantiles(
    values: np.ndarray, quantile: float, reps: int, rng: np.random.Generator
) -> np.ndarray:
    """``reps`` bootstrap replicates of the linear-interpolated quantile of ``values`` (units
    resampled with replacement)."""
    n = len(values)
    out = np.empty(reps)
    chunk = max(1, 4_000_000 // n)
    for start in range(0, reps, chunk):
        stop = min(reps, start + chunk)
        draws = values[rng.integers(0, n, size=(stop - start, n))]
        out[start:stop] = np.quantile(draws, quantile, axis=1)
    return out


def bootstrap_cluster(
    values: np.ndarray,
    unit_ids: np.ndarray,
    quantile: float,
    reps: int,
    rng: np.random.Generator,
    at: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster bootstrap of event values: units drawn with replacement, each with all its events.

    Returns per replicate the linear-interpolated quantile of the resampled events and, when
    ``at`` is given, their empirical CDF ``Σ_i w_i·#(v_ij ≤ at)/Σ_i w_i·M_i`` at that fixed value
    (else zeros). A unit drawn ``w`` times contributes every event ``w`` times; the order
    statistics of the resampled multiset come from cumulative weights over the sorted events.
    """
    _, inverse = np.unique(unit_ids, return_inverse=True)
    n_units = int(inverse.max()) + 1
    valid = ~np.isnan(values)
    order = np.argsort(values[valid], kind="stable")
    sorted_values = values[valid][order]
    sorted_units = inverse[valid][order]
    below = sorted_values <= at if at is not None else None
    quantiles = np.empty(reps)
    cdfs = np.zeros(reps)
    chunk = max(1, 2_000_000 // len(sorted_values))
    for start in range(0, reps, chunk):
        stop = min(reps, start + chunk)
        weights = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=stop - start)
        event_weights = weights[:, sorted_units]
        cumulative = np.cumsum(event_weights, axis=1)
        total = cumulative[:, -1]
        position = 1 + quantile * (total - 1)  # 1-based, percentile_cont
        k = np.floor(position).astype(np.int64)
        lo = np.argmax(cumulative >= k[:, None], axis=1)
        hi = np.argmax(cumulative >= np.minimum(k + 1, total)[:, None], axis=1)
        x_lo, x_hi = sorted_values[lo], sorted_values[hi]
        quantiles[start:stop] = x_lo + (position - k) * (x_hi - x_lo)
        if below is not None:
            cdfs[start:stop] = (event_weights * below).sum(axis=1) / total
    return quantiles, cdfs
