"""A/A calibration end to end: hundreds of A/A experiments through one `dbt build`.

A scratch project installs the package (as tests/test_package_install.py does) with one seed of
assignments holding N_EXPERIMENTS independent A/A experiments (random subsets of a shared user
pool, random arms, random exposure days) and one seed of skewed events before and after exposure,
correlated within a user. Assignment is independent of behaviour, so every null hypothesis is
true: the share of `cuped_results` rows with p < 0.05 must lie in the 99.9% binomial band around
0.05, for the CUPED and the unadjusted p-values. This checks the whole chain (windows, per-unit
values, moments in SQL, the core), not only the core's maths. Every experiment is configured in
`experiment_settings` (revenue primary, active a guardrail) and `planned_units` is reached, so
`cuped_decisions` uses the fixed-horizon rule: the share of A/A experiments shipped, and of those
rolled back, must not exceed alpha (beyond the binomial band).
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
import scipy.stats

from tests.dbt_runner import REPO, DbtRun, run_dbt

ALPHA = 0.05
N_EXPERIMENTS = 400
N_USERS = 4_000
UNITS_PER_EXPERIMENT = (200, 400)
START = datetime(2026, 1, 1)
DAYS = 60

PROJECT = """
name: aa_calibration
version: "1.0.0"
config-version: 2
profile: aa_calibration
flags:
  send_anonymous_usage_stats: false
vars:
  cuped:
    assignments: aa_assignments
    planned_units: 2
    metrics:
      - name: revenue
        source: aa_events
        unit_column: unit_id
        timestamp_column: event_at
        agg: sum
        value: amount
      - name: active
        type: proportion
        source: aa_events
        unit_column: unit_id
        timestamp_column: event_at
        covariates: [pre_period, revenue]
"""

SEEDS = """
version: 2
seeds:
  - name: aa_assignments
    config:
      column_types:
        experiment_id: varchar
        unit_id: bigint
        variant: varchar
        assigned_at: timestamp
  - name: aa_events
    config:
      column_types: {unit_id: bigint, event_at: timestamp, amount: double}
"""


def binomial_band(n: int, p: float = ALPHA, level: float = 0.999) -> tuple[int, int]:
    """Central `level` interval of Binomial(n, p): the counts a calibrated test lands in."""
    tail = (1.0 - level) / 2.0
    return int(scipy.stats.binom.ppf(tail, n, p)), int(scipy.stats.binom.isf(tail, n, p))


def _timestamp(seconds: float) -> str:
    return (START + timedelta(seconds=float(seconds))).strftime("%Y-%m-%d %H:%M:%S")


def _write_project(root: Path) -> None:
    rng = np.random.default_rng(20260101)
    (root / "seeds").mkdir(parents=True)
    # every experiment in roles: revenue must improve, active may lose at most 20%
    settings = "".join(
        f"      aa_{e:03d}: {{primary: [revenue], guardrails: [{{metric: active, margin: 0.2}}]}}\n"
        for e in range(N_EXPERIMENTS)
    )
    (root / "dbt_project.yml").write_text(
        textwrap.dedent(PROJECT) + "    experiment_settings:\n" + settings
    )
    (root / "profiles.yml").write_text(
        "aa_calibration:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('CUPED_DUCKDB_PATH') }}\"\n      threads: 4\n"
    )
    (root / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n")
    (root / "seeds" / "_seeds.yml").write_text(textwrap.dedent(SEEDS))

    # Users: an activity rate and a spend level, both heavy-tailed and stable over time, so the
    # pre-period predicts the post-period. Events are spread uniformly over DAYS days.
    rate = rng.gamma(0.6, 0.35, N_USERS)  # events per day
    level = rng.lognormal(3.0, 1.0, N_USERS)
    counts = rng.poisson(rate * DAYS)
    users = np.repeat(np.arange(N_USERS), counts)
    seconds = rng.uniform(0, DAYS * 86_400, users.size)
    amounts = level[users] * rng.lognormal(0.0, 0.6, users.size)
    events = ["unit_id,event_at,amount"]
    events += [
        f"{u},{_timestamp(s)},{a:.2f}" for u, s, a in zip(users, seconds, amounts, strict=True)
    ]

    # Experiments: a random subset of users, arms by coin flip, exposures over a week starting
    # on a random day, leaving at least 14 pre-period days and 14 post-period days.
    assignments = ["experiment_id,unit_id,variant,assigned_at"]
    for e in range(N_EXPERIMENTS):
        size = rng.integers(*UNITS_PER_EXPERIMENT, endpoint=True)
        units = rng.choice(N_USERS, size=size, replace=False)
        arms = np.where(rng.random(size) < 0.5, "control", "treatment")
        first_day = rng.integers(14, DAYS - 21)
        exposed = first_day * 86_400 + rng.uniform(0, 7 * 86_400, size)
        assignments += [
            f"aa_{e:03d},{u},{arm},{_timestamp(s)}"
            for u, arm, s in zip(units, arms, exposed, strict=True)
        ]
    (root / "seeds" / "aa_assignments.csv").write_text("\n".join(assignments) + "\n")
    (root / "seeds" / "aa_events.csv").write_text("\n".join(events) + "\n")


@pytest.fixture(scope="module")
def aa_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aa_project")
    _write_project(root)
    return root


@pytest.fixture(scope="module")
def aa_build(aa_project: Path, tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    work = tmp_path_factory.mktemp("aa_work")
    run_dbt(["deps"], project_dir=aa_project, work_dir=work).check()
    run_dbt(["seed"], project_dir=aa_project, work_dir=work).check()
    return run_dbt(["build"], project_dir=aa_project, work_dir=work).check()


def _query(run: DbtRun, sql: str) -> list[tuple]:
    with duckdb.connect(str(run.database), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_every_aa_experiment_is_analysed(aa_build: DbtRun) -> None:
    rows = _query(
        aa_build,
        "select metric_name, count(*), count(p_value), min(n_control + n_variant), "
        "max(n_control + n_variant), count(*) filter (where status <> 'ok') "
        "from cuped_results where segment_name = 'all' group by 1 order by 1",
    )
    assert [row[0] for row in rows] == ["active", "revenue"]
    for _, n_rows, n_p_values, min_units, max_units, n_not_ok in rows:
        assert n_rows == n_p_values == N_EXPERIMENTS and n_not_ok == 0
        assert UNITS_PER_EXPERIMENT[0] <= min_units <= max_units <= UNITS_PER_EXPERIMENT[1]


def test_cuped_removes_variance_in_the_aa_experiments(aa_build: DbtRun) -> None:
    # Without it the calibration below could pass with CUPED doing nothing.
    ((median,),) = _query(
        aa_build,
        "select median(variance_reduction) from cuped_results where metric_name = 'revenue'",
    )
    assert median > 0.1


@pytest.mark.parametrize("metric_name", ["revenue", "active"])
@pytest.mark.parametrize("column", ["p_value", "unadjusted_p_value"])
def test_aa_false_positive_rate_through_dbt_is_alpha_within_the_binomial_band(
    aa_build: DbtRun, metric_name: str, column: str
) -> None:
    ((hits, n),) = _query(
        aa_build,
        f"select count(*) filter (where {column} < {ALPHA}), count({column}) "
        f"from cuped_results where metric_name = '{metric_name}' and segment_name = 'all'",
    )
    lower, upper = binomial_band(n)
    assert n == N_EXPERIMENTS
    assert lower <= hits <= upper, f"{metric_name} {column}: {hits}/{n} outside [{lower}, {upper}]"


def test_aa_balance_false_positive_rate_through_dbt_is_alpha_within_the_binomial_band(
    aa_build: DbtRun,
) -> None:
    ((hits, n),) = _query(
        aa_build,
        f"select count(*) filter (where balance_p_value < {ALPHA}), count(balance_p_value) "
        "from cuped_balance where metric_name = 'revenue' and covariate = 'pre_period'",
    )
    lower, upper = binomial_band(n)
    assert n == N_EXPERIMENTS
    assert lower <= hits <= upper, f"balance: {hits}/{n} outside [{lower}, {upper}]"


def test_unadjusted_p_values_equal_a_welch_test_on_the_raw_seeds(
    aa_project: Path, aa_build: DbtRun
) -> None:
    # Independent of the package's SQL: per-unit post-exposure values straight from the CSVs.
    seeds = aa_project / "seeds"
    with duckdb.connect() as con:
        units = con.sql(
            f"""
            with assignments as (
                select * from read_csv('{seeds / "aa_assignments.csv"}',
                    types = {{'unit_id': 'BIGINT', 'assigned_at': 'TIMESTAMP'}})
            ),
            events as (
                select * from read_csv('{seeds / "aa_events.csv"}',
                    types = {{'unit_id': 'BIGINT', 'event_at': 'TIMESTAMP', 'amount': 'DOUBLE'}})
            )
            select
                assignments.experiment_id,
                assignments.unit_id,
                assignments.variant,
                coalesce(sum(events.amount) filter (where events.event_at >= assigned_at), 0)
                    as revenue,
                (count(events.event_at) filter (where events.event_at >= assigned_at) > 0)::int
                    as active
            from assignments
            left join events using (unit_id)
            group by all
            """
        ).df()
    expected = {
        (experiment_id, metric_name): scipy.stats.ttest_ind(
            group.loc[group.variant == "treatment", metric_name],
            group.loc[group.variant == "control", metric_name],
            equal_var=False,
        ).pvalue
        for experiment_id, group in units.groupby("experiment_id")
        for metric_name in ("revenue", "active")
    }
    actual = {
        (experiment_id, metric_name): p_value
        for experiment_id, metric_name, p_value in _query(
            aa_build,
            "select experiment_id, metric_name, unadjusted_p_value from cuped_results "
            "where segment_name = 'all'",
        )
    }
    assert actual.keys() == expected.keys()
    np.testing.assert_allclose(
        [actual[key] for key in sorted(expected)],
        [expected[key] for key in sorted(expected)],
        rtol=1e-9,
        atol=1e-12,
    )


def test_aa_decisions_ship_and_roll_back_at_most_alpha_through_dbt(aa_build: DbtRun) -> None:
    """A/A: shipping needs a primary improvement that is not there (one-sided, level alpha) and
    rolling back a deterioration that is not there (Holm over primary and guardrail); each
    happens in at most alpha of the experiments."""
    rows = dict(
        _query(
            aa_build,
            "select decision, count(*) from cuped_decisions "
            "where inference = 'fixed_horizon' group by 1",
        )
    )
    assert sum(rows.values()) == N_EXPERIMENTS, rows
    assert set(rows) <= {"ship", "roll_back", "inconclusive", "unhealthy"}, rows
    ((flagged,),) = _query(
        aa_build,
        "select count(distinct experiment_id) from cuped_health "
        "where srm_flag and segment_name = 'all'",
    )
    assert rows.get("unhealthy", 0) == flagged  # a chance SRM flag (p < 0.001) is unhealthy
    _, upper = binomial_band(N_EXPERIMENTS)
    assert rows.get("ship", 0) <= upper, rows
    assert rows.get("roll_back", 0) <= upper, rows
    assert rows.get("ship", 0) > 0, "the rule never ships: the guardrail margin blocks it all"
