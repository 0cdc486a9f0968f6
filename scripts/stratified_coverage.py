"""Coverage and standard errors under stratified randomization, by simulation.

Run ``python scripts/stratified_coverage.py [--reps 10000] [--seed 2028]`` from anywhere with
``cuped_stats`` installed; it prints one row per design and size. No asserts:
``tests/test_stratified_coverage.py`` runs the same simulation with fewer replications.

Design: units come from a population of five strata (shares 40/25/15/12/8%) whose outcome means
differ strongly (``0, 4, 8, -3, 12``; within-stratum SD 2, so strata explain about 80% of the
outcome's variance), with a pre-period covariate ``x`` correlated 0.6 with the outcome within
strata, and a treatment effect that differs by stratum (``0.5, 1, 0, 1.5, 0.5``). An experiment
samples ``2n`` units, then randomizes *within each stratum* a fixed share ``p`` of its units to
treatment (complete randomization per stratum: ``round(p·N_j)`` treated, the rest control).
The truth is the population average effect ``Σ_j π_j τ_j``; relative to the population control
mean.

Estimates (95% intervals; the strata enter as indicators, first stratum left out):

* ``naive``: the unadjusted Welch interval, ignoring the design;
* ``strata``: ``analyze_metric(..., strata=...)``'s unadjusted estimate, the post-stratified
  one (strata indicators only);
* ``strata + CUPED``: its CUPED estimate (strata indicators and ``x``);
* ``CUPED``: CUPED on ``x`` without the strata.

Columns: coverage of each, the relative interval (Fieller) of ``strata + CUPED``, the mean SE of
``strata`` over the naive SE, and the mean SE of ``strata`` and of ``strata + CUPED`` over the
Monte Carlo SD of their estimates (about 1 when the SE is calibrated for the design).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from cuped_stats import ArmMoments, analyze_metric

SHARES = np.array([0.40, 0.25, 0.15, 0.12, 0.08])
STRATUM_MEANS = np.array([0.0, 4.0, 8.0, -3.0, 12.0]) + 20.0
EFFECTS = np.array([0.5, 1.0, 0.0, 1.5, 0.5])
WITHIN_SD = 2.0
X_CORRELATION = 0.6
LEVEL = 0.95
#: (label, units per arm n, treated share p): sizes with a balanced and an unbalanced design.
DESIGNS: tuple[tuple[str, int, float], ...] = (
    ("p = 1/2", 50, 0.5),
    ("p = 1/2", 200, 0.5),
    ("p = 1/2", 1_000, 0.5),
    ("p = 1/3", 200, 1 / 3),
)
STRATA = tuple(f"stratum={j}" for j in range(1, len(SHARES)))
NAMES = ("@y", *STRATA, "x")
COLUMNS = ("naive", "strata", "strata + CUPED", "CUPED", "strata + CUPED rel (Fieller)")


@dataclass(frozen=True)
class StratifiedCoverage:
    """Coverage per column, and SE ratios, of one design over ``reps`` replications."""

    label: str
    n_per_arm: int
    share: float
    reps: int
    coverage: dict[str, float]
    se_ratio_to_naive: float
    se_over_sd: dict[str, float]
    not_ok: int


def draw_experiment(rng: np.random.Generator, n: int, share: float) -> list[ArmMoments]:
    """One stratified experiment of ``2n`` units: both arms' moments of ``(y, strata, x)``."""
    total = 2 * n
    stratum = rng.choice(len(SHARES), size=total, p=SHARES)
    treated = np.zeros(total, dtype=bool)
    for j in range(len(SHARES)):
        members = np.flatnonzero(stratum == j)
        chosen = rng.permutation(members)[: round(share * len(members))]
        treated[chosen] = True
    z = rng.standard_normal(total)
    x = 10.0 + 2.0 * z
    noise = X_CORRELATION * z + np.sqrt(1 - X_CORRELATION**2) * rng.standard_normal(total)
    y = STRATUM_MEANS[stratum] + EFFECTS[stratum] * treated + WITHIN_SD * noise
    indicators = (stratum[:, None] == np.arange(1, len(SHARES))[None, :]).astype(float)
    data = np.column_stack([y, indicators, x])
    arms = []
    for variant, mask in (("control", ~treated), ("treatment", treated)):
        arms.append(ArmMoments(variant, int(mask.sum()), NAMES, *_moments(data[mask])))
    return arms


def _moments(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = data.mean(axis=0)
    centred = data - mean
    return mean, centred.T @ centred / (len(data) - 1)


def simulate(label: str, n: int, share: float, reps: int, *, seed: int) -> StratifiedCoverage:
    """Coverage of every column of :data:`COLUMNS` over ``reps`` stratified experiments."""
    rng = np.random.default_rng([seed, n, round(share * 1000)])
    truth = float(SHARES @ EFFECTS)
    truth_relative = truth / float(SHARES @ STRATUM_MEANS)
    hits = dict.fromkeys(COLUMNS, 0)
    estimates: dict[str, list[float]] = {"strata": [], "strata + CUPED": []}
    ses: dict[str, list[float]] = {"naive": [], "strata": [], "strata + CUPED": []}
    not_ok = 0
    for _ in range(reps):
        arms = draw_experiment(rng, n, share)
        (stratified,) = analyze_metric(
            arms, "control", alpha=1 - LEVEL, strata=STRATA, relative_ci_method="fieller"
        )
        (plain,) = analyze_metric([arm.select(("@y", "x")) for arm in arms], "control")
        not_ok += (stratified.status != "ok") + (plain.status != "ok")
        estimate_of = {
            "naive": plain.unadjusted,
            "strata": stratified.unadjusted,
            "strata + CUPED": stratified.cuped,
            "CUPED": plain.cuped,
        }
        for name, est in estimate_of.items():
            hits[name] += est.ci_lower <= truth <= est.ci_upper
        cuped = stratified.cuped
        if cuped.relative_ci_lower is not None and cuped.relative_ci_upper is not None:
            low, high = cuped.relative_ci_lower, cuped.relative_ci_upper
            hits["strata + CUPED rel (Fieller)"] += low <= truth_relative <= high
        for name in estimates:
            estimates[name].append(estimate_of[name].effect)
        for name in ses:
            ses[name].append(estimate_of[name].se)
    return StratifiedCoverage(
        label=label,
        n_per_arm=n,
        share=share,
        reps=reps,
        coverage={name: hit / reps for name, hit in hits.items()},
        se_ratio_to_naive=float(np.mean(ses["strata"]) / np.mean(ses["naive"])),
        se_over_sd={
            name: float(np.mean(ses[name]) / np.std(values, ddof=1))
            for name, values in estimates.items()
        },
        not_ok=not_ok,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10_000, help="replications per row")
    parser.add_argument("--seed", type=int, default=2028)
    args = parser.parse_args()
    mc_se = np.sqrt(LEVEL * (1 - LEVEL) / args.reps)
    print(
        f"Coverage of nominal {LEVEL:.0%} intervals under stratified randomization, "
        f"{args.reps:,} replications per row (Monte Carlo SE {mc_se:.2%}).\n"
    )
    header = [
        "design",
        "n/arm",
        *COLUMNS,
        "SE strata / SE naive",
        "SE/SD strata",
        "SE/SD strata + CUPED",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    start = time.perf_counter()
    for label, n, share in DESIGNS:
        row = simulate(label, n, share, args.reps, seed=args.seed)
        cells = [f"{row.coverage[c]:.1%}" for c in COLUMNS]
        cells += [
            f"{row.se_ratio_to_naive:.2f}",
            f"{row.se_over_sd['strata']:.3f}",
            f"{row.se_over_sd['strata + CUPED']:.3f}",
        ]
        note = f" ({row.not_ok} not ok)" if row.not_ok else ""
        print(f"| {label} | {n:,} | " + " | ".join(cells) + f"{note} |", flush=True)
    print(f"\nruntime {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
