"""Health and input checks at the edges: an arm missing from a segment, weights that do not list
every variant, malformed weights and unit attributes. Each is a mismatch to flag or a mistake to
name, never a silent pass or a warehouse error."""

from __future__ import annotations

import copy
import json
import re
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats

from tests.dbt_runner import DbtRun, run_dbt, write_installing_project

CONFIG = {
    "assignments": "exposures",
    "variant_weights": "weights",
    "unit_attributes": {
        "relation": "attrs",
        "unit_column": "unit_id",
        "columns": ["platform", "ltv"],
    },
    "segments": ["platform"],
    "metrics": [
        {
            "name": "spend",
            "source": "events",
            "timestamp_column": "event_at",
            "value": "amount",
            "covariates": ["pre_period", "ltv"],
        }
    ],
}


def _write(root: Path, weights: str, attrs: str) -> None:
    rng = np.random.default_rng(11)
    write_installing_project(root)
    exposures, events = ["experiment_id,unit_id,variant,assigned_at"], ["unit_id,event_at,amount"]
    for unit in range(300):
        # seg_gap: control has no android unit; weights_gap: variant c is not in the weights
        experiment = "seg_gap" if unit < 200 else "weights_gap"
        variant = (
            ("control", "treatment")[unit % 2] if unit < 200 else ("control", "b", "c")[unit % 3]
        )
        exposures.append(f"{experiment},{unit},{variant},2026-03-15 12:00:00")
        for day in (3, 20):
            events.append(f"{unit},2026-03-{day:02d} 09:00:00,{rng.gamma(2.0, 5.0):.2f}")
    (root / "seeds" / "exposures.csv").write_text("\n".join(exposures) + "\n")
    (root / "seeds" / "events.csv").write_text("\n".join(events) + "\n")
    (root / "seeds" / "weights.csv").write_text(textwrap.dedent(weights))
    (root / "seeds" / "attrs.csv").write_text(textwrap.dedent(attrs))
    (root / "seeds" / "_seeds.yml").write_text(
        "version: 2\nseeds:\n  - name: attrs\n    config:\n      column_types: {ltv: double}\n"
    )


def _attrs() -> str:
    rows = ["unit_id,platform,ltv"]
    for unit in range(300):
        platform = "android" if unit < 200 and unit % 2 == 1 and unit < 100 else "web"
        rows.append(f"{unit},{platform},{unit % 7}")
    return "\n".join(rows) + "\n"


WEIGHTS = """\
experiment_id,variant,weight
seg_gap,control,1
seg_gap,treatment,1
weights_gap,control,1
weights_gap,b,1
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root, work = tmp_path_factory.mktemp("edges"), tmp_path_factory.mktemp("edges_work")
    _write(root, WEIGHTS, _attrs())
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    run_dbt(["seed"], project_dir=root, work_dir=work, variables={"cuped": CONFIG}).check()
    return root, work


@pytest.fixture(scope="module")
def built(project) -> DbtRun:
    root, work = project
    return run_dbt(["build"], project_dir=root, work_dir=work, variables={"cuped": CONFIG})


def _health(run: DbtRun) -> dict:
    with duckdb.connect(str(run.database), read_only=True) as con:
        rows = con.sql("select * from cuped_health").df()
    return {
        (r.experiment_id, r.segment_name, r.segment_value, r.variant): r for r in rows.itertuples()
    }


def test_an_arm_with_no_unit_in_a_segment_is_a_flagged_mismatch(built: DbtRun) -> None:
    assert "ERROR=0" in built.output, built.output[-3000:]
    health = _health(built)
    control = health[("seg_gap", "platform", "android", "control")]
    treatment = health[("seg_gap", "platform", "android", "treatment")]
    assert control.n_units == 0 and treatment.n_units == 50
    expected = stats.chisquare([0, 50], [25, 25])
    assert treatment.srm_chi2 == pytest.approx(expected.statistic)
    assert treatment.srm_p_value == pytest.approx(expected.pvalue)
    assert treatment.srm_flag and control.srm_flag
    assert "WARN=1" in built.output  # the shipped no_sample_ratio_mismatch test warns
    assert (
        "does not hold: experiment 'seg_gap', segment 'platform', value 'android', variant "
        "'control', units 0, sample ratio mismatch p = "
    ) in " ".join(built.output.split())


def test_a_variant_missing_from_the_weights_is_unplanned_traffic(built: DbtRun) -> None:
    health = _health(built)
    c = health[("weights_gap", "all", "all", "c")]
    assert c.expected_share == 0 and c.n_units == sum(u % 3 == 2 for u in range(200, 300))
    assert c.srm_flag and c.srm_status == "unexpected_units"


@pytest.mark.parametrize(
    ("weights", "attrs", "config_change", "message"),
    [
        (
            WEIGHTS.replace("weight\n", "share\n"),
            None,
            None,
            "cuped: the `variant_weights` relation weights: column 'weight' does not exist",
        ),
        (
            WEIGHTS + "seg_gap,control,2\n",
            None,
            None,
            "cuped: the `variant_weights` relation weights has more than one row for the same "
            "experiment_id, variant, e.g. (seg_gap, control) x2",
        ),
        (
            WEIGHTS.replace("seg_gap,control,1", "seg_gap,control,0").replace(
                "seg_gap,treatment,1", "seg_gap,treatment,0"
            ),
            None,
            None,
            "cuped: the `variant_weights` relation weights: every weight of experiment 'seg_gap' "
            "is 0, so it has no expected shares.",
        ),
        (
            WEIGHTS,
            _attrs().replace("\n1,android,1\n", "\n1,(other),1\n"),
            None,
            "cuped: the `unit_attributes` relation attrs: column 'platform' has 1 row(s) with the "
            "value '(missing)' or '(other)', the names the package gives",
        ),
        (
            WEIGHTS,
            "unit_id,platform,ltv\n1,web,2\n1,ios,3\n",
            None,
            "cuped: the `unit_attributes` relation attrs has more than one row for the same "
            "unit_id, e.g. (1) x2",
        ),
        (
            # a text covariate is categorical (tests/test_categorical_covariates.py); a date is
            # neither a number nor a category
            WEIGHTS,
            _attrs().replace("\n", ",2026-01-01\n").replace("ltv,2026-01-01", "ltv,signed_up"),
            ["pre_period", "signed_up"],
            "cuped: metric 'spend': covariate 'signed_up': column 'signed_up' of",
        ),
        (
            WEIGHTS,
            _attrs().replace("\n1,android,1\n", "\n1,android,inf\n"),
            None,
            "cuped: `unit_attributes` column 'ltv' of attrs is not a finite number within ±1e100 "
            "for 1 unit(s), e.g. experiment 'seg_gap', unit 1: inf.",
        ),
    ],
    ids=[
        "weights column missing",
        "duplicate weights",
        "all weights 0",
        "a value named like a package level",
        "duplicate attributes",
        "date covariate",
        "infinite attribute",
    ],
)
def test_malformed_weights_and_attributes_stop_the_build_naming_the_relation(
    tmp_path, weights, attrs, config_change, message
) -> None:
    root, work = tmp_path / "p", tmp_path / "w"
    _write(root, weights, attrs or _attrs())
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    run_dbt(["seed"], project_dir=root, work_dir=work, variables={"cuped": CONFIG}).check()
    config = copy.deepcopy(CONFIG)
    if config_change is not None:
        config["metrics"][0]["covariates"] = config_change
        columns = config["unit_attributes"]["columns"]
        columns += [c for c in config_change if c != "pre_period" and c not in columns]
    run = run_dbt(["build"], project_dir=root, work_dir=work, variables={"cuped": config})
    assert run.returncode != 0
    assert message in run.output, run.output[-3000:]
    assert "Traceback" not in run.output


def test_a_project_without_the_cuped_var_is_told_to_set_it(project) -> None:
    root, work = project
    run = run_dbt(["parse"], project_dir=root, work_dir=work)
    assert run.returncode != 0
    assert "cuped: the `cuped` var is not set in your project" in run.output


# --- a second small project: relations that must be unique, experiments that lose every unit ---

RELIABILITY_CONFIG = {
    "assignments": "exposures",
    "experiments": "settings",
    "variant_weights": "weights",
    "metrics": [
        {"name": "spend", "source": "events", "timestamp_column": "event_at", "value": "amount"}
    ],
}
RELIABILITY_SEEDS = """\
version: 2
seeds:
  - name: exposures
    config:
      column_types:
        {experiment_id: varchar, unit_id: bigint, variant: varchar, assigned_at: timestamp}
  - name: events
    config:
      column_types: {unit_id: bigint, event_at: timestamp, amount: double}
  - name: settings
    config:
      column_types: {experiment_id: varchar, control_variant: varchar, analysis_end_at: timestamp}
  - name: weights
    config:
      column_types: {experiment_id: varchar, variant: varchar, weight: double}
"""
#: Experiments: `ok` is healthy; `ended_early` ends before any assignment; in `two_variants`
#: every unit is in both arms; in `no_variant` every row has a null variant; `odd_times` has,
#: beside 20 healthy units, rows assigned at ±infinity, before 1900 and after 2200.
OUT_OF_RANGE_TIMES = ["infinity", "-infinity", "1899-12-31 23:59:59", "2200-01-01 00:00:01"]


def _reliability_files() -> dict[str, str]:
    rng = np.random.default_rng(15)
    exposures = ["experiment_id,unit_id,variant,assigned_at"]
    events = ["unit_id,event_at,amount"]
    at = "2026-03-15 12:00:00"
    for experiment, first in (("ok", 0), ("ended_early", 100), ("odd_times", 300)):
        for k in range(20):
            exposures.append(f"{experiment},{first + k},{('control', 'treatment')[k % 2]},{at}")
            for day in (3, 20):
                events.append(f"{first + k},2026-03-{day:02d} 09:00:00,{rng.gamma(2, 5):.2f}")
    for k in range(6):
        exposures.append(f"two_variants,{200 + k},control,{at}")
        exposures.append(f"two_variants,{200 + k},treatment,{at}")
        exposures.append(f"no_variant,{250 + k},,{at}")
    for k, moment in enumerate(OUT_OF_RANGE_TIMES):
        exposures.append(f"odd_times,{390 + k},{('control', 'treatment')[k % 2]},{moment}")
    # rows no metric can count: a null time for an assigned unit, a null unit, and placeholder
    # dates (the daily series would get a row for each)
    events += ["0,,1000.00", "1,,1000.00", ",2026-03-20 09:00:00,1000.00"]
    events += [f"0,{moment},1000.00" for moment in OUT_OF_RANGE_TIMES]
    settings = "experiment_id,control_variant,analysis_end_at\n"
    settings += "ended_early,control,2026-03-01 00:00:00\n"
    settings += "Ended_Early,control,2026-03-01 00:00:00\n"  # a misspelt id: applies to nothing
    weights = "experiment_id,variant,weight\nok,control,1\nok,treatment,1\nokk,control,1\n"
    return {
        "exposures.csv": "\n".join(exposures) + "\n",
        "events.csv": "\n".join(events) + "\n",
        "settings.csv": settings,
        "weights.csv": weights,
    }


def _write_project(root: Path, files: dict[str, str], seeds_yml: str) -> None:
    write_installing_project(root)
    (root / "seeds" / "_seeds.yml").write_text(seeds_yml)
    for name, text in files.items():
        (root / "seeds" / name).write_text(text)


def _public_snapshot(database: Path) -> dict[str, list]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            table: sorted(map(str, con.sql(f"select * from {table}").fetchall()))
            for table in ("cuped_results_v1", "cuped_health", "cuped_caps", "cuped_power")
        }


@pytest.fixture(scope="module")
def reliability(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    root, work = tmp_path_factory.mktemp("rel"), tmp_path_factory.mktemp("rel_work")
    _write_project(root, _reliability_files(), RELIABILITY_SEEDS)
    variables = {"cuped": {**RELIABILITY_CONFIG, "daily_series": True}}
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    return run_dbt(["build"], project_dir=root, work_dir=work, variables=variables)


@pytest.mark.parametrize(
    ("seed", "extra_row", "message"),
    [
        (
            "settings.csv",
            "ended_early,control,\n",
            "cuped: the `experiments` relation settings has more than one row for the same "
            "experiment_id, e.g. (ended_early) x2. Keep one row per experiment_id.",
        ),
        (
            "weights.csv",
            "ok,treatment,3\n",
            "cuped: the `variant_weights` relation weights has more than one row for the same "
            "experiment_id, variant, e.g. (ok, treatment) x2. Keep one row per experiment_id, "
            "variant.",
        ),
    ],
    ids=["experiment listed twice", "weight listed twice"],
)
def test_a_duplicate_in_a_relation_stops_dbt_run_before_any_public_table_changes(
    reliability, tmp_path, seed: str, extra_row: str, message: str
) -> None:
    """A scheduler's `dbt run` (no tests): the duplicate stops the run with the relation and the
    key, and every public table still holds the previous run's rows."""
    built = reliability
    assert built.returncode == 0, built.output[-3000:]
    copy_root, copy_work = tmp_path / "p", tmp_path / "w"
    files = _reliability_files()
    _write_project(copy_root, files, RELIABILITY_SEEDS)
    copy_work.mkdir()
    (copy_work / "cuped.duckdb").write_bytes(built.database.read_bytes())
    variables = {"cuped": RELIABILITY_CONFIG}
    run_dbt(["deps"], project_dir=copy_root, work_dir=copy_work).check()
    before = _public_snapshot(copy_work / "cuped.duckdb")
    (copy_root / "seeds" / seed).write_text(files[seed] + extra_row)
    run_dbt(["seed"], project_dir=copy_root, work_dir=copy_work, variables=variables).check()
    run = run_dbt(["run"], project_dir=copy_root, work_dir=copy_work, variables=variables)
    assert run.returncode != 0
    assert message in run.output, run.output[-3000:]
    assert "Traceback" not in run.output
    assert _public_snapshot(copy_work / "cuped.duckdb") == before


def _reliability_health(run: DbtRun) -> dict[tuple[str, str], dict]:
    with duckdb.connect(str(run.database), read_only=True) as con:
        cursor = con.execute("select * from cuped_health where segment_name = 'all'")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {(r["experiment_id"], r["variant"]): r for r in rows}


EXCLUSIONS = (
    "n_units",
    "n_units_excluded_multiple_variants",
    "n_units_excluded_after_analysis_end",
    "n_invalid_assignment_rows",
    "n_rows_null_variant",
    "n_rows_assigned_at_out_of_range",
)


def test_an_experiment_that_loses_every_unit_keeps_its_health_rows_and_counts(
    reliability: DbtRun,
) -> None:
    assert reliability.returncode == 0, reliability.output[-3000:]
    health = _reliability_health(reliability)
    found = {key: tuple(row[c] for c in EXCLUSIONS) for key, row in health.items()}
    assert {k: v for k, v in found.items() if k[0] != "ok" and k[0] != "odd_times"} == {
        # units, multiple variants, after the analysis end, invalid rows, null variant, range
        ("ended_early", "control"): (0, 0, 10, 0, 0, 0),
        ("ended_early", "treatment"): (0, 0, 10, 0, 0, 0),
        ("two_variants", "control"): (0, 6, 0, 0, 0, 0),
        ("two_variants", "treatment"): (0, 6, 0, 0, 0, 0),
        ("no_variant", "control"): (0, 0, 0, 6, 6, 0),
    }
    for key in found:
        if key[0] in ("ended_early", "two_variants", "no_variant"):
            assert health[key]["srm_p_value"] is None and health[key]["srm_status"] != "ok"
    with duckdb.connect(str(reliability.database), read_only=True) as con:
        statuses = con.sql(
            "select experiment_id, status from cuped_results where segment_name = 'all' "
            "and experiment_id in ('ended_early', 'two_variants', 'no_variant')"
        ).fetchall()
    assert sorted(statuses) == [
        ("ended_early", "no_units"),
        ("no_variant", "no_units"),
        ("two_variants", "no_units"),
    ]


def test_rows_that_apply_to_nothing_are_named_in_warnings(reliability: DbtRun) -> None:
    """Event rows with a null unit or time count in no metric, and rows of the `experiments` and
    `variant_weights` relations for an experiment no assignment has apply to nothing: the build
    succeeds (the results are those without them) and says so, naming the relation."""
    assert reliability.returncode == 0, reliability.output[-3000:]
    output = " ".join(reliability.output.split())
    for message in (
        "cuped: events (read by metric 'spend') has 1 row(s) with a null unit (`unit_column` "
        "unit_id) and 2 with a null time (`timestamp_column` event_at), and 4 row(s) dated at "
        "±infinity, before 1900-01-01 or after 2200-01-01 (`timestamp_column` event_at; "
        "placeholders, not events): no metric counts them.",
        "cuped: the `experiments` relation settings has rows for experiment 'Ended_Early', which "
        "no assignment row has, so those rows apply to nothing.",
        "cuped: the `variant_weights` relation weights has rows for experiment 'okk', which no "
        "assignment row has",
    ):
        assert message in output, output[-4000:]


def test_inputs_that_match_nothing_are_named_in_warnings(tmp_path) -> None:
    """A metric that no event counts for (here a filter nothing passes), attributes of which no
    analysed unit has a row (ids of other units) and assignments without a row each build
    green tables of zeros, nulls or nothing: each is named in a warning."""
    files = _reliability_files()
    files["attrs.csv"] = "unit_id,ltv\n" + "".join(f"{1000 + k},{k}\n" for k in range(20))
    files["visits.csv"] = "unit_id,event_at\n9999,2026-03-20 09:00:00\n"  # no analysed unit
    # an optional analysis_end_at no experiment has yet: the seed types the empty column INTEGER,
    # which is no time column, but it holds no value to read, so the build goes on
    files["settings.csv"] = "experiment_id,control_variant,analysis_end_at\nended_early,control,\n"
    seeds = RELIABILITY_SEEDS.replace(
        "{experiment_id: varchar, control_variant: varchar, analysis_end_at: timestamp}",
        "{experiment_id: varchar, control_variant: varchar}",
    )
    config = {
        **RELIABILITY_CONFIG,
        "metrics": [
            {**RELIABILITY_CONFIG["metrics"][0], "covariates": ["pre_period", "ltv"]},
            {
                "name": "refunds",
                "source": "events",
                "timestamp_column": "event_at",
                "value": "amount",
                "filter": "amount < 0",
            },
            {"name": "visits", "source": "visits", "timestamp_column": "event_at", "agg": "count"},
        ],
        "unit_attributes": {"relation": "attrs", "unit_column": "unit_id", "columns": ["ltv"]},
    }
    root, work = tmp_path / "p", tmp_path / "w"
    _write_project(root, files, seeds)
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    args = ["build", "--select", "+cuped_health", "--exclude-resource-type", "test"]
    run = run_dbt(args, project_dir=root, work_dir=work, variables={"cuped": config}).check()
    output = " ".join(run.output.split())
    for experiment in ("ok", "odd_times"):
        assert (
            f"cuped: no row of visits counted for any analysed unit of experiment '{experiment}' "
            "(20 units): its metrics visits are 0 for every unit."
        ) in output, output[-4000:]
        # a metric of a source that is read: a note, not a warning (it may be data)
        assert (
            f"cuped: note: metric 'refunds' is 0 for every analysed unit of experiment "
            f"'{experiment}' (20 units), while other metrics of events are not"
        ) in output, output[-4000:]
        assert (
            f"cuped: every analysed unit of experiment '{experiment}' (20 units) lacks a value of "
            "an attribute covariate from the `unit_attributes` relation attrs (no row for the "
            "unit by its column 'unit_id'"
        ) in output, output[-4000:]
    assert "metric 'spend' is 0" not in output

    (root / "seeds" / "exposures.csv").write_text("experiment_id,unit_id,variant,assigned_at\n")
    run = run_dbt(args, project_dir=root, work_dir=work, variables={"cuped": config}).check()
    assert (
        "cuped: the assignments relation exposures has no rows, so every table of the package is "
        "empty."
    ) in " ".join(run.output.split()), run.output[-4000:]

    # a continuous column as a segment: 60 units, 60 values
    at = "2026-03-15 12:00:00"
    (root / "seeds" / "exposures.csv").write_text(
        "experiment_id,unit_id,variant,assigned_at\n"
        + "".join(f"ok,{k},{('control', 'treatment')[k % 2]},{at}\n" for k in range(60))
    )
    (root / "seeds" / "attrs.csv").write_text(
        "unit_id,ltv\n" + "".join(f"{k},{k}\n" for k in range(60))
    )
    config = {**config, "segments": ["ltv"]}
    run = run_dbt(args, project_dir=root, work_dir=work, variables={"cuped": config}).check()
    output = " ".join(run.output.split())
    assert (
        "cuped: segment 'ltv' has 60 values, so every metric gets a result row for each, most "
        "with too few units to compare"
    ) in output, output[-4000:]
    assert "lacks a value of an attribute covariate" not in output


def test_events_at_infinity_or_outside_1900_to_2200_count_in_no_metric(
    reliability: DbtRun,
) -> None:
    """Unit 0 has, beside its two events, rows dated at ±infinity, before 1900 and after 2200 (of
    1000 each, named in a warning above): its values and the daily series are those without them."""
    assert reliability.returncode == 0, reliability.output[-3000:]
    events = [line.split(",") for line in _reliability_files()["events.csv"].splitlines()[1:]]
    amounts = {at[:10]: float(amount) for unit, at, amount in events if unit == "0" and at}
    with duckdb.connect(str(reliability.database), read_only=True) as con:
        post, pre = con.sql(
            "select metric_0_post, metric_0_pre from cuped__unit_values "
            "where experiment_id = 'ok' and unit_id = 0"
        ).fetchall()[0]
        last_day = con.sql("select max(as_of_date) from cuped_results_daily").fetchall()[0][0]
    assert (post, pre) == (amounts["2026-03-20"], amounts["2026-03-03"])
    assert str(last_day) < "2027-01-01"


def test_assignments_at_infinity_or_outside_1900_to_2200_are_counted_not_analysed(
    reliability: DbtRun,
) -> None:
    assert reliability.returncode == 0, reliability.output[-3000:]
    health = _reliability_health(reliability)
    for variant in ("control", "treatment"):
        row = health[("odd_times", variant)]
        assert row["n_units"] == 10
        assert row["n_rows_assigned_at_out_of_range"] == len(OUT_OF_RANGE_TIMES)
        assert row["n_invalid_assignment_rows"] == len(OUT_OF_RANGE_TIMES)
    assert health[("ok", "control")]["n_rows_assigned_at_out_of_range"] == 0
    # counted in cuped_health, so not the warning about rows without an experiment
    warned = [
        line
        for line in reliability.output.splitlines()
        if "cuped_assignment_rows_have_an_experiment_id" in line and "WARN" in line
    ]
    assert warned == [], warned


# --- non-finite and out-of-range numbers: in the data, and in the configuration ---------------


@pytest.mark.parametrize(
    ("seed", "line", "value", "message"),
    [
        (
            "events.csv",
            "0,2026-03-20 09:00:00,",
            "nan",
            "cuped: metric 'spend': `value` over events (post period) is not a finite number "
            "within ±1e100 for 1 unit(s), e.g. experiment 'ok', unit 0: nan. Fix or filter those "
            "rows at the source; a unit cannot be left out without biasing the comparison.",
        ),
        (
            "events.csv",
            "1,2026-03-03 09:00:00,",
            "1e300",
            "cuped: metric 'spend': `value` over events (pre period) is not a finite number "
            "within ±1e100 for 1 unit(s), e.g. experiment 'ok', unit 1: 1e+300.",
        ),
        (
            "weights.csv",
            "ok,treatment,",
            "inf",
            "cuped: the `variant_weights` relation weights: column 'weight' must hold finite "
            "numbers >= 0, got inf for (ok, treatment).",
        ),
    ],
    ids=["nan value", "1e300 value", "infinite weight"],
)
def test_a_non_finite_value_stops_the_run_naming_metric_or_column(
    tmp_path, seed: str, line: str, value: str, message: str
) -> None:
    """The line of `seed` starting with `line` gets `value` as its last field."""
    root, work = tmp_path / "p", tmp_path / "w"
    files = _reliability_files()
    lines = files[seed].splitlines()
    (k,) = [k for k, text in enumerate(lines) if text.startswith(line)]
    lines[k] = line + value
    files[seed] = "\n".join(lines) + "\n"
    _write_project(root, files, RELIABILITY_SEEDS)
    variables = {"cuped": RELIABILITY_CONFIG}
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    run_dbt(["seed"], project_dir=root, work_dir=work, variables=variables).check()
    run = run_dbt(["run"], project_dir=root, work_dir=work, variables=variables)
    assert run.returncode != 0
    assert message in " ".join(run.output.split()), run.output[-3000:]
    assert "Traceback" not in run.output
    assert _table_names(work / "cuped.duckdb") & PUBLIC_TABLES == set()


PUBLIC_TABLES = {"cuped_results_v1", "cuped_health", "cuped_caps", "cuped_power", "cuped_balance"}


def _table_names(database: Path) -> set[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            row[0] for row in con.sql("select table_name from information_schema.tables").fetchall()
        }


def _metric(**change) -> dict:
    config = copy.deepcopy(RELIABILITY_CONFIG)
    config["metrics"][0].update(change)
    return config


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {**RELIABILITY_CONFIG, "alpha": float("nan")},
            "cuped: `alpha` must be a number between 0 and 0.5 (e.g. 0.05), got: nan (number)",
        ),
        (
            {**RELIABILITY_CONFIG, "alpha": 1e-300},
            "cuped: `alpha` must be at least 1e-10 (smaller levels are not resolved in double "
            "precision and give infinite intervals), got: 1e-300",
        ),
        (
            {**RELIABILITY_CONFIG, "power": float("nan")},
            "cuped: `power` must be a number strictly between 0 and 1, got: nan (number)",
        ),
        (
            _metric(cap={"upper": float("inf")}),
            "cuped: metric 'spend': `cap.upper` must be a finite number within double range "
            "(leave the side out for no bound), got: inf",
        ),
        (
            _metric(cap={"lower": -(10**400)}),
            "cuped: metric 'spend': `cap.lower` must be a finite number within double range",
        ),
        (
            {**RELIABILITY_CONFIG, "pre_period_days": 10**7},
            "cuped: `pre_period_days` must be a whole number of days at most 36500 (100 years), "
            "got: 10000000",
        ),
        (
            _metric(window_days=10**12),
            "cuped: metric 'spend': `window_days` must be a whole number of days at most 36500",
        ),
    ],
    ids=[
        "alpha nan",
        "alpha 1e-300",
        "power nan",
        "cap inf",
        "cap beyond double",
        "pre days",
        "window",
    ],
)
def test_a_non_finite_or_out_of_range_config_number_is_named(
    tmp_path, config: dict, message: str
) -> None:
    root, work = tmp_path / "p", tmp_path / "w"
    _write_project(root, _reliability_files(), RELIABILITY_SEEDS)
    (root / "dbt_project.yml").write_text(
        (root / "dbt_project.yml").read_text() + "vars:\n  cuped: " + yaml_dump(config)
    )
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    run = run_dbt(["parse"], project_dir=root, work_dir=work)
    assert run.returncode != 0
    assert message in " ".join(run.output.split()), run.output[-3000:]
    assert "Traceback" not in run.output


def yaml_dump(config: dict) -> str:
    """The config as one YAML flow mapping: NaN and infinity as YAML's .nan and .inf (JSON has no
    spelling for them), a huge integer as its digits, 1e-300 as 1.0e-300 (YAML 1.1 floats need
    the dot)."""
    text = json.dumps(config, allow_nan=True)
    text = re.sub(r"(?<![\d.])(\d+)e", r"\1.0e", text)
    text = text.replace("-Infinity", "-.inf").replace("Infinity", ".inf").replace("NaN", ".nan")
    return text + "\n"


# --- time zones: instants are compared, whatever the zone of the machine running dbt ----------

TZ_SEEDS = """\
version: 2
seeds:
  - name: exposures
    config:
      column_types:
        {experiment_id: varchar, unit_id: bigint, variant: varchar, assigned_at: timestamp}
  - name: events
    config:
      column_types: {unit_id: bigint, event_at: timestamptz, amount: double}
  - name: settings
    config:
      column_types: {experiment_id: varchar, control_variant: varchar, analysis_end_at: date}
"""
#: Each unit is assigned at 12:00 naive (UTC unless `timezone` says otherwise); its events are
#: instants (TIMESTAMPTZ) around that moment, and the analysis ends on DATE 2026-03-16.
TZ_EVENTS = {
    "a": "2026-03-15 11:30:00+00",  # 30 minutes before 12:00 UTC
    "b": "2026-03-15 16:00:00+00",
    "c": "2026-03-15 08:00:00+00",
    "d": "2026-03-15 20:00:00+00",  # after 2026-03-16 00:00 in Kolkata (18:30 UTC)
    "e": "2026-03-15 23:30:00-02:00",  # 01:30 UTC on the 16th: after the end in both readings
}


def _tz_files() -> tuple[dict[str, str], dict[int, dict[str, float]]]:
    rng = np.random.default_rng(1)
    exposures = ["experiment_id,unit_id,variant,assigned_at"]
    events = ["unit_id,event_at,amount"]
    amounts: dict[int, dict[str, float]] = {}
    for unit in range(40):
        exposures.append(f"tz,{unit},{('control', 'treatment')[unit % 2]},2026-03-15 12:00:00")
        amounts[unit] = {k: float(f"{rng.gamma(2, 5) + unit % 2:.2f}") for k in TZ_EVENTS}
        events += [f"{unit},{at},{amounts[unit][k]}" for k, at in TZ_EVENTS.items()]
    files = {
        "exposures.csv": "\n".join(exposures) + "\n",
        "events.csv": "\n".join(events) + "\n",
        "settings.csv": "experiment_id,control_variant,analysis_end_at\ntz,control,2026-03-16\n",
    }
    return files, amounts


def _tz_means(run: DbtRun) -> tuple:
    with duckdb.connect(str(run.database), read_only=True) as con:
        return con.sql(
            "select control_mean, variant_mean, absolute_effect, p_value from cuped_results_v1 "
            "where segment_name = 'all'"
        ).fetchall()[0]


def test_timestamps_compare_instants_whatever_the_process_time_zone(tmp_path) -> None:
    """Naive assignments (UTC), TIMESTAMPTZ events, a DATE analysis end: the same results under
    TZ=UTC, Asia/Kolkata and America/Los_Angeles, equal to the UTC reading recomputed here; with
    `timezone: Asia/Kolkata` the naive times and the DATE are read in Kolkata instead."""
    files, amounts = _tz_files()
    root = tmp_path / "p"
    _write_project(root, files, TZ_SEEDS)
    config = {**RELIABILITY_CONFIG}
    config.pop("variant_weights")
    run_dbt(["deps"], project_dir=root, work_dir=tmp_path / "deps").check()

    def run(name: str, tz: str, cuped: dict) -> DbtRun:
        work, variables = tmp_path / name, {"cuped": cuped}
        env = {"TZ": tz}
        # the seeds and the models the results read, in one dbt process
        args = ["build", "--select", "+cuped_results_v1", "--exclude-resource-type", "test"]
        return run_dbt(args, project_dir=root, work_dir=work, variables=variables, env=env).check()

    def expected(post: str) -> tuple[float, float]:
        return tuple(
            float(np.mean([sum(amounts[u][k] for k in post) for u in amounts if u % 2 == arm]))
            for arm in (0, 1)
        )

    utc = {
        tz: _tz_means(run(tz.replace("/", "_"), tz, config))
        for tz in ("UTC", "Asia/Kolkata", "America/Los_Angeles")
    }
    # equal up to the order of floating-point sums (DuckDB adds in parallel); a time zone read
    # wrongly moves whole events between periods, changing the means by whole amounts
    for tz in ("Asia/Kolkata", "America/Los_Angeles"):
        assert utc[tz] == pytest.approx(utc["UTC"], rel=1e-12), tz
    assert utc["UTC"][:2] == pytest.approx(expected("bd"), rel=1e-12)

    kolkata = _tz_means(
        run("kolkata", "America/Los_Angeles", {**config, "timezone": "Asia/Kolkata"})
    )
    assert kolkata[:2] == pytest.approx(expected("abc"), rel=1e-12)


def test_the_days_an_experiment_has_been_assigning_are_days_of_timezone(tmp_path) -> None:
    """The power table's arrival rate divides by the days from the first assignment to the last,
    both counted: days of `timezone`. Assigned from 02:59 on March 3 to 23:47 on March 15 in
    New York, 13 days there, 14 in UTC (07:59 on the 3rd to 03:47 on the 16th)."""
    files, _ = _tz_files()
    exposures = ["experiment_id,unit_id,variant,assigned_at"]
    for unit in range(40):
        at = "2026-03-03 02:59:00" if unit < 20 else "2026-03-15 23:47:00"
        exposures.append(f"tz,{unit},{('control', 'treatment')[unit % 2]},{at}")
    files["exposures.csv"] = "\n".join(exposures) + "\n"
    root = tmp_path / "p"
    _write_project(root, files, TZ_SEEDS)
    config = {**RELIABILITY_CONFIG, "timezone": "America/New_York"}
    config.pop("variant_weights")
    run_dbt(["deps"], project_dir=root, work_dir=tmp_path / "deps").check()
    args = ["build", "--select", "+cuped__analysis_plan", "--exclude-resource-type", "test"]
    run = run_dbt(args, project_dir=root, work_dir=tmp_path / "w", variables={"cuped": config})
    with duckdb.connect(str(run.check().database), read_only=True) as con:
        days = con.sql("select distinct assignment_days from cuped__analysis_plan").fetchall()
    assert days == [(13,)]


def test_text_times_with_an_offset_stop_the_build_naming_the_column(tmp_path) -> None:
    """Text times are wall-clock times in `timezone`: plain ones (fractions of a second included)
    build; one with a UTC offset, which a cast to TIMESTAMP drops, stops the build naming the
    relation, the column and the value."""
    files = _reliability_files()
    files["events.csv"] += "0,2026-03-20 09:00:00.250,1.00\n"
    seeds = RELIABILITY_SEEDS.replace("event_at: timestamp, amount", "event_at: varchar, amount")
    root = tmp_path / "p"
    _write_project(root, files, seeds)
    variables = {"cuped": RELIABILITY_CONFIG}
    run_dbt(["deps"], project_dir=root, work_dir=tmp_path / "w").check()
    args = ["build", "--select", "+cuped_results_v1", "--exclude-resource-type", "test"]
    run_dbt(args, project_dir=root, work_dir=tmp_path / "w", variables=variables).check()

    (root / "seeds" / "events.csv").write_text(
        files["events.csv"] + "1,2026-03-20T14:00:00+05:00,2\n"
    )
    run = run_dbt(args, project_dir=root, work_dir=tmp_path / "w", variables=variables)
    assert run.returncode != 0
    message = (
        "cuped: metric 'spend': `timestamp_column`: column 'event_at' of "
        '"cuped"."main"."events" is text, and its value '
        "'2026-03-20T14:00:00+05:00' has a UTC offset or time zone after the time"
    )
    assert message in " ".join(run.output.split()), run.output[-3000:]


@pytest.mark.parametrize("relation", ["events", "attrs"])
def test_unit_ids_that_do_not_read_as_the_assignments_type_stop_the_build(
    tmp_path, relation
) -> None:
    """Text unit ids are joined to integer ones by casting the text. Ids that all read as numbers
    build (as they did before the check); one that does not would fail with a conversion error
    naming neither relation (DuckDB) or silently lose its rows (Spark): the build stops first,
    naming the key, both relations, both types and the id."""
    files = _reliability_files()
    files["attrs.csv"] = "unit_id,ltv\n" + "".join(f"{k},{k}\n" for k in range(20))
    seeds = (
        RELIABILITY_SEEDS + "  - name: attrs\n    config:\n      column_types: {unit_id: varchar}\n"
    )
    if relation == "events":
        seeds = seeds.replace(
            "column_types: {unit_id: bigint, event_at", "column_types: {unit_id: varchar, event_at"
        )
    config = {**RELIABILITY_CONFIG}
    if relation == "attrs":
        config["unit_attributes"] = {
            "relation": "attrs",
            "unit_column": "unit_id",
            "columns": ["ltv"],
        }
    root, work = tmp_path / "p", tmp_path / "w"
    _write_project(root, files, seeds)
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    args = ["build", "--select", "+cuped__unit_values", "--exclude-resource-type", "test"]
    built = run_dbt(args, project_dir=root, work_dir=work, variables={"cuped": config}).check()
    # joined by casting the text: every unit of `ok` keeps its post-period events (on the 20th)
    rows = [line.split(",") for line in files["events.csv"].splitlines()[1:]]
    expected = sum(float(a) for u, at, a in rows if u.isdigit() and int(u) < 20 and "-03-20" in at)
    with duckdb.connect(str(built.database), read_only=True) as con:
        found = con.sql(
            "select count(*), sum(metric_0_post) from cuped__unit_values where experiment_id = 'ok'"
        ).fetchall()[0]
    assert found[0] == 20 and found[1] == pytest.approx(expected, rel=1e-12)

    odd = "u7,2026-03-20 09:00:00,1.00\n" if relation == "events" else "u7,7\n"
    (root / "seeds" / f"{relation}.csv").write_text(files[f"{relation}.csv"] + odd)
    run = run_dbt(args, project_dir=root, work_dir=work, variables={"cuped": config})
    assert run.returncode != 0
    where = (
        "metric 'spend': `unit_column`" if relation == "events" else "`unit_attributes.unit_column`"
    )
    output = " ".join(run.output.split())
    for fragment in (  # the seed's varchar is DuckDB's `character varying(256)`
        f'cuped: {where}: column \'unit_id\' of "cuped"."main"."{relation}" is character varying',
        "but the assignments' unit ids (`assignment_columns.unit_id`, column 'unit_id' of "
        f'exposures) are bigint, and its id \'u7\' of "cuped"."main"."{relation}" is not a '
        "bigint. The package joins the two: cast one of them in a model over its relation",
    ):
        assert fragment in output, run.output[-3000:]

    # an id that casts, but to another id: DuckDB reads '2.5' as 3 (and '0x10' as 16, '0003' as
    # 3), which would count the row for unit 3; it stops the build too
    odd = "2.5,2026-03-20 09:00:00,1000.00\n" if relation == "events" else "2.5,7\n"
    (root / "seeds" / f"{relation}.csv").write_text(files[f"{relation}.csv"] + odd)
    run = run_dbt(args, project_dir=root, work_dir=work, variables={"cuped": config})
    assert run.returncode != 0
    output = " ".join(run.output.split())
    fragment = (
        f'its id \'2.5\' of "cuped"."main"."{relation}" is not a whole number written in digits '
        "(a cast would read it as 3)"
    )
    assert fragment in output, run.output[-3000:]


def test_a_column_named_like_a_keyword_is_quoted(tmp_path) -> None:
    """`at` is a column name DuckDB parses only quoted (`cast(at as timestamp)` is a syntax
    error): the package quotes every word DuckDB reserves or keeps for types and functions."""
    files = _reliability_files()
    files["events.csv"] = files["events.csv"].replace(
        "unit_id,event_at,amount", "unit_id,at,amount", 1
    )
    seeds = RELIABILITY_SEEDS.replace(
        "{unit_id: bigint, event_at: timestamp", "{unit_id: bigint, at: timestamp"
    )
    config = {
        **RELIABILITY_CONFIG,
        "metrics": [{**RELIABILITY_CONFIG["metrics"][0], "timestamp_column": "at"}],
    }
    root = tmp_path / "p"
    _write_project(root, files, seeds)
    run_dbt(["deps"], project_dir=root, work_dir=tmp_path / "w").check()
    args = ["build", "--select", "+cuped__unit_values", "--exclude-resource-type", "test"]
    run_dbt(args, project_dir=root, work_dir=tmp_path / "w", variables={"cuped": config}).check()


def test_an_unknown_time_zone_is_named(tmp_path) -> None:
    root, work = tmp_path / "p", tmp_path / "w"
    _write_project(root, _reliability_files(), RELIABILITY_SEEDS)
    config = {**RELIABILITY_CONFIG, "timezone": "Europe/Atlantis"}
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    run = run_dbt(["parse"], project_dir=root, work_dir=work, variables={"cuped": config})
    assert run.returncode != 0
    assert (
        "cuped: `timezone` must be an IANA time zone name such as UTC or Europe/Berlin, "
        "got: Europe/Atlantis"
    ) in run.output


# --- names the package gives meaning to ----------------------------------------------------------

#: Read with backslash escapes (as dbt's SQL parser does), the literal of this segment column
#: would close the model's CTE and end the statement: `'seg\\'') ; ('`.
SEGMENT = "seg\\') ; ("
BACKSLASH = 'it\\\'s; "spend" \\\\ */'


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {
                **RELIABILITY_CONFIG,
                "metrics": [
                    *RELIABILITY_CONFIG["metrics"],
                    {**RELIABILITY_CONFIG["metrics"][0], "name": "x@numerator"},
                ],
            },
            "cuped: metric 'x@numerator': `name` may not contain '@' (the package names a ratio "
            "covariate's parts '<name>@numerator' and '<name>@denominator'); rename the metric.",
        ),
        (
            _metric(name="pre_period"),
            "cuped: metric 'pre_period': `name` is a reserved word of `covariates` (`pre_period` "
            "is each metric's own pre-period value, `pre_period_indicator` the activity flag); "
            "rename the metric.",
        ),
        (
            {
                **RELIABILITY_CONFIG,
                "unit_attributes": {
                    "relation": "weights",
                    "unit_column": "variant",
                    "columns": ["all"],
                },
                "segments": ["all"],
            },
            "cuped: segment 'all' collides with the overall rows (segment_name = segment_value = "
            "'all'); rename the `unit_attributes` column, e.g. in a model over the relation.",
        ),
    ],
    ids=["x@numerator", "pre_period", "segment all"],
)
def test_a_name_the_package_gives_meaning_to_is_refused(tmp_path, config, message) -> None:
    root, work = tmp_path / "p", tmp_path / "w"
    _write_project(root, _reliability_files(), RELIABILITY_SEEDS)
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    run = run_dbt(["parse"], project_dir=root, work_dir=work, variables={"cuped": config})
    assert run.returncode != 0
    assert message in " ".join(run.output.split()), run.output[-3000:]
    assert "Traceback" not in run.output


def test_names_with_backslash_quote_are_carried_exactly(tmp_path) -> None:
    """A backslash before a quote used to end the string early for the parser dbt injects
    ephemeral models with (the capped metrics' thresholds are one, injected where the segment
    names are written), truncating the SQL."""
    root, work = tmp_path / "p", tmp_path / "w"
    files = _reliability_files()
    files["attrs.csv"] = f"unit_id,{SEGMENT}\n" + "".join(
        f"{u},{'ab'[u % 2]}\n" for u in range(400)
    )
    seeds = RELIABILITY_SEEDS + "  - name: attrs\n    config: {quote_columns: true}\n"
    _write_project(root, files, seeds)
    spend = {**RELIABILITY_CONFIG["metrics"][0], "cap": {"upper_quantile": 0.9}}
    config = {
        **RELIABILITY_CONFIG,
        "unit_attributes": {
            "relation": "attrs",
            "unit_column": "unit_id",
            "columns": [SEGMENT],
        },
        "segments": [SEGMENT],
        "metrics": [spend, {**spend, "name": BACKSLASH, "label": BACKSLASH + " label"}],
    }
    variables = {"cuped": config}
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    run_dbt(["seed"], project_dir=root, work_dir=work, variables=variables).check()
    run = run_dbt(["run"], project_dir=root, work_dir=work, variables=variables)
    assert run.returncode == 0, run.output[-3000:]
    with duckdb.connect(str(run.database), read_only=True) as con:
        rows = con.execute(
            "select metric_name, metric_label, control_mean, variant_mean, p_value "
            "from cuped_results where experiment_id = 'ok' and segment_name = 'all' "
            "order by metric_name = 'spend'"
        ).fetchall()
        caps = con.execute("select distinct metric_name from cuped_caps").fetchall()
    odd, plain = rows
    assert odd[:2] == (BACKSLASH, BACKSLASH + " label")
    assert odd[2:] == plain[2:] and plain[4] is not None
    assert sorted(caps) == sorted([(BACKSLASH,), ("spend",)])
    with duckdb.connect(str(run.database), read_only=True) as con:
        segments = con.execute(
            "select distinct segment_name, segment_value from cuped_health "
            "where experiment_id = 'ok' order by all"
        ).fetchall()
    assert segments == [("all", "all"), (SEGMENT, "a"), (SEGMENT, "b")]
