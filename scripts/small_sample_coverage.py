"""Coverage of CUPED intervals with few units per arm and several covariates, by simulation.

Run ``python scripts/small_sample_coverage.py [--reps 10000] [--seed 2027]`` from anywhere with
``cuped_stats`` installed; it prints one table row per scenario, units per arm ``n`` and number of
covariates ``k``: the share of replications whose 95% interval covers the true effect. No
asserts: ``tests/test_small_sample_coverage.py`` runs the same simulation with fewer replications
and checks the band.

Columns: the CUPED absolute CI with θ estimated (the default, :mod:`cuped_stats.small_sample`)
and with θ treated as known (``small_sample_correction=False``, the Welch t-test on ``y - θ̂ᵀx``),
the CUPED relative CI (``delta`` and ``fieller``, θ estimated), and the unadjusted absolute CI.

Scenarios (control and treatment of ``n`` units each; ``k`` covariates
``x = (z + 0.5·z₀)/√1.25`` from independent standard normals ``z`` and a common factor ``z₀``, so
they are correlated 0.2 with each other; treatment adds ``τ = 0.5`` to the outcome):

* ``normal``: ``y = 10 + τ·[treated] + βᵀx + ε``, ``ε ~ N(0, 1)``, ``β = (1/√k)·1``: the
  covariates explain about 60% of the variance of ``y``; the linear model holds exactly.
* ``skewed``: the same with ``ε = s·(e^{u} - e^{1/2})/√(e(e-1))``, ``u ~ N(0, 1)`` (centred
  lognormal, skewness 6.2), ``s = 1`` in control and ``s = 1.5`` in treatment (unequal
  variances), and a heteroskedastic ``s·(1 + 0.5·|x₁|)/1.4``.

Truth: the absolute effect ``τ`` and the relative effect ``τ/10``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from cuped_stats import ArmMoments, analyze_metric

SIZES: tuple[int, ...] = (20, 30, 50, 100)
COVARIATES: tuple[int, ...] = (1, 4, 8)
SCENARIOS: tuple[str, ...] = ("normal", "skewed")
LEVEL = 0.95
LIFT = 0.5
BASE = 10.0
#: (label, estimate, figure, relative_ci_method, small_sample_correction) of each column.
COLUMNS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("CUPED abs", "cuped", "absolute", "delta", True),
    ("CUPED abs, θ known", "cuped", "absolute", "delta", False),
    ("CUPED rel (delta)", "cuped", "relative", "delta", True),
    ("CUPED rel (Fieller)", "cuped", "relative", "fieller", True),
    ("unadj. abs", "unadjusted", "absolute", "delta", True),
)


@dataclass(frozen=True)
class Coverage:
    """Coverage of one scenario, size and number of covariates, per column label."""

    scenario: str
    n_per_arm: int
    k: int
    reps: int
    coverage: dict[str, float]
    not_ok: int


def draw_arms(
    rng: np.random.Generator, scenario: str, n: int, k: int, reps: int
) -> list[list[ArmMoments]]:
    """``reps`` experiments of ``n`` units per arm: both arms' moments of ``(y, x₁..x_k)``."""
    beta = np.full(k, 1.0 / np.sqrt(k))
    names = ("@y", *(f"x{j}" for j in range(k)))
    moments = []
    for arm in range(2):
        x = rng.standard_normal((reps, n, k)) + 0.5 * rng.standard_normal((reps, n, 1))
        x /= np.sqrt(1.25)
        if scenario == "normal":
            noise = rng.standard_normal((reps, n))
        else:
            u = (np.exp(rng.standard_normal((reps, n))) - np.exp(0.5)) / np.sqrt(np.e * (np.e - 1))
            noise = u * (1.0 + 0.5 * arm) * (1.0 + 0.5 * np.abs(x[..., 0])) / 1.4
        y = BASE + LIFT * arm + x @ beta + noise
        z = np.concatenate([y[..., None], x], axis=2)
        mean = z.mean(axis=1)
        centred = z - mean[:, None, :]
        moments.append((mean, np.einsum("rni,rnj->rij", centred, centred) / (n - 1)))
    return [
        [
            ArmMoments(variant, n, names, moments[g][0][r], moments[g][1][r])
            for g, variant in enumerate(("control", "treatment"))
        ]
        for r in range(reps)
    ]


def _covers(lower: float | None, upper: float | None, truth: float) -> bool:
    return lower is not None and upper is not None and lower <= truth <= upper


def simulate(scenario: str, n: int, k: int, reps: int, *, seed: int) -> Coverage:
    """Coverage of every column of :data:`COLUMNS` over ``reps`` replications."""
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario), n, k])
    truth = {"absolute": LIFT, "relative": LIFT / BASE}
    hits = dict.fromkeys((c[0] for c in COLUMNS), 0)
    not_ok = 0
    for arms in draw_arms(rng, scenario, n, k, reps):
        results = {}
        for label, estimate, figure, method, correction in COLUMNS:
            key = (method, correction)
            if key not in results:
                (results[key],) = analyze_metric(
                    arms,
                    "control",
                    alpha=1 - LEVEL,
                    relative_ci_method=method,
                    small_sample_correction=correction,
                )
                not_ok += results[key].status != "ok"
            est = getattr(results[key], estimate)
            bounds = (
                (est.ci_lower, est.ci_upper)
                if figure == "absolute"
                else (est.relative_ci_lower, est.relative_ci_upper)
            )
            hits[label] += _covers(*bounds, truth[figure])
    return Coverage(
        scenario=scenario,
        n_per_arm=n,
        k=k,
        reps=reps,
        coverage={label: hit / reps for label, hit in hits.items()},
        not_ok=not_ok,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10_000, help="replications per row")
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args()
    mc_se = np.sqrt(LEVEL * (1 - LEVEL) / args.reps)
    print(
        f"Coverage of nominal {LEVEL:.0%} intervals, {args.reps:,} replications per row "
        f"(Monte Carlo SE at {LEVEL:.0%}: {mc_se:.2%}).\n"
    )
    header = ["scenario", "n/arm", "k", *(c[0] for c in COLUMNS)]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    start = time.perf_counter()
    for scenario in SCENARIOS:
        for n in SIZES:
            for k in COVARIATES:
                row = simulate(scenario, n, k, args.reps, seed=args.seed)
                cells = [f"{row.coverage[c[0]]:.1%}" for c in COLUMNS]
                note = f" ({row.not_ok} not ok)" if row.not_ok else ""
                print(f"| {scenario} | {n} | {k} | " + " | ".join(cells) + f"{note} |", flush=True)
    print(f"\nruntime {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
