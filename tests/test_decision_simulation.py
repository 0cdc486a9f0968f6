"""Error rate and power of the decision rule, by simulation (``scripts/decision_simulation.py``).

Seven correlated metrics (2 primaries, 3 secondaries, 2 guardrails with margins) go through
``analyze_metric`` and ``decide`` for every simulated experiment. Fewer replications than the
script; the tolerances are 99.9% binomial bands.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import scipy.stats

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "decision_simulation.py"
_SPEC = importlib.util.spec_from_file_location("decision_simulation", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
simulation = importlib.util.module_from_spec(_SPEC)
sys.modules["decision_simulation"] = simulation
_SPEC.loader.exec_module(simulation)

ALPHA = simulation.ALPHA


@pytest.mark.slow
def test_aa_experiments_are_shipped_and_rolled_back_at_most_alpha_of_the_time() -> None:
    replications = 1500
    result = simulation.simulate_fixed(replications, {}, seed=12)
    _, upper = simulation.binomial_band(replications, ALPHA)
    for decision in ("ship", "roll_back"):
        count = result.counts.get(decision, 0)
        assert count <= upper, (
            f"A/A {decision} rate {count / replications:.4f} ({count}/{replications}) "
            f"above the band of alpha (upper {upper})"
        )
    # The check can fail: the same rule without Holm on the primaries ships too often.
    assert result.uncorrected_ship > upper, (
        f"uncorrected rule shipped {result.uncorrected_ship}/{replications}: the simulation "
        "does not separate a broken rule from a valid one"
    )


def test_power_under_a_planted_effect_lies_within_normal_theory_bounds() -> None:
    replications = 400
    result = simulation.simulate_fixed(replications, {"p1": simulation.LIFT}, seed=13)
    low, high = simulation.power_bounds(simulation.LIFT)
    assert 0.75 < low < high < 0.95  # the scenario is informative: neither trivial nor hopeless
    ships = result.counts.get("ship", 0)
    lower = int(scipy.stats.binom.ppf(0.0005, replications, low))
    upper = int(scipy.stats.binom.isf(0.0005, replications, high))
    assert lower <= ships <= upper, (
        f"power {ships / replications:.3f} outside [{low:.3f}, {high:.3f}] "
        f"(counts {lower}-{upper} of {replications})"
    )
    assert result.counts.get("roll_back", 0) <= simulation.binomial_band(replications, ALPHA)[1]
