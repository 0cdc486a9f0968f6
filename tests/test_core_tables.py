"""Row-level glue: moment rows and plan rows in, columns out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from statsmodels.stats.multitest import multipletests

from cuped_stats import ArmMoments, __version__, analyze_metric, health_table, results_table
from cuped_stats.bayes import empirical_bayes_prior
from cuped_stats.sequential import confidence_sequence
from cuped_stats.tables import HEALTH_COLUMNS, RESULTS_COLUMNS
from tests.helpers import moment_rows as numpy_moment_rows


def moment_rows(
    experiment: str,
    metric: str,
    variant: str,
    columns: dict[str, np.ndarray],
    segment: tuple[str, str] = ("overall", "all"),
) -> list[dict]:
    """cuped__moments rows of one arm, computed with plain numpy (ddof=1)."""
    return numpy_moment_rows(experiment, metric, variant, columns, segment)


def plan_row(experiment: str, metric: str, **overrides) -> dict:
    row = {
        "experiment_id": experiment,
        "metric_name": metric,
        "metric_type": "mean",
        "control_variant": "control",
        "alpha": 0.05,
        "theta_method": "within",
        "higher_is_better": True,
    }
    return {**row, **overrides}


@pytest.fixture(scope="module")
def units() -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Unit data of experiment e1: metric -> variant -> columns."""
    rng = np.random.default_rng(99)
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {"revenue": {}, "converted": {}}
    for variant, n, lift in (("control", 300, 0.0), ("b", 320, 0.4), ("c", 310, 0.1)):
        pre = rng.gamma(2.0, 2.0, n)
        had_pre = (rng.random(n) < 0.8).astype(float)
        out["revenue"][variant] = {
            "@y": 1.0 + lift + 0.8 * pre + rng.normal(0, 2, n),
            "pre_period": pre * had_pre,
            "pre_period_indicator": had_pre,
        }
        out["converted"][variant] = {
            "@y": (rng.random(n) < 0.2 + 0.05 * lift + 0.05 * had_pre).astype(float),
            "pre_period": had_pre,
        }
    return out


def build_rows(units) -> tuple[list[dict], list[dict]]:
    rows = [
        row
        for metric, arms in units.items()
        for variant, columns in arms.items()
        for row in moment_rows("e1", metric, variant, columns)
    ]
    plans = [
        plan_row("e1", "revenue"),
        plan_row(
            "e1",
            "converted",
            metric_type="proportion",
            theta_method="total",
            alpha=0.1,
            higher_is_better=False,
        ),
    ]
    return rows, plans


def test_results_table_round_trips_to_direct_analysis_and_adjusts_p_values_per_family(units):
    rows, plans = build_rows(units)
    table = results_table(rows, plans)

    assert list(table) == list(RESULTS_COLUMNS)
    assert {len(column) for column in table.values()} == {4}
    assert list(zip(table["metric_name"], table["variant"], strict=True)) == [
        ("converted", "b"),
        ("converted", "c"),
        ("revenue", "b"),
        ("revenue", "c"),
    ]
    for i, metric in enumerate(table["metric_name"]):
        plan = next(p for p in plans if p["metric_name"] == metric)
        arms = [ArmMoments.from_units(v, cols) for v, cols in sorted(units[metric].items())]
        direct = {
            r.variant: r
            for r in analyze_metric(
                arms,
                "control",
                metric_type=plan["metric_type"],
                alpha=plan["alpha"],
                theta_method=plan["theta_method"],
            )
        }[table["variant"][i]]
        np.testing.assert_allclose(table["absolute_effect"][i], direct.cuped.effect, rtol=1e-9)
        np.testing.assert_allclose(table["absolute_effect_se"][i], direct.cuped.se, rtol=1e-9)
        np.testing.assert_allclose(table["p_value"][i], direct.cuped.p_value, rtol=1e-9)
        np.testing.assert_allclose(
            table["relative_ci_upper"][i], direct.cuped.relative_ci_upper, rtol=1e-9
        )
        np.testing.assert_allclose(table["unadjusted_se"][i], direct.unadjusted.se, rtol=1e-9)
        np.testing.assert_allclose(
            list(json.loads(table["theta"][i]).values()), direct.theta, rtol=1e-9
        )
        assert json.loads(table["covariates"][i]) == list(direct.covariates)
        assert table["higher_is_better"][i] == plan["higher_is_better"]
        assert table["alpha"][i] == plan["alpha"]

    expected_holm = multipletests(table["p_value"], method="holm")[1]
    expected_bh = multipletests(table["p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(table["p_value_holm"], expected_holm, rtol=1e-12)
    np.testing.assert_allclose(table["p_value_bh"], expected_bh, rtol=1e-12)
    assert set(table["status"]) == {"ok"}
    assert set(table["package_version"]) == {__version__}


def test_results_table_column_types_have_no_nan_in_text_or_bool_columns(units):
    rows, plans = build_rows(units)
    table = results_table(rows, plans)
    for name, dtype in RESULTS_COLUMNS.items():
        column = table[name]
        if dtype is object:
            assert column.dtype == object
            assert all(v is None or isinstance(v, str) for v in column), name
        elif dtype is np.float64:
            assert column.dtype == np.float64
        elif dtype is np.int64:
            assert column.dtype == np.int64
        else:
            assert column.dtype == np.bool_
    json.loads(table["covariates_dropped"][0])


def test_results_table_missing_control_rows_carry_status_and_nan_statistics(units):
    rows, plans = build_rows(units)
    rows = [r for r in rows if not (r["metric_name"] == "revenue" and r["variant"] == "control")]
    table = results_table(rows, plans)
    revenue = table["metric_name"] == "revenue"
    assert list(table["status"][revenue]) == ["missing_control", "missing_control"]
    assert np.isnan(table["absolute_effect"][revenue]).all()
    assert np.isnan(table["p_value_holm"][revenue]).all()
    assert (table["n_control"][revenue] == 0).all()
    # the other metric's family size no longer counts the missing p-values
    converted = ~revenue
    np.testing.assert_allclose(
        table["p_value_holm"][converted],
        multipletests(table["p_value"][converted], method="holm")[1],
        rtol=1e-12,
    )


def test_results_table_without_covariance_pair_raises_naming_experiment_and_metric(units):
    rows, plans = build_rows(units)
    rows = [
        r
        for r in rows
        if not (
            r["metric_name"] == "revenue"
            and r["variant"] == "b"
            and r["index_1"] == 0
            and r["index_2"] == 2
        )
    ]
    with pytest.raises(ValueError, match=r"'e1'.*'revenue'.*'b'.*missing covariance pair.*@y"):
        results_table(rows, plans)


def test_results_table_rejects_unknown_metric_type_and_moments_without_plan(units):
    rows, plans = build_rows(units)
    with pytest.raises(ValueError, match=r"'revenue'.*unknown metric_type 'median'"):
        results_table(rows, [plan_row("e1", "revenue", metric_type="median"), plans[1]])
    with pytest.raises(ValueError, match=r"'converted'.*without an analysis plan"):
        results_table(rows, plans[:1])


def test_plan_without_moments_is_reported_as_an_experiment_without_units(units):
    rows, plans = build_rows(units)
    table = results_table(rows, [*plans, plan_row("e2", "orders")])
    i = list(table["experiment_id"]).index("e2")
    assert table["status"][i] == "no_units" and table["variant"][i] is None
    assert table["n_control"][i] == 0 and np.isnan(table["absolute_effect"][i])
    assert "no analysed unit" in table["status_reason"][i]


def test_experiment_with_units_in_one_variant_only_is_reported_not_dropped(units):
    rows, plans = build_rows(units)
    control_only = [r for r in rows if r["variant"] == "control"]
    table = results_table(control_only, plans)
    assert len(table["status"]) == len(plans)
    assert set(table["status"]) == {"single_arm"}
    assert all(v is None for v in table["variant"])
    assert all(n > 0 for n in table["n_control"])
    assert np.isnan(table["p_value"]).all() and np.isnan(table["p_value_holm"]).all()


def test_sequential_interval_is_the_confidence_sequence_around_the_cuped_effect(units):
    rows, plans = build_rows(units)
    table = results_table(rows, [{**plan, "planned_units": 1000} for plan in plans])
    for i in range(len(table["status"])):
        n = table["n_control"][i] + table["n_variant"][i]
        expected = confidence_sequence(
            table["absolute_effect"][i],
            table["absolute_effect_se"][i],
            n,
            alpha=table["alpha"][i],
            planned_n=1000,
        )
        assert table["sequential_ci_lower"][i] == pytest.approx(expected.lower, rel=1e-12)
        assert table["sequential_ci_upper"][i] == pytest.approx(expected.upper, rel=1e-12)
        assert table["sequential_ci_lower"][i] < table["absolute_ci_lower"][i]
        assert table["absolute_ci_upper"][i] < table["sequential_ci_upper"][i]


def test_results_table_of_no_rows_has_every_column_empty() -> None:
    table = results_table([], [])
    assert list(table) == list(RESULTS_COLUMNS)
    assert all(len(column) == 0 for column in table.values())


def test_health_table_srm_equals_scipy_chisquare_per_experiment_and_segment() -> None:
    rows = [
        {
            "experiment_id": "e1",
            "segment_name": "overall",
            "segment_value": "all",
            "variant": v,
            "n_units": n,
            "expected_weight": None,
        }
        for v, n in (("control", 1000), ("b", 1100), ("c", 0))
    ] + [
        {
            "experiment_id": "e2",
            "segment_name": "overall",
            "segment_value": "all",
            "variant": v,
            "n_units": n,
            "expected_weight": w,
        }
        for v, n, w in (("control", 760, 0.5), ("b", 380, 0.25), ("c", 390, 0.25))
    ]
    table = health_table(rows)
    assert list(table) == list(HEALTH_COLUMNS)
    e1, e2 = table["experiment_id"] == "e1", table["experiment_id"] == "e2"
    assert list(table["variant"][e1]) == ["b", "c", "control"]
    expected_1 = scipy.stats.chisquare([1100, 0, 1000])
    expected_2 = scipy.stats.chisquare([380, 390, 760], [1530 / 4, 1530 / 4, 1530 / 2])
    np.testing.assert_allclose(table["srm_chi2"][e1], expected_1.statistic, rtol=1e-12)
    np.testing.assert_allclose(table["srm_p_value"][e2], expected_2.pvalue, rtol=1e-12)
    np.testing.assert_allclose(table["expected_share"][e2], [0.25, 0.25, 0.5])
    assert table["srm_flag"].dtype == np.bool_ and table["srm_df"].dtype == np.int64
    assert table["srm_flag"][e1].all() and not table["srm_flag"][e2].any()
    assert set(table["srm_status"]) == {"ok"}


def test_health_table_single_arm_gives_null_statistics_not_nan_text() -> None:
    rows = [
        {
            "experiment_id": "e3",
            "segment_name": "overall",
            "segment_value": "all",
            "variant": "control",
            "n_units": 10,
            "expected_weight": None,
        }
    ]
    table = health_table(rows)
    assert np.isnan(table["srm_chi2"]).all() and np.isnan(table["srm_p_value"]).all()
    assert list(table["srm_status"]) == ["single_arm"] and not table["srm_flag"].any()


def _three_experiments(units) -> tuple[list[dict], list[dict]]:
    """Experiments e1, e2, e3 on revenue: e2 and e3 shift e1's arms by a planted lift."""
    rows, plans = [], []
    for experiment, shift in (("e1", 0.0), ("e2", 0.3), ("e3", -0.2)):
        for variant, columns in units["revenue"].items():
            shifted = {**columns, "@y": columns["@y"] + (shift if variant != "control" else 0)}
            rows += moment_rows(experiment, "revenue", variant, shifted, segment=("all", "all"))
        plans.append(plan_row(experiment, "revenue"))
    return rows, plans


def _relative(columns_by_variant: dict, shift: float, variant: str) -> tuple[float, float]:
    """The CUPED relative effect and its SE, straight from the unit data (no table code)."""
    arms = []
    for name, columns in columns_by_variant.items():
        data = dict(columns)
        if name != "control":
            data["@y"] = data["@y"] + shift
        matrix = np.column_stack(list(data.values()))
        arms.append(
            ArmMoments(
                name, len(matrix), tuple(data), matrix.mean(axis=0), np.cov(matrix, rowvar=False)
            )
        )
    comparison = next(c for c in analyze_metric(arms, "control") if c.variant == variant)
    return comparison.cuped.relative_effect, comparison.cuped.relative_se


def test_bayesian_read_out_with_a_fixed_prior_is_the_conjugate_update(units) -> None:
    rows, plans = _three_experiments(units)
    plans = [{**plan, "bayes_prior_mean": 0.01, "bayes_prior_sd": 0.05} for plan in plans]
    table = results_table(rows, plans)
    i = next(
        i
        for i in range(len(table["variant"]))
        if table["experiment_id"][i] == "e2" and table["variant"][i] == "b"
    )
    r, s = _relative(units["revenue"], 0.3, "b")
    precision = 1 / 0.05**2 + 1 / s**2
    mean, sd = (0.01 / 0.05**2 + r / s**2) / precision, precision**-0.5
    z = scipy.stats.norm.ppf(0.975)
    assert table["chance_to_win"][i] == pytest.approx(scipy.stats.norm.cdf(mean / sd), rel=1e-12)
    assert table["bayes_relative_ci_lower"][i] == pytest.approx(mean - z * sd, rel=1e-12)
    assert table["bayes_relative_ci_upper"][i] == pytest.approx(mean + z * sd, rel=1e-12)
    loss = scipy.integrate.quad(
        lambda x: max(0.0, -x) * scipy.stats.norm.pdf(x, mean, sd), mean - 12 * sd, 0.0
    )[0]
    assert table["expected_loss"][i] == pytest.approx(loss, rel=1e-7, abs=1e-15)
    assert json.loads(table["prior"][i]) == {"source": "fixed", "mean": 0.01, "sd": 0.05}


def test_empirical_prior_of_an_experiment_leaves_its_own_data_out(units) -> None:
    rows, plans = _three_experiments(units)
    table = results_table(rows, plans)
    for experiment in ("e1", "e2", "e3"):
        others = [
            _relative(units["revenue"], shift, variant)
            for other, shift in (("e1", 0.0), ("e2", 0.3), ("e3", -0.2))
            if other != experiment
            for variant in ("b", "c")
        ]
        expected = empirical_bayes_prior([r for r, _ in others], [s for _, s in others])
        for i in range(len(table["variant"])):
            if table["experiment_id"][i] == experiment:
                prior = json.loads(table["prior"][i])
                assert prior["source"] == "empirical_bayes"
                assert prior["n_experiments"] == 4
                assert prior["mean"] == pytest.approx(expected.mean, rel=1e-12)
                assert prior["sd"] == pytest.approx(expected.sd, rel=1e-12)
                assert 0.0 < table["chance_to_win"][i] < 1.0


def test_bayesian_read_out_is_null_where_the_relative_effect_is_undefined() -> None:
    rng = np.random.default_rng(5)
    rows = moment_rows("e1", "m", "control", {"@y": np.zeros(50)}, segment=("all", "all"))
    rows += moment_rows("e1", "m", "b", {"@y": rng.normal(1, 1, 50)}, segment=("all", "all"))
    table = results_table(rows, [plan_row("e1", "m")])
    assert table["status"][0] == "relative_undefined"
    assert np.isnan(table["chance_to_win"]).all() and np.isnan(table["expected_loss"]).all()
    assert json.loads(table["prior"][0])["source"] == "weak"


def test_no_bayesian_read_out_over_a_negative_control_mean(units) -> None:
    # A margin that can be negative (-cost) and got clearly worse: m_t/m_c - 1 is positive
    # over a negative control mean, so a read-out of it "in the metric's direction" would
    # state near-certainty that the treatment won. No read-out there, and the experiment is
    # not part of the other experiments' empirical prior of relative effects.
    rows, plans = _three_experiments(units)
    rng = np.random.default_rng(12)
    for variant, lift in (("control", 0.0), ("b", -3.0)):
        cost = rng.gamma(4.0, 5.0, 400)
        margin = {"@y": -cost + lift + rng.normal(0, 1, 400), "pre_period": -cost}
        rows += moment_rows("e4", "revenue", variant, margin, segment=("all", "all"))
    plans.append(plan_row("e4", "revenue"))
    table = results_table(rows, plans)
    e4 = [i for i in range(len(table["variant"])) if table["experiment_id"][i] == "e4"]
    (i,) = [i for i in e4 if table["variant"][i] == "b"]
    assert table["control_mean_adjusted"][i] < 0 and table["absolute_effect"][i] < 0
    assert table["p_value"][i] < 1e-6 and table["relative_effect"][i] > 0
    for column in ("chance_to_win", "bayes_relative_ci_lower", "bayes_relative_ci_upper"):
        assert np.isnan(table[column][i]), column
    assert np.isnan(table["expected_loss"][i])
    for i in range(len(table["variant"])):
        if table["experiment_id"][i] in ("e1", "e2", "e3") and table["variant"][i] is not None:
            # the prior of e1..e3 pools the other two of them only (2 experiments x 2 variants)
            assert json.loads(table["prior"][i])["n_experiments"] == 4


def test_the_json_columns_are_json_dumps_of_their_values() -> None:
    # theta, covariates and covariates_dropped are written without json.dumps where the values
    # allow it (finite floats, names seen before): the text is json.dumps' to the character
    from cuped_stats.tables import _json_of_names, _json_of_pairs, _theta_json

    rng = np.random.default_rng(3)
    names = ("pre_period", 'quote"d', "back\\slash", "ünï", "country[DE]", "tab\there")
    values = [0.0, -0.0, 1e-320, 5e-324, 1e308, -1.7976931348623157e308, 0.1, 1 / 3, 2.0**60]
    values += [float(v) for v in rng.normal(0, 10.0 ** rng.integers(-20, 20, 50))]
    for k in range(len(names) + 1):
        for _ in range(20):
            theta = tuple(float(v) for v in rng.choice(values, k))
            assert _theta_json(names[:k], theta) == json.dumps(
                dict(zip(names[:k], theta, strict=True))
            )
        assert _json_of_names(names[:k]) == json.dumps(list(names[:k]))
        pairs = tuple((name, "collinear") for name in names[:k])
        assert _json_of_pairs(pairs) == json.dumps(dict(pairs))
    for odd in ((float("nan"),), (float("inf"),), (np.float64(0.5),), (1,)):
        assert _theta_json(("x",), odd) == json.dumps({"x": odd[0]})
    # a name twice (no comparison has one): json.dumps of the dict, the last value kept
    assert _theta_json(("x", "x"), (1.0, 2.0)) == json.dumps({"x": 2.0})
