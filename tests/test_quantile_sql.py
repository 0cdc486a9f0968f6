"""The SQL macro cuped__quantile_inputs, rendered by dbt and run by DuckDB on generated data,
against the same per-arm inputs computed by numpy from the rows (tests/quantile_reference.py).

dbt renders every case once (``dbt compile --inline``, with the package's dispatch to DuckDB);
the SQL then runs on tables registered in an in-memory DuckDB. Data: continuous clustered event
values (units without events as rows with a null value), integer values with many ties at the
quantile, and arms too small for a standard error (one value, one unit, no values, too few values
beyond the 0.99 quantile).
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cuped_stats import QuantileArm, analyze_quantile
from tests.dbt_runner import REPO, run_dbt
from tests.quantile_reference import reference_arm

KEYS = ["experiment_id", "segment_value", "variant"]
QUANTILES = (0.5, 0.9, 0.99)
CASES: dict[str, tuple[str, str, float, str, float]] = {
    # name: (relation, level, quantile, value expression, band_z)
    **{f"unit_{q}": ("quantile_units", "unit", q, "value", 1.959963984540054) for q in QUANTILES},
    **{
        f"event_{q}": ("quantile_events", "event", q, "value", 1.959963984540054) for q in QUANTILES
    },
    "event_expression": ("quantile_events", "event", 0.9, "value * 2 + 1", 1.0),
}
OUTPUTS = list(QuantileArm.__dataclass_fields__)[1:]
MARKER = "-- cuped-case "


def _call(relation: str, level: str, q: float, value: str, band_z: float) -> str:
    return (
        f"{{{{ cuped__quantile_inputs('{relation}', {KEYS!r}, '{value}', {q}, '{level}', "
        f"unit_id='unit_id', band_z={band_z}) }}}}"
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every case's SQL, rendered by dbt in one `dbt compile --inline`."""
    inline = "\n".join(f"{MARKER}{name}\n{_call(*case)}" for name, case in CASES.items())
    run = run_dbt(
        ["compile", "--quiet", "--inline", inline],
        project_dir=REPO,
        work_dir=Path(tmp_path_factory.mktemp("quantile_sql")),
    ).check()
    sql: dict[str, str] = {}
    for block in run.output.split(MARKER)[1:]:
        name, _, body = block.partition("\n")
        sql[name.strip()] = body
    assert set(sql) == set(CASES), run.output[-3000:]
    return sql


def _events() -> pd.DataFrame:
    """Event rows (experiment_id, segment_value, variant, unit_id, value)."""
    rng = np.random.default_rng(2026)
    frames = []

    def add(experiment, segment, variant, units, values):
        frames.append(
            pd.DataFrame(
                {
                    "experiment_id": experiment,
                    "segment_value": segment,
                    "variant": variant,
                    "unit_id": [f"{experiment}-{variant}-{u}" for u in units],
                    "value": values,
                }
            )
        )

    for segment in ("s0", "s1"):
        for variant, lift in (("control", 1.0), ("treatment", 1.1), ("other", 0.95)):
            n = int(rng.integers(300, 600))
            trait = rng.standard_normal(n)
            counts = rng.poisson(4 * np.exp(0.5 * trait - 0.125))
            units = np.repeat(np.arange(n), counts)
            values = lift * np.exp(0.6 * trait[units] + rng.standard_normal(len(units)))
            empty = np.flatnonzero(counts == 0)
            add(
                "continuous",
                segment,
                variant,
                np.concatenate([units, empty]),
                np.concatenate([values, np.full(len(empty), np.nan)]),
            )
    for variant in ("control", "treatment"):
        counts = rng.poisson(3, 400)
        units = np.repeat(np.arange(400), counts)
        add("ties", "all", variant, units, rng.geometric(0.4, len(units)).astype(float))
    add("small", "all", "control", [0], [5.0])
    add("small", "all", "treatment", [0, 0, 1], [1.0, 2.0, 3.0])
    add("small", "all", "empty", [0, 1], [np.nan, np.nan])
    add("small", "all", "tail", np.arange(40), rng.lognormal(0, 1, 40))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    events = _events()
    units = events.groupby([*KEYS, "unit_id"], as_index=False)["value"].sum(min_count=1)
    return {"quantile_events": events, "quantile_units": units}


def _run(sql: str, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    con = duckdb.connect()
    for name, frame in tables.items():
        con.register(name, frame)
    return con.sql(sql).df()


def _arm(row: pd.Series) -> QuantileArm:
    def plain(value):
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        return value.item() if hasattr(value, "item") else value

    return QuantileArm(variant=row["variant"], **{name: plain(row[name]) for name in OUTPUTS})


@pytest.mark.parametrize("case", list(CASES))
def test_sql_inputs_equal_numpy_on_the_same_rows(case, rendered, tables) -> None:
    relation, level, q, value, band_z = CASES[case]
    result = _run(rendered[case], tables)
    data = tables[relation]
    groups = data.groupby(KEYS)
    assert len(result) == groups.ngroups
    for _, row in result.iterrows():
        rows = groups.get_group(tuple(row[key] for key in KEYS))
        values = rows["value"].to_numpy() * 2 + 1 if value != "value" else rows["value"].to_numpy()
        expected = reference_arm(
            row["variant"], values, q, level, rows["unit_id"].to_numpy(), band_z=band_z
        )
        got = _arm(row)
        where = f"{case} {tuple(row[key] for key in KEYS)}"
        for name in OUTPUTS:
            want, have = getattr(expected, name), getattr(got, name)
            if want is None:
                assert have is None, f"{where}: {name} = {have}, expected null"
            elif isinstance(want, int):
                assert have == want, f"{where}: {name} = {have}, expected {want}"
            else:
                assert have == pytest.approx(want, rel=1e-12, abs=1e-15), f"{where}: {name}"


def test_sql_inputs_feed_the_statistics_with_the_expected_statuses(rendered, tables) -> None:
    result = _run(rendered["event_0.99"], tables)
    arms = {(row["experiment_id"], row["segment_value"]): [] for _, row in result.iterrows()}
    for _, row in result.iterrows():
        arms[(row["experiment_id"], row["segment_value"])].append(_arm(row))
    for segment in ("s0", "s1"):
        comparisons = analyze_quantile(
            arms[("continuous", segment)], "control", quantile=0.99, level="event"
        )
        assert [c.status for c in comparisons] == ["ok", "ok"]
        assert all(
            c.estimate.ci_lower < c.estimate.effect < c.estimate.ci_upper for c in comparisons
        )
    small = {
        c.variant: c
        for c in analyze_quantile(arms[("small", "all")], "control", quantile=0.99, level="event")
    }
    assert {variant: c.status for variant, c in small.items()} == {
        "treatment": "insufficient_sample",
        "empty": "insufficient_sample",
        "tail": "insufficient_sample",
    }
    assert "1 values in 1 units" in small["treatment"].status_reason
    assert "leaves [0, 1]" in small["tail"].status_reason
    assert small["empty"].estimate.variant_mean is None
    ties = analyze_quantile(arms[("ties", "all")], "control", quantile=0.99, level="event")
    assert ties[0].n_values_control > 0


def test_a_bad_level_stops_compilation_with_a_clear_message(tmp_path: Path) -> None:
    run = run_dbt(
        [
            "compile",
            "--inline",
            "{{ cuped__quantile_inputs('t', ['variant'], 'value', 0.9, 'session') }}",
        ],
        project_dir=REPO,
        work_dir=tmp_path,
    )
    assert run.returncode != 0
    assert "cuped__quantile_inputs: level must be 'unit' or 'event', got 'session'" in run.output
