"""Staged per-unit aggregation (macros/sql/cuped__staged_sources.sql): with many metrics over
several sources, cuped__unit_values is computed one source at a time (all but the last into
temporary tables, the last in the model's own statement). The demo built staged (forced with the
var) gives the same per-unit table as the demo built in one statement, value for value, and the
same public tables (to 1e-12: the per-unit rows are stored in another order, so the moments add
in another order), with a metric on a third source so the chain has two temporary tables; `auto`
stages a build of more than 16 metrics over two sources on DuckDB and not the demo, and that
build (a source of more than 8 metrics, its periods aggregated apart) equals its one-statement
build too; a wrong value of the var is named."""

from __future__ import annotations

import copy
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from tests.dbt_runner import REPO, run_dbt
from tests.helpers import PUBLIC_TABLES, assert_same_tables

STAGE = "cuped__unit_values__stage_"


def _tables(database: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(database), read_only=True) as con:
        tables = {table: con.sql(f"select * from {table}").df() for table in PUBLIC_TABLES}
        tables["cuped__unit_values"] = con.sql("select * from cuped__unit_values").df()
    return tables


def _model_sql(work_dir: Path, kind: str = "run") -> str:
    return (work_dir / f"target/{kind}/cuped/models/internal/cuped__unit_values.sql").read_text()


def _demo_config() -> dict:
    return yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]["cuped"]


#: A metric on a third relation, so the chain has two temporary tables and the model joins the
#: third source itself (a DATE column as the event time).
SIGNUPS = {
    "name": "signups",
    "source": "demo_users",
    "unit_column": "user_id",
    "timestamp_column": "signup_date",
    "agg": "count",
}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict:
    config = _demo_config()
    config["metrics"] = config["metrics"] + [SIGNUPS]
    out = {}
    for label, variables in [
        ("one statement", {"cuped": config}),
        ("staged", {"cuped": config, "cuped_stage_sources": True}),
    ]:
        work_dir = tmp_path_factory.mktemp(label.replace(" ", "_"))
        run = run_dbt(["build"], project_dir=REPO, work_dir=work_dir, variables=variables).check()
        out[label] = {
            "run": run,
            "work_dir": work_dir,
            "sql": _model_sql(work_dir),
            "tables": _tables(run.database),
        }
    return out


def test_three_sources_are_built_in_one_statement_by_default_and_staged_when_forced(builds) -> None:
    one_statement, staged = builds["one statement"]["sql"], builds["staged"]["sql"]
    n_sources = one_statement.count("_events as (")
    assert STAGE not in one_statement and n_sources == 3
    # the staged model reads the chain's last temporary table and scans the last source itself
    assert f"from {STAGE}{n_sources - 2}" in staged
    # (as a CTE DuckDB does not materialize: the post and pre periods scan it apart)
    assert staged.count("_events as not materialized (") == 1


def test_staged_per_unit_values_equal_the_one_statement_values_exactly(builds) -> None:
    keys = ["experiment_id", "unit_id"]
    staged = builds["staged"]["tables"]["cuped__unit_values"]
    plain = builds["one statement"]["tables"]["cuped__unit_values"]
    assert len(plain) > 1000
    # the third source's metric (the last in the config) counts signups: not all zero, so the
    # comparison covers a real third link of the chain
    signups = len(_demo_config()["metrics"])
    assert plain[f"metric_{signups}_pre"].sum() + plain[f"metric_{signups}_post"].sum() > 0
    pd.testing.assert_frame_equal(
        staged.sort_values(keys).reset_index(drop=True),
        plain.sort_values(keys).reset_index(drop=True),
        check_exact=True,
    )


def test_staged_public_tables_equal_the_one_statement_tables(builds) -> None:
    assert_same_tables(
        builds["staged"]["tables"],
        builds["one statement"]["tables"],
        "staged vs one statement",
        PUBLIC_TABLES,
        rtol=1e-12,
    )


def _many_metrics_config() -> dict:
    """The demo with 12 more metrics on its orders: more than 16 in all, and more than 8 on one
    source, so that source is read in the many-metrics shape (the periods apart when staged)."""
    config = copy.deepcopy(_demo_config())
    extra = [
        {
            "name": f"orders_over_{i}",
            "source": "demo_orders",
            "unit_column": "user_id",
            "timestamp_column": "ordered_at",
            "agg": "sum",
            "value": "revenue",
            "filter": f"status = 'completed' and revenue > {i}",
        }
        for i in range(12)
    ]
    config["metrics"] = config["metrics"] + extra
    return config


def test_auto_stages_more_than_16_metrics_over_two_sources(tmp_path_factory) -> None:
    """`auto` stages the many-metrics demo, whose orders are then aggregated with the post and
    pre periods apart, and the staged build equals the one-statement build (forced with the
    var) value for value, and its public tables to 1e-12."""
    config = _many_metrics_config()
    out = {}
    for label, stage in [("auto", "auto"), ("one statement", False)]:
        work_dir = tmp_path_factory.mktemp(f"many_{stage}")
        variables = {"cuped": config, "cuped_stage_sources": stage}
        run = run_dbt(["build"], project_dir=REPO, work_dir=work_dir, variables=variables).check()
        out[label] = (work_dir, _tables(run.database))
    assert f"from {STAGE}" in _model_sql(out["auto"][0])
    assert STAGE not in _model_sql(out["one statement"][0])
    keys = ["experiment_id", "unit_id"]
    staged, plain = (
        out["auto"][1]["cuped__unit_values"],
        out["one statement"][1]["cuped__unit_values"],
    )
    assert len(plain) > 1000
    pd.testing.assert_frame_equal(
        staged.sort_values(keys).reset_index(drop=True),
        plain.sort_values(keys).reset_index(drop=True),
        check_exact=True,
    )
    assert_same_tables(out["auto"][1], out["one statement"][1], "auto vs one", PUBLIC_TABLES)


def test_a_wrong_value_of_the_var_is_named(builds) -> None:
    run = run_dbt(
        ["compile", "--select", "cuped__unit_values"],
        project_dir=REPO,
        work_dir=builds["one statement"]["work_dir"],
        variables={"cuped_stage_sources": "sometimes"},
    )
    assert run.returncode != 0
    assert "the var `cuped_stage_sources` is sometimes; it takes auto, true or false" in run.output
