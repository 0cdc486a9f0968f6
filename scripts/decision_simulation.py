"""Error rates and power of the decision rule (``cuped_stats.decisions``), by simulation.

Run ``python scripts/decision_simulation.py [replications]`` (default 4,000; part (c) uses a
fifth of them) from anywhere; it prints the figures. ``tests/test_decision_simulation.py`` runs
the same functions with fewer replications and asserts on them.

Design (the constants below hold every number). An experiment has a control and one treatment
arm of :data:`N_PER_ARM` units each and seven metrics with roles: two primaries, three
secondaries and two guardrails (``g1`` higher-is-better with a 3% relative margin, ``g2``
lower-is-better, e.g. a latency, with an absolute margin). Each metric has a post-period value
and its own pre-period covariate; per unit the 14 values are jointly Gaussian with correlation
:data:`BETWEEN` between metrics and :data:`PRE_POST` between a metric and its pre-period value
(correlation matrix ``[[1, ρ_pp], [ρ_pp, 1]] ⊗ ((1 − ρ_b)I + ρ_b 11ᵀ)``), so the metrics are
correlated and CUPED removes ``ρ_pp² = 49%`` of the variance. Gaussian moments are drawn exactly:
the sample mean vector of an arm is ``N(μ, Σ/n)`` and its sample covariance, independent of it,
``Wishart(n − 1, Σ)/(n − 1)``; these are exactly the moments ``cuped__moments`` would hold for
``n`` Gaussian units. Every experiment then goes through the real pipeline:
:func:`cuped_stats.analyze_metric` per metric (CUPED, ``theta: within``), then
:func:`cuped_stats.decisions.decide`.

Figures:

- (a) A/A experiments at the planned sample (fixed-horizon tests): the share recommended
  ``ship`` must be at most alpha (99.9% binomial band), likewise ``roll_back``; for contrast, the
  share an *uncorrected* rule would ship (primaries not Holm-adjusted).
- (b) Power: a planted relative lift :data:`LIFT` on primary ``p1``, everything else flat. Normal
  theory bounds it: ``P(ship) ≥ P(p1 passes Bonferroni at alpha/2) − Σ_g P(g not
  non-inferior) − alpha`` and ``P(ship) ≤ P(p1 passes at alpha/2) + alpha/2`` (Holm's first step
  is Bonferroni's).
- (c) Looking every day: the A/A experiment accrues over :data:`DAYS` days and the rule is
  applied after each day (``inference="auto"``: always-valid tests until the planned units, the
  fixed-horizon tests on the last day). The share ever recommended ``ship`` (acting on the first
  one), against ``inference="sequential"`` throughout and against naive daily fixed-horizon
  tests.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import scipy.stats
from scipy.stats import norm

from cuped_stats import ArmMoments, analyze_metric
from cuped_stats.decisions import Decision, ExperimentContext, MetricResult, decide
from cuped_stats.one_sided import Margin

ALPHA = 0.05
N_PER_ARM = 4_000
PLANNED_UNITS = 2 * N_PER_ARM
BETWEEN = 0.3
PRE_POST = 0.7
LIFT = 0.02
DAYS = 14


@dataclass(frozen=True)
class MetricSpec:
    name: str
    role: str
    mean: float
    sd: float
    higher_is_better: bool = True
    margin: Margin | None = None


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("p1", "primary", 10.0, 4.0),
    MetricSpec("p2", "primary", 5.0, 3.0),
    MetricSpec("s1", "secondary", 1.0, 0.5),
    MetricSpec("s2", "secondary", 30.0, 20.0),
    MetricSpec("s3", "secondary", 0.2, 0.4),
    MetricSpec("g1", "guardrail", 20.0, 8.0, margin=Margin(0.03, "relative")),
    MetricSpec(
        "g2", "guardrail", 2.0, 0.5, higher_is_better=False, margin=Margin(0.04, "absolute")
    ),
)
K = len(METRICS)


def covariance() -> np.ndarray:
    """Σ of the 2K per-unit values, ordered post_1..post_K, pre_1..pre_K."""
    between = (1 - BETWEEN) * np.eye(K) + BETWEEN
    corr = np.kron(np.array([[1.0, PRE_POST], [PRE_POST, 1.0]]), between)
    sd = np.tile([m.sd for m in METRICS], 2)
    return corr * np.outer(sd, sd)


def population_mean(lifts: dict[str, float]) -> np.ndarray:
    """μ of the 2K values; ``lifts`` multiplies the post-period mean of a metric by (1 + lift)."""
    post = np.array([m.mean * (1 + lifts.get(m.name, 0.0)) for m in METRICS])
    return np.concatenate([post, [m.mean for m in METRICS]])


def draw_moments(
    rng: np.random.Generator, n: int, mean: np.ndarray, reps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sample means ``(reps, 2K)`` and sample covariances ``(reps, 2K, 2K)`` of ``n`` units."""
    sigma = covariance()
    means = rng.multivariate_normal(mean, sigma / n, size=reps)
    covs = scipy.stats.wishart(df=n - 1, scale=sigma).rvs(size=reps, random_state=rng) / (n - 1)
    return means, covs.reshape(reps, 2 * K, 2 * K)


def metric_results(arms: dict[str, tuple[int, np.ndarray, np.ndarray]]) -> list[MetricResult]:
    """CUPED comparison of every metric: ``arms`` maps variant → (n, mean vector, covariance)."""
    results = []
    for k, spec in enumerate(METRICS):
        idx = [k, K + k]
        moments = [
            ArmMoments(
                variant=variant,
                n=n,
                names=("@y", "pre_period"),
                mean=mean[idx],
                cov=cov[np.ix_(idx, idx)],
            )
            for variant, (n, mean, cov) in arms.items()
        ]
        (comparison,) = analyze_metric(moments, "control", alpha=ALPHA)
        results.append(
            MetricResult(
                experiment_id="sim",
                metric_name=spec.name,
                variant=comparison.variant,
                control_variant="control",
                metric_role=spec.role,
                higher_is_better=spec.higher_is_better,
                alpha=ALPHA,
                n_control=comparison.n_control,
                n_variant=comparison.n_variant,
                estimate=comparison.cuped,
                status=comparison.status,
                margin=spec.margin,
            )
        )
    return results


def decide_one(
    arms: dict[str, tuple[int, np.ndarray, np.ndarray]],
    *,
    results: list[MetricResult] | None = None,
    planned_units: int = PLANNED_UNITS,
    inference: str = "auto",
) -> Decision:
    """The rule on one experiment (``results``: :func:`metric_results` of ``arms`` if given)."""
    context = ExperimentContext(
        experiment_id="sim",
        control_variant="control",
        variant_units=tuple((variant, n) for variant, (n, _, _) in arms.items()),
        srm_flag=False,
        planned_units=planned_units,
    )
    rows = metric_results(arms) if results is None else results
    (decision,) = decide(rows, [context], inference=inference)
    return decision


def uncorrected_ship(decision: Decision) -> bool:
    """Would the rule ship without Holm on the primaries: the same rule, but a primary counts as
    improved when its raw one-sided p-value is below alpha. (The guard that shows the A/A check
    can fail: this rule is anti-conservative.)"""
    if decision.decision in ("unhealthy", "roll_back"):
        return False
    metrics = decision.metrics
    improved = any(
        v.result.metric_role == "primary" and (v.improvement.p_value or 1.0) < ALPHA
        for v in metrics
    )
    return improved and decision.guardrails_non_inferior == decision.n_guardrails


@dataclass(frozen=True)
class FixedResult:
    """Shares of decisions over ``replications`` experiments at the planned sample."""

    replications: int
    counts: dict[str, int]
    uncorrected_ship: int

    def share(self, decision: str) -> float:
        return self.counts.get(decision, 0) / self.replications


def simulate_fixed(replications: int, lifts: dict[str, float], seed: int) -> FixedResult:
    """``replications`` experiments with :data:`N_PER_ARM` units per arm (the planned sample)."""
    rng = np.random.default_rng(seed)
    control = draw_moments(rng, N_PER_ARM, population_mean({}), replications)
    treatment = draw_moments(rng, N_PER_ARM, population_mean(lifts), replications)
    counts: dict[str, int] = {}
    uncorrected = 0
    for r in range(replications):
        decision = decide_one(
            {
                "control": (N_PER_ARM, control[0][r], control[1][r]),
                "treatment": (N_PER_ARM, treatment[0][r], treatment[1][r]),
            }
        )
        counts[decision.decision] = counts.get(decision.decision, 0) + 1
        uncorrected += uncorrected_ship(decision)
    return FixedResult(replications, counts, uncorrected)


def power_bounds(lift: float) -> tuple[float, float]:
    """Normal-theory bounds on ``P(ship)`` with a relative ``lift`` on ``p1`` (module docstring).

    The CUPED SE of a metric is ``sd·√(1 − ρ_pp²)·√(2/n)``; a relative margin is tested with the
    delta-method SE of the relative effect (about the absolute SE over the control mean, and
    ``√(1 + (1 − δ)²)/√2`` times it at the boundary; the plain ratio is used: the guardrails'
    power is above 0.99 either way).
    """
    z_half = norm.ppf(1 - ALPHA / 2)
    z_one = norm.ppf(1 - ALPHA)
    scale = np.sqrt(1 - PRE_POST**2) * np.sqrt(2 / N_PER_ARM)
    p1 = METRICS[0]
    bonferroni = float(norm.cdf(lift * p1.mean / (p1.sd * scale) - z_half))
    not_non_inferior = 0.0
    for spec in METRICS:
        if spec.margin is None:
            continue
        se = spec.sd * scale
        margin = spec.margin.value * (spec.mean if spec.margin.kind == "relative" else 1.0)
        not_non_inferior += float(norm.cdf(z_one - margin / se))
    return max(0.0, bonferroni - not_non_inferior - ALPHA), min(1.0, bonferroni + ALPHA / 2)


def binomial_band(n: int, p: float, level: float = 0.999) -> tuple[int, int]:
    """Central ``level`` interval of Binomial(n, p)."""
    tail = (1 - level) / 2
    return int(scipy.stats.binom.ppf(tail, n, p)), int(scipy.stats.binom.isf(tail, n, p))


def _combine(
    a: tuple[int, np.ndarray, np.ndarray], b: tuple[int, np.ndarray, np.ndarray]
) -> tuple[int, np.ndarray, np.ndarray]:
    """Merge (n, mean, covariance) of two disjoint sets of units, exactly (Chan et al. 1979)."""
    n_a, mean_a, cov_a = a
    n_b, mean_b, cov_b = b
    n = n_a + n_b
    diff = mean_b - mean_a
    scatter = (n_a - 1) * cov_a + (n_b - 1) * cov_b
    scatter = scatter + (n_a * n_b / n) * np.einsum("rp,rq->rpq", diff, diff)
    return n, mean_a + diff * (n_b / n), scatter / (n - 1)


@dataclass(frozen=True)
class PeekingResult:
    """Share of A/A experiments ever recommended ``ship`` over :data:`DAYS` daily looks."""

    replications: int
    auto: float
    sequential: float
    naive_fixed: float
    auto_last_day: float


def simulate_peeking(replications: int, seed: int) -> PeekingResult:
    """A/A experiments accruing ``N_PER_ARM / DAYS`` units per arm and day; the rule after
    each day with ``auto``, ``sequential`` and (naively) ``fixed_horizon`` inference."""
    rng = np.random.default_rng(seed)
    per_day = N_PER_ARM // DAYS
    planned = 2 * per_day * DAYS
    modes = ("auto", "sequential", "fixed_horizon")
    ever = {mode: np.zeros(replications, bool) for mode in modes}
    last_day = np.zeros(replications, bool)
    cumulative: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
    for day in range(DAYS):
        for arm in ("control", "treatment"):
            batch = (per_day, *draw_moments(rng, per_day, population_mean({}), replications))
            cumulative[arm] = _combine(cumulative[arm], batch) if arm in cumulative else batch
        final = day == DAYS - 1
        for r in range(replications):
            pending = [m for m in modes if not ever[m][r] or (final and m == "auto")]
            if not pending:
                continue
            arms = {arm: (int(n), mean[r], cov[r]) for arm, (n, mean, cov) in cumulative.items()}
            results = metric_results(arms)
            for mode in pending:
                decision = decide_one(arms, results=results, planned_units=planned, inference=mode)
                shipped = decision.decision == "ship"
                ever[mode][r] |= shipped
                if final and mode == "auto":
                    last_day[r] = shipped
    return PeekingResult(
        replications=replications,
        auto=float(ever["auto"].mean()),
        sequential=float(ever["sequential"].mean()),
        naive_fixed=float(ever["fixed_horizon"].mean()),
        auto_last_day=float(last_day.mean()),
    )


def main(replications: int = 4_000) -> None:
    started = time.perf_counter()
    print(
        f"{K} metrics (2 primary, 3 secondary, 2 guardrails), correlation {BETWEEN} between "
        f"metrics, {PRE_POST} with the pre-period; {N_PER_ARM:,} units per arm; alpha {ALPHA}"
    )
    aa = simulate_fixed(replications, {}, seed=1)
    lower, upper = binomial_band(replications, ALPHA)
    print(f"\n(a) A/A at the planned sample, {replications:,} experiments")
    for decision in ("ship", "roll_back", "inconclusive"):
        print(f"  {decision:<14} {aa.share(decision):.4f}  ({aa.counts.get(decision, 0)})")
    print(f"  ship without Holm on the primaries: {aa.uncorrected_ship / replications:.4f}")
    print(f"  99.9% binomial band for a rate of exactly alpha: {lower}-{upper} experiments")

    power = simulate_fixed(replications, {"p1": LIFT}, seed=2)
    low, high = power_bounds(LIFT)
    print(f"\n(b) +{LIFT:.0%} on primary p1, all else flat, {replications:,} experiments")
    for decision in ("ship", "roll_back", "inconclusive"):
        print(f"  {decision:<14} {power.share(decision):.4f}")
    print(f"  normal-theory bounds on P(ship): [{low:.4f}, {high:.4f}]")

    peeking_reps = max(replications // 5, 1)
    peeking = simulate_peeking(peeking_reps, seed=3)
    print(
        f"\n(c) A/A looked at daily for {DAYS} days ({N_PER_ARM // DAYS} units per arm and day), "
        f"{peeking_reps:,} experiments: share ever recommended ship"
    )
    print(f"  auto (sequential, fixed-horizon on the last day) {peeking.auto:.4f}")
    print(f"  auto, ship recommended on the last day           {peeking.auto_last_day:.4f}")
    print(f"  sequential every day                             {peeking.sequential:.4f}")
    print(f"  fixed-horizon every day (peeking)                {peeking.naive_fixed:.4f}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4_000)
