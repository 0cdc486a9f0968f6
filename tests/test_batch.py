"""analyze_metrics: many groups at once equal analyze_metric per group, and statsmodels."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.stats

from cuped_stats import ArmMoments, analyze_metric
from cuped_stats import batch as batch_module
from cuped_stats.batch import MetricRequest, analyze_metrics
from cuped_stats.cuped import Estimate
from tests.helpers import estimated_theta_reference

ESTIMATE_FIELDS = [field.name for field in dataclasses.fields(Estimate)]


def arm_data(
    rng: np.random.Generator, n: int, k: int, lift: float, binary: bool
) -> tuple[np.ndarray, np.ndarray]:
    x = rng.gamma(2.0, 1.5, size=(n, k)) @ (np.eye(k) + 0.3)
    signal = 1.0 + lift + x @ np.linspace(0.8, 0.2, k)
    if binary:
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(2.0 - 0.3 * signal))).astype(float)
    else:
        y = signal + rng.lognormal(0.0, 1.0, n)
    return y, x


def moments(variant: str, y: np.ndarray, x: np.ndarray) -> ArmMoments:
    names = {"@y": y, **{f"x{j}": x[:, j] for j in range(x.shape[1])}}
    return ArmMoments.from_units(variant, names)


def random_request(rng: np.random.Generator, i: int) -> tuple[MetricRequest, dict]:
    """A request of the batched kind: 2-4 arms, 1-3 covariates, any metric type, relative
    method, alpha and control position; and its unit data."""
    n_arms, k = int(rng.integers(2, 5)), int(rng.integers(1, 4))
    metric_type = ("mean", "proportion")[i % 2]
    variants = [f"v{j}" for j in range(n_arms)]
    data = {
        v: arm_data(rng, int(rng.integers(40, 400)), k, rng.normal(0, 0.3), i % 2 == 1)
        for v in variants
    }
    request = MetricRequest(
        [moments(v, *data[v]) for v in variants],
        variants[int(rng.integers(0, n_arms))],
        metric_type=metric_type,
        alpha=float(rng.choice([0.01, 0.05, 0.1])),
        relative_ci_method=("delta", "log", "fieller")[i % 3],
    )
    return request, data


def scalar(request: MetricRequest):
    """analyze_metric of the request, called here (not through the module under test)."""
    arms, control, *options = request
    names = MetricRequest._fields[2:]
    return analyze_metric(arms, control, **dict(zip(names, options, strict=True)))


def assert_same(got, want) -> None:
    """Two tuples of comparisons equal: texts, counts and statuses exactly, every figure to
    1e-12 relative of its own scale (a relative effect near 0 to 1e-12 of the means' ratio)."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for field in dataclasses.fields(w):
            a, b = getattr(g, field.name), getattr(w, field.name)
            if field.name in ("cuped", "unadjusted"):
                for name in ESTIMATE_FIELDS:
                    x, y = getattr(a, name), getattr(b, name)
                    assert (x is None) == (y is None), (field.name, name, x, y)
                    if x is not None:
                        scale = max(abs(y), 1.0 if name.startswith("relative") else 0.0)
                        assert abs(x - y) <= 1e-12 * scale, (field.name, name, x, y)
            elif field.name == "theta":
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
            elif isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-12), (field.name, a, b)
            else:
                assert a == b, (field.name, a, b)


@pytest.fixture
def scalar_calls(monkeypatch) -> list[MetricRequest]:
    """The requests analyze_metrics sends to analyze_metric."""
    calls: list[MetricRequest] = []
    original = batch_module._scalar

    def counted(request: MetricRequest):
        calls.append(request)
        return original(request)

    monkeypatch.setattr(batch_module, "_scalar", counted)
    return calls


def test_random_groups_equal_analyze_metric_without_calling_it(scalar_calls) -> None:
    rng = np.random.default_rng(20261204)
    requests = [random_request(rng, i)[0] for i in range(120)]
    got = analyze_metrics(requests)
    assert scalar_calls == []  # every group took the batched path
    for request, comparisons in zip(requests, got, strict=True):
        assert {c.status for c in comparisons} == {"ok"}
        assert_same(comparisons, scalar(request))


def test_batched_effect_se_and_df_equal_the_statsmodels_ols_reference(scalar_calls) -> None:
    rng = np.random.default_rng(7)
    cases = [random_request(rng, i) for i in range(6)]
    got = analyze_metrics([request for request, _ in cases])
    assert scalar_calls == []
    for (request, data), comparisons in zip(cases, got, strict=True):
        units = {v: (y, x) for v, (y, x) in data.items()}
        for comparison in comparisons:
            ref = estimated_theta_reference(units, request.control_variant, comparison.variant)
            t_q = scipy.stats.t.ppf(1 - request.alpha / 2, ref.df)
            np.testing.assert_allclose(comparison.theta, ref.theta, rtol=1e-9)
            np.testing.assert_allclose(comparison.cuped.effect, ref.effect, rtol=1e-9)
            np.testing.assert_allclose(comparison.cuped.se, ref.se, rtol=1e-9)
            np.testing.assert_allclose(comparison.cuped.degrees_of_freedom, ref.df, rtol=1e-9)
            np.testing.assert_allclose(comparison.cuped.ci_upper, ref.effect + t_q * ref.se)


def edge_requests() -> dict[str, MetricRequest]:
    """Groups the core must decide, each next to the threshold or outside the batched kind."""
    rng = np.random.default_rng(3)
    base = {v: arm_data(rng, 200, 2, 0.1 * j, False) for j, v in enumerate(("a", "b", "c"))}

    def request(data, **options) -> MetricRequest:
        arms = [moments(v, *data[v]) for v in data]
        return MetricRequest(arms, "a", **options)

    def changed(edit) -> dict:
        return {v: edit(y.copy(), x.copy()) for v, (y, x) in base.items()}

    def constant(y, x):
        x[:, 1] = 5.0
        return y, x

    def nearly_constant_first(y, x):
        x[:, 0] = 1e6 + 1e-6 * rng.normal(size=len(y))
        return y, x

    def collinear(y, x):
        x[:, 1] = 2.0 * x[:, 0] + 1.0
        return y, x

    def nearly_collinear(y, x):
        x[:, 1] = 2.0 * x[:, 0] + 1e-4 * rng.normal(size=len(y))
        return y, x

    def exact_fit(y, x):
        return 1.0 + x @ np.array([0.5, 0.25]), x

    near_zero_control = {v: (y - base["a"][0].mean() + 0.01, x) for v, (y, x) in base.items()}
    negative = {v: (y - 1e3, x) for v, (y, x) in base.items()}
    small = {**base, "c": (base["c"][0][:1], base["c"][1][:1])}
    ratio_arms = [
        ArmMoments.from_units(v, {"@numerator": y, "@denominator": x[:, 0], "x0": x[:, 1]})
        for v, (y, x) in base.items()
    ]
    # shifting the control's outcome moves only its adjusted mean (θ, x̄ and every variance stay)
    adjusted_control = scalar(request(base))[0].cuped.control_mean
    cuped_control_zero = {
        v: (y - adjusted_control if v == "a" else y, x) for v, (y, x) in base.items()
    }
    return {
        "CUPED control mean 0": request(cuped_control_zero),
        "constant covariate": request(changed(constant)),
        "nearly constant first covariate": request(changed(nearly_constant_first)),
        "collinear covariate": request(changed(collinear)),
        "nearly collinear covariate": request(changed(nearly_collinear)),
        "outcome fitted exactly": request(changed(exact_fit)),
        "control mean 0": MetricRequest(
            [
                ArmMoments(arm.variant, arm.n, arm.names, [0.0, *arm.mean[1:]], arm.cov)
                if arm.variant == "a"
                else arm
                for arm in request(base).arms
            ],
            "a",
        ),
        "log interval of negative means": request(negative, relative_ci_method="log"),
        "Fieller interval unbounded": request(near_zero_control, relative_ci_method="fieller"),
        "an arm of one unit": request(small),
        "total theta": request(base, theta_method="total"),
        "theta known": request(base, small_sample_correction=False),
        "strata": request(
            {
                v: (y, np.column_stack([x[:, 0], (x[:, 1] > 2.0).astype(float)]))
                for v, (y, x) in base.items()
            },
            strata=("x1",),
        ),
        "ratio metric": MetricRequest(ratio_arms, "a", metric_type="ratio"),
        "no covariates": MetricRequest(
            [ArmMoments.from_units(v, {"@y": y}) for v, (y, _) in base.items()], "a"
        ),
        "missing control": request(base)._replace(control_variant="z"),
    }


@pytest.mark.parametrize("name", list(edge_requests()))
def test_a_group_the_core_must_decide_goes_to_analyze_metric(name, scalar_calls) -> None:
    rng = np.random.default_rng(11)
    regular = [random_request(rng, i)[0] for i in range(4)]
    edge = edge_requests()[name]
    requests = [regular[0], regular[1], edge, regular[2], regular[3]]
    got = analyze_metrics(requests)
    assert [id(r) for r in scalar_calls] == [id(edge)]  # only the edge group, once
    assert got[2] == scalar(edge)  # the core's own answer, exactly
    for i in (0, 1, 3, 4):
        assert_same(got[i], scalar(requests[i]))


def test_an_invalid_request_is_named_by_its_label() -> None:
    rng = np.random.default_rng(5)
    good, _ = random_request(rng, 0)
    bad = good._replace(metric_type="median")
    with pytest.raises(ValueError, match=r"^experiment e2, metric m: unknown metric_type 'median'"):
        analyze_metrics([good, bad], labels=["experiment e1, metric m", "experiment e2, metric m"])


def test_a_singular_matrix_clears_its_group_and_leaves_the_others_solved() -> None:
    matrices = np.array(
        [[[2.0, 1.0], [1.0, 3.0]], [[1.0, 2.0], [2.0, 4.0]], [[4.0, 0.0], [0.0, 5.0]]]
    )
    vectors = np.array([[1.0, 2.0], [1.0, 1.0], [8.0, 5.0]])
    ok = np.array([True, True, True])
    solved = batch_module._solve(matrices, vectors, ok)
    assert ok.tolist() == [True, False, True]
    np.testing.assert_allclose(solved[0], np.linalg.solve(matrices[0], vectors[0]))
    np.testing.assert_allclose(solved[2], [2.0, 1.0])
    assert np.isnan(solved[1]).all()
    inverses = batch_module._per_group(np.linalg.inv, matrices, ok)
    np.testing.assert_allclose(inverses[2], np.diag([0.25, 0.2]))
    assert np.isnan(inverses[1]).all()
