"""The decision rule on constructed cases: every branch, the families, the inputs' validation.

Each case builds CUPED estimates with a chosen standardized effect ``z = effect/SE``, so the
one-sided p-values are known (``P(T_df > z)``); Holm-adjusted values are checked against
statsmodels ``multipletests``. The end-to-end case feeds real ``results_table`` and
``health_table`` rows through :meth:`MetricResult.from_row` and
:meth:`ExperimentContext.from_health_rows`.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests

from cuped_stats import Estimate, health_table, results_table
from cuped_stats.decisions import (
    DECISION_COLUMNS,
    ExperimentContext,
    MetricResult,
    decide,
    decision_row,
    role_family_p_values,
)
from cuped_stats.one_sided import Margin
from cuped_stats.sequential import mixture_rho, sequential_multiplier
from tests.helpers import moment_rows

ALPHA = 0.05
DF = 7998.0


def estimate(z: float, se: float = 0.1, control: float = 10.0, df: float = DF) -> Estimate:
    """A CUPED estimate with effect ``z·se``; the relative CI uses ``se/control`` (the control
    mean treated as known: enough for constructed cases)."""
    effect = z * se
    rel, se_rel = effect / control, se / control
    q = scipy.stats.t.ppf(1 - ALPHA / 2, df)
    return Estimate(
        control_mean=control,
        variant_mean=control + effect,
        effect=effect,
        se=se,
        ci_lower=effect - q * se,
        ci_upper=effect + q * se,
        degrees_of_freedom=df,
        p_value=2 * scipy.stats.t.sf(abs(z), df),
        relative_effect=rel,
        relative_ci_lower=rel - q * se_rel,
        relative_ci_upper=rel + q * se_rel,
    )


def metric(
    name: str,
    role: str = "primary",
    z: float = 0.0,
    *,
    variant: str = "b",
    higher_is_better: bool = True,
    margin: Margin | None = None,
    est: Estimate | None = None,
    status: str = "ok",
    n: tuple[int, int] = (4000, 4000),
    alpha: float = ALPHA,
    experiment: str = "exp",
) -> MetricResult:
    if role == "guardrail" and margin is None:
        margin = Margin(0.05)
    return MetricResult(
        experiment_id=experiment,
        metric_name=name,
        variant=variant,
        control_variant="control",
        metric_role=role,
        higher_is_better=higher_is_better,
        alpha=alpha,
        n_control=n[0],
        n_variant=n[1],
        estimate=estimate(z) if est is None else est,
        status=status,
        margin=margin,
    )


def context(
    units: dict[str, int] | None = None,
    *,
    planned: int = 5000,
    srm: bool = False,
    experiment: str = "exp",
) -> ExperimentContext:
    units = {"control": 4000, "b": 4000} if units is None else units
    return ExperimentContext(
        experiment_id=experiment,
        control_variant="control",
        variant_units=tuple(units.items()),
        srm_flag=srm,
        srm_p_value=1e-6 if srm else 0.4,
        planned_units=planned,
    )


def one(results, ctx=None, **kwargs):
    (decision,) = decide(results, [ctx or context()], **kwargs)
    return decision


def one_sided_p(z: float) -> float:
    return float(scipy.stats.t.sf(z, DF))


# ------------------------------------------------------------------------------------------
# Every branch of the rule.


def test_ship_when_a_primary_improves_and_every_guardrail_is_non_inferior() -> None:
    decision = one(
        [
            metric("p1", z=3.5),
            metric("p2", z=0.2),
            metric("g1", "guardrail", z=0.0, est=estimate(0.0, se=0.05)),
            metric("s1", "secondary", z=-3.0),
        ]
    )
    assert decision.decision == "ship"
    assert decision.inference == "fixed_horizon"
    assert (decision.n_primary, decision.primaries_improved, decision.primaries_worsened) == (
        2,
        1,
        0,
    )
    assert (decision.n_guardrails, decision.guardrails_non_inferior) == (1, 1)
    assert (decision.guardrails_breached, decision.guardrails_undetermined) == (0, 0)
    assert decision.n_secondary == 1
    expected = multipletests([one_sided_p(3.5), one_sided_p(0.2)], method="holm")[1]
    verdicts = {v.result.metric_name: v for v in decision.metrics}
    np.testing.assert_allclose(
        [verdicts["p1"].improvement_p_adjusted, verdicts["p2"].improvement_p_adjusted],
        expected,
        rtol=1e-9,
    )
    assert verdicts["s1"].verdict == "worsened"  # reported, but secondaries never decide
    assert decision.reasons.startswith("ship: p1 (primary) improved +3.50% (one-sided p = ")
    assert "g1 (guardrail) non-inferior: +0.00%, bound -0.82% vs margin -5.00%" in decision.reasons
    assert decision.reasons.endswith(
        "fixed-horizon tests at alpha 0.05, 8,000 of 5,000 planned units"
    )


def test_ship_without_guardrails_needs_only_an_improved_primary() -> None:
    decision = one([metric("p1", z=2.5)])
    assert decision.decision == "ship" and "no guardrails" in decision.reasons


def test_holm_within_the_primaries_can_deny_a_ship() -> None:
    # One-sided p = 0.036: enough alone, not against a second primary (Holm: 0.072).
    assert one([metric("p1", z=1.8)]).decision == "ship"
    decision = one([metric("p1", z=1.8), metric("p2", z=0.0)])
    assert decision.decision == "inconclusive"
    assert decision.primaries_improved == 0
    assert "no primary metric improved significantly (of 2)" in decision.reasons


def test_an_undetermined_primary_does_not_count_in_its_holm_family() -> None:
    missing = metric(
        "p2", est=Estimate(control_mean=10.0, variant_mean=10.2), status="zero_variance"
    )
    decision = one([metric("p1", z=1.8), missing])
    assert decision.decision == "ship"
    verdicts = {v.result.metric_name: v for v in decision.metrics}
    assert verdicts["p2"].verdict == "undetermined"
    np.testing.assert_allclose(verdicts["p1"].improvement_p_adjusted, one_sided_p(1.8), rtol=1e-9)


def test_roll_back_when_a_primary_is_worse_even_if_another_improved() -> None:
    decision = one([metric("p1", z=4.0), metric("p2", z=-4.0)])
    assert decision.decision == "roll_back"
    assert (decision.primaries_improved, decision.primaries_worsened) == (1, 1)
    assert decision.reasons.startswith("roll back: p2 (primary) is significantly worse -4.00%")


def test_roll_back_when_a_guardrail_is_worse_than_control_even_inside_its_margin() -> None:
    # -2% ± 0.5%: non-inferior to a 5% margin, but demonstrably worse than control.
    guardrail = metric("g1", "guardrail", est=estimate(-4.0, se=0.05))
    decision = one([metric("p1", z=4.0), guardrail])
    assert decision.decision == "roll_back"
    verdict = next(v for v in decision.metrics if v.result.metric_name == "g1")
    assert verdict.non_inferiority.significant  # the margin alone would have let it through
    assert verdict.verdict == "breached"
    assert (decision.guardrails_breached, decision.guardrails_non_inferior) == (1, 0)
    # The deterioration family is the primaries and the guardrails together.
    expected = multipletests([one_sided_p(-4.0), one_sided_p(4.0)], method="holm")[1]
    np.testing.assert_allclose(
        [v.deterioration_p_adjusted for v in decision.metrics], expected, rtol=1e-9
    )
    assert "g1 (guardrail) is significantly worse -2.00%" in decision.reasons
    assert "g1 (guardrail) within its margin but significantly worse than control: -2.00%" in (
        decision.reasons
    )
    assert "g1 (guardrail) non-inferior" not in decision.reasons


def test_an_unhealthy_decision_still_names_a_worse_guardrail() -> None:
    # a failed guardrails_hold check on an unhealthy experiment must say which metric breached
    guardrail = metric("g1", "guardrail", est=estimate(-4.0, se=0.05))
    decision = one([metric("p1", z=4.0), guardrail], context(srm=True))
    assert decision.decision == "unhealthy" and decision.guardrails_breached == 1
    assert decision.reasons.startswith("unhealthy: sample ratio mismatch (p = 1e-06)")
    assert "; g1 (guardrail) is significantly worse -2.00%" in decision.reasons


def test_a_guardrail_not_shown_non_inferior_blocks_the_ship() -> None:
    noisy = metric("g1", "guardrail", est=estimate(0.0, se=0.5), margin=Margin(0.02))
    rows = [metric("p1", z=4.0), noisy]
    at_plan = one(rows)
    assert at_plan.decision == "inconclusive"
    assert at_plan.guardrails_undetermined == 1
    assert "g1 (guardrail) not shown non-inferior: +0.00%, bound -8.23% vs margin -2.00%" in (
        at_plan.reasons
    )
    assert "p1 (primary) improved" in at_plan.reasons
    early = one(rows, context(planned=20_000))
    assert early.decision == "keep_running" and early.inference == "sequential"


def test_a_guardrail_without_statistics_blocks_the_ship() -> None:
    empty = metric("g1", "guardrail", est=Estimate(), status="insufficient_sample")
    decision = one([metric("p1", z=4.0), empty])
    assert decision.decision == "inconclusive"
    assert decision.guardrails_undetermined == 1
    assert "g1 (guardrail) cannot be tested" in decision.reasons


def test_an_absolute_margin_on_a_lower_is_better_guardrail() -> None:
    # Latency up by 0.015 ± 0.01 s (not significantly worse than control): non-inferior to a
    # 0.05 s margin, not to a 0.02 s one; up by 0.02 ± 0.01 s it is significantly worse.
    latency = estimate(1.5, se=0.01, control=1.0)
    kwargs = {"est": latency, "higher_is_better": False}
    ok = metric("g", "guardrail", margin=Margin(0.05, "absolute"), **kwargs)
    tight = metric("g", "guardrail", margin=Margin(0.02, "absolute"), **kwargs)
    assert one([metric("p1", z=4.0), ok]).decision == "ship"
    decision = one([metric("p1", z=4.0), tight])
    assert decision.decision == "inconclusive"
    bound = 0.015 + scipy.stats.t.ppf(1 - ALPHA, DF) * 0.01
    assert f"bound {bound:+.4g} vs margin +0.02 (one-sided p = " in decision.reasons
    kwargs["est"] = estimate(2.0, se=0.01, control=1.0)
    worse = metric("g", "guardrail", margin=Margin(0.05, "absolute"), **kwargs)
    assert one([metric("p1", z=4.0), worse]).decision == "roll_back"


def test_a_lower_is_better_primary_improves_when_it_goes_down() -> None:
    assert one([metric("p1", z=-4.0, higher_is_better=False)]).decision == "ship"
    assert one([metric("p1", z=4.0, higher_is_better=False)]).decision == "roll_back"


def test_secondaries_never_roll_back() -> None:
    decision = one([metric("p1", z=0.0), metric("s1", "secondary", z=-6.0)])
    assert decision.decision == "inconclusive"


def test_unhealthy_on_a_sample_ratio_mismatch_even_with_a_clear_win() -> None:
    decision = one([metric("p1", z=6.0)], context(srm=True))
    assert decision.decision == "unhealthy" and decision.srm_flag
    assert decision.reasons == (
        "unhealthy: sample ratio mismatch (p = 1e-06): the arms are not what was planned"
    )
    assert decision.primaries_improved == 1  # the counts are still there to read


def test_unhealthy_when_the_control_has_no_units() -> None:
    missing = Estimate(variant_mean=3.0)
    rows = [metric("p1", est=missing, status="missing_control", n=(0, 4000))]
    decision = one(rows, context({"control": 0, "b": 4000}))
    assert decision.decision == "unhealthy" and not decision.control_present
    assert "control variant 'control' has no analysed units" in decision.reasons


def test_unhealthy_for_a_variant_without_units_and_a_decision_for_the_others() -> None:
    decisions = decide([metric("p1", z=4.0)], [context({"control": 4000, "b": 4000, "c": 0})])
    assert [(d.variant, d.decision) for d in decisions] == [("b", "ship"), ("c", "unhealthy")]
    assert "variant 'c' has no analysed units" in decisions[1].reasons


def test_unhealthy_when_no_treatment_variant_exists() -> None:
    placeholder = MetricResult(
        experiment_id="exp",
        metric_name="p1",
        variant=None,
        control_variant="control",
        metric_role="primary",
        higher_is_better=True,
        alpha=ALPHA,
        n_control=300,
        n_variant=0,
        estimate=Estimate(),
        status="single_arm",
    )
    (decision,) = decide([placeholder], [context({"control": 300})])
    assert decision.variant is None and decision.decision == "unhealthy"
    assert "no treatment variant has analysed units" in decision.reasons


def test_keep_running_below_the_planned_units_when_nothing_is_significant() -> None:
    decision = one([metric("p1", z=1.0), metric("g1", "guardrail")], context(planned=10_000))
    assert decision.decision == "keep_running" and decision.inference == "sequential"
    assert decision.reasons.startswith("keep running: the planned units are not reached")
    assert decision.reasons.endswith(
        "always-valid (sequential) tests at alpha 0.05, 8,000 of 10,000 planned units"
    )


def test_auto_uses_the_always_valid_test_before_the_planned_units() -> None:
    n_total, planned = 8000, 20_000
    multiplier = float(sequential_multiplier(n_total, mixture_rho(planned, ALPHA), ALPHA))
    z = 3.0  # fixed-horizon one-sided p = 0.0013; not past the sequence's multiplier
    assert multiplier > z > scipy.stats.t.ppf(1 - ALPHA, DF)
    early = one([metric("p1", z=z)], context(planned=planned))
    assert early.decision == "keep_running" and early.inference == "sequential"
    at_plan = one([metric("p1", z=z)], context(planned=n_total))
    assert at_plan.decision == "ship" and at_plan.inference == "fixed_horizon"
    # A clear effect is decided early, on the always-valid test.
    clear = one([metric("p1", z=multiplier + 0.1)], context(planned=planned))
    assert clear.decision == "ship" and clear.inference == "sequential"
    harm = one([metric("p1", z=-(multiplier + 0.1))], context(planned=planned))
    assert harm.decision == "roll_back"


def test_inference_can_be_forced() -> None:
    rows = [metric("p1", z=3.0)]
    forced_fixed = one(rows, context(planned=20_000), inference="fixed_horizon")
    assert forced_fixed.decision == "ship" and forced_fixed.inference == "fixed_horizon"
    forced_sequential = one(rows, context(planned=5000), inference="sequential")
    assert forced_sequential.decision == "inconclusive"
    assert forced_sequential.inference == "sequential"


def test_an_experiment_without_roles_never_ships() -> None:
    rows = [metric("m1", "secondary", z=8.0), metric("m2", "secondary", z=-8.0)]
    early = one(rows, context(planned=10_000))
    assert early.decision == "keep_running"
    late = one(rows)
    assert late.decision == "inconclusive" and late.n_primary == 0
    assert "no primary metric: the rule never ships" in late.reasons


def test_families_span_the_treatment_variants() -> None:
    rows = [metric("p1", z=1.8, variant="b"), metric("p1", z=0.0, variant="c")]
    decisions = decide(rows, [context({"control": 4000, "b": 4000, "c": 4000})])
    assert [d.decision for d in decisions] == ["inconclusive", "inconclusive"]
    adjusted = [d.metrics[0].improvement_p_adjusted for d in decisions]
    expected = multipletests([one_sided_p(1.8), one_sided_p(0.0)], method="holm")[1]
    np.testing.assert_allclose(adjusted, expected, rtol=1e-9)


def test_holm_families_equal_statsmodels() -> None:
    zs = {"p1": 2.6, "p2": 2.2, "p3": -0.5, "p4": 1.9}
    rows = [metric(name, z=z) for name, z in zs.items()]
    rows += [metric("g1", "guardrail", z=-2.4), metric("g2", "guardrail", z=1.0)]
    rows += [metric("s1", "secondary", z=2.3), metric("s2", "secondary", z=-2.1)]
    verdicts = {v.result.metric_name: v for v in one(rows).metrics}
    primaries = list(zs)
    np.testing.assert_allclose(
        [verdicts[m].improvement_p_adjusted for m in primaries],
        multipletests([one_sided_p(zs[m]) for m in primaries], method="holm")[1],
        rtol=1e-9,
    )
    deterioration = [*primaries, "g1", "g2"]
    raw = [verdicts[m].deterioration.p_value for m in deterioration]
    np.testing.assert_allclose(raw[:4], [one_sided_p(-zs[m]) for m in primaries], rtol=1e-9)
    np.testing.assert_allclose(
        [verdicts[m].deterioration_p_adjusted for m in deterioration],
        multipletests(raw, method="holm")[1],
        rtol=1e-9,
    )
    secondaries = [one_sided_p(2.3), one_sided_p(-2.1)]
    np.testing.assert_allclose(
        [verdicts[m].improvement_p_adjusted for m in ("s1", "s2")],
        multipletests(secondaries, method="holm")[1],
        rtol=1e-9,
    )
    assert verdicts["g1"].improvement_p_adjusted is None


# ------------------------------------------------------------------------------------------
# Inputs from the tables.


def _plan(metric_name: str, higher_is_better: bool = True) -> dict:
    return {
        "experiment_id": "exp",
        "metric_name": metric_name,
        "metric_type": "mean",
        "control_variant": "control",
        "alpha": ALPHA,
        "theta_method": "within",
        "higher_is_better": higher_is_better,
        "planned_units": 4000,
        "relative_ci_method": "log",
    }


def test_end_to_end_from_cuped_results_and_health_rows() -> None:
    rng = np.random.default_rng(8)
    moments, counts = [], []
    for variant, n, lift in (("control", 2100, 0.0), ("b", 2050, 0.6)):
        pre = rng.lognormal(1.0, 0.6, n)
        conversion = 5.0 + 2.0 * pre + lift + rng.normal(0, 2.0, n)
        revenue = 20.0 + 3.0 * pre + rng.normal(0, 4.0, n)
        moments += moment_rows("exp", "conversion", variant, {"@y": conversion, "pre": pre})
        moments += moment_rows("exp", "revenue", variant, {"@y": revenue, "pre": pre})
        counts.append(
            {
                "experiment_id": "exp",
                "segment_name": "all",
                "segment_value": "all",
                "variant": variant,
                "n_units": n,
                "expected_weight": None,
            }
        )
    table = results_table(moments, [_plan("conversion"), _plan("revenue")])
    roles = {"conversion": ("primary", None, None), "revenue": ("guardrail", 0.02, "relative")}
    rows = []
    for i in range(len(table["metric_name"])):
        row = {name: column[i] for name, column in table.items()}
        role, margin, kind = roles[row["metric_name"]]
        row.update(
            metric_role=role, non_inferiority_margin=margin, non_inferiority_margin_kind=kind
        )
        rows.append(row)
    results = [MetricResult.from_row(row) for row in rows]
    health = health_table(counts)
    ctx = ExperimentContext.from_health_rows(
        [{name: column[i] for name, column in health.items()} for i in range(2)],
        control_variant="control",
        planned_units=4000,
    )
    assert ctx.n_units == 4150 and not ctx.srm_flag
    (decision,) = decide(results, [ctx])
    assert decision.decision == "ship", decision.reasons
    assert decision.inference == "fixed_horizon"
    guardrail = next(v for v in decision.metrics if v.result.metric_role == "guardrail")
    assert guardrail.non_inferiority.scale == "relative"
    # from_row carried the row's numbers, and NaN-free rows stay NaN-free.
    revenue = next(r for r in rows if r["metric_name"] == "revenue")
    np.testing.assert_allclose(guardrail.non_inferiority.estimate, revenue["relative_effect"])
    assert guardrail.result.relative_ci_method == "log"
    row = decision_row(decision)
    assert tuple(row) == DECISION_COLUMNS
    assert row["decision"] == "ship" and row["n_guardrails"] == 1


def test_from_row_reads_warehouse_nulls_as_none() -> None:
    row = {
        "experiment_id": "exp",
        "metric_name": "m",
        "variant": "b",
        "control_variant": "control",
        "metric_role": "secondary",
        "higher_is_better": np.bool_(True),
        "alpha": 0.05,
        "n_control": 0,
        "n_variant": 10,
        "control_mean_adjusted": float("nan"),
        "variant_mean_adjusted": float("nan"),
        "absolute_effect": float("nan"),
        "absolute_effect_se": None,
        "absolute_ci_lower": float("nan"),
        "absolute_ci_upper": float("nan"),
        "degrees_of_freedom": float("nan"),
        "p_value": float("nan"),
        "relative_effect": float("nan"),
        "relative_ci_lower": float("nan"),
        "relative_ci_upper": float("nan"),
        "relative_ci_method": "delta",
        "status": "missing_control",
        "status_reason": "control arm 'control' has no units",
        "non_inferiority_margin": float("nan"),
        "non_inferiority_margin_kind": None,
    }
    result = MetricResult.from_row(row)
    assert result.estimate == Estimate() and result.margin is None
    assert result.higher_is_better is True
    with pytest.raises(ValueError, match=r"metric 'm'.*lacks \['p_value'\]"):
        MetricResult.from_row({k: v for k, v in row.items() if k != "p_value"})
    bad = row | {"metric_role": "guardrail", "non_inferiority_margin": 0.02}
    with pytest.raises(ValueError, match=r"metric 'm'.* without non_inferiority_margin_kind"):
        MetricResult.from_row(bad)
    with pytest.raises(ValueError, match=r"metric 'm'.*unknown margin kind 'percent'"):
        MetricResult.from_row(bad | {"non_inferiority_margin_kind": "percent"})


def test_role_family_p_values_equal_statsmodels_within_each_role_and_segment() -> None:
    p = [0.01, 0.04, 0.03, None, 0.2, 0.001, 0.04, 0.5]
    roles = [
        "primary",
        "primary",
        "secondary",
        "secondary",
        "secondary",
        "guardrail",
        "primary",
        "primary",
    ]
    segments = ["all"] * 6 + ["web", "web"]
    rows = [
        {
            "experiment_id": "exp",
            "metric_name": f"m{i}",
            "segment_name": "platform" if s == "web" else "all",
            "segment_value": s,
            "metric_role": role,
            "p_value": value,
        }
        for i, (value, role, s) in enumerate(zip(p, roles, segments, strict=True))
    ]
    out = role_family_p_values(rows)
    for members in ([0, 1], [2, 4], [5], [6, 7]):
        for k, method in enumerate(("holm", "fdr_bh")):
            expected = multipletests([p[i] for i in members], method=method)[1]
            np.testing.assert_allclose([out[i][k] for i in members], expected, rtol=1e-12)
    assert out[3] == (None, None)
    with pytest.raises(ValueError, match="unknown metric_role 'success'"):
        role_family_p_values([rows[0] | {"metric_role": "success"}])


# ------------------------------------------------------------------------------------------
# Validation.


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "success"}, "unknown metric_role 'success'"),
        ({"role": "primary", "margin": Margin(0.02)}, "only a guardrail has a margin"),
        ({"alpha": 0.5}, r"alpha must be in \(0, 0.5\)"),
    ],
)
def test_invalid_metric_results_name_the_metric(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"metric 'p1'.*{message}"):
        metric("p1", **kwargs)


def test_a_guardrail_needs_a_margin() -> None:
    with pytest.raises(ValueError, match="a guardrail needs a non-inferiority margin"):
        MetricResult(
            experiment_id="exp",
            metric_name="g",
            variant="b",
            control_variant="control",
            metric_role="guardrail",
            higher_is_better=True,
            alpha=ALPHA,
            n_control=1,
            n_variant=1,
            estimate=Estimate(),
        )


@pytest.mark.parametrize(
    ("results", "contexts", "kwargs", "message"),
    [
        ([metric("p1")], [context()], {"inference": "bayes"}, "unknown inference 'bayes'"),
        ([metric("p1"), metric("p1")], [context()], {}, "'p1', variant 'b': duplicate rows"),
        ([metric("p1", experiment="other")], [context()], {}, "'other': results without"),
        ([metric("p1", variant="z")], [context()], {}, "variant 'z', which the context"),
        ([], [context()], {}, "variant 'b' has 4000 units but no result rows"),
        (
            [metric("p1"), metric("p2", alpha=0.1)],
            [context()],
            {},
            r"several alphas \[0.05, 0.1\]",
        ),
        ([metric("p1")], [context(), context()], {}, "duplicate contexts"),
        (
            [metric("p1")],
            [
                ExperimentContext(
                    experiment_id="exp",
                    control_variant="a",
                    variant_units=(("a", 5), ("b", 5)),
                    srm_flag=False,
                )
            ],
            {},
            "control 'control' but the context says 'a'",
        ),
    ],
)
def test_inconsistent_inputs_are_rejected(results, contexts, kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decide(results, contexts, **kwargs)


def test_contexts_are_validated() -> None:
    with pytest.raises(ValueError, match="experiment 'e': duplicate variants"):
        ExperimentContext(
            experiment_id="e",
            control_variant="control",
            variant_units=(("b", 1), ("b", 2)),
            srm_flag=False,
        )
    with pytest.raises(ValueError, match="planned_units must be >= 2"):
        context(planned=1)
