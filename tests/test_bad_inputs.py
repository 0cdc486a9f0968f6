"""Bad inputs: each planted problem gives an exact, documented outcome (a status with null
statistics, a count in cuped_health, or a compile error naming the metric and key), never NaN, a
traceback or a dropped table.

One scratch project (tests/scratch_project.py) installs the package like a user and holds one
small experiment per runtime case; it is built once. Each configuration mistake is one more dbt
invocation with `--vars`; all of them run side by side with the main build.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tests import scratch_project as sp
from tests.dbt_runner import REPO, DbtRun, run_dbt

#: The statuses cuped_results documents (the accepted values of its `status` column, tested by
#: the table's cuped.table_checks).
DOCUMENTED_STATUSES = next(
    test["cuped.table_checks"]["arguments"]["accepted_values"]["status"]
    for model in yaml.safe_load((REPO / "models" / "public" / "_public.yml").read_text())["models"]
    if model["name"] == "cuped_results"
    for version in model["versions"]
    if version["v"] == 2
    for test in version["data_tests"]
    if "cuped.table_checks" in test
)

#: Every statistic of a comparison that needs both arms.
INFERENCE = [
    "control_mean_adjusted",
    "variant_mean_adjusted",
    "absolute_effect",
    "absolute_effect_se",
    "absolute_ci_lower",
    "absolute_ci_upper",
    "degrees_of_freedom",
    "relative_effect",
    "relative_ci_lower",
    "relative_ci_upper",
    "p_value",
    "p_value_holm",
    "p_value_bh",
    "unadjusted_se",
    "unadjusted_ci_lower",
    "unadjusted_ci_upper",
    "unadjusted_p_value",
    "variance_reduction",
]
ALL_STATISTICS = [
    "control_mean",
    *INFERENCE,
    "unadjusted_absolute_effect",
    "unadjusted_relative_effect",
]
#: What a zero standard error leaves undefined.
UNCERTAINTY = [
    "absolute_effect_se",
    "absolute_ci_lower",
    "absolute_ci_upper",
    "degrees_of_freedom",
    "relative_ci_lower",
    "relative_ci_upper",
    "p_value",
    "p_value_holm",
    "p_value_bh",
    "unadjusted_se",
    "unadjusted_ci_lower",
    "unadjusted_ci_upper",
    "unadjusted_p_value",
    "variance_reduction",
]
PLAIN_METRICS = [sp.REVENUE, sp.REVENUE_ATTR, sp.EVENT_COUNT, sp.ODD, sp.KEYWORD, sp.INJECTED]
ALL_METRICS = [*PLAIN_METRICS, sp.RATIO]

BAD_COLUMN = 'event_at" from exposures; drop table exposures; --'

UNIT_VALUES = ["build", "--select", "+cuped__unit_values", "--exclude-resource-type", "test"]
ASSIGNMENT_ROWS = [
    "build",
    "--select",
    "+cuped__assignment_rows",
    "--exclude-resource-type",
    "test",
]

#: Configuration variants, each run as its own dbt invocation: (command or arguments, vars change).
VARIANTS = {
    "missing_timestamp_column": (
        "build",
        lambda c: sp.metric(c, sp.REVENUE).update(timestamp_column="happened_at"),
    ),
    "missing_unit_column": (
        "build",
        lambda c: sp.metric(c, sp.ODD).update(unit_column="Customer ID"),
    ),
    "quote_in_column_name": (
        "build",
        lambda c: sp.metric(c, sp.REVENUE).update(timestamp_column=BAD_COLUMN),
    ),
    "statement_in_filter": (
        "build",
        lambda c: sp.metric(c, sp.KEYWORD).update(filter="1 = 1; drop table exposures"),
    ),
    "ratio_unknown_numerator": (
        "parse",
        lambda c: sp.metric(c, sp.RATIO).update(numerator="revenu"),
    ),
    "ratio_denominator_itself": (
        "parse",
        lambda c: sp.metric(c, sp.RATIO).update(denominator=sp.RATIO),
    ),
    "ratio_of_a_ratio": (
        "parse",
        lambda c: c["metrics"].append(
            {"name": "nested", "type": "ratio", "numerator": sp.RATIO, "denominator": "revenue"}
        ),
    ),
    # time columns that cannot be read as times (the seed bad_times), and an ephemeral source:
    # each stops the build before a model reads it, so only what that model needs is built (epoch
    # assignment times are refused by the check that refuses epoch event times)
    "text_event_time": (
        UNIT_VALUES,
        lambda c: sp.metric(c, sp.REVENUE).update(source="bad_times", timestamp_column="text_at"),
    ),
    "epoch_event_time": (
        UNIT_VALUES,
        lambda c: sp.metric(c, sp.REVENUE).update(source="bad_times", timestamp_column="epoch_at"),
    ),
    "text_assignment_time": (
        ASSIGNMENT_ROWS,
        lambda c: c.update(assignments="bad_times", assignment_columns={"assigned_at": "said_at"}),
    ),
    "epoch_analysis_end": (ASSIGNMENT_ROWS, lambda c: c.update(experiments="bad_times")),
    "ephemeral_source": (
        UNIT_VALUES,
        lambda c: sp.metric(c, sp.REVENUE).update(source="ephemeral_events"),
    ),
}


class Scratch:
    """The built scratch project and the outcome of every configuration variant."""

    def __init__(self, data: sp.ScratchData, main: DbtRun, variants: dict[str, DbtRun]):
        self.data = data
        self.main = main
        self.variants = variants

    def rows(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.main.database), read_only=True) as con:
            cursor = con.execute(sql, params or [])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def results(self, experiment: str, metric: str | None = None) -> list[dict[str, Any]]:
        sql = "select * from cuped_results where experiment_id = ? and segment_name = 'all'"
        params: list = [experiment]
        if metric is not None:
            sql += " and metric_name = ?"
            params.append(metric)
        return self.rows(sql + " order by metric_name, variant", params)

    def health(self, experiment: str) -> dict[str, dict[str, Any]]:
        rows = self.rows(
            "select * from cuped_health where experiment_id = ? and segment_name = 'all'",
            [experiment],
        )
        return {row["variant"]: row for row in rows}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Scratch:
    root = tmp_path_factory.mktemp("bad_inputs")
    data = sp.generate()
    sp.write_project(root, data)
    run_dbt(["deps"], project_dir=root, work_dir=tmp_path_factory.mktemp("deps")).check()
    jobs = {"main": (["build"], None)}
    for name, (command, change) in VARIANTS.items():
        args = command if isinstance(command, list) else [command]
        jobs[name] = (args, sp.config_with(change))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            name: pool.submit(
                run_dbt,
                args,
                project_dir=root,
                work_dir=tmp_path_factory.mktemp(name),
                variables=variables,
            )
            for name, (args, variables) in jobs.items()
        }
        runs = {name: future.result() for name, future in futures.items()}
    return Scratch(data, runs.pop("main"), runs)


def _assert_null(row: dict[str, Any], columns: list[str]) -> None:
    not_null = {c: row[c] for c in columns if row[c] is not None}
    assert not not_null, (
        f"{row['experiment_id']}/{row['metric_name']}/{row['variant']} ({row['status']}): "
        f"expected null, got {not_null}"
    )


def _assert_compile_error(run: DbtRun, fragments: list[str]) -> None:
    assert run.returncode != 0, f"dbt succeeded:\n{run.output[-3000:]}"
    for fragment in fragments:
        assert fragment in run.output, f"{fragment!r} not in:\n{run.output[-3000:]}"
    assert "Traceback" not in run.output, run.output[-3000:]


def _table_count(database: Path, table: str) -> int | None:
    if not database.exists():
        return None
    with duckdb.connect(str(database), read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables where table_name = ?", [table]
        ).fetchone()[0]
        if not found:
            return None
        return con.execute(f'select count(*) from "{table}"').fetchone()[0]


# --- the build itself and global invariants -------------------------------------------------


def test_the_scratch_build_succeeds_with_every_planted_problem(scratch: Scratch) -> None:
    assert scratch.main.returncode == 0, scratch.main.output[-6000:]
    assert "Traceback" not in scratch.main.output


def test_every_float_of_results_and_health_is_finite_or_null(scratch: Scratch) -> None:
    for table in ("cuped_results", "cuped_health"):
        columns = [
            row["column_name"]
            for row in scratch.rows(
                "select column_name from information_schema.columns where table_name = ? "
                "and data_type in ('DOUBLE', 'FLOAT', 'REAL')",
                [table],
            )
        ]
        assert columns, table
        checks = ", ".join(
            f'count(*) filter (where isnan("{c}") or isinf("{c}")) as "{c}"' for c in columns
        )
        (counts,) = scratch.rows(f"select {checks} from {table}")
        assert {c: n for c, n in counts.items() if n} == {}, table


def test_every_p_value_is_in_the_unit_interval(scratch: Scratch) -> None:
    checks = {
        "cuped_results": ["p_value", "p_value_holm", "p_value_bh", "unadjusted_p_value"],
        "cuped_health": ["srm_p_value"],
    }
    for table, columns in checks.items():
        for column in columns:
            bad = scratch.rows(
                f"select experiment_id, variant, {column} from {table} "
                f"where not ({column} between 0 and 1)"
            )
            assert bad == [], (table, column)


def test_every_experiment_and_metric_has_results_with_a_documented_status(scratch: Scratch) -> None:
    found = scratch.rows(
        "select experiment_id, metric_name, status from cuped_results where segment_name = 'all'"
    )
    assert {r["status"] for r in found} <= set(DOCUMENTED_STATUSES)
    experiments = {e for e, _ in scratch.data.arms} - {"one_arm"}  # see its own test
    assert {(r["experiment_id"], r["metric_name"]) for r in found} >= {
        (e, m) for e in experiments for m in ALL_METRICS
    }


# --- (1)-(3) assignments ----------------------------------------------------------------------


def test_unit_in_two_variants_is_excluded_and_counted_on_both_variants(scratch: Scratch) -> None:
    health = scratch.health("dirty")
    assert sorted(health) == [sp.CONTROL, sp.TREATMENT]
    for variant in (sp.CONTROL, sp.TREATMENT):
        assert health[variant]["n_units_excluded_multiple_variants"] == 1
        assert health[variant]["n_units"] == 20  # the unit in both arms is not analysed
    for row in scratch.results("dirty"):
        assert (row["n_control"], row["n_variant"]) == (20, 20), row["metric_name"]
    (revenue,) = scratch.results("dirty", sp.REVENUE)
    expected = scratch.data.expected_means("dirty", sp.CONTROL)[sp.REVENUE]
    assert revenue["control_mean"] == pytest.approx(expected, rel=1e-12)


def test_duplicate_assignment_rows_are_one_unit_and_counted(scratch: Scratch) -> None:
    health = scratch.health("dirty")
    assert health[sp.CONTROL]["n_duplicate_assignment_rows"] == 1
    assert health[sp.TREATMENT]["n_duplicate_assignment_rows"] == 2
    units = scratch.rows(
        "select count(*) as n from cuped_results where experiment_id = 'dirty' "
        "and metric_name = ? and n_control = 20 and n_variant = 20",
        [sp.REVENUE],
    )
    assert units == [{"n": 1}]


def test_rows_with_a_null_key_are_counted_per_reason_and_the_rest_is_analysed(
    scratch: Scratch,
) -> None:
    health = scratch.health("dirty")
    for variant in (sp.CONTROL, sp.TREATMENT):
        row = health[variant]
        counts = {
            key: row.get(key)
            for key in (
                "n_invalid_assignment_rows",
                "n_rows_null_unit_id",
                "n_rows_null_variant",
                "n_rows_null_assigned_at",
            )
        }
        assert counts == {
            "n_invalid_assignment_rows": 6,
            "n_rows_null_unit_id": 1,
            "n_rows_null_variant": 2,
            "n_rows_null_assigned_at": 3,
        }, variant
    for row in scratch.results("dirty"):
        if row["metric_name"] in PLAIN_METRICS:
            assert row["status"] == "ok", (row["metric_name"], row["status_reason"])
            assert row["p_value"] is not None and row["absolute_effect_se"] > 0


# --- (4), (5) arms ----------------------------------------------------------------------------


def test_control_absent_from_the_data_gives_missing_control_rows(scratch: Scratch) -> None:
    rows = scratch.results("no_control")
    assert {(r["metric_name"], r["variant"]) for r in rows} == {
        (m, v) for m in ALL_METRICS for v in ("a", "b")
    }
    for row in rows:
        assert row["status"] == "missing_control", row["metric_name"]
        assert row["control_variant"] == "ctrl"
        assert (row["n_control"], row["n_variant"]) == (0, 10)
        _assert_null(row, ALL_STATISTICS)
    health = scratch.health("no_control")
    assert sorted(health) == ["a", "b"]
    assert [health[v]["is_control"] for v in ("a", "b")] == [False, False]


def test_experiment_with_only_the_control_arm_is_reported_not_dropped(scratch: Scratch) -> None:
    rows = scratch.results("one_arm")
    assert {r["metric_name"] for r in rows} == set(ALL_METRICS)
    for row in rows:
        assert row["status"] != "ok", row["metric_name"]
        assert row["status"] in DOCUMENTED_STATUSES
        _assert_null(row, INFERENCE)
    health = scratch.health("one_arm")
    assert list(health) == [sp.CONTROL]
    assert health[sp.CONTROL]["n_units"] == 10
    assert health[sp.CONTROL]["srm_status"] != "ok"
    assert health[sp.CONTROL]["srm_p_value"] is None


# --- (6) a source without a configured column -------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "metric", "key", "column"),
    [
        ("missing_timestamp_column", sp.REVENUE, "timestamp_column", "happened_at"),
        ("missing_unit_column", sp.ODD, "unit_column", "Customer ID"),
    ],
)
def test_metric_source_without_a_configured_column_fails_naming_metric_and_column(
    scratch: Scratch, variant: str, metric: str, key: str, column: str
) -> None:
    _assert_compile_error(scratch.variants[variant], [f"metric '{metric}'", key, column])


# --- time columns that cannot be read as times; a source that cannot be read ----------------------

BAD_TIMES = '"cuped"."main"."bad_times"'
NEEDED = (
    "a time column is needed (timestamp, timestamp with time zone, date, or text of such values"
)
UNREADABLE = (
    f"does not read as a time; {NEEDED}, e.g. '2026-03-12 10:00:00' or '2026-03-12'); parse the "
    "text in a model of yours (e.g. with strptime or to_timestamp)."
)


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        (
            "text_event_time",
            f"cuped: metric '{sp.REVENUE}': `timestamp_column`: column 'text_at' of {BAD_TIMES} "
            f"is text, and its value '12/03/2026 10:00' {UNREADABLE}",
        ),
        (
            "epoch_event_time",
            f"cuped: metric '{sp.REVENUE}': `timestamp_column`: column 'epoch_at' of {BAD_TIMES} "
            f"is BIGINT; {NEEDED}); convert epoch numbers in a model of yours, e.g. "
            "to_timestamp(epoch_at).",
        ),
        (
            "text_assignment_time",
            "cuped: `assignment_columns.assigned_at` (assignments bad_times): column 'said_at' of "
            f"{BAD_TIMES} is text, and its value 'last tuesday' {UNREADABLE}",
        ),
        (
            "epoch_analysis_end",
            "cuped: the `experiments` relation bad_times: column 'analysis_end_at' of "
            f"{BAD_TIMES} is BIGINT; {NEEDED}); convert epoch numbers in a model of yours, e.g. "
            "to_timestamp(analysis_end_at).",
        ),
    ],
)
def test_a_time_column_that_does_not_read_as_times_stops_the_build_naming_it(
    scratch: Scratch, variant: str, message: str
) -> None:
    # text that is no time, or epoch numbers: refused before a model reads them (DuckDB's own
    # errors, a conversion or binder error, named neither the metric nor the key)
    run = scratch.variants[variant]
    _assert_compile_error(run, ["Compilation Error"])
    assert message in " ".join(run.output.split()), run.output[-3000:]


def test_an_ephemeral_source_is_refused_naming_the_source_key(scratch: Scratch) -> None:
    run = scratch.variants["ephemeral_source"]
    _assert_compile_error(run, ["Compilation Error"])
    message = (
        f"cuped: metric '{sp.REVENUE}': `source`: 'ephemeral_events' is an ephemeral model; the "
        "package reads it from several models of its own, so it must be materialized"
    )
    assert message in " ".join(run.output.split()), run.output[-3000:]


# --- (7)-(9) configuration mistakes -----------------------------------------------------------
# A typo in a key and `pre_period_days: "14"` are in tests/test_config_errors.py; the ratio
# metric's references are checked here.


def test_ratio_with_an_unknown_numerator_stops_parse(scratch: Scratch) -> None:
    _assert_compile_error(
        scratch.variants["ratio_unknown_numerator"],
        ["Compilation Error", f"metric '{sp.RATIO}'", "`numerator`", "'revenu'"],
    )


def test_ratio_naming_itself_stops_parse(scratch: Scratch) -> None:
    _assert_compile_error(
        scratch.variants["ratio_denominator_itself"],
        ["Compilation Error", f"metric '{sp.RATIO}'", "`denominator`", "itself"],
    )


def test_ratio_of_a_ratio_stops_parse(scratch: Scratch) -> None:
    _assert_compile_error(
        scratch.variants["ratio_of_a_ratio"],
        ["Compilation Error", "metric 'nested'", "`numerator`", f"'{sp.RATIO}'"],
    )


# --- (10)-(12) covariates and variance --------------------------------------------------------


def test_zero_variance_metric_has_status_and_null_uncertainty(scratch: Scratch) -> None:
    for metric in PLAIN_METRICS:
        (row,) = scratch.results("zero_variance", metric)
        assert row["status"] == "zero_variance", (metric, row["status_reason"])
        assert (row["n_control"], row["n_variant"]) == (10, 10)
        assert (row["control_mean"], row["variant_mean"]) == (0.0, 0.0)
        assert row["absolute_effect"] == 0.0 and row["unadjusted_absolute_effect"] == 0.0
        _assert_null(row, [*UNCERTAINTY, "relative_effect", "unadjusted_relative_effect"])


def test_no_pre_period_data_drops_the_covariates_as_constant(scratch: Scratch) -> None:
    (row,) = scratch.results("no_pre_period", sp.REVENUE)
    assert row["status"] == "ok", row["status_reason"]
    assert json.loads(row["covariates_dropped"]) == {
        "pre_period": "constant",
        "pre_period_indicator": "constant",
    }
    assert json.loads(row["covariates"]) == [] and json.loads(row["theta"]) == {}
    assert row["variance_reduction"] == 0.0
    pairs = [
        ("absolute_effect", "unadjusted_absolute_effect"),
        ("absolute_effect_se", "unadjusted_se"),
        ("absolute_ci_lower", "unadjusted_ci_lower"),
        ("absolute_ci_upper", "unadjusted_ci_upper"),
        ("p_value", "unadjusted_p_value"),
        ("relative_effect", "unadjusted_relative_effect"),
        ("control_mean_adjusted", "control_mean"),
        ("variant_mean_adjusted", "variant_mean"),
    ]
    for cuped, raw in pairs:
        assert row[cuped] is not None and row[cuped] == pytest.approx(row[raw], rel=1e-12), cuped
    health = scratch.health("no_pre_period")
    assert [health[v]["n_units_with_pre_period"] for v in sorted(health)] == [0, 0]


def test_collinear_covariate_is_dropped_and_named(scratch: Scratch) -> None:
    (row,) = scratch.results("main", sp.REVENUE_ATTR)
    assert row["status"] == "ok", row["status_reason"]
    assert json.loads(row["covariates_dropped"]) == {sp.LTV_DOUBLE: "collinear"}
    covariates = json.loads(row["covariates"])
    assert covariates[0] == sp.LTV and sp.LTV_DOUBLE not in covariates
    assert set(json.loads(row["theta"])) == set(covariates)
    assert 0 < row["variance_reduction"] < 1


# --- (13), (14) tiny arms, no post-period events ---------------------------------------------


def test_arms_of_one_unit_are_insufficient_sample(scratch: Scratch) -> None:
    rows = scratch.results("one_unit_arms")
    assert {r["metric_name"] for r in rows} == set(ALL_METRICS)
    for row in rows:
        assert row["status"] == "insufficient_sample", row["metric_name"]
        assert (row["n_control"], row["n_variant"]) == (1, 1)
        _assert_null(row, INFERENCE)


def test_arms_of_two_units_give_finite_statistics_or_a_documented_status(
    scratch: Scratch,
) -> None:
    rows = scratch.results("two_unit_arms")
    assert {r["metric_name"] for r in rows} == set(ALL_METRICS)
    for row in rows:
        assert row["status"] in DOCUMENTED_STATUSES, row["metric_name"]
        assert (row["n_control"], row["n_variant"]) == (2, 2)
        for column, value in row.items():
            if isinstance(value, float):
                assert math.isfinite(value), (row["metric_name"], column)
        if row["status"] == "ok":
            assert row["absolute_effect_se"] > 0 and 0 <= row["p_value"] <= 1, row["metric_name"]


def test_events_only_before_assignment_give_zero_variance(scratch: Scratch) -> None:
    for metric in PLAIN_METRICS:
        (row,) = scratch.results("pre_period_only", metric)
        assert row["status"] == "zero_variance", (metric, row["status_reason"])
        assert (row["control_mean"], row["variant_mean"]) == (0.0, 0.0)
        _assert_null(row, [*UNCERTAINTY, "relative_effect"])
    health = scratch.health("pre_period_only")
    assert [health[v]["n_units_with_pre_period"] for v in sorted(health)] == [15, 15]


# --- (15), (16) names that need quoting, injection attempts ----------------------------------


def test_names_that_need_quoting_are_carried_exactly(scratch: Scratch) -> None:
    rows = {r["metric_name"]: r for r in scratch.results("main")}
    assert set(rows) == set(ALL_METRICS)
    for variant, side in ((sp.CONTROL, "control_mean"), (sp.TREATMENT, "variant_mean")):
        expected = scratch.data.expected_means("main", variant)
        for metric in (sp.ODD, sp.KEYWORD, sp.INJECTED, sp.REVENUE):
            assert rows[metric][side] == pytest.approx(expected[metric], rel=1e-12), metric
    for metric in (sp.ODD, sp.KEYWORD):
        assert rows[metric]["status"] == "ok", rows[metric]["status_reason"]
        assert rows[metric]["metric_label"] == metric
        assert (rows[metric]["n_control"], rows[metric]["n_variant"]) == (30, 30)
    assert rows[sp.KEYWORD]["metric_type"] == "proportion"


def test_injection_in_a_metric_name_is_carried_literally(scratch: Scratch) -> None:
    (row,) = scratch.results("main", sp.INJECTED)
    assert row["status"] == "ok", row["status_reason"]
    assert row["metric_label"] == sp.INJECTED_LABEL
    assert _table_count(scratch.main.database, "exposures") == len(scratch.data.exposures)
    assert _table_count(scratch.main.database, "events") == len(scratch.data.events)


@pytest.mark.parametrize(
    ("variant", "metric", "key"),
    [
        ("quote_in_column_name", sp.REVENUE, "`timestamp_column`"),
        ("statement_in_filter", sp.KEYWORD, "`filter`"),
    ],
)
def test_injection_in_a_column_or_filter_is_refused_or_harmless(
    scratch: Scratch, variant: str, metric: str, key: str
) -> None:
    run = scratch.variants[variant]
    if "Compilation Error" in run.output:
        _assert_compile_error(run, [f"metric '{metric}'", key])
    else:  # carried literally: whatever failed, nothing was dropped
        assert _table_count(run.database, "exposures") == len(scratch.data.exposures)
