"""Coverage of cuped_stats' 95% intervals for quantile metrics, by simulation.

Run ``python scripts/quantile_coverage_simulation.py [--reps 10000] [--seed 2026]`` from the
repository root (or anywhere, with ``cuped_stats`` installed); it prints one table row per level,
distribution, units per arm and quantile: the share of replications whose interval covers the true
difference of the quantile (``abs``) and the true relative difference (``rel``: delta CI;
``rel log``: log CI); at the event level also the coverage of the absolute interval when events are
wrongly treated as independent (``iid abs``: the unit-level σ_F over events), to show what the
cluster correction is for. ``values beyond q`` is the control arm's effective number of values
beyond the quantile, ``min(q, 1 − q)·q(1 − q)/σ_F²`` averaged over replications (unit level:
``N·min(q, 1 − q)``; event level: the events, discounted for their clustering). No asserts:
``tests/test_quantile_coverage.py`` runs the same simulation with fewer replications and checks
the band.

Every replication is an experiment with a control and a treatment arm of ``n`` units each; the
treatment multiplies every value by ``1 + LIFT``, so the true quantiles are ``ξ_q`` and
``(1 + LIFT)·ξ_q``, the true difference ``LIFT·ξ_q`` and the true relative difference ``LIFT``.

* ``unit`` level: each unit has one value drawn from the distribution.
* ``event`` level: unit ``i`` has a trait ``u_i ~ N(0, 1)``, ``M_i ~ Poisson(λ·e^{γu_i − γ²/2})``
  events (heavier users have more; some have none) and event values
  ``e^{σ_u·u_i}·x_ij`` with ``x_ij`` drawn from the distribution: events of a unit are correlated
  through ``u_i``. The event-level quantile is that of the event-weighted distribution,
  ``F(v) = E[M·F_x(v·e^{−σ_u u})]/E[M] = E_{u ~ N(γ, 1)}[F_x(v·e^{−σ_u u})]`` (weighting by
  ``e^{γu}`` shifts the normal), computed by Gauss-Hermite quadrature and root finding.

Distributions: ``lognormal`` (``e^Z``), ``pareto`` (α = 2: infinite variance) and ``abs_t3``
(``|T|`` with 3 degrees of freedom). The per-arm inputs are computed with numpy exactly as the SQL
macro ``cuped__quantile_inputs`` computes them (``tests/test_quantile_coverage.py`` checks that they
equal the plain reference), then :func:`cuped_stats.analyze_quantile` gives the intervals.

How it is made fast: a chunk of replications is generated at once; an arm's values (events of
all the chunk's replications) are sorted once by (replication, value) and every quantile and band
is read from that order; the smaller sizes are prefixes of the units of the largest one (nested
samples, each size's coverage still an average over independent replications).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats

from cuped_stats import QuantileArm, analyze_quantile
from cuped_stats.quantile import BAND_Z

LEVEL = 0.95
LIFT = 0.05
QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99)
#: Units per arm of each level (event-level samples cost five times more: five events per unit).
SIZES: dict[str, tuple[int, ...]] = {"unit": (1_000, 4_000, 16_000), "event": (1_000, 4_000)}
LEVELS: tuple[str, ...] = ("unit", "event")
#: Event level: mean events per unit, the trait's effect on the event rate and on the values.
EVENTS_PER_UNIT, RATE_TILT, VALUE_SIGMA = 5.0, 0.5, 0.5
#: Values generated per chunk of replications (memory ~ 100 bytes each).
CHUNK_VALUES = 2_000_000
_CLUSTER_FIELDS = (
    "sum_below",
    "sum_at",
    "sum_events_squared",
    "sum_below_squared",
    "sum_at_squared",
    "sum_below_events",
    "sum_at_events",
    "sum_below_at",
)


@dataclass(frozen=True)
class Distribution:
    """A positive distribution: sampler, CDF and quantile function."""

    name: str
    sample: Callable[[np.random.Generator, int], np.ndarray]
    cdf: Callable[[np.ndarray], np.ndarray]
    ppf: Callable[[float], float]


PARETO_ALPHA = 2.0
DISTRIBUTIONS: tuple[Distribution, ...] = (
    Distribution(
        "lognormal",
        lambda rng, size: np.exp(rng.standard_normal(size)),
        lambda v: scipy.special.ndtr(np.log(v)),
        lambda p: float(np.exp(scipy.special.ndtri(p))),
    ),
    Distribution(
        "pareto",
        lambda rng, size: (1.0 - rng.random(size)) ** (-1.0 / PARETO_ALPHA),
        lambda v: np.where(v > 1.0, 1.0 - np.maximum(v, 1.0) ** -PARETO_ALPHA, 0.0),
        lambda p: float((1.0 - p) ** (-1.0 / PARETO_ALPHA)),
    ),
    Distribution(
        "abs_t3",
        lambda rng, size: np.abs(rng.standard_t(3, size)),
        lambda v: 2.0 * scipy.stats.t.cdf(v, 3) - 1.0,
        lambda p: float(scipy.stats.t.ppf((1.0 + p) / 2.0, 3)),
    ),
)


def true_quantile(distribution: Distribution, level: str, q: float) -> float:
    """``ξ_q`` of the control arm: of the distribution (unit level), or of the event-weighted
    mixture ``E_{u ~ N(γ, 1)}[F_x(v·e^{−σ_u u})]`` (event level, 120-node Gauss-Hermite)."""
    if level == "unit":
        return distribution.ppf(q)
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    weights = weights / weights.sum()
    scales = np.exp(VALUE_SIGMA * (RATE_TILT + nodes))

    def cdf(v: float) -> float:
        return float(weights @ distribution.cdf(v / scales)) - q

    lo, hi = 1e-12, 1.0
    while cdf(hi) < 0:
        hi *= 2.0
    return float(scipy.optimize.brentq(cdf, lo, hi, xtol=1e-14, rtol=1e-14))


def _interpolate(sorted_values: np.ndarray, offsets: np.ndarray, counts: np.ndarray, p: np.ndarray):
    """``Q̂(p)`` per replication: ``sorted_values[offsets[r]:offsets[r] + counts[r]]`` is
    replication ``r``'s sorted sample; position ``h = 1 + p·(N − 1)``, linear interpolation;
    ``nan`` where ``p`` is outside [0, 1]."""
    inside = (p >= 0) & (p <= 1)
    position = np.where(inside, p, 0.0) * (counts - 1)
    k = np.floor(position).astype(np.int64)
    frac = position - k
    at = sorted_values[offsets + k]
    nxt = sorted_values[offsets + np.minimum(k + 1, counts - 1)]
    return np.where(inside, at + frac * (nxt - at), np.nan)


def unit_inputs(values: np.ndarray, q: float, band_z: float = BAND_Z) -> dict[str, np.ndarray]:
    """Per replication (rows of ``values``, one value per unit) the level-``unit`` inputs."""
    reps, n = values.shape
    flat = np.sort(values, axis=1).ravel()
    offsets = np.arange(reps) * n
    counts = np.full(reps, n)
    sigma = np.full(reps, np.sqrt(q * (1 - q) / n))
    return _band_inputs(flat, offsets, counts, q, sigma, band_z) | {"n_units": counts}


def _band_inputs(flat, offsets, counts, q, sigma, band_z) -> dict[str, np.ndarray]:
    lower, upper = q - band_z * sigma, q + band_z * sigma
    return {
        "sigma_cdf": sigma,
        "n_values": counts,
        "quantile_value": _interpolate(flat, offsets, counts, np.full(len(counts), q)),
        "band_lower": lower,
        "band_upper": upper,
        "value_lower": _interpolate(flat, offsets, counts, lower),
        "value_upper": _interpolate(flat, offsets, counts, upper),
    }


@dataclass(frozen=True)
class EventSample:
    """Events of a chunk of replications, sorted by (replication, value), with their unit."""

    values: np.ndarray
    rep: np.ndarray
    unit: np.ndarray  # unit index within its replication
    reps: int
    n_units: int

    def prefix(self, n_units: int) -> EventSample:
        """The events of the first ``n_units`` units of every replication (still sorted)."""
        keep = self.unit < n_units
        return EventSample(self.values[keep], self.rep[keep], self.unit[keep], self.reps, n_units)


def event_sample(
    rng: np.random.Generator, distribution: Distribution, reps: int, n_units: int, scale: float
) -> EventSample:
    trait = rng.standard_normal((reps, n_units))
    rate = EVENTS_PER_UNIT * np.exp(RATE_TILT * trait - RATE_TILT**2 / 2)
    counts = rng.poisson(rate).ravel()
    unit_global = np.repeat(np.arange(reps * n_units), counts)
    values = (
        np.exp(VALUE_SIGMA * trait.ravel()[unit_global])
        * distribution.sample(rng, len(unit_global))
        * scale
    )
    # events come grouped by replication (unit_global increases): sort each replication's block
    bounds = np.concatenate([[0], np.cumsum(counts.reshape(reps, n_units).sum(axis=1))])
    order = np.concatenate(
        [start + np.argsort(values[start:stop]) for start, stop in itertools.pairwise(bounds)]
    )
    unit_global = unit_global[order]
    return EventSample(values[order], unit_global // n_units, unit_global % n_units, reps, n_units)


def event_inputs(
    sample: EventSample, q: float, band_z: float = BAND_Z, clustered: bool = True
) -> dict[str, np.ndarray]:
    """Per replication the level-``event`` inputs (``clustered=False``: σ_F as if the events
    were independent units, for the ``iid abs`` column)."""
    reps, n = sample.reps, sample.n_units
    counts = np.bincount(sample.rep, minlength=reps)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    q_hat = _interpolate(sample.values, offsets, counts, np.full(reps, q))
    unit_global = sample.rep * n + sample.unit
    size = reps * n
    events = np.bincount(unit_global, minlength=size).reshape(reps, n)
    below = np.bincount(
        unit_global, weights=sample.values < q_hat[sample.rep], minlength=size
    ).reshape(reps, n)
    at = np.bincount(
        unit_global, weights=sample.values == q_hat[sample.rep], minlength=size
    ).reshape(reps, n)
    sums = {
        "sum_below": below.sum(axis=1),
        "sum_at": at.sum(axis=1),
        "sum_events_squared": (events * events).sum(axis=1),
        "sum_below_squared": (below * below).sum(axis=1),
        "sum_at_squared": (at * at).sum(axis=1),
        "sum_below_events": (below * events).sum(axis=1),
        "sum_at_events": (at * events).sum(axis=1),
        "sum_below_at": (below * at).sum(axis=1),
    }
    total_at = sums["sum_at"]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(
            total_at > 0, np.clip((q * counts - sums["sum_below"]) / total_at, 0, 1), 0.0
        )
    s = below + share[:, None] * at
    p = s.sum(axis=1) / counts
    squares = np.sum((s - p[:, None] * events) ** 2, axis=1) + share * (1 - share) * total_at
    independent = np.sqrt(q * (1 - q) / counts)
    sigma = np.sqrt(n / (n - 1) * squares) / counts if clustered else independent
    return (
        _band_inputs(sample.values, offsets, counts, q, sigma, band_z)
        | sums
        | {"n_units": np.full(reps, n)}
    )


def _arm(variant: str, inputs: dict[str, np.ndarray], r: int) -> QuantileArm:
    def number(name: str) -> float | None:
        value = float(inputs[name][r])
        return None if np.isnan(value) else value

    cluster = {name: float(inputs[name][r]) for name in _CLUSTER_FIELDS if name in inputs}
    return QuantileArm(
        variant=variant,
        n_units=int(inputs["n_units"][r]),
        n_values=int(inputs["n_values"][r]),
        quantile_value=number("quantile_value"),
        band_lower=number("band_lower"),
        band_upper=number("band_upper"),
        value_lower=number("value_lower"),
        value_upper=number("value_upper"),
        **cluster,
    )


COLUMNS: tuple[str, ...] = ("abs", "rel", "rel_log", "iid_abs")


@dataclass(frozen=True)
class Coverage:
    """Coverage of one cell per column of :data:`COLUMNS` (``nan``: not applicable)."""

    level: str
    distribution: str
    n_per_arm: int
    quantile: float
    reps: int
    coverage: dict[str, float]
    not_ok: int
    #: Mean over replications of the control arm's effective number of values beyond the
    #: quantile, ``min(q, 1 − q)·q(1 − q)/σ_F²`` (at the unit level ``N·min(q, 1 − q)``).
    tail_values: float


def _covers(lower: float | None, upper: float | None, truth: float) -> bool:
    return lower is not None and upper is not None and lower <= truth <= upper


def simulate(
    distribution: Distribution,
    level: str,
    reps: int,
    *,
    seed: int,
    sizes: tuple[int, ...] | None = None,
    quantiles: tuple[float, ...] = QUANTILES,
    band_z: float = BAND_Z,
) -> list[Coverage]:
    """Coverage of every (size, quantile) cell of one distribution and level (``sizes``: units
    per arm, default :data:`SIZES` of the level)."""
    sizes = SIZES[level] if sizes is None else sizes
    rng = np.random.default_rng(
        [seed, DISTRIBUTIONS.index(distribution), LEVELS.index(level), *sizes]
    )
    truths = {q: true_quantile(distribution, level, q) for q in quantiles}
    cells = [(n, q) for n in sizes for q in quantiles]
    hits = {cell: dict.fromkeys(COLUMNS, 0) for cell in cells}
    not_ok = dict.fromkeys(cells, 0)
    tails = dict.fromkeys(cells, 0.0)
    largest = max(sizes)
    values_per_rep = largest * (EVENTS_PER_UNIT if level == "event" else 1) * 2
    chunk = max(1, int(CHUNK_VALUES // values_per_rep))
    done = 0
    while done < reps:
        r_chunk = min(chunk, reps - done)
        inputs: dict[tuple[int, float, str, bool], dict[str, np.ndarray]] = {}
        if level == "unit":
            arms = [distribution.sample(rng, (r_chunk, largest)) * (1 + LIFT * g) for g in (0, 1)]
            for n in sizes:
                for g, data in enumerate(arms):
                    for q in quantiles:
                        inputs[(n, q, "ct"[g], True)] = unit_inputs(data[:, :n], q, band_z)
        else:
            arms_events = [
                event_sample(rng, distribution, r_chunk, largest, 1 + LIFT * g) for g in (0, 1)
            ]
            for n in sizes:
                for g, sample in enumerate(arms_events):
                    prefix = sample.prefix(n) if n < largest else sample
                    for q in quantiles:
                        for clustered in (True, False):
                            inputs[(n, q, "ct"[g], clustered)] = event_inputs(
                                prefix, q, band_z, clustered
                            )
        for n, q in cells:
            truth_abs = LIFT * truths[q]
            sigma = inputs[(n, q, "c", True)]["sigma_cdf"]
            tails[(n, q)] += float(np.sum(min(q, 1 - q) * q * (1 - q) / sigma**2))
            for r in range(r_chunk):
                for clustered in (True, False) if level == "event" else (True,):
                    arms_r = [
                        _arm(name, inputs[(n, q, key, clustered)], r)
                        for name, key in (("control", "c"), ("treatment", "t"))
                    ]
                    methods = ("delta", "log") if clustered else ("delta",)
                    for method in methods:
                        (result,) = analyze_quantile(
                            arms_r,
                            "control",
                            quantile=q,
                            # events as independent units: the binomial σ_F over the events
                            level=level if clustered else "unit",
                            alpha=1 - LEVEL,
                            relative_ci_method=method,
                        )
                        est = result.estimate
                        covers_abs = _covers(est.ci_lower, est.ci_upper, truth_abs)
                        if not clustered:
                            hits[(n, q)]["iid_abs"] += covers_abs
                            continue
                        if method == "delta":
                            not_ok[(n, q)] += result.status != "ok"
                            hits[(n, q)]["abs"] += covers_abs
                        column = "rel" if method == "delta" else "rel_log"
                        hits[(n, q)][column] += _covers(
                            est.relative_ci_lower, est.relative_ci_upper, LIFT
                        )
        done += r_chunk
    return [
        Coverage(
            level=level,
            distribution=distribution.name,
            n_per_arm=n,
            quantile=q,
            reps=reps,
            coverage={
                column: (
                    hits[(n, q)][column] / reps
                    if column != "iid_abs" or level == "event"
                    else float("nan")
                )
                for column in COLUMNS
            },
            not_ok=not_ok[(n, q)],
            tail_values=tails[(n, q)] / reps,
        )
        for n, q in cells
    ]


_LABELS = {"abs": "abs", "rel": "rel", "rel_log": "rel (log)", "iid_abs": "iid abs"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10_000, help="replications per cell")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="units per arm (default: per level)"
    )
    parser.add_argument(
        "--band-z", type=float, default=BAND_Z, help="half-width of the band in units of σ_F"
    )
    args = parser.parse_args()

    mc_se = np.sqrt(LEVEL * (1 - LEVEL) / args.reps)
    print(
        f"Coverage of nominal {LEVEL:.0%} intervals for quantile differences, {args.reps:,} "
        f"replications per cell (Monte Carlo SE at {LEVEL:.0%}: {mc_se:.2%}); band z = "
        f"{args.band_z:.4g}; treatment = control × {1 + LIFT:g}; event level: "
        f"{EVENTS_PER_UNIT:g} events per unit on average.\n"
    )
    header = [
        "level",
        "distribution",
        "n/arm",
        "q",
        "values beyond q",
        *(_LABELS[c] for c in COLUMNS),
        "not ok",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    start = time.perf_counter()
    for level in LEVELS:
        for distribution in DISTRIBUTIONS:
            rows = simulate(
                distribution,
                level,
                args.reps,
                seed=args.seed,
                sizes=None if args.sizes is None else tuple(args.sizes),
                band_z=args.band_z,
            )
            for row in rows:
                cells = [
                    "" if np.isnan(row.coverage[c]) else f"{row.coverage[c]:.1%}" for c in COLUMNS
                ]
                print(
                    f"| {row.level} | {row.distribution} | {row.n_per_arm:,} | {row.quantile:g} | "
                    f"{row.tail_values:,.0f} | " + " | ".join(cells) + f" | {row.not_ok} |",
                    flush=True,
                )
    print(f"\nruntime {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
