"""Peeking at an A/A test every day: fixed-horizon CI versus the always-valid confidence sequence.

Run ``python scripts/sequential_simulation.py [replications]`` (default 20,000) from anywhere; it
prints the figures quoted in the README. ``tests/test_core_sequential.py`` runs the same
simulation (:func:`simulate_peeking`) with fewer replications and asserts on it.

Design (the constants below hold every number): an A/A test runs for 28 days; every day 200 new
units arrive and are randomised 50/50 (Bernoulli, so the arms are not exactly balanced). Each unit
has a pre-period covariate ``x`` and an outcome ``y``, both lognormal with log-scale sd 1
(skewness 6.2, "revenue-like"), their logs correlated 0.8 (Pearson correlation of ``x`` and ``y``
0.71: CUPED removes about half of the variance). The arms have the same distribution, so every
"significant" result is a false positive. At the end of every day the CUPED estimate and its SE
are computed from all units so far, exactly as :func:`cuped_stats.analyze_metric` computes them
(``theta: within``, one covariate): pooled within-arm θ, adjusted means
``ȳ_g − θ(x̄_g − x̄)``, per-unit residual variance ``v_g = s²_y − 2θ s_xy + θ² s²_x``, and θ's
estimation accounted for (:mod:`cuped_stats.small_sample` with one covariate: ``W_g = (n_g − 1)
s²_x,g``, ``W = W_c + W_t``, residual df ``ν_g = n_g − 1 − W_g/W``, ``σ̂²_g = (n_g − 1) v_g/ν_g``,
``Var = Σ_g σ̂²_g (1/n_g + d² W_g/W²)`` with ``d = x̄_t − x̄_c``, Satterthwaite df over ``ν_g``). A
look is significant when 0 is outside the interval:

- fixed-horizon: the Welch t CI at level 1 − alpha (what ``cuped_results`` reports);
- sequential: :func:`cuped_stats.sequential.confidence_sequence`, tuned for the planned final
  sample ``28 × 200 = 5,600`` units.

The figure of interest is the share of replications that are *ever* significant over the 28
looks: at most alpha for a valid sequential procedure.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import scipy.special

from cuped_stats.sequential import mixture_rho, sequential_multiplier

DAYS = 28
UNITS_PER_DAY = 200
LOG_SD = 1.0
LOG_CORRELATION = 0.8
ALPHA = 0.05
PLANNED_N = DAYS * UNITS_PER_DAY
#: Replications simulated at once (memory: about 30 float64 arrays of CHUNK x DAYS x UNITS_PER_DAY).
CHUNK = 250


@dataclass(frozen=True)
class LookStatistics:
    """Per replication (rows) and look (columns): CUPED and unadjusted estimates, SEs, Welch df."""

    n_total: np.ndarray
    cuped_effect: np.ndarray
    cuped_se: np.ndarray
    cuped_df: np.ndarray
    unadjusted_effect: np.ndarray
    unadjusted_se: np.ndarray
    unadjusted_df: np.ndarray


@dataclass(frozen=True)
class PeekingResult:
    """Ever-significant rates over all looks, and per-look width ratio CS / fixed CI (CUPED)."""

    replications: int
    fixed_ever_significant: float
    sequential_ever_significant: float
    fixed_ever_significant_unadjusted: float
    sequential_ever_significant_unadjusted: float
    fixed_significant_at_last_look: float
    sequential_significant_at_last_look: float
    cs_contains_ci_everywhere: bool
    width_ratio_by_day: tuple[float, ...]
    mean_variance_reduction: float


def _welch(
    n_c: np.ndarray, n_t: np.ndarray, v_c: np.ndarray, v_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """SE ``√(v_t/n_t + v_c/n_c)`` and Welch-Satterthwaite df from per-unit variances."""
    a_c, a_t = v_c / n_c, v_t / n_t
    se = np.sqrt(a_c + a_t)
    df = (a_c + a_t) ** 2 / (a_c**2 / (n_c - 1) + a_t**2 / (n_t - 1))
    return se, df


def _estimated_theta(
    arms: dict[str, dict[str, np.ndarray]], residual_var: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """SE and df of the CUPED effect with one covariate and θ estimated (module docstring)."""
    scatter = {g: (a["n"] - 1) * a["sxx"] for g, a in arms.items()}
    total = scatter["c"] + scatter["t"]
    d = arms["t"]["mx"] - arms["c"]["mx"]
    terms, nus = [], []
    for g, a in arms.items():
        nu = a["n"] - 1 - scatter[g] / total
        sigma2 = (a["n"] - 1) * residual_var[g] / nu
        terms.append(sigma2 * (1 / a["n"] + d * d * scatter[g] / total**2))
        nus.append(nu)
    variance = terms[0] + terms[1]
    return np.sqrt(variance), variance**2 / (terms[0] ** 2 / nus[0] + terms[1] ** 2 / nus[1])


def draw_units(
    rng: np.random.Generator, replications: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covariate ``x``, outcome ``y`` and treatment flag of every unit, each of shape
    ``(replications, DAYS, UNITS_PER_DAY)`` (unit ``[r, d, i]`` arrives on day ``d``)."""
    size = (replications, DAYS, UNITS_PER_DAY)
    z1 = rng.standard_normal(size)
    z2 = rng.standard_normal(size)
    x = np.exp(LOG_SD * z1)
    y = np.exp(LOG_SD * (LOG_CORRELATION * z1 + np.sqrt(1 - LOG_CORRELATION**2) * z2))
    treated = rng.random(size) < 0.5
    return x, y, treated


def cumulative_looks(x: np.ndarray, y: np.ndarray, treated: np.ndarray) -> LookStatistics:
    """CUPED (``theta: within``) and unadjusted statistics from all units up to each day."""
    # Centre on the population mean: the raw-sum variances below are then free of cancellation.
    # (Shifting x or y by a constant changes no estimate, SE or df.)
    x = x - np.exp(LOG_SD**2 / 2)
    y = y - np.exp(LOG_SD**2 / 2)
    arms = {}
    for name, mask in (("c", ~treated), ("t", treated)):
        sums = {
            key: np.cumsum(np.where(mask, value, 0.0).sum(axis=2), axis=1)
            for key, value in (
                ("n", np.ones(x.shape)),
                ("x", x),
                ("y", y),
                ("xx", x * x),
                ("yy", y * y),
                ("xy", x * y),
            )
        }
        n = sums["n"]
        mx, my = sums["x"] / n, sums["y"] / n
        arms[name] = {
            "n": n,
            "mx": mx,
            "my": my,
            "sxx": (sums["xx"] - n * mx * mx) / (n - 1),
            "syy": (sums["yy"] - n * my * my) / (n - 1),
            "sxy": (sums["xy"] - n * mx * my) / (n - 1),
        }
    c, t = arms["c"], arms["t"]
    theta = ((c["n"] - 1) * c["sxy"] + (t["n"] - 1) * t["sxy"]) / (
        (c["n"] - 1) * c["sxx"] + (t["n"] - 1) * t["sxx"]
    )
    n_total = c["n"] + t["n"]
    x_bar = (c["n"] * c["mx"] + t["n"] * t["mx"]) / n_total
    adjusted = {g: a["my"] - theta * (a["mx"] - x_bar) for g, a in arms.items()}
    residual_var = {
        g: a["syy"] - 2 * theta * a["sxy"] + theta**2 * a["sxx"] for g, a in arms.items()
    }
    cuped_se, cuped_df = _estimated_theta(arms, residual_var)
    raw_se, raw_df = _welch(c["n"], t["n"], c["syy"], t["syy"])
    return LookStatistics(
        n_total=n_total,
        cuped_effect=adjusted["t"] - adjusted["c"],
        cuped_se=cuped_se,
        cuped_df=cuped_df,
        unadjusted_effect=t["my"] - c["my"],
        unadjusted_se=raw_se,
        unadjusted_df=raw_df,
    )


def simulate_looks(replications: int, seed: int) -> LookStatistics:
    """Daily cumulative statistics of ``replications`` A/A tests, in chunks of :data:`CHUNK`."""
    rng = np.random.default_rng(seed)
    chunks = [
        cumulative_looks(*draw_units(rng, min(CHUNK, replications - start)))
        for start in range(0, replications, CHUNK)
    ]
    return LookStatistics(
        **{
            field: np.concatenate([getattr(chunk, field) for chunk in chunks])
            for field in LookStatistics.__dataclass_fields__
        }
    )


def simulate_peeking(replications: int, seed: int = 20240601) -> PeekingResult:
    """Simulate ``replications`` A/A tests and summarise daily peeking (module docstring)."""
    looks = simulate_looks(replications, seed)
    rho = mixture_rho(PLANNED_N, ALPHA)
    multiplier = sequential_multiplier(looks.n_total, rho, ALPHA)

    def significant(
        effect: np.ndarray, se: np.ndarray, df: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t_quantile = scipy.special.stdtrit(df, 1 - ALPHA / 2)
        z = np.abs(effect) / se
        return z > t_quantile, z > multiplier, t_quantile

    fixed, seq, t_quantile = significant(looks.cuped_effect, looks.cuped_se, looks.cuped_df)
    fixed_raw, seq_raw, _ = significant(
        looks.unadjusted_effect, looks.unadjusted_se, looks.unadjusted_df
    )
    ratio = multiplier / t_quantile
    return PeekingResult(
        replications=replications,
        fixed_ever_significant=float(fixed.any(axis=1).mean()),
        sequential_ever_significant=float(seq.any(axis=1).mean()),
        fixed_ever_significant_unadjusted=float(fixed_raw.any(axis=1).mean()),
        sequential_ever_significant_unadjusted=float(seq_raw.any(axis=1).mean()),
        fixed_significant_at_last_look=float(fixed[:, -1].mean()),
        sequential_significant_at_last_look=float(seq[:, -1].mean()),
        cs_contains_ci_everywhere=bool((ratio > 1.0).all()),
        width_ratio_by_day=tuple(float(v) for v in np.median(ratio, axis=0)),
        mean_variance_reduction=float(
            np.mean(1.0 - looks.cuped_se[:, -1] ** 2 / looks.unadjusted_se[:, -1] ** 2)
        ),
    )


def main(replications: int = 20_000) -> None:
    started = time.perf_counter()
    result = simulate_peeking(replications)
    elapsed = time.perf_counter() - started
    se = np.sqrt(ALPHA * (1 - ALPHA) / replications)
    print(
        f"A/A test, {DAYS} daily looks, {UNITS_PER_DAY} units/day, lognormal outcome, "
        f"alpha = {ALPHA}, {replications:,} replications ({elapsed:.1f} s)"
    )
    print(f"CUPED variance reduction (last look, mean): {result.mean_variance_reduction:.3f}")
    print(f"binomial SE of a rate near alpha: {se:.4f}")
    print()
    print("P(ever significant over 28 looks)      CUPED    unadjusted")
    print(
        f"  fixed-horizon Welch CI               {result.fixed_ever_significant:.4f}   "
        f"{result.fixed_ever_significant_unadjusted:.4f}"
    )
    print(
        f"  confidence sequence (n* = {PLANNED_N})     {result.sequential_ever_significant:.4f}   "
        f"{result.sequential_ever_significant_unadjusted:.4f}"
    )
    print()
    print("P(significant at the last look only)   CUPED")
    print(f"  fixed-horizon Welch CI               {result.fixed_significant_at_last_look:.4f}")
    print(
        f"  confidence sequence                  {result.sequential_significant_at_last_look:.4f}"
    )
    print()
    print("CS half-width / fixed CI half-width (median over replications)")
    for day in (1, 2, 7, 14, 21, 28):
        ratio = result.width_ratio_by_day[day - 1]
        print(f"  day {day:2d} (n = {day * UNITS_PER_DAY:5d}): {ratio:.3f}")
    print(f"CS contains the fixed CI at every look: {result.cs_contains_ci_everywhere}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
