"""Pre-period balance: Wald χ² across arms and standardized differences, from moments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf

from cuped_stats import ArmMoments
from cuped_stats.balance import (
    BALANCE_ALPHA,
    BALANCE_STATUSES,
    balance_test,
    covariate_balance,
    covariate_names,
    standardized_difference,
)
from cuped_stats.tables import BALANCE_COLUMNS, balance_table
from tests.helpers import moment_rows


def _arm_stats(samples: list[np.ndarray]) -> tuple[list[int], list[float], list[float]]:
    return (
        [len(x) for x in samples],
        [float(np.mean(x)) for x in samples],
        [float(np.var(x, ddof=1)) for x in samples],
    )


def _skewed_arms(sizes: list[int], shifts: list[float], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.lognormal(0.0, 0.8 + 0.2 * g, size=n) + shift
        for g, (n, shift) in enumerate(zip(sizes, shifts, strict=True))
    ]


def plan_row(experiment: str, metric: str, control: str = "control") -> dict:
    return {
        "experiment_id": experiment,
        "metric_name": metric,
        "metric_type": "mean",
        "control_variant": control,
        "alpha": 0.05,
        "theta_method": "within",
        "higher_is_better": True,
    }


def test_two_arm_balance_chi2_is_the_squared_welch_statistic() -> None:
    control, treatment = _skewed_arms([700, 450], [0.0, 0.12], seed=1)
    result = balance_test(*_arm_stats([control, treatment]))
    welch = scipy.stats.ttest_ind(treatment, control, equal_var=False)
    assert result.status == "ok" and result.df == 1
    assert result.chi2 == pytest.approx(welch.statistic**2, rel=1e-12)
    assert result.p_value == pytest.approx(scipy.stats.norm.sf(abs(welch.statistic)) * 2, rel=1e-10)


def test_k_arm_balance_chi2_matches_a_numpy_wald_statistic_and_chi2_p_value() -> None:
    arms = _skewed_arms([300, 520, 410, 260], [0.0, 0.05, -0.1, 0.2], seed=2)
    result = balance_test(*_arm_stats(arms))
    # Wald statistic of H0: A·μ = 0 with A the (G-1)×G contrasts against arm 0 and V = diag(s²/n).
    means = np.array([x.mean() for x in arms])
    v = np.diag([x.var(ddof=1) / len(x) for x in arms])
    a = np.hstack([-np.ones((3, 1)), np.eye(3)])
    contrast = a @ means
    wald = float(contrast @ np.linalg.solve(a @ v @ a.T, contrast))
    assert result.df == 3
    assert result.chi2 == pytest.approx(wald, rel=1e-10)
    assert result.p_value == pytest.approx(scipy.stats.chi2.sf(wald, 3), rel=1e-10)
    assert result.flag == (result.p_value < BALANCE_ALPHA)


def test_k_arm_balance_chi2_matches_statsmodels_hc2_wald_test() -> None:
    # In a one-way OLS, HC2 standard errors of the arm means are exactly s²_g / n_g (Welch).
    arms = _skewed_arms([150, 200, 260], [0.0, 0.6, 0.1], seed=3)
    frame = pd.DataFrame(
        {
            "x": np.concatenate(arms),
            "arm": np.repeat(["a", "b", "c"], [len(x) for x in arms]),
        }
    )
    fit = smf.ols("x ~ C(arm)", data=frame).fit(cov_type="HC2")
    wald = fit.wald_test("C(arm)[T.b] = 0, C(arm)[T.c] = 0", use_f=False, scalar=True)
    result = balance_test(*_arm_stats(arms))
    assert result.chi2 == pytest.approx(float(wald.statistic), rel=1e-9)
    assert result.p_value == pytest.approx(float(wald.pvalue), rel=1e-8)
    assert result.flag is True  # a shift of 0.6 in lognormal data with these arm sizes


def test_standardized_difference_matches_unit_level_numpy() -> None:
    control, treatment = _skewed_arms([500, 300], [0.0, 0.25], seed=4)
    result = standardized_difference(
        len(control),
        control.mean(),
        control.var(ddof=1),
        len(treatment),
        treatment.mean(),
        treatment.var(ddof=1),
    )
    expected = (treatment.mean() - control.mean()) / np.sqrt(
        (treatment.var(ddof=1) + control.var(ddof=1)) / 2
    )
    assert result.status == "ok"
    assert result.value == pytest.approx(expected, rel=1e-12)


def test_arms_without_units_take_no_part_in_the_balance_test() -> None:
    arms = _skewed_arms([200, 300], [0.0, 0.0], seed=5)
    counts, means, variances = _arm_stats(arms)
    with_empty = balance_test([*counts, 0], [*means, 0.0], [*variances, 0.0])
    assert with_empty == balance_test(counts, means, variances)
    assert with_empty.df == 1


@pytest.mark.parametrize(
    ("counts", "means", "variances", "status", "flag"),
    [
        ([10, 1], [1.0, 2.0], [1.0, 0.0], "insufficient_sample", False),
        ([10, 0], [1.0, 0.0], [1.0, 0.0], "insufficient_sample", False),
        ([10, 12], [3.0, 3.0], [0.0, 0.0], "constant", False),
        ([10, 12], [0.0, 1.0], [0.0, 0.0], "zero_variance", True),
        ([10, 12], [1.0, 1.5], [0.0, 0.3], "zero_variance", False),
        # floating-point noise of var_samp over identical values counts as zero variance
        ([10, 12], [7.0, 7.0], [1e-31, 0.0], "constant", False),
    ],
)
def test_degenerate_balance_tests_return_none_statistics_and_a_status(
    counts: list[int], means: list[float], variances: list[float], status: str, flag: bool
) -> None:
    result = balance_test(counts, means, variances)
    assert (result.chi2, result.p_value, result.status, result.flag) == (None, None, status, flag)
    assert result.status in BALANCE_STATUSES and result.status_reason


@pytest.mark.parametrize(
    ("n_c", "var_c", "n_t", "mean_t", "var_t", "status"),
    [
        (0, 0.0, 10, 1.0, 1.0, "missing_control"),
        (1, 0.0, 10, 1.0, 1.0, "insufficient_sample"),
        (10, 1.0, 1, 1.0, 0.0, "insufficient_sample"),
        (10, 0.0, 10, 2.0, 0.0, "constant"),
        (10, 0.0, 10, 3.0, 0.0, "zero_variance"),
    ],
)
def test_degenerate_standardized_differences_are_none_with_a_status(
    n_c: int, var_c: float, n_t: int, mean_t: float, var_t: float, status: str
) -> None:
    result = standardized_difference(n_c, 2.0, var_c, n_t, mean_t, var_t)
    assert (result.value, result.status) == (None, status)
    assert status in BALANCE_STATUSES


def test_balance_test_rejects_inconsistent_inputs() -> None:
    with pytest.raises(ValueError, match="counts"):
        balance_test([1, 2], [0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative integers"):
        balance_test([-1, 2], [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="non-finite"):
        balance_test([5, 5], [np.nan, 0.0], [1.0, 1.0])


def test_covariates_are_every_variable_but_the_outcomes() -> None:
    names = ("@numerator", "@denominator", "orders@numerator", "orders@denominator", "ltv")
    assert covariate_names(names) == ("orders@numerator", "orders@denominator", "ltv")
    assert covariate_names(("@y", "pre_period", "pre_period_indicator")) == (
        "pre_period",
        "pre_period_indicator",
    )


def test_covariate_balance_repeats_the_all_arm_test_on_every_treatment_row() -> None:
    rng = np.random.default_rng(6)
    arms = [
        ArmMoments.from_units(
            variant, {"@y": rng.normal(size=n), "pre_period": rng.gamma(2.0, size=n)}
        )
        for variant, n in (("b", 120), ("control", 150), ("a", 90))
    ]
    rows = covariate_balance(arms, "control")
    assert [(r.covariate, r.variant) for r in rows] == [("pre_period", "b"), ("pre_period", "a")]
    assert rows[0].test == rows[1].test and rows[0].test.df == 2
    assert rows[0].control_mean == pytest.approx(arms[1].mean[1])
    assert rows[1].variant_mean == pytest.approx(arms[2].mean[1])


def test_covariate_balance_without_control_units_reports_missing_control() -> None:
    rng = np.random.default_rng(7)
    arms = [
        ArmMoments.from_units(v, {"@y": rng.normal(size=30), "x": rng.normal(size=30)})
        for v in ("a", "b")
    ]
    rows = covariate_balance(arms, "control")
    assert [r.status for r in rows] == ["missing_control", "missing_control"]
    assert all(r.control_mean is None and r.standardized_difference is None for r in rows)
    assert rows[0].n_control == 0 and rows[0].test.status == "ok"  # a vs b is still tested


def test_balance_table_layout_values_and_sorting() -> None:
    rng = np.random.default_rng(8)
    moments: list[dict] = []
    units: dict[str, dict[str, np.ndarray]] = {}
    for variant, n in (("treatment", 260), ("control", 240)):
        pre = rng.lognormal(1.0, 1.0, size=n)
        units[variant] = {
            "@y": pre * rng.lognormal(0.0, 0.3, size=n),
            "pre_period": pre,
            "pre_period_indicator": (rng.random(n) < 0.7).astype(float),
        }
        moments += moment_rows("exp", "revenue", variant, units[variant])
        moments += moment_rows("exp", "no_covariates", variant, {"@y": units[variant]["@y"]})
    plan = [plan_row("exp", "revenue"), plan_row("exp", "no_covariates")]

    table = balance_table(moments, plan)

    assert list(table) == list(BALANCE_COLUMNS)
    assert {len(column) for column in table.values()} == {2}
    for name, dtype in BALANCE_COLUMNS.items():
        assert table[name].dtype == np.dtype(dtype), name
    assert list(table["covariate"]) == ["pre_period", "pre_period_indicator"]
    assert list(table["variant"]) == ["treatment", "treatment"]
    assert list(table["control_variant"]) == ["control", "control"]
    for i, covariate in enumerate(table["covariate"]):
        c, t = units["control"][covariate], units["treatment"][covariate]
        welch = scipy.stats.ttest_ind(t, c, equal_var=False)
        assert table["balance_chi2"][i] == pytest.approx(welch.statistic**2, rel=1e-9)
        assert table["balance_p_value"][i] == pytest.approx(
            scipy.stats.chi2.sf(welch.statistic**2, 1), rel=1e-9
        )
        assert table["control_mean"][i] == pytest.approx(c.mean())
        assert table["n_control"][i] == 240 and table["n_variant"][i] == 260
    assert list(table["status"]) == ["ok", "ok"]
    assert list(table["balance_df"]) == [1, 1]


def test_balance_table_degenerate_rows_hold_nan_numbers_and_a_status() -> None:
    moments = moment_rows(
        "exp", "m", "control", {"@y": np.arange(5.0), "indicator": np.ones(5)}
    ) + moment_rows("exp", "m", "treatment", {"@y": np.arange(1.0), "indicator": np.ones(1)})
    table = balance_table(moments, [plan_row("exp", "m")])
    assert list(table["status"]) == ["insufficient_sample"]
    # the one small arm is said once, by the pair's names (it was said by the test too)
    assert list(table["status_reason"]) == ["fewer than 2 units (control 5, treatment 1)"]
    assert math.isnan(table["balance_chi2"][0]) and math.isnan(table["balance_p_value"][0])
    assert math.isnan(table["standardized_difference"][0])
    assert not table["imbalance_flag"][0]


def test_balance_table_without_rows_returns_empty_typed_columns() -> None:
    table = balance_table([], [])
    assert list(table) == list(BALANCE_COLUMNS)
    assert all(len(column) == 0 for column in table.values())


def test_balance_table_names_the_experiment_of_moments_without_a_plan_row() -> None:
    moments = moment_rows("exp", "m", "control", {"@y": np.arange(5.0), "x": np.arange(5.0)})
    with pytest.raises(ValueError, match=r"experiment 'exp', metric 'm'.*analysis plan"):
        balance_table(moments, [plan_row("exp", "other")])


def test_the_wald_statistic_is_numpy_s_to_the_bit_and_overflows_to_infinity() -> None:
    # balance_test sums plain floats: the same bits as the array formula of Cochran's Q, and a
    # squared difference beyond the floats is infinite (a float's power would raise instead)
    rng = np.random.default_rng(9)
    for _ in range(500):
        arms = int(rng.integers(2, 6))
        n = rng.integers(2, 10**6, arms)
        mean = rng.normal(0, 10.0 ** rng.integers(-5, 5), arms)
        variance = rng.uniform(0.1, 10.0, arms) * 10.0 ** rng.integers(-4, 4)
        test = balance_test(list(n), list(mean), list(variance))
        weight = n / variance
        centre = np.sum(weight * mean) / np.sum(weight)
        assert test.chi2 == float(np.sum(weight * (mean - centre) ** 2))
    huge = balance_test([10, 10], [1e160, -1e160], [1e301, 1e301])
    assert huge.chi2 == math.inf and huge.p_value == 0.0 and huge.flag
