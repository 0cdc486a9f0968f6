"""Categorical covariates (indicator columns) and stratified designs in the statistics core.

References: statsmodels' formula OLS ``y ~ C(arm) + C(attribute) + x`` (its dummy coding of a
string column is the independent construction of the indicators), the unit-level regression SE
of tests.helpers.estimated_theta_reference, and a simulation of stratified randomization
(scripts/stratified_coverage.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from cuped_stats import ArmMoments, analyze_metric
from tests.helpers import estimated_theta_reference

RTOL = 1e-9
LEVELS = ("desktop", "android", "ios", "tv")


def units(seed: int, sizes: dict[str, int]) -> pd.DataFrame:
    """Units with a string attribute of unequal level frequencies and strong level effects."""
    rng = np.random.default_rng(seed)
    frames = []
    for arm, n in sizes.items():
        level = rng.choice(LEVELS, size=n, p=[0.5, 0.3, 0.15, 0.05])
        x = rng.gamma(2.0, 2.0, n)
        shift = pd.Series(level).map({"desktop": 0.0, "android": 5.0, "ios": 9.0, "tv": -4.0})
        lift = {"control": 0.0, "b": 0.8, "c": -0.4}[arm]
        y = 10 + lift + shift.to_numpy() + 1.5 * x + rng.normal(0, 3, n)
        frames.append(pd.DataFrame({"arm": arm, "platform": level, "x": x, "y": y}))
    return pd.concat(frames, ignore_index=True)


def indicator_names(levels: tuple[str, ...]) -> list[str]:
    return [f"platform={level}" for level in levels]


def arm_moments(frame: pd.DataFrame, levels: tuple[str, ...]) -> list[ArmMoments]:
    """Per-arm moments of (y, x, one indicator per level in ``levels``), as SQL would give them."""
    arms = []
    for arm, group in frame.groupby("arm", sort=False):
        indicators = [(group["platform"] == level).to_numpy(float) for level in levels]
        columns = {"@y": group["y"], "x": group["x"]}
        columns |= dict(zip(indicator_names(levels), indicators, strict=True))
        arms.append(ArmMoments.from_units(str(arm), columns))
    return arms


def ols(frame: pd.DataFrame, formula_rhs: str):
    return smf.ols(f"y ~ C(arm, Treatment('control')) + {formula_rhs}", data=frame).fit()


def test_indicator_covariates_give_exactly_the_ols_with_a_categorical_term() -> None:
    frame = units(1, {"control": 400, "b": 380, "c": 410})
    fit = ols(frame, "C(platform, Treatment('desktop')) + x")
    # the first level (the most frequent) dropped, as the SQL will do
    results = analyze_metric(arm_moments(frame, LEVELS[1:]), "control")
    for result in results:
        assert result.status == "ok"
        effect = fit.params[f"C(arm, Treatment('control'))[T.{result.variant}]"]
        np.testing.assert_allclose(result.cuped.effect, effect, rtol=RTOL)
        coefficients = dict(zip(result.covariates, result.theta, strict=True))
        np.testing.assert_allclose(coefficients["x"], fit.params["x"], rtol=RTOL)
        for level in LEVELS[1:]:
            name = f"C(platform, Treatment('desktop'))[T.{level}]"
            np.testing.assert_allclose(
                coefficients[f"platform={level}"], fit.params[name], rtol=RTOL
            )


def test_the_se_with_indicator_covariates_equals_the_unit_level_regression() -> None:
    frame = units(2, {"control": 60, "b": 55})  # few units per level: the correction matters
    (result,) = analyze_metric(arm_moments(frame, LEVELS[1:]), "control")
    data = {
        arm: (
            group["y"].to_numpy(),
            np.column_stack(
                [group["x"], *((group["platform"] == lv).to_numpy(float) for lv in LEVELS[1:])]
            ),
        )
        for arm, group in frame.groupby("arm", sort=False)
    }
    ref = estimated_theta_reference(data, "control", "b")
    np.testing.assert_allclose(result.cuped.effect, ref.effect, rtol=RTOL)
    np.testing.assert_allclose(result.cuped.se, ref.se, rtol=RTOL)
    np.testing.assert_allclose(result.cuped.degrees_of_freedom, ref.df, rtol=RTOL)


def test_every_level_as_an_indicator_drops_one_as_collinear_with_identical_results() -> None:
    frame = units(3, {"control": 300, "b": 320})
    (dropped_first,) = analyze_metric(arm_moments(frame, LEVELS[1:]), "control")
    (all_levels,) = analyze_metric(arm_moments(frame, LEVELS), "control")
    (other_reference,) = analyze_metric(arm_moments(frame, LEVELS[:-1]), "control")
    # within each arm the indicators of every level sum to 1: the last one is collinear
    assert all_levels.covariates_dropped == (("platform=tv", "collinear"),)
    for result in (all_levels, other_reference):
        for field in ("effect", "se", "degrees_of_freedom", "ci_lower", "relative_ci_upper"):
            np.testing.assert_allclose(
                getattr(result.cuped, field), getattr(dropped_first.cuped, field), rtol=1e-9
            )


def test_a_level_absent_from_a_segment_is_dropped_as_constant() -> None:
    frame = units(4, {"control": 200, "b": 210})
    frame = frame[frame["platform"] != "tv"]
    (result,) = analyze_metric(arm_moments(frame, LEVELS[1:]), "control")
    assert result.covariates_dropped == (("platform=tv", "constant"),)
    fit = ols(frame, "C(platform, Treatment('desktop')) + x")
    np.testing.assert_allclose(
        result.cuped.effect, fit.params["C(arm, Treatment('control'))[T.b]"], rtol=RTOL
    )


# --- declared strata --------------------------------------------------------------------------


def test_strata_make_the_unadjusted_estimate_the_post_stratified_regression() -> None:
    frame = units(5, {"control": 150, "b": 140, "c": 160})
    strata = indicator_names(LEVELS[1:])
    results = analyze_metric(arm_moments(frame, LEVELS[1:]), "control", strata=strata)
    stratified = ols(frame, "C(platform, Treatment('desktop'))")
    full = ols(frame, "C(platform, Treatment('desktop')) + x")
    plain = analyze_metric(
        [arm.select(("@y", "x")) for arm in arm_moments(frame, LEVELS[1:])], "control"
    )
    data = {
        arm: (
            group["y"].to_numpy(),
            np.column_stack([(group["platform"] == lv).to_numpy(float) for lv in LEVELS[1:]]),
        )
        for arm, group in frame.groupby("arm", sort=False)
    }
    for result, unstratified in zip(results, plain, strict=True):
        name = f"C(arm, Treatment('control'))[T.{result.variant}]"
        assert result.strata == tuple(strata)
        assert result.covariates[: len(strata)] == tuple(strata)  # screened first
        np.testing.assert_allclose(result.unadjusted.effect, stratified.params[name], rtol=RTOL)
        np.testing.assert_allclose(result.cuped.effect, full.params[name], rtol=RTOL)
        ref = estimated_theta_reference(data, "control", result.variant)
        np.testing.assert_allclose(result.unadjusted.se, ref.se, rtol=RTOL)
        np.testing.assert_allclose(result.unadjusted.degrees_of_freedom, ref.df, rtol=RTOL)
        np.testing.assert_allclose(
            result.variance_reduction, 1 - result.cuped.se**2 / result.unadjusted.se**2, rtol=RTOL
        )
        # the strata explain a third of Var(y) (13.4 of 40.4): the design-based SE is about
        # √(27/40.4) = 0.82 of the naive Welch one
        assert result.unadjusted.se < 0.9 * unstratified.unadjusted.se


def test_a_covariate_collinear_with_the_strata_is_the_one_dropped() -> None:
    # "is_android" is listed before the strata indicators, but the design's indicators win.
    frame = units(6, {"control": 200, "b": 200})
    arms = []
    for arm, group in frame.groupby("arm", sort=False):
        columns = {
            "@y": group["y"],
            "is_android": (group["platform"] == "android").to_numpy(float),
            "x": group["x"],
        }
        columns |= {
            f"platform={lv}": (group["platform"] == lv).to_numpy(float) for lv in LEVELS[1:]
        }
        arms.append(ArmMoments.from_units(str(arm), columns))
    (result,) = analyze_metric(arms, "control", strata=indicator_names(LEVELS[1:]))
    assert result.covariates_dropped == (("is_android", "collinear"),)
    assert result.covariates == (*indicator_names(LEVELS[1:]), "x")


def test_strata_that_are_not_covariate_variables_raise_naming_them() -> None:
    arms = arm_moments(units(7, {"control": 50, "b": 50}), LEVELS[1:])
    with pytest.raises(ValueError, match="platform=mac"):
        analyze_metric(arms, "control", strata=["platform=mac"])
    with pytest.raises(ValueError, match="distinct"):
        analyze_metric(arms, "control", strata=["platform=ios", "platform=ios"])


_PATH = Path(__file__).resolve().parents[1] / "scripts" / "stratified_coverage.py"
_SPEC = importlib.util.spec_from_file_location("stratified_coverage", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
simulation = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("stratified_coverage", simulation)
_SPEC.loader.exec_module(simulation)


@pytest.mark.slow
def test_stratified_randomization_intervals_cover_and_are_narrower_than_naive() -> None:
    # 2,000 experiments of 200 units per arm, randomized within five strata with strong effects:
    # the post-stratified and strata + CUPED intervals cover in 93.5-96.5% (±3.1 binomial SDs)
    # and their SEs match the estimates' spread; the naive Welch interval ignores the design
    # and is needlessly wide (it covers nearly always).
    row = simulation.simulate("p = 1/2", 200, 0.5, 2_000, seed=41)
    for name in ("strata", "strata + CUPED", "strata + CUPED rel (Fieller)"):
        assert 0.935 <= row.coverage[name] <= 0.965, (name, row.coverage)
    assert row.coverage["naive"] > 0.99
    assert row.se_ratio_to_naive < 0.6
    for name, ratio in row.se_over_sd.items():  # SD of 2,000 estimates: ±3% at 2 SDs
        assert 0.95 < ratio < 1.05, (name, ratio)
    assert row.not_ok == 0
