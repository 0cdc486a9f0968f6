"""cuped_power's glue: MDEs, units and days to a target, and planning from history, checked
against scipy quantiles and numpy on unit-level data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from cuped_stats import plan_sample_size, power_table, results_table
from tests.test_core_tables import moment_rows, plan_row


@pytest.fixture(scope="module")
def experiment():
    rng = np.random.default_rng(5)
    columns = {}
    for variant, n in (("control", 800), ("b", 760)):
        pre = rng.gamma(2.0, 3.0, n)
        columns[variant] = {"@y": 2.0 + 0.9 * pre + rng.normal(0, 3, n), "pre_period": pre}
    moments = [
        row for v, c in columns.items() for row in moment_rows("e", "m", v, c, ("all", "all"))
    ]
    plan = [
        plan_row(
            "e", "m", power=0.8, target_relative_mde=0.02, assignment_days=10, planned_units=5000
        )
    ]
    results = results_table(moments, plan)
    result_rows = [
        dict(zip(results, values, strict=True)) for values in zip(*results.values(), strict=True)
    ]
    return columns, moments, plan, result_rows, power_table(result_rows, moments, plan)


def test_mde_is_the_normal_quantile_sum_times_the_standard_error(experiment) -> None:
    _, _, _, results, power = experiment
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert power["mde_absolute"][0] == pytest.approx(
        z * results[0]["absolute_effect_se"], rel=1e-12
    )
    assert power["mde_absolute_unadjusted"][0] == pytest.approx(
        z * results[0]["unadjusted_se"], rel=1e-12
    )
    assert power["mde_relative"][0] == pytest.approx(
        power["mde_absolute"][0] / abs(results[0]["control_mean"]), rel=1e-12
    )
    assert power["mde_absolute"][0] < power["mde_absolute_unadjusted"][0]


def test_units_needed_bring_the_mde_to_the_target_at_the_same_allocation(experiment) -> None:
    _, _, _, results, power = experiment
    n = results[0]["n_control"] + results[0]["n_variant"]
    target = 0.02 * abs(results[0]["control_mean"])
    for column, mde in (
        ("units_needed", "mde_absolute"),
        ("units_needed_unadjusted", "mde_absolute_unadjusted"),
    ):
        needed = power[column][0]
        # SE ∝ 1/√N: at the units needed the MDE is at most the target, one unit fewer is above it
        assert power[mde][0] * math.sqrt(n / needed) <= target
        assert power[mde][0] * math.sqrt(n / (needed - 1)) > target
    rate = n / 10
    assert power["units_per_day"][0] == pytest.approx(rate)
    assert power["days_needed"][0] == math.ceil(power["units_needed"][0] / rate)


def test_planning_uses_the_pre_period_variance_and_history_correlation(experiment) -> None:
    columns, _, _, _, power = experiment
    y = np.concatenate([c["@y"] for c in columns.values()])
    x = np.concatenate([c["pre_period"] for c in columns.values()])
    groups = np.concatenate([[v] * len(c["@y"]) for v, c in columns.items()])
    # pooled within-arm variance and correlation, from unit-level data
    xd = x - np.array([x[groups == g].mean() for g in groups])
    yd = y - np.array([y[groups == g].mean() for g in groups])
    variance = (xd @ xd) / (len(x) - 2)
    correlation = (xd @ yd) / math.sqrt((xd @ xd) * (yd @ yd))
    assert power["pre_period_variance"][0] == pytest.approx(variance, rel=1e-9)
    assert power["history_correlation"][0] == pytest.approx(correlation, rel=1e-9)
    plan = plan_sample_size(variance, correlation, relative_mde=0.02, baseline_mean=x.mean())
    assert power["planned_units_for_target"][0] == plan.cuped.n_total
    assert power["planned_units_for_target_unadjusted"][0] == plan.unadjusted.n_total
    assert plan.cuped.n_total < plan.unadjusted.n_total
