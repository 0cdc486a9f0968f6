"""Ratio metrics and the relative-CI option through the row-level glue (results_table)."""

from __future__ import annotations

import numpy as np
import pytest

from cuped_stats import ArmMoments, analyze_metric, results_table
from cuped_stats.tables import RESULTS_COLUMNS

NAMES = ("@numerator", "@denominator", "pre_period@numerator", "pre_period@denominator")


def moment_rows(metric: str, variant: str, names: tuple[str, ...], data: np.ndarray) -> list[dict]:
    """cuped__moments rows of one arm (plain numpy, ddof=1)."""
    mean = data.mean(axis=0)
    cov = np.cov(data, rowvar=False, ddof=1)
    return [
        {
            "experiment_id": "e1",
            "segment_name": "overall",
            "segment_value": "all",
            "metric_name": metric,
            "variant": variant,
            "variable_1": names[i],
            "variable_2": names[j],
            "index_1": i,
            "index_2": j,
            "n": len(data),
            "mean_1": float(mean[i]),
            "mean_2": float(mean[j]),
            "covariance": float(cov[i, j]),
        }
        for i in range(len(names))
        for j in range(i, len(names))
    ]


def plan_row(metric: str, metric_type: str, **extra) -> dict:
    return {
        "experiment_id": "e1",
        "metric_name": metric,
        "metric_type": metric_type,
        "control_variant": "control",
        "alpha": 0.05,
        "theta_method": "within",
        "higher_is_better": True,
        **extra,
    }


@pytest.fixture(scope="module")
def units() -> dict[str, np.ndarray]:
    """Per variant, columns (revenue, sessions, pre revenue, pre sessions)."""
    rng = np.random.default_rng(12)
    out = {}
    for variant, n, lift in (("control", 400, 0.0), ("b", 420, 0.1)):
        activity = rng.gamma(2.0, 1.0, n)
        b, b0 = rng.poisson(activity), rng.poisson(activity)
        spend = rng.lognormal(1.0, 0.5, n)
        out[variant] = np.column_stack(
            [b * spend * (1 + lift) * rng.lognormal(0, 0.3, n), b, b0 * spend, b0]
        ).astype(float)
    return out


def rows_of(units: dict[str, np.ndarray]) -> list[dict]:
    return [
        row
        for variant, data in units.items()
        for metric, names, cols in (
            ("revenue_per_session", NAMES, slice(None)),
            ("revenue", ("@y", *NAMES[2:]), [0, 2, 3]),
        )
        for row in moment_rows(metric, variant, names, data[:, cols])
    ]


def test_results_table_analyses_ratio_metric_and_ratio_covariate_like_the_core(units) -> None:
    plans = [
        plan_row("revenue_per_session", "ratio", relative_ci_method="log"),
        plan_row("revenue", "mean"),  # no relative_ci_method column: delta
    ]
    table = results_table(rows_of(units), plans)
    assert list(table) == list(RESULTS_COLUMNS)
    assert RESULTS_COLUMNS["relative_ci_method"] is object
    assert list(table["metric_name"]) == ["revenue", "revenue_per_session"]
    assert list(table["relative_ci_method"]) == ["delta", "log"]
    assert list(table["covariates"]) == ['["pre_period"]', '["pre_period"]']

    arms = [ArmMoments.from_units(v, dict(zip(NAMES, d.T, strict=True))) for v, d in units.items()]
    (ratio,) = analyze_metric(arms, "control", metric_type="ratio", relative_ci_method="log")
    mean_arms = [
        ArmMoments.from_units(v, dict(zip(("@y", *NAMES[2:]), d[:, [0, 2, 3]].T, strict=True)))
        for v, d in units.items()
    ]
    (mean,) = analyze_metric(mean_arms, "control")
    for row, expected in ((0, mean), (1, ratio)):
        np.testing.assert_allclose(
            [
                table["absolute_effect"][row],
                table["absolute_effect_se"][row],
                table["relative_ci_lower"][row],
                table["relative_ci_upper"][row],
                table["unadjusted_se"][row],
            ],
            [
                expected.cuped.effect,
                expected.cuped.se,
                expected.cuped.relative_ci_lower,
                expected.cuped.relative_ci_upper,
                expected.unadjusted.se,
            ],
            rtol=1e-12,
        )
    assert list(table["status"]) == ["ok", "ok"]


def test_results_table_treats_null_relative_ci_method_as_delta(units) -> None:
    plans = [
        plan_row("revenue_per_session", "ratio", relative_ci_method=None),
        plan_row("revenue", "mean", relative_ci_method="delta"),
    ]
    table = results_table(rows_of(units), plans)
    assert list(table["relative_ci_method"]) == ["delta", "delta"]


def test_results_table_rejects_unknown_relative_ci_method_naming_experiment_and_metric(units):
    plans = [
        plan_row("revenue_per_session", "ratio", relative_ci_method="bootstrap"),
        plan_row("revenue", "mean"),
    ]
    with pytest.raises(
        ValueError, match=r"'e1', metric 'revenue_per_session'.*relative_ci_method 'bootstrap'"
    ):
        results_table(rows_of(units), plans)


def test_results_table_names_the_metric_when_ratio_variables_are_malformed(units) -> None:
    rows = [
        row
        for variant, data in units.items()
        for row in moment_rows(
            "revenue_per_session",
            variant,
            ("@numerator", "@denominator", "pre_period@numerator", "pre_sessions"),
            data,
        )
    ]
    with pytest.raises(ValueError, match=r"metric 'revenue_per_session'.*pre_period@denominator"):
        results_table(rows, [plan_row("revenue_per_session", "ratio")])
