"""Shared test helpers: per-arm moment rows from plain numpy, as cuped__moments has them."""

from __future__ import annotations

import numpy as np


def moment_rows(
    experiment: str,
    metric: str,
    variant: str,
    columns: dict[str, np.ndarray],
    segment: tuple[str, str] = ("all", "all"),
) -> list[dict]:
    """cuped__moments rows of one arm, computed with plain numpy (ddof=1)."""
    names = list(columns)
    data = np.column_stack([columns[name] for name in names])
    n = len(data)
    mean = data.mean(axis=0)
    cov = np.cov(data, rowvar=False, ddof=1).reshape(len(names), len(names)) if n > 1 else None
    return [
        {
            "experiment_id": experiment,
            "segment_name": segment[0],
            "segment_value": segment[1],
            "metric_name": metric,
            "variant": variant,
            "variable_1": names[i],
            "variable_2": names[j],
            "index_1": i,
            "index_2": j,
            "n": n,
            "mean_1": float(mean[i]),
            "mean_2": float(mean[j]),
            "covariance": None if cov is None else float(cov[i, j]),
        }
        for i in range(len(names))
        for j in range(i, len(names))
    ]


def assert_matches_tea_tasting(estimate, expected, rtol: float) -> None:
    """A cuped_stats Estimate equals tea-tasting's result for the same comparison: adjusted means,
    effect, SE (effect / statistic), CI, p-value and relative effect."""
    np.testing.assert_allclose(estimate.control_mean, expected.control, rtol=rtol)
    np.testing.assert_allclose(estimate.variant_mean, expected.treatment, rtol=rtol)
    np.testing.assert_allclose(estimate.effect, expected.effect_size, rtol=rtol)
    np.testing.assert_allclose(estimate.se, expected.effect_size / expected.statistic, rtol=rtol)
    np.testing.assert_allclose(
        [estimate.ci_lower, estimate.ci_upper],
        [expected.effect_size_ci_lower, expected.effect_size_ci_upper],
        rtol=rtol,
    )
    np.testing.assert_allclose(estimate.p_value, expected.pvalue, rtol=rtol)
    np.testing.assert_allclose(estimate.relative_effect, expected.rel_effect_size, rtol=rtol)
