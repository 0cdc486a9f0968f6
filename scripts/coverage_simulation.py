"""Coverage of cuped_stats' 95% confidence intervals, by simulation.

Run ``python scripts/coverage_simulation.py [--reps 10000] [--seed 2026]`` from the repository
root (or anywhere, with ``cuped_stats`` installed); it prints one table row per scenario and
sample size: the share of replications whose interval covers the true effect, for the CUPED and
the unadjusted estimate, absolute and relative (``delta``, ``log`` and ``fieller`` relative CIs).
No asserts: ``tests/test_coverage.py`` runs the same simulation with 2,000 replications and checks
the band. A second table, ``revenue_heavy`` (the revenue scenario with σ = 1.5: skewness 33), shows
where relative intervals stop being trustworthy: only Fieller's keeps the absolute CI's coverage.

Scenarios (control vs one treatment with a real effect, so relative coverage means something):

* ``revenue`` (mean): lognormal revenue ``y = (1+δ)·exp(μ + σ(ρ z₀ + √(1-ρ²) z₁))`` with its
  lognormal pre-period value ``x = exp(μ + σ z₀)`` as covariate, σ = 1. Truth: control mean
  ``exp(μ + σ²/2)``, relative effect ``δ``. ``revenue_heavy``: the same with σ = 1.5, at 100,
  1,000 and 10,000 units per arm.
* ``conversion`` (proportion): pre-period conversion ``x ~ Bernoulli(π)`` as covariate and
  ``y | x ~ Bernoulli((1+δ)·p_x)``. Truth: ``p = π p₁ + (1-π) p₀`` (times ``1+δ``).
* ``revenue_per_session`` (ratio): sessions ``b = ⌊exp(μ_s + σ_s(ρ_s z + √(1-ρ_s²) e))⌋`` (a
  quarter of the units have none: zero denominators), revenue ``a = b·(1+δ)·exp(μ_v +
  σ_v(ρ_v w + √(1-ρ_v²) f))``, and the pre-period pair ``b₀ = ⌊exp(μ_s + σ_s z)⌋``,
  ``a₀ = b₀·exp(μ_v + σ_v w)`` as the ratio covariate ``pre_period``. Spend is independent of
  sessions, so the true ratio is ``(1+δ)·exp(μ_v + σ_v²/2)``.

How the data are made cheaply (every replication is still an independent experiment of iid
units): only per-arm sums ``Σ1, Σz, Σzzᵀ`` are needed, so units are generated in chunks of
replications (float32 normals and exp, float64 sums) and reduced at once. The three sample sizes
are nested prefixes of one sample per replication (200 ⊂ 2,000 ⊂ 20,000 units per arm), so the
largest size pays for all three; each size's coverage is still an average over independent
replications. The conversion scenario draws the exact sufficient statistics directly: the counts
of the four (x, y) cells of n iid units are multinomial.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from cuped_stats import ArmMoments, analyze_metric

SIZES: tuple[int, ...] = (200, 2_000, 20_000)
HEAVY_SIZES: tuple[int, ...] = (100, 1_000, 10_000)
LEVEL = 0.95
ARMS = ("control", "treatment")
#: Replications generated at once (memory ~ CHUNK x 20,000 units x variables x 4 bytes).
CHUNK = 25

#: Per-arm sums of one chunk at each size: n, Σz of shape (reps, arms, p), Σzzᵀ (reps, arms, p, p).
Sums = dict[int, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Scenario:
    """A data-generating process with its true control value and relative effect."""

    name: str
    metric_type: str
    names: tuple[str, ...]
    control_value: float
    relative_effect: float
    #: ``sums(rng, reps, sizes) -> {n: (Σz, Σzzᵀ)}`` for both arms, control first.
    sums: Callable[[np.random.Generator, int, tuple[int, ...]], Sums]

    @property
    def absolute_effect(self) -> float:
        return self.control_value * self.relative_effect


def _nested_unit_sums(
    units: Callable[[np.random.Generator, int, tuple[int, int]], list[np.ndarray]],
) -> Callable[[np.random.Generator, int, tuple[int, ...]], Sums]:
    """Sums over nested prefixes of unit-level samples.

    ``units(rng, arm, (reps, m))`` returns one float32 array of shape ``(reps, m)`` per variable;
    the blocks of units between consecutive sizes are generated and reduced one at a time, in
    float64 with the units on the last (contiguous) axis.
    """

    def sums(rng: np.random.Generator, reps: int, sizes: tuple[int, ...]) -> Sums:
        out: Sums = {}
        s1 = s2 = None
        start = 0
        for size in sizes:
            columns = [units(rng, arm, (reps, size - start)) for arm in range(len(ARMS))]
            block = np.empty((reps, len(ARMS), len(columns[0]), size - start))
            for arm, arm_columns in enumerate(columns):
                for i, column in enumerate(arm_columns):
                    block[:, arm, i] = column
            b1 = block.sum(axis=-1)
            b2 = block @ block.transpose(0, 1, 3, 2)
            s1 = b1 if s1 is None else s1 + b1
            s2 = b2 if s2 is None else s2 + b2
            out[size] = (s1.copy(), s2.copy())
            start = size
        return out

    return sums


def _correlated(rng: np.random.Generator, rho: float, z: np.ndarray) -> np.ndarray:
    return rho * z + np.float32(np.sqrt(1.0 - rho**2)) * rng.standard_normal(
        z.shape, dtype=np.float32
    )


# --- revenue: lognormal mean metric with a lognormal pre-period covariate ---------------------
REV_MU, REV_SIGMA, REV_RHO, REV_LIFT = 3.0, 1.0, 0.7, 0.05
HEAVY_SIGMA = 1.5


def _lognormal_revenue(
    sigma: float,
) -> Callable[[np.random.Generator, int, tuple[int, int]], list[np.ndarray]]:
    def units(rng: np.random.Generator, arm: int, shape: tuple[int, int]) -> list[np.ndarray]:
        z0 = rng.standard_normal(shape, dtype=np.float32)
        x = np.exp(REV_MU + sigma * z0)
        y = np.exp(REV_MU + sigma * _correlated(rng, REV_RHO, z0)) * np.float32(1 + arm * REV_LIFT)
        return [y, x]

    return units


# --- conversion: proportion with a binary pre-period conversion covariate ---------------------
CONV_PRE, CONV_P0, CONV_P1, CONV_LIFT = 0.3, 0.15, 0.6, 0.10


def _conversion_sums(rng: np.random.Generator, reps: int, sizes: tuple[int, ...]) -> Sums:
    # Cells (x, y) = (0, 0), (0, 1), (1, 0), (1, 1); unit values per cell as rows.
    values = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # columns (y, x)
    second = np.einsum("ci,cj->cij", values, values)
    counts = np.zeros((reps, len(ARMS), 4))
    out: Sums = {}
    start = 0
    for size in sizes:
        for arm in range(len(ARMS)):
            p0, p1 = (1 + arm * CONV_LIFT) * CONV_P0, (1 + arm * CONV_LIFT) * CONV_P1
            pvals = [
                (1 - CONV_PRE) * (1 - p0),
                (1 - CONV_PRE) * p0,
                CONV_PRE * (1 - p1),
                CONV_PRE * p1,
            ]
            counts[:, arm] += rng.multinomial(size - start, pvals, size=reps)
        out[size] = (counts @ values, np.einsum("rgc,cij->rgij", counts, second))
        start = size
    return out


# --- revenue per session: ratio metric with a pre-period ratio covariate ----------------------
SES_MU, SES_SIGMA, SES_RHO = 0.7, 0.8, 0.8
SPEND_MU, SPEND_SIGMA, SPEND_RHO, RPS_LIFT = 2.5, 0.6, 0.7, 0.05


def _rps_units(rng: np.random.Generator, arm: int, shape: tuple[int, int]) -> list[np.ndarray]:
    z = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal(shape, dtype=np.float32)
    b0 = np.floor(np.exp(SES_MU + SES_SIGMA * z))
    b = np.floor(np.exp(SES_MU + SES_SIGMA * _correlated(rng, SES_RHO, z)))
    a0 = b0 * np.exp(SPEND_MU + SPEND_SIGMA * w)
    spend = np.exp(SPEND_MU + SPEND_SIGMA * _correlated(rng, SPEND_RHO, w))
    a = b * spend * np.float32(1 + arm * RPS_LIFT)
    return [a, b, a0, b0]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="revenue",
        metric_type="mean",
        names=("@y", "pre_period"),
        control_value=float(np.exp(REV_MU + REV_SIGMA**2 / 2)),
        relative_effect=REV_LIFT,
        sums=_nested_unit_sums(_lognormal_revenue(REV_SIGMA)),
    ),
    Scenario(
        name="conversion",
        metric_type="proportion",
        names=("@y", "pre_period"),
        control_value=CONV_PRE * CONV_P1 + (1 - CONV_PRE) * CONV_P0,
        relative_effect=CONV_LIFT,
        sums=_conversion_sums,
    ),
    Scenario(
        name="revenue_per_session",
        metric_type="ratio",
        names=("@numerator", "@denominator", "pre_period@numerator", "pre_period@denominator"),
        control_value=float(np.exp(SPEND_MU + SPEND_SIGMA**2 / 2)),
        relative_effect=RPS_LIFT,
        sums=_nested_unit_sums(_rps_units),
    ),
)

#: Heavier-tailed revenue, printed in a second table (relative delta/log CIs under-cover there).
HEAVY_SCENARIO = Scenario(
    name="revenue_heavy",
    metric_type="mean",
    names=("@y", "pre_period"),
    control_value=float(np.exp(REV_MU + HEAVY_SIGMA**2 / 2)),
    relative_effect=REV_LIFT,
    sums=_nested_unit_sums(_lognormal_revenue(HEAVY_SIGMA)),
)

#: Relative CI method of each relative figure; "relative" is the delta CI.
RELATIVE_FIGURES: dict[str, str] = {
    "relative": "delta",
    "relative_log": "log",
    "relative_fieller": "fieller",
}
#: (estimate, figure) of each coverage column: estimate "cuped"/"unadjusted", figure
#: "absolute" or one of RELATIVE_FIGURES.
COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (estimate, figure)
    for estimate in ("cuped", "unadjusted")
    for figure in ("absolute", *RELATIVE_FIGURES)
)


@dataclass(frozen=True)
class Coverage:
    """Coverage of one scenario at one size, per column of :data:`COLUMNS` (``nan`` if not run)."""

    scenario: str
    n_per_arm: int
    reps: int
    coverage: dict[tuple[str, str], float]
    variance_reduction: float
    not_ok: int


def _arm_moments(
    scenario: Scenario, n: int, s1: np.ndarray, s2: np.ndarray
) -> Iterator[list[ArmMoments]]:
    """Per replication, both arms' moments from their sums: ``cov = (Σzzᵀ - n z̄z̄ᵀ)/(n - 1)``."""
    mean = s1 / n
    cov = (s2 - n * np.einsum("rgi,rgj->rgij", mean, mean)) / (n - 1)
    for r in range(len(mean)):
        yield [
            ArmMoments(variant, n, scenario.names, mean[r, g], cov[r, g])
            for g, variant in enumerate(ARMS)
        ]


def _covers(lower: float | None, upper: float | None, truth: float) -> bool:
    return lower is not None and upper is not None and lower <= truth <= upper


def simulate(
    scenario: Scenario,
    reps: int,
    *,
    seed: int,
    sizes: tuple[int, ...] = SIZES,
    log_sizes: tuple[int, ...] = SIZES,
) -> list[Coverage]:
    """Coverage of ``scenario`` over ``reps`` replications at each size (``log_sizes``: where the
    ``log`` and ``fieller`` relative CIs are evaluated too; each costs one more analysis per
    replication)."""
    index = SCENARIOS.index(scenario) if scenario in SCENARIOS else len(SCENARIOS)
    rng = np.random.default_rng([seed, index, *sizes])
    truth = {"absolute": scenario.absolute_effect, "relative": scenario.relative_effect}
    hits = {size: dict.fromkeys(COLUMNS, 0) for size in sizes}
    reduction = dict.fromkeys(sizes, 0.0)
    not_ok = dict.fromkeys(sizes, 0)
    done = 0
    while done < reps:
        chunk = min(CHUNK, reps - done)
        for size, (s1, s2) in scenario.sums(rng, chunk, sizes).items():
            for arms in _arm_moments(scenario, size, s1, s2):
                figures = list(RELATIVE_FIGURES) if size in log_sizes else ["relative"]
                for figure in figures:
                    method = RELATIVE_FIGURES[figure]
                    (result,) = analyze_metric(
                        arms,
                        "control",
                        metric_type=scenario.metric_type,
                        alpha=1 - LEVEL,
                        relative_ci_method=method,
                    )
                    not_ok[size] += result.status != "ok"
                    for estimate_name in ("cuped", "unadjusted"):
                        est = getattr(result, estimate_name)
                        if method == "delta":
                            hits[size][(estimate_name, "absolute")] += _covers(
                                est.ci_lower, est.ci_upper, truth["absolute"]
                            )
                        hits[size][(estimate_name, figure)] += _covers(
                            est.relative_ci_lower, est.relative_ci_upper, truth["relative"]
                        )
                    if method == "delta" and result.variance_reduction is not None:
                        reduction[size] += result.variance_reduction
        done += chunk
    return [
        Coverage(
            scenario=scenario.name,
            n_per_arm=size,
            reps=reps,
            coverage={
                column: (
                    hits[size][column] / reps
                    if column[1] in ("absolute", "relative") or size in log_sizes
                    else float("nan")
                )
                for column in COLUMNS
            },
            variance_reduction=reduction[size] / reps,
            not_ok=not_ok[size],
        )
        for size in sizes
    ]


_LABELS = {
    ("cuped", "absolute"): "CUPED abs",
    ("cuped", "relative"): "CUPED rel",
    ("cuped", "relative_log"): "CUPED rel (log)",
    ("cuped", "relative_fieller"): "CUPED rel (Fieller)",
    ("unadjusted", "absolute"): "unadj. abs",
    ("unadjusted", "relative"): "unadj. rel",
    ("unadjusted", "relative_log"): "unadj. rel (log)",
    ("unadjusted", "relative_fieller"): "unadj. rel (Fieller)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10_000, help="replications per scenario")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    mc_se = np.sqrt(LEVEL * (1 - LEVEL) / args.reps)
    print(
        f"Coverage of nominal {LEVEL:.0%} intervals, {args.reps:,} replications per cell "
        f"(Monte Carlo SE at {LEVEL:.0%}: {mc_se:.2%}); rel = relative effect, delta CI unless "
        "(log); var. red. = mean CUPED variance reduction.\n"
    )
    header = ["scenario", "n/arm", *(_LABELS[c] for c in COLUMNS), "var. red."]
    total_start = time.perf_counter()
    for scenarios, sizes in ((SCENARIOS, SIZES), ((HEAVY_SCENARIO,), HEAVY_SIZES)):
        print("\n| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for scenario in scenarios:
            rows = simulate(scenario, args.reps, seed=args.seed, sizes=sizes, log_sizes=sizes)
            for row in rows:
                cells = [f"{row.coverage[c]:.1%}" for c in COLUMNS]
                note = f" ({row.not_ok} not ok)" if row.not_ok else ""
                print(
                    f"| {row.scenario} | {row.n_per_arm:,} | "
                    + " | ".join(cells)
                    + f" | {row.variance_reduction:.1%}{note} |",
                    flush=True,
                )
    print(f"\nruntime {time.perf_counter() - total_start:.0f} s")


if __name__ == "__main__":
    main()
