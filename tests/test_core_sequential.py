"""Always-valid confidence sequences (cuped_stats.sequential).

The formula is checked against its other published parameterisations; its optimiser against a
numerical minimisation; its validity by simulation: a Gaussian random walk monitored at every unit
(the exact setting of the normal-mixture boundary) and a skewed A/A test with CUPED, peeked at
daily for 28 days (the simulation of ``scripts/sequential_simulation.py``, fewer replications).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import scipy.optimize
import scipy.special
from scipy.stats import norm

from cuped_stats import ArmMoments, analyze_metric
from cuped_stats.sequential import (
    DEFAULT_PLANNED_N,
    SEQUENTIAL_METHOD,
    ConfidenceSequence,
    confidence_sequence,
    confidence_sequence_bounds,
    mixture_rho,
    sequential_multiplier,
)

ALPHA = 0.05


def _load_simulation() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "scripts" / "sequential_simulation.py"
    spec = importlib.util.spec_from_file_location("sequential_simulation", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


simulation = _load_simulation()


def _binomial_bound(rate: float, replications: int) -> float:
    """``rate + 3·√(rate(1 - rate)/R)``: a rate at most ``rate``, plus simulation error."""
    return rate + 3.0 * math.sqrt(rate * (1.0 - rate) / replications)


# --- the formula ------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_half_width_matches_paper_and_growthbook_parameterisations(alpha: float) -> None:
    sigma, rho = 3.7, 0.04
    n = np.array([2.0, 17.0, 400.0, 5_000.0, 123_456.0])
    ours = sigma / np.sqrt(n) * sequential_multiplier(n, rho, alpha)
    # Waudby-Smith et al. (2024), Theorem 2.2: σ̂ √(2(tρ²+1)/(t²ρ²) log(√(tρ²+1)/α)).
    paper = sigma * np.sqrt(
        2 * (n * rho**2 + 1) / (n**2 * rho**2) * np.log(np.sqrt(n * rho**2 + 1) / alpha)
    )
    # GrowthBook's form, whose ρ carries the units of 1/σ.
    rho_gb = rho / sigma
    growthbook = np.sqrt(
        (n * sigma**2 * rho_gb**2 + 1)
        / (n**2 * rho_gb**2)
        * np.log((n * sigma**2 * rho_gb**2 + 1) / alpha**2)
    )
    np.testing.assert_allclose(ours, paper, rtol=1e-12)
    np.testing.assert_allclose(ours, growthbook, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.001, 0.05, 0.3, 0.9])
@pytest.mark.parametrize("planned_n", [50.0, 5_000.0, 2e6])
def test_mixture_rho_makes_the_sequence_narrowest_at_the_planned_n(
    alpha: float, planned_n: float
) -> None:
    rho = mixture_rho(planned_n, alpha)
    best = scipy.optimize.minimize_scalar(
        lambda log_n: float(sequential_multiplier(math.exp(log_n), rho, alpha)),
        bounds=(math.log(planned_n) - 5, math.log(planned_n) + 5),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert math.exp(best.x) == pytest.approx(planned_n, rel=1e-4)
    # ... and no other ρ gives a narrower interval at the planned n.
    other = scipy.optimize.minimize_scalar(
        lambda log_rho: float(sequential_multiplier(planned_n, math.exp(log_rho), alpha)),
        bounds=(math.log(rho) - 5, math.log(rho) + 5),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert float(sequential_multiplier(planned_n, rho, alpha)) <= other.fun * (1 + 1e-12)


def test_growthbook_closed_form_rho_is_within_3e5_of_the_optimum() -> None:
    u_growthbook = -2 * math.log(ALPHA) + math.log(1 - 2 * math.log(ALPHA))
    rho = mixture_rho(DEFAULT_PLANNED_N, ALPHA)
    approx = float(
        sequential_multiplier(DEFAULT_PLANNED_N, math.sqrt(u_growthbook / DEFAULT_PLANNED_N))
    )
    exact = float(sequential_multiplier(DEFAULT_PLANNED_N, rho))
    assert exact == pytest.approx(3.0351224130, rel=1e-9)
    assert exact <= approx <= exact * (1 + 3e-5)


@pytest.mark.parametrize("alpha", [1e-4, 0.01, 0.05, 0.1, 0.5, 0.99])
def test_sequence_is_wider_than_the_normal_ci_at_every_sample_size(alpha: float) -> None:
    n = np.logspace(0, 12, 2_000)
    multiplier = sequential_multiplier(n, rho=1.0, alpha=alpha)
    assert (multiplier > norm.ppf(1 - alpha / 2)).all()


def test_half_width_shrinks_like_sqrt_log_n_over_n() -> None:
    rho = mixture_rho(DEFAULT_PLANNED_N, ALPHA)
    n = np.array([1e4, 1e6, 1e8, 1e10])
    half = sequential_multiplier(n, rho, ALPHA) / np.sqrt(n)  # σ = 1
    assert (np.diff(half) < 0).all()
    limit = np.sqrt(np.log(n * rho**2 / ALPHA**2) / n)
    ratio = half / limit
    assert (np.diff(np.abs(ratio - 1)) < 0).all() and abs(ratio[-1] - 1) < 1e-7


# --- the record -------------------------------------------------------------------------------


def test_confidence_sequence_is_estimate_plus_minus_se_times_multiplier() -> None:
    cs = confidence_sequence(1.5, 0.2, 3_000, alpha=0.1, planned_n=4_000)
    rho = mixture_rho(4_000, 0.1)
    half = 0.2 * float(sequential_multiplier(3_000, rho, 0.1))
    assert cs == ConfidenceSequence(
        lower=1.5 - half,
        upper=1.5 + half,
        half_width=half,
        rho=rho,
        planned_n=4_000.0,
        alpha=0.1,
        method=SEQUENTIAL_METHOD,
        status="ok",
    )
    default = confidence_sequence(1.5, 0.2, 3_000)
    assert default.planned_n == DEFAULT_PLANNED_N
    assert default.rho == mixture_rho(DEFAULT_PLANNED_N, 0.05)
    explicit = confidence_sequence(1.5, 0.2, 3_000, rho=0.01)
    assert explicit.planned_n is None and explicit.rho == 0.01


@pytest.mark.parametrize(
    ("estimate", "se", "n_total", "status"),
    [
        (1.0, 0.1, 1, "insufficient_sample"),
        (1.0, 0.1, float("nan"), "insufficient_sample"),
        (1.0, None, 100, "undefined_se"),
        (1.0, float("inf"), 100, "undefined_se"),
        (1.0, -0.1, 100, "undefined_se"),
        (1.0, 0.0, 100, "zero_variance"),
        (None, 0.1, 100, "undefined_estimate"),
        (float("nan"), 0.1, 100, "undefined_estimate"),
    ],
)
def test_degenerate_inputs_give_no_bounds_and_a_status(
    estimate: float | None, se: float | None, n_total: float, status: str
) -> None:
    cs = confidence_sequence(estimate, se, n_total)
    assert (cs.lower, cs.upper, cs.half_width, cs.status) == (None, None, None, status)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"alpha": 1.0},
        {"planned_n": 0.0},
        {"planned_n": float("inf")},
        {"rho": -1.0},
        {"rho": 0.1, "planned_n": 100.0},
    ],
)
def test_invalid_parameters_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        confidence_sequence(1.0, 0.1, 100, **kwargs)


# --- validity by simulation -------------------------------------------------------------------


def test_gaussian_random_walk_monitored_at_every_unit_crosses_with_probability_alpha() -> None:
    """Ville's inequality for the normal mixture: P(∃t: |S_t| ≥ t·σ·m(tρ²)/√t) ≤ alpha, with
    near equality for continuous monitoring over a long horizon (here 100 × the planned n)."""
    rng = np.random.default_rng(7)
    replications, horizon, planned_n = 2_000, 10_000, 100
    t = np.arange(1, horizon + 1)
    boundary = np.sqrt(t) * sequential_multiplier(t, mixture_rho(planned_n, ALPHA), ALPHA)
    crossed = 0
    for _ in range(replications // 250):
        walks = np.cumsum(rng.standard_normal((250, horizon)), axis=1)
        crossed += int((np.abs(walks) >= boundary).any(axis=1).sum())
    rate = crossed / replications
    assert rate <= _binomial_bound(ALPHA, replications)
    assert rate >= ALPHA / 2  # not vacuous: the boundary is tight, not merely conservative


def test_simulated_cuped_looks_match_analyze_metric() -> None:
    x, y, treated = simulation.draw_units(np.random.default_rng(3), 1)
    looks = simulation.cumulative_looks(x, y, treated)
    for day in (1, 9, simulation.DAYS):
        units = (slice(None), slice(0, day))
        arms = []
        for variant, mask in (("control", ~treated[units]), ("treatment", treated[units])):
            data = np.column_stack([y[units][mask], x[units][mask]])
            arms.append(
                ArmMoments(
                    variant=variant,
                    n=len(data),
                    names=("@y", "pre"),
                    mean=data.mean(axis=0),
                    cov=np.cov(data, rowvar=False),
                )
            )
        (comparison,) = analyze_metric(arms, "control")
        got = {
            "cuped": (looks.cuped_effect, looks.cuped_se, looks.cuped_df),
            "unadjusted": (looks.unadjusted_effect, looks.unadjusted_se, looks.unadjusted_df),
        }
        for label, expected in (("cuped", comparison.cuped), ("unadjusted", comparison.unadjusted)):
            effect, se, df = (float(v[0, day - 1]) for v in got[label])
            assert effect == pytest.approx(expected.effect, rel=1e-9, abs=1e-12)
            assert se == pytest.approx(expected.se, rel=1e-9)
            assert df == pytest.approx(expected.degrees_of_freedom, rel=1e-9)
            # ... and the record gives the same decision as the vectorised multiplier.
            cs = confidence_sequence(
                effect, se, float(looks.n_total[0, day - 1]), planned_n=simulation.PLANNED_N
            )
            assert cs.lower is not None and cs.upper is not None
            assert cs.upper - cs.lower > expected.ci_upper - expected.ci_lower


def test_daily_peeking_at_an_aa_test_is_controlled_only_by_the_sequence() -> None:
    replications = 2_000
    result = simulation.simulate_peeking(replications, seed=11)
    bound = _binomial_bound(ALPHA, replications)
    assert result.sequential_ever_significant <= bound
    assert result.sequential_ever_significant_unadjusted <= bound
    # Peeking inflates the fixed-horizon interval's false-positive rate far above alpha ...
    assert result.fixed_ever_significant > 0.10
    assert result.fixed_ever_significant_unadjusted > 0.10
    # ... while at the single planned look it is nominal.
    assert abs(result.fixed_significant_at_last_look - ALPHA) <= 3 * math.sqrt(
        ALPHA * (1 - ALPHA) / replications
    )
    assert result.mean_variance_reduction > 0.4
    # The sequence contains the fixed CI at every look; its relative width falls towards its
    # minimum m(u*)/z ≈ 1.549 at the planned sample size (the last look).
    assert result.cs_contains_ci_everywhere
    ratios = np.array(result.width_ratio_by_day)
    assert (np.diff(ratios) < 0).all()
    expected = float(sequential_multiplier(simulation.PLANNED_N, mixture_rho(simulation.PLANNED_N)))
    assert ratios[-1] == pytest.approx(expected / norm.ppf(1 - ALPHA / 2), rel=1e-3)


def test_bounds_of_many_looks_are_those_of_each_look() -> None:
    # confidence_sequence_bounds (every look at once, for the result tables) against
    # confidence_sequence called per look: ok looks to the last bit or 1e-15, every degenerate
    # look (n < 2, NaN, a missing, negative or zero SE, a missing or infinite estimate) None
    rng = np.random.default_rng(21)
    looks = 2_000
    estimates: list[float | None] = list(rng.normal(0, 10.0 ** rng.integers(-6, 6, looks)))
    ses: list[float | None] = list(np.abs(rng.normal(0, 10.0 ** rng.integers(-6, 6, looks))))
    n_totals = list(rng.integers(0, 10**7, looks).astype(float))
    alphas = list(rng.choice([0.01, 0.05, 0.1, 0.2], looks))
    planned = list(rng.choice([2.0, 100.0, 5000.0, 1e6], looks))
    for i, (estimate, se, n_total) in enumerate(
        [
            (None, 1.0, 10.0),
            (math.inf, 1.0, 10.0),
            (1.0, None, 10.0),
            (1.0, -1.0, 10.0),
            (1.0, 0.0, 10.0),
            (1.0, math.nan, 10.0),
            (1.0, 1.0, 1.0),
            (1.0, 1.0, math.nan),
            (1.0, math.inf, 10.0),
            (1.0, 1.0, 2.0),
        ]
    ):
        estimates[i], ses[i], n_totals[i] = estimate, se, n_total
    lower, upper = confidence_sequence_bounds(estimates, ses, n_totals, alphas, planned)
    for i in range(looks):
        one = confidence_sequence(
            estimates[i], ses[i], n_totals[i], alpha=alphas[i], planned_n=planned[i]
        )
        if one.status != "ok":
            assert lower[i] is None and upper[i] is None, i
            continue
        assert lower[i] == pytest.approx(one.lower, rel=1e-15, abs=1e-300), i
        assert upper[i] == pytest.approx(one.upper, rel=1e-15, abs=1e-300), i
    assert sum(v is None for v in lower) >= 9
    with pytest.raises(ValueError, match="alpha"):
        confidence_sequence_bounds([1.0], [1.0], [10.0], [1.5], [100.0])
    with pytest.raises(ValueError, match="planned_n"):
        confidence_sequence_bounds([1.0], [1.0], [10.0], [0.05], [0.0])
