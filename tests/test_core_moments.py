"""Moments and their pooled forms checked against plain numpy on unit-level data."""

from __future__ import annotations

import numpy as np
import pytest

from cuped_stats import ArmMoments, pooled_mean, pooled_total_covariance, pooled_within_covariance

RTOL = 1e-12


def unit_data(seed: int) -> dict[str, np.ndarray]:
    """Three arms of (y, x1, x2) units with different sizes and means."""
    rng = np.random.default_rng(seed)
    return {
        variant: rng.normal(loc, 1.0 + 0.5 * i, size=(n, 3))
        for i, (variant, n, loc) in enumerate((("a", 50, 0.0), ("b", 80, 1.0), ("c", 65, -2.0)))
    }


def arms_of(data: dict[str, np.ndarray]) -> list[ArmMoments]:
    return [
        ArmMoments.from_units(v, {"@y": z[:, 0], "x1": z[:, 1], "x2": z[:, 2]})
        for v, z in data.items()
    ]


def test_from_units_equals_numpy_mean_and_sample_covariance() -> None:
    z = unit_data(1)["b"]
    arm = ArmMoments.from_units("b", {"@y": z[:, 0], "x1": z[:, 1], "x2": z[:, 2]})
    assert arm.n == 80 and arm.names == ("@y", "x1", "x2")
    np.testing.assert_allclose(arm.mean, z.mean(axis=0), rtol=RTOL)
    np.testing.assert_allclose(arm.cov, np.cov(z, rowvar=False, ddof=1), rtol=RTOL)


def test_pooled_within_covariance_equals_covariance_of_arm_demeaned_units() -> None:
    data = unit_data(2)
    demeaned = np.vstack([z - z.mean(axis=0) for z in data.values()])
    n_total, groups = len(demeaned), len(data)
    expected = demeaned.T @ demeaned / (n_total - groups)
    np.testing.assert_allclose(pooled_within_covariance(arms_of(data)), expected, rtol=1e-10)


def test_pooled_total_covariance_and_mean_equal_numpy_on_the_union_of_arms() -> None:
    data = unit_data(3)
    union = np.vstack(list(data.values()))
    arms = arms_of(data)
    np.testing.assert_allclose(pooled_mean(arms), union.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(
        pooled_total_covariance(arms), np.cov(union, rowvar=False, ddof=1), rtol=1e-10
    )


def test_arm_with_one_unit_contributes_nothing_to_within_covariance() -> None:
    data = unit_data(4)
    single = ArmMoments("d", 1, ("@y", "x1", "x2"), np.array([5.0, 5.0, 5.0]), np.full((3, 3), 9.0))
    np.testing.assert_array_equal(single.cov, np.zeros((3, 3)))
    np.testing.assert_allclose(
        pooled_within_covariance([*arms_of(data), single]),
        pooled_within_covariance(arms_of(data)),
        rtol=RTOL,
    )


def test_arm_moments_are_immutable_and_validated() -> None:
    arm = ArmMoments("a", 3, ("@y",), np.array([1.0]), np.array([[2.0]]))
    with pytest.raises(ValueError):
        arm.mean[0] = 5.0
    with pytest.raises(ValueError, match="shape"):
        ArmMoments("a", 3, ("@y", "x"), np.array([1.0]), np.array([[2.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        ArmMoments("a", 3, ("@y",), np.array([1.0]), np.array([[np.nan]]))
    with pytest.raises(ValueError, match="two units"):
        pooled_within_covariance([ArmMoments("a", 1, ("@y",), np.array([1.0]), np.zeros((1, 1)))])
