"""Incremental builds (`incremental:` in the `cuped` var) give the numbers of a full build.

A scratch project reads its events, exposures and users as dbt sources over tables this test
writes into the DuckDB file between runs, the way a loader appends to a warehouse. Events have a
day they happen and a day they arrive: most arrive the same day, some a day late (inside the
two-day lookback), a few five days late (outside it). Each incremental run sees what has arrived
by its day; the reference is a build with `incremental: false` (every event read by the ordinary
path) over the rows the incremental run can have counted: everything that has arrived, except the
rows that arrived after the boundary of their day had passed (cuped__unit_settled). A second
experiment's exposures arrive mid-way, with history before the boundary; a metric is added and a
filter changed (both rebuild the stored values); a run without new rows changes nothing; and
`--full-refresh` reads the late rows too. Amounts are whole numbers, so every per-unit sum is exact
in any order and the public tables agree to 1e-12.
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tests.dbt_runner import run_dbt, write_installing_project
from tests.helpers import (
    PUBLIC_TABLES,
    assert_same_tables,
    incremental_demo_copy,
    undeclared_reads,
)

START = pd.Timestamp("2026-03-01")
LOOKBACK = 2
#: the public tables compared, each with the columns that identify a row
TABLES = {**PUBLIC_TABLES, "cuped_decisions": ["experiment_id", "variant"]}
EVENTS = {"source": "source:raw.events", "unit_column": "unit_id", "timestamp_column": "event_at"}
CONFIG = {
    "assignments": "source:raw.exposures",
    "pre_period_days": 7,
    "daily_series": True,
    "incremental": {"lookback_days": LOOKBACK},
    "unit_attributes": {"relation": "source:raw.users", "columns": ["ltv", "platform"]},
    "segments": ["platform"],
    "experiment_settings": {"beta": {"pre_period_days": 5}},
    "metrics": [
        {
            "name": "revenue",
            **EVENTS,
            "value": "amount",
            "filter": "kind = 'buy'",
            "covariates": ["pre_period", "ltv"],
        },
        {
            "name": "revenue_capped",
            **EVENTS,
            "value": "amount",
            "filter": "kind = 'buy'",
            "cap": {"upper_quantile": 0.9},
        },
        {"name": "views", **EVENTS, "agg": "count", "filter": "kind = 'view'"},
        {"name": "largest", **EVENTS, "agg": "max", "value": "amount"},
        {"name": "bought", **EVENTS, "type": "proportion", "filter": "kind = 'buy'"},
        {"name": "revenue_3d", **EVENTS, "value": "amount", "window_days": 3},
        {"name": "rating", **EVENTS, "agg": "max", "value": "rating", "missing": "exclude"},
        {
            "name": "revenue_per_view",
            "type": "ratio",
            "numerator": "revenue",
            "denominator": "views",
        },
        {
            "name": "median_revenue",
            **EVENTS,
            "type": "quantile",
            "quantile": 0.5,
            "value": "amount",
            "filter": "kind = 'buy'",
        },
    ],
}


def _data(seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Exposures (with the day they arrive), events (with the day they arrive) and users."""
    rng = np.random.default_rng(seed)
    exposures, events = [], []
    for unit in range(700):
        beta = unit >= 500
        experiment = "beta" if beta else "alpha"
        variant = ("control", "treatment")[unit % 2]
        assigned = START + pd.Timedelta(
            days=float(rng.uniform(3, 9) if beta else rng.uniform(0, 8))
        )
        # beta's exposures reach the warehouse on day 11, with days of history behind them
        exposures.append((experiment, unit, variant, assigned, 11 if beta else assigned.day - 1))
        busy = rng.gamma(2.0, 1.0)
        for _ in range(rng.poisson(4 * busy)):
            at = assigned + pd.Timedelta(days=float(rng.uniform(-8, 12)))
            lift = 3 if (variant == "treatment" and at >= assigned) else 0
            kind = "buy" if rng.random() < 0.4 else "view"
            amount = (
                float(rng.integers(1, 40) + lift) if kind == "buy" else float(rng.integers(0, 3))
            )
            rating = float(rng.integers(1, 6)) if rng.random() < 0.2 else None
            day = (at.normalize() - START).days
            late = rng.random()
            arrives = day + (5 if late < 0.03 else 1 if late < 0.15 else 0)
            events.append((unit, at, kind, amount, rating, day, arrives))
    exposures = pd.DataFrame(
        exposures, columns=["experiment_id", "unit_id", "variant", "assigned_at", "arrives"]
    )
    events = pd.DataFrame(
        events, columns=["unit_id", "event_at", "kind", "amount", "rating", "day", "arrives"]
    )
    users = pd.DataFrame({"unit_id": range(700)})
    users["ltv"] = np.round(rng.gamma(2.0, 10.0, len(users)), 0)
    users["platform"] = np.where(users["unit_id"] % 3, "ios", "web")
    return exposures, events, users


def _counted(events: pd.DataFrame, exposures: pd.DataFrame, days: list[int]) -> pd.Series:
    """Which events the incremental runs on `days` (the first one a full build) have counted by
    the last of them. A unit's run reads all of its events that have arrived when the unit is new
    (its exposure has just arrived); after that, a run reads the events that arrived since the
    previous run only from the boundary that run left on: the start of the day `LOOKBACK` days
    before the latest event it saw."""
    arrived_unit = exposures.set_index("unit_id")["arrives"]
    first_run = arrived_unit.map(
        lambda arrives: min((d for d in days if d >= max(arrives, days[0])), default=10**6)
    )
    unit_first_run = events["unit_id"].map(first_run)
    counted = pd.Series(False, index=events.index)
    boundary = None
    for day in days:
        arrived = events["arrives"] <= day
        new = arrived & ~counted
        if boundary is not None:
            new &= (events["day"] >= boundary) | (unit_first_run == day)
        counted |= new
        latest = events.loc[arrived, "day"].max()
        boundary = latest - LOOKBACK if boundary is None else max(latest - LOOKBACK, boundary)
    return counted


def _load(database: Path, exposures, events, users, day: int, keep: pd.Series | None = None):
    """The raw tables as of `day`: the exposures and events that have arrived (of the events,
    those in `keep` if given)."""
    rows = events[events["arrives"] <= day] if keep is None else events[keep]
    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as con:
        for name, frame in (
            ("exposures", exposures[exposures["arrives"] <= day].drop(columns="arrives")),
            ("events", rows.drop(columns=["day", "arrives"])),
            ("users", users),
        ):
            con.register("frame", frame)
            con.execute(f"create or replace table main.{name} as select * from frame")
            con.unregister("frame")


def _write_project(root: Path) -> None:
    write_installing_project(root)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "_sources.yml").write_text(
        "version: 2\nsources:\n  - name: raw\n    schema: main\n"
        "    tables: [{name: exposures}, {name: events}, {name: users}]\n"
    )


def _tables(database: Path, names=None) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {name: con.sql(f"select * from {name}").df() for name in names or TABLES}


class Scenario:
    """The incremental project and a reference project, each with its own DuckDB file. The
    reference builds run in a worker thread (each a dbt process) while the next incremental run
    goes on, so the two builds of each step share the machine's cores."""

    def __init__(self, tmp: Path) -> None:
        self.exposures, self.events, self.users = _data()
        self.root, self.work = tmp / "project", tmp / "work"
        self.reference_work = tmp / "reference"
        _write_project(self.root)
        run_dbt(["deps"], project_dir=self.root, work_dir=self.work).check()
        self.days: list[int] = []
        self.references = ThreadPoolExecutor(max_workers=1)

    def run(self, day: int, config: dict, command: str = "run", args: tuple = ()) -> dict:
        """An incremental `dbt run` on `day` (rows arrived by then), returning its public tables
        (and the run's output under the key "output")."""
        _load(self.work / "cuped.duckdb", self.exposures, self.events, self.users, day)
        self.days.append(day)
        run = run_dbt(
            [command, *args],
            project_dir=self.root,
            work_dir=self.work,
            variables={"cuped": config},
        ).check()
        return {**_tables(self.work / "cuped.duckdb"), "output": run.output}

    def reference(self, day: int, config: dict, keep: pd.Series) -> Future:
        """A build with `incremental: false` over the rows arrived by `day` that are in `keep`
        (its public tables, when the future is done)."""

        def build() -> dict:
            _load(
                self.reference_work / "cuped.duckdb",
                self.exposures,
                self.events,
                self.users,
                day,
                keep & (self.events["arrives"] <= day),
            )
            full = {**config, "incremental": False}
            run_dbt(
                ["run"],
                project_dir=self.root,
                work_dir=self.reference_work,
                variables={"cuped": full},
            ).check()
            return _tables(self.reference_work / "cuped.duckdb")

        return self.references.submit(build)

    def state(self) -> pd.DataFrame:
        with duckdb.connect(str(self.work / "cuped.duckdb"), read_only=True) as con:
            return con.sql("select * from cuped_incremental_state").df()


def _values_alone_fail(scenario: Scenario, config: dict) -> str:
    """`dbt run --select cuped__unit_values` alone, which must fail: its output, spaces folded."""
    run = run_dbt(
        ["run", "--select", "cuped__unit_values"],
        project_dir=scenario.root,
        work_dir=scenario.work,
        variables={"cuped": config},
    )
    assert run.returncode != 0
    return " ".join(run.output.split())


def test_incremental_runs_equal_a_full_build_of_what_they_read(tmp_path: Path) -> None:
    scenario = Scenario(tmp_path)
    checks: list[tuple[str, dict, Future]] = []
    every_row = pd.Series(True, index=scenario.events.index)
    # the project was built before without `incremental`, as a project that turns it on was
    scenario.run(8, {**CONFIG, "incremental": False})
    scenario.days = []
    # day 8: the first incremental run (`dbt build`, with the package's tests) stores the values
    # before its boundary (day 6); day 11 folds three days, reads the rows that arrived a day
    # late, brings beta's exposures with days of history before the boundary, and the first rows
    # five days late (before the boundary: not read)
    for day, command in ((8, "build"), (11, "run")):
        got = scenario.run(day, CONFIG, command)
        keep = _counted(scenario.events, scenario.exposures, scenario.days)
        checks.append((f"day {day}", got, scenario.reference(day, CONFIG, keep)))
    assert ((scenario.events["arrives"] <= 11) & ~keep).sum() > 0
    # a run without new rows changes nothing
    checks.append(("day 11 again", scenario.run(11, CONFIG), checks[-1][2]))
    state = scenario.state().set_index("experiment_id")
    assert set(state.index) == {"alpha", "beta"}
    assert (state["settled_until"] == (START + pd.Timedelta(days=11 - LOOKBACK))).all()
    assert (state["lookback_days"] == LOOKBACK).all()
    assert state.loc["beta", "values_rebuilt_at"] > state.loc["alpha", "values_rebuilt_at"]
    # a changed filter and a new metric rebuild the stored values from every row (as the first
    # run and `--full-refresh` do): the late rows count again; day 12 then folds into them
    changed = copy.deepcopy(CONFIG)
    changed["metrics"][2]["filter"] = "kind = 'view' and amount > 0"
    changed["metrics"].insert(
        1, {"name": "buys", **EVENTS, "agg": "count", "filter": "kind = 'buy'"}
    )
    checks.append(
        (
            "changed definitions",
            scenario.run(11, changed),
            scenario.reference(11, changed, every_row),
        )
    )
    scenario.days = [11]
    got = scenario.run(12, changed)
    checks.append(
        (
            "day 12",
            got,
            scenario.reference(
                12, changed, _counted(scenario.events, scenario.exposures, scenario.days)
            ),
        )
    )
    # building the values without the stored ones of the current definitions stops the run
    newer = copy.deepcopy(changed)
    newer["metrics"][0]["filter"] = "kind = 'buy' and amount > 1"
    assert "analysed units have no stored values for the current assignments and metric" in (
        _values_alone_fail(scenario, newer)
    )
    for label, got, reference in checks:
        assert_same_tables(got, reference.result(), label, TABLES)


def test_a_backfill_counts_the_rows_that_arrived_after_their_day_had_settled(
    tmp_path: Path,
) -> None:
    """Rows five days late, for days before the boundary, are not read by the daily runs. A run
    given their days with dbt's `--event-time-start` and `--event-time-end` computes every unit
    with an event in them again from all its rows (in the stored values and the daily series),
    and equals a full build of every row that has arrived; a second such run changes nothing."""
    scenario = Scenario(tmp_path)
    for day, command in ((8, "build"), (11, "run")):
        scenario.run(day, CONFIG, command)
    arrived = scenario.events["arrives"] <= 11
    late = arrived & ~_counted(scenario.events, scenario.exposures, scenario.days)
    assert late.sum() > 0
    late_days = scenario.events.loc[late, "day"]
    backfill = (
        "--event-time-start",
        str(START + pd.Timedelta(days=int(late_days.min()))),
        "--event-time-end",
        str(START + pd.Timedelta(days=int(late_days.max()) + 1)),
    )
    every_arrived = scenario.reference(11, CONFIG, arrived)
    first = scenario.run(11, CONFIG, args=backfill)
    assert "cuped: backfill of the events from" in first.pop("output")
    second = scenario.run(11, CONFIG, args=backfill)
    second.pop("output")
    state = scenario.state()
    assert (state["settled_until"] == (START + pd.Timedelta(days=11 - LOOKBACK))).all()
    for label, got in (("backfill", first), ("backfill again", second)):
        assert_same_tables(got, every_arrived.result(), label, TABLES)
    # days the runs read anyway: nothing to do, and the log says so
    after = ("--event-time-start", str(START + pd.Timedelta(days=10)), "--event-time-end")
    output = scenario.run(11, CONFIG, args=(*after, str(START + pd.Timedelta(days=12))))["output"]
    assert "cuped: nothing to backfill from" in " ".join(output.split())
    # the stored values without the daily series (or the reverse) would count other rows: refused
    run = run_dbt(
        ["run", "--select", "cuped__unit_settled", *backfill],
        project_dir=scenario.root,
        work_dir=scenario.work,
        variables={"cuped": CONFIG},
    )
    assert run.returncode != 0
    assert "selects cuped__unit_settled without cuped__unit_daily_values" in " ".join(
        run.output.split()
    )


def test_turning_the_daily_series_on_reads_every_row_for_both(tmp_path: Path) -> None:
    """Incremental runs without the daily series miss the rows five days late; the run that turns
    it on computes the series from every row, and the stored values with it (a changed
    fingerprint), so the results and the series count the same rows: a full build's."""
    scenario = Scenario(tmp_path)
    without = {**CONFIG, "daily_series": False}
    for day, command in ((8, "build"), (11, "run")):
        scenario.run(day, without, command)
    arrived = scenario.events["arrives"] <= 11
    assert (arrived & ~_counted(scenario.events, scenario.exposures, scenario.days)).sum() > 0
    every_arrived = scenario.reference(11, CONFIG, arrived)
    assert_same_tables(scenario.run(11, CONFIG), every_arrived.result(), "daily on", TABLES)


def test_an_event_dated_in_the_future_does_not_settle_the_days_before_it(tmp_path: Path) -> None:
    """One row dated 2099 (a wrong clock, a unit never assigned) used to move the boundary to
    2098: every later run settled nothing and read none of the rows that arrived after the first.
    The boundary now comes from the events up to the run's start, the future row is read again
    on every run, and each run warns, naming the metrics."""
    scenario = Scenario(tmp_path)
    events = scenario.events
    future = pd.DataFrame(
        [(99999, pd.Timestamp("2099-01-01"), "view", 1.0, None, 10**5, 0)], columns=events.columns
    )
    scenario.events = pd.concat([events, future], ignore_index=True)
    outputs = [scenario.run(day, CONFIG, command)["output"] for day, command in ((8, "build"),)]
    got = scenario.run(11, CONFIG)
    outputs.append(got.pop("output"))
    counted = _counted(events, scenario.exposures, scenario.days)
    keep = pd.concat([counted, pd.Series([True])], ignore_index=True)
    assert (counted & (events["arrives"] > 8)).sum() > 0  # rows the runs after the first read
    assert_same_tables(got, scenario.reference(11, CONFIG, keep).result(), "future row", TABLES)
    for output in outputs:
        assert "go up to 2099-01-01 00:00:00 (UTC), after this run started" in output, output
        assert "'revenue', 'revenue_capped', 'views'" in output
    assert scenario.state()["latest_event_at"].max() == pd.Timestamp("2099-01-01")


def test_units_the_results_compute_again_the_daily_series_computes_again(tmp_path: Path) -> None:
    """A changed `pre_period_days` (beta's, on day 12) makes cuped__unit_settled compute beta's
    units from every row, the rows that arrived too late included; the daily series used to keep
    its rows of them (their post windows had not changed) and count fewer rows than the results.
    Both now compute them again. A run of one of the two models alone is refused."""
    scenario = Scenario(tmp_path)
    for day, command in ((8, "build"), (11, "run")):
        scenario.run(day, CONFIG, command)
    changed = copy.deepcopy(CONFIG)
    changed["experiment_settings"]["beta"]["pre_period_days"] = 4
    got = scenario.run(12, changed)
    got.pop("output")
    events, exposures = scenario.events, scenario.exposures
    beta = events["unit_id"].isin(exposures.loc[exposures["experiment_id"] == "beta", "unit_id"])
    every_arrived = events["arrives"] <= 12
    counted = _counted(events, exposures, scenario.days)
    assert (beta & every_arrived & ~counted).sum() > 0  # rows only the computation again reads
    keep = counted | (beta & every_arrived)
    assert_same_tables(got, scenario.reference(12, changed, keep).result(), "pre-period", TABLES)

    for alone in ("cuped__unit_settled", "cuped__unit_daily_values"):
        run = run_dbt(
            ["run", "--select", alone],
            project_dir=scenario.root,
            work_dir=scenario.work,
            variables={"cuped": changed},
        )
        assert run.returncode != 0
        assert "an incremental run builds cuped__unit_settled and cuped__unit_daily_values" in (
            " ".join(run.output.split())
        )


def test_an_experiment_gone_for_a_run_is_computed_again_when_it_returns(tmp_path: Path) -> None:
    """Alpha's exposures vanish on day 11 and return on day 12: cuped__unit_settled dropped its
    units' rows and computes them again from every row; the daily series, which kept its rows,
    used to continue them and miss the rows that had arrived late meanwhile."""
    scenario = Scenario(tmp_path)
    exposures = scenario.exposures
    scenario.run(8, CONFIG, "build")
    scenario.exposures = exposures.assign(
        arrives=exposures["arrives"].where(exposures["experiment_id"] != "alpha", 10**6)
    )
    scenario.run(11, CONFIG)
    scenario.exposures = exposures
    got = scenario.run(12, CONFIG)
    got.pop("output")
    first_seen = exposures.assign(
        arrives=exposures["arrives"].where(exposures["experiment_id"] != "alpha", 12)
    )
    keep = _counted(scenario.events, first_seen, scenario.days)
    assert_same_tables(got, scenario.reference(12, CONFIG, keep).result(), "returned", TABLES)


def test_a_unit_whose_variant_changed_is_computed_again(tmp_path: Path) -> None:
    """A fifth of alpha's units move to the other variant on day 12 (their exposure time kept):
    cuped__unit_settled stores each unit's variant with its values, and a unit whose variant
    changed is computed again from every row, as a new one is (the daily series too), so the
    analysed units can be read from the stored rows without joining every unit to its row."""
    scenario = Scenario(tmp_path)
    exposures = scenario.exposures
    scenario.run(8, CONFIG, "build")
    moved = (exposures["experiment_id"] == "alpha") & (exposures["unit_id"] % 5 == 0)
    other = {"control": "treatment", "treatment": "control"}
    scenario.exposures = exposures.assign(
        variant=exposures["variant"].where(~moved, exposures["variant"].map(other))
    )
    got = scenario.run(12, CONFIG)
    got.pop("output")
    first_seen = exposures.assign(arrives=exposures["arrives"].where(~moved, 12))
    keep = _counted(scenario.events, first_seen, scenario.days)
    units = set(exposures.loc[moved, "unit_id"])
    late = scenario.events["unit_id"].isin(units) & (scenario.events["arrives"] <= 12)
    assert (late & ~_counted(scenario.events, exposures, scenario.days)).sum() > 0
    assert_same_tables(got, scenario.reference(12, CONFIG, keep).result(), "moved", TABLES)
    with duckdb.connect(str(scenario.work / "cuped.duckdb"), read_only=True) as con:
        stored = con.sql(
            "select s.unit_id, s.variant, v.variant from cuped__unit_settled as s"
            " join cuped__unit_values as v using (experiment_id, unit_id)"
        ).df()
    stored.columns = ["unit_id", "settled", "values"]
    want = scenario.exposures.set_index("unit_id")["variant"]
    assert (stored["settled"] == stored["unit_id"].map(want)).all()
    assert (stored["values"] == stored["settled"]).all()
    # a stored row twice (no run writes one) is a unit twice in the values: the run stops
    with duckdb.connect(str(scenario.work / "cuped.duckdb")) as con:
        con.execute(
            "insert into cuped__unit_settled select * from cuped__unit_settled where unit_id = 5"
        )
    assert "1 more rows than there are analysed units, e.g. experiment 'alpha', unit 5 x2" in (
        _values_alone_fail(scenario, CONFIG)
    )


def test_demo_in_two_incremental_runs_equals_its_full_build(demo_build, tmp_path: Path) -> None:
    """The demo with `incremental: true`, built first on its events up to October 20 and then on
    all of them (the daily series included), equals the README's full build."""
    project = tmp_path / "demo"
    seeds = incremental_demo_copy(project, before="2026-10-20")
    work = tmp_path / "work"
    run_dbt(["build"], project_dir=project, work_dir=work).check()
    for name, text in seeds.items():
        (project / "seeds" / name).write_text(text)
    run_dbt(["build"], project_dir=project, work_dir=work).check()
    got, want = _tables(work / "cuped.duckdb"), _tables(demo_build.database)
    assert_same_tables(got, want, "demo", TABLES)
    # the incremental models read the event sources: each compiled read is a dependency
    reads = undeclared_reads(work / "target")
    assert "cuped__unit_settled" in reads and not any(reads.values()), reads
    with duckdb.connect(str(work / "cuped.duckdb"), read_only=True) as con:
        boundary = con.sql("select distinct settled_until from cuped_incremental_state").fetchall()
    assert boundary == [(pd.Timestamp("2026-10-29").to_pydatetime(),)]


def test_where_midnight_happens_twice_the_day_starts_at_the_first(tmp_path: Path) -> None:
    """Atlantic/Azores puts its clocks back from 01:00 to 00:00 on 2026-10-25, so local midnight
    happens at 00:00 and again at 01:00 UTC; the day starts at the first. The boundary of a run
    whose latest events are of local October 27 (lookback 2) is that first midnight: rows dated
    between the two, arriving late within the lookback, are counted, and the daily series keeps
    the day's first hour, as a full build of the same rows does. (The boundary was the second
    midnight: the results missed the late rows and the daily series that hour's events.) Event
    and exposure times are instants: TIMESTAMPTZ_NS in the incremental project, TIMESTAMPTZ in
    the reference."""
    rng = np.random.default_rng(3)
    exposures, events = [], []
    for unit in range(160):
        assigned = pd.Timestamp("2026-10-22") + pd.Timedelta(hours=float(rng.uniform(0, 48)))
        exposures.append(("alpha", unit, ("control", "treatment")[unit % 2], assigned, 0))
        for _ in range(rng.poisson(5)):
            at = pd.Timestamp("2026-10-18") + pd.Timedelta(hours=float(rng.uniform(0, 9 * 24)))
            events.append((unit, at, "buy", float(rng.integers(1, 30)), 1.0, 0, 0))
        # the repeated hour (local 00:00-01:00 of October 25, its first time): one row in the first
        # run, one arriving late in the second (within the lookback), one on the third's day
        first_hour = pd.Timestamp("2026-10-25 00:05") + pd.Timedelta(minutes=float(unit % 50))
        events.append((unit, first_hour, "buy", 7.0, 1.0, 0, 0 if unit % 3 else 1))
    # the latest events of the first two runs are of local October 27, of the third October 28
    events.append((1, pd.Timestamp("2026-10-27 12:00"), "view", 1.0, 1.0, 0, 0))
    events.append((0, pd.Timestamp("2026-10-28 12:00"), "view", 1.0, 1.0, 0, 2))
    columns = ["unit_id", "event_at", "kind", "amount", "rating", "day", "arrives"]
    events = pd.DataFrame(events, columns=columns)
    exposures = pd.DataFrame(
        exposures, columns=["experiment_id", "unit_id", "variant", "assigned_at", "arrives"]
    )
    assert events.loc[events["arrives"] < 2, "event_at"].max() == pd.Timestamp("2026-10-27 12:00")
    users = pd.DataFrame({"unit_id": range(160), "ltv": 1.0, "platform": "ios"})
    config = {
        "assignments": "source:raw.exposures",
        "timezone": "Atlantic/Azores",
        "pre_period_days": 3,
        "daily_series": True,
        "incremental": {"lookback_days": 2},
        "metrics": [
            {"name": "revenue", **EVENTS, "value": "amount", "filter": "kind = 'buy'"},
            {"name": "events", **EVENTS, "agg": "count"},
        ],
    }
    root = tmp_path / "project"
    _write_project(root)
    run_dbt(["deps"], project_dir=root, work_dir=tmp_path / "work").check()

    def load(database: Path, day: int, instant: str) -> None:
        _load(database, exposures, events, users, day)
        with duckdb.connect(str(database)) as con:  # the times as instants, read in UTC
            for table, column in (("events", "event_at"), ("exposures", "assigned_at")):
                con.execute(
                    f"create or replace table main.{table} as select * replace "
                    f"(cast(timezone('UTC', {column}) as {instant}) as {column}) from main.{table}"
                )
                ((kind,),) = con.sql(
                    f"select typeof({column}) from main.{table} limit 1"
                ).fetchall()
                assert kind == {"timestamptz": "TIMESTAMP WITH TIME ZONE"}.get(
                    instant, instant.upper()
                )

    for day in (0, 1, 2):
        # instants in nanoseconds (DuckDB's TIMESTAMPTZ_NS, what tz-aware pandas and Parquet
        # columns become) were read as wall-clock times; the reference reads microseconds
        load(tmp_path / "work" / "cuped.duckdb", day, "timestamptz_ns")
        run_dbt(
            ["run"], project_dir=root, work_dir=tmp_path / "work", variables={"cuped": config}
        ).check()
        load(tmp_path / f"full_{day}" / "cuped.duckdb", day, "timestamptz")
        run_dbt(
            ["run"],
            project_dir=root,
            work_dir=tmp_path / f"full_{day}",
            variables={"cuped": {**config, "incremental": False}},
        ).check()
        got = _tables(tmp_path / "work" / "cuped.duckdb")
        want = _tables(tmp_path / f"full_{day}" / "cuped.duckdb")
        assert_same_tables(got, want, f"run {day}", TABLES)
    with duckdb.connect(str(tmp_path / "work" / "cuped.duckdb"), read_only=True) as con:
        (settled,) = con.sql(
            "select distinct settled_until from cuped_incremental_state"
        ).fetchall()
    assert settled[0] == pd.Timestamp("2026-10-26 01:00")  # local October 26 starts in winter time


def test_the_row_hash_sum_tells_apart_rows_that_swap_their_analysis_end(tmp_path: Path) -> None:
    """cuped__settled_is_current takes the stored values as the analysed units when the counts and
    the sums of a hash of each row agree. DuckDB's hash() of several values XORs the last one's
    hash into a mix of the others, so two units that swap their analysis end keep a plain sum of
    row hashes whenever their mixed prefixes agree on the bits where the two ends' hashes differ:
    such a pair is searched for here, and the package's sum must tell both sets apart."""
    x, y = "timestamp '2026-04-01'", "timestamp '2026-05-01'"
    prefix = "'e', cast({u} as bigint), 'control', timestamp '2026-03-01', timestamp '2026-02-22'"
    with duckdb.connect() as con:
        d = con.execute(f"select xor(hash({x}), hash({y}))").fetchone()[0]
        pair = con.execute(
            f"select min(u), max(u) from (select i as u, xor(hash({prefix.format(u='i')}, {x}),"
            f" hash({x})) & {d}::ubigint as k from range(300000) as t(i))"
            " group by k having count(*) > 1 limit 1"
        ).fetchall()
    assert pair, "no such pair: DuckDB's hash() no longer ends in an XOR of the last value"
    u1, u2 = pair[0]

    def rows(first: str, second: str) -> str:
        one, two = prefix.format(u=u1), prefix.format(u=u2)
        return f"select {one}, {first} union all select {two}, {second}"

    root = tmp_path / "project"
    _write_project(root)
    (root / "macros").mkdir()
    (root / "macros" / "probe.sql").write_text(
        "{% macro probe(a, b) %}\n"
        "  {%- set cols = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'] -%}\n"
        "  {%- set expr = cuped.cuped__row_hash_sum(cols) -%}\n"
        "  {%- set named = ' as t(' ~ (cols | join(', ')) ~ ')' -%}\n"
        "  {%- set row = run_query('select (select ' ~ expr ~ ' from (' ~ a ~ ')' ~ named ~ '),"
        " (select ' ~ expr ~ ' from (' ~ b ~ ')' ~ named ~ ')').rows[0] -%}\n"
        "  {{ print('SUMS ' ~ (row[0] | string) ~ ' ' ~ (row[1] | string)) }}\n"
        "{% endmacro %}\n"
    )
    work = tmp_path / "work"
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    run = run_dbt(
        ["run-operation", "probe", "--args", json.dumps({"a": rows(x, y), "b": rows(y, x)})],
        project_dir=root,
        work_dir=work,
        variables={"cuped": CONFIG},
    ).check()
    sums = next(line for line in run.output.splitlines() if "SUMS " in line).split()[-2:]
    assert sums[0] != sums[1], sums
