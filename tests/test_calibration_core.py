"""A/A calibration of the statistics core: with no true effect, p < alpha in a share alpha.

Thousands of simulated A/A experiments (skewed outcomes, pre-period covariates correlated with
the outcome, unequal arms) go through :func:`cuped_stats.analyze_metric` from numpy moments. The
false-positive rate at alpha = 0.05 must lie in the 99.9% binomial band around 0.05: a test that
is anti-conservative by a point or more (e.g. a variance that forgets a term) fails, a correct
one fails 1 run in 1,000 per assertion.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pytest
import scipy.stats

from cuped_stats import ArmMoments, analyze_metric
from cuped_stats.balance import balance_test
from cuped_stats.cuped import METRIC_TYPES, OUTCOME_VARIABLES

ALPHA = 0.05
N_EXPERIMENTS = 6_000
CHUNK = 500
#: (control, treatment) sizes, cycled over chunks: equal and unequal splits.
ARM_SIZES = ((300, 300), (360, 240), (250, 330), (400, 200), (280, 290))

Generator = Callable[[np.random.Generator, int, int], dict[str, np.ndarray]]


def binomial_band(n: int, p: float = ALPHA, level: float = 0.999) -> tuple[int, int]:
    """Central `level` interval of Binomial(n, p): the counts a calibrated test lands in."""
    tail = (1.0 - level) / 2.0
    return int(scipy.stats.binom.ppf(tail, n, p)), int(scipy.stats.binom.isf(tail, n, p))


def _mean_units(rng: np.random.Generator, e: int, n: int) -> dict[str, np.ndarray]:
    """Revenue-like: 30% of units are new (no pre-period), lognormal spend, y ∝ pre-period."""
    active = rng.random((e, n)) < 0.7
    propensity = rng.lognormal(1.0, 1.0, (e, n))
    pre = np.where(active, propensity * rng.lognormal(0.0, 0.5, (e, n)), 0.0)
    post = propensity * rng.lognormal(0.0, 0.5, (e, n)) * (rng.random((e, n)) < 0.8)
    return {"@y": post, "pre_period": pre, "pre_period_indicator": active.astype(float)}


def _proportion_units(rng: np.random.Generator, e: int, n: int) -> dict[str, np.ndarray]:
    """Conversion: a latent propensity drives pre-period and post-period conversion."""
    logit = rng.normal(-1.5, 1.2, (e, n))
    p = 1.0 / (1.0 + np.exp(-logit))
    pre = (rng.random((e, n)) < p).astype(float)
    sessions = rng.poisson(1.0 + 3.0 * p)
    post = (rng.random((e, n)) < p).astype(float)
    return {"@y": post, "pre_period": pre, "sessions": sessions.astype(float)}


def _ratio_units(rng: np.random.Generator, e: int, n: int) -> dict[str, np.ndarray]:
    """Revenue per session: skewed per-session value, sessions correlated pre and post."""
    rate = rng.gamma(2.0, 1.0, (e, n))
    value = rng.lognormal(0.0, 0.8, (e, n))
    b_pre = rng.poisson(rate).astype(float)
    b_post = 1.0 + rng.poisson(rate)
    a_pre = b_pre * value * rng.lognormal(0.0, 0.4, (e, n))
    a_post = b_post * value * rng.lognormal(0.0, 0.4, (e, n))
    numerator, denominator = OUTCOME_VARIABLES.get("ratio", ("@numerator", "@denominator"))
    return {
        numerator: a_post,
        denominator: b_post,
        "pre_period@numerator": a_pre,
        "pre_period@denominator": b_pre,
    }


GENERATORS: dict[str, Generator] = {
    "mean": _mean_units,
    "proportion": _proportion_units,
    "ratio": _ratio_units,
}


def _moments(columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-experiment mean vectors (e, p) and sample covariance matrices (e, p, p), ddof=1."""
    data = np.stack(list(columns.values()), axis=-1)
    mean = data.mean(axis=1)
    centred = data - mean[:, None, :]
    cov = np.einsum("enp,enq->epq", centred, centred) / (data.shape[1] - 1)
    return mean, cov


@cache
def simulated_arms(metric_type: str) -> tuple[tuple[ArmMoments, ArmMoments], ...]:
    """N_EXPERIMENTS A/A experiments of one metric type: (control, treatment) moments each."""
    rng = np.random.default_rng(20260315 + METRIC_TYPES.index(metric_type))
    experiments = []
    for chunk in range(N_EXPERIMENTS // CHUNK):
        sizes = ARM_SIZES[chunk % len(ARM_SIZES)]
        per_arm = []
        for n in sizes:
            columns = GENERATORS[metric_type](rng, CHUNK, n)
            per_arm.append((tuple(columns), n, *_moments(columns)))
        for e in range(CHUNK):
            experiments.append(
                tuple(
                    ArmMoments(variant=variant, n=n, names=names, mean=mean[e], cov=cov[e])
                    for variant, (names, n, mean, cov) in zip(
                        ("control", "treatment"), per_arm, strict=True
                    )
                )
            )
    return tuple(experiments)


def _false_positive_count(metric_type: str, cuped: bool) -> tuple[int, int]:
    outcome = OUTCOME_VARIABLES[metric_type]
    p_values = []
    for arms in simulated_arms(metric_type):
        if not cuped:
            arms = tuple(arm.select(outcome) for arm in arms)
        (comparison,) = analyze_metric(arms, "control", metric_type=metric_type, alpha=ALPHA)
        p_values.append(comparison.cuped.p_value)
    assert all(p is not None for p in p_values)
    return sum(p < ALPHA for p in p_values), len(p_values)


@pytest.mark.parametrize("cuped", [True, False], ids=["cuped", "unadjusted"])
@pytest.mark.parametrize(
    "metric_type",
    [
        "mean",
        "proportion",
        pytest.param(
            "ratio",
            marks=pytest.mark.skipif(
                "ratio" not in METRIC_TYPES, reason="the core has no ratio metric type yet"
            ),
        ),
    ],
)
def test_aa_false_positive_rate_is_alpha_within_the_binomial_band(
    metric_type: str, cuped: bool
) -> None:
    false_positives, n = _false_positive_count(metric_type, cuped)
    lower, upper = binomial_band(n)
    assert lower <= false_positives <= upper, (
        f"{metric_type} ({'cuped' if cuped else 'unadjusted'}): false-positive rate "
        f"{false_positives / n:.4f} ({false_positives}/{n}) outside [{lower}, {upper}]"
    )


def test_cuped_reduces_variance_on_the_simulated_mean_metric() -> None:
    # Guards the calibration test above against passing because CUPED did nothing.
    reductions = []
    for arms in simulated_arms("mean")[:500]:
        (comparison,) = analyze_metric(arms, "control")
        reductions.append(comparison.variance_reduction)
    assert np.median(reductions) > 0.2


@pytest.mark.parametrize("metric_type", ["mean", "proportion"])
def test_aa_balance_test_false_positive_rate_is_alpha_within_the_binomial_band(
    metric_type: str,
) -> None:
    hits = n = 0
    for arms in simulated_arms(metric_type):
        for i in range(1, len(arms[0].names)):
            result = balance_test(
                [arm.n for arm in arms],
                [float(arm.mean[i]) for arm in arms],
                [float(arm.cov[i, i]) for arm in arms],
            )
            assert result.p_value is not None
            hits += result.p_value < ALPHA
            n += 1
    lower, upper = binomial_band(n)
    assert lower <= hits <= upper, f"balance false-positive rate {hits / n:.4f} ({hits}/{n})"
