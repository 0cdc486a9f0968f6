"""One source of truth for what is written in several languages.

- The public tables' columns are written once, in models/public/_public.yml (names, types by
  anchor, descriptions by doc block); the public SQL models never list them (they cast through
  `cuped__select_contract`), and the statistics core's column specs agree with them.
- The `cuped` var's allowed values, defaults and ranges (macros/config/cuped__settings.sql) agree
  with the statistics core's.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pytest
import yaml

from cuped_stats.cuped import RELATIVE_CI_METHODS, THETA_METHODS
from cuped_stats.tables import ALPHA_BOUNDS, PLAN_METRIC_TYPES, STATISTICS_KINDS
from tests.dbt_runner import REPO, run_dbt

PUBLIC = REPO / "models" / "public"
DOCS = PUBLIC / "_columns.md"
TEXT, DOUBLE, BIGINT, BOOLEAN, TIMESTAMP, DATE = range(6)

#: Python dtype of the core's rows → the contract's type.
PYTHON_TYPES = {
    object: TEXT,
    np.float64: DOUBLE,
    np.int64: BIGINT,
    np.bool_: BOOLEAN,
    dt.date: DATE,
}
#: Counts the core keeps as floats because they may be missing (numpy has no nullable integer).
WHOLE_NUMBERS = {
    "units_needed",
    "units_needed_unadjusted",
    "days_needed",
    "days_needed_unadjusted",
    "planned_units_for_target",
    "planned_units_for_target_unadjusted",
}
#: Public table → (the core's kind of rows, columns computed in SQL, not by the core).
FROM_THE_CORE = {
    "cuped_results": ("results", {"computed_at"}),
    "cuped_results_daily": ("results_daily", {"computed_at"}),
    "cuped_balance": ("balance", {"computed_at"}),
    "cuped_power": ("power", {"computed_at"}),
    "cuped_decisions": ("decisions", {"computed_at"}),
    "cuped_health": (
        "health",
        {
            "is_control",
            "observed_share",
            "n_units_with_pre_period",
            "pre_period_coverage",
            "n_units_missing_attributes",
            "n_units_excluded_multiple_variants",
            "n_units_excluded_after_analysis_end",
            "n_duplicate_assignment_rows",
            "n_invalid_assignment_rows",
            "n_rows_null_unit_id",
            "n_rows_null_variant",
            "n_rows_null_assigned_at",
            "n_rows_assigned_at_out_of_range",
            "computed_at",
        },
    ),
}


@pytest.fixture(scope="module")
def contracts() -> dict:
    text = (PUBLIC / "_public.yml").read_text()
    anchors = yaml.safe_load(text)["anchors"]
    kinds = {value: i for i, value in enumerate(anchors)}
    models = {}
    for model in yaml.safe_load(text)["models"]:
        columns = {}
        for column in model["columns"]:
            assert column["data_type"] in kinds, (
                f"{model['name']}.{column['name']}: data_type {column['data_type']!r} is not one "
                "of the type anchors"
            )
            columns[column["name"]] = (kinds[column["data_type"]], column["description"])
        models[model["name"]] = columns
    return models


def test_every_public_model_is_in_the_one_contract_file(contracts) -> None:
    assert sorted(path.name for path in PUBLIC.glob("*.yml")) == ["_exposures.yml", "_public.yml"]
    sql_models = {re.sub(r"_v\d+$", "", path.stem) for path in PUBLIC.glob("*.sql")}
    assert sql_models == set(contracts)


@pytest.mark.parametrize("table", sorted(FROM_THE_CORE))
def test_core_columns_agree_with_the_contract(table, contracts) -> None:
    kind, computed_in_sql = FROM_THE_CORE[table]
    core = STATISTICS_KINDS[kind]
    contract = contracts[table]
    assert set(contract) - computed_in_sql <= set(core), "contract columns the core lacks"
    if kind != "results_daily":  # the daily table shows a subset of the results columns
        assert set(core) == set(contract) - computed_in_sql, "core columns without a contract"
    for name in set(contract) - computed_in_sql:
        expected = PYTHON_TYPES[core[name]]
        if name in WHOLE_NUMBERS:
            assert core[name] is np.float64 and contract[name][0] == BIGINT, name
        else:
            assert contract[name][0] == expected, f"{table}.{name}: types differ"


def test_results_history_has_every_results_column_and_the_day(contracts) -> None:
    assert set(contracts["cuped_results_history"]) == {*contracts["cuped_results"], "as_of_date"}


def test_descriptions_are_doc_blocks_one_per_meaning(contracts) -> None:
    blocks = dict(re.findall(r"{% docs (\w+) %}\n(.*?)\n{% enddocs %}", DOCS.read_text(), re.S))
    used = set()
    for table, columns in contracts.items():
        for name, (_, description) in columns.items():
            match = re.fullmatch(r"{{ doc\('(\w+)'\) }}", description)
            assert match, f"{table}.{name}: description is not a doc block"
            block = match.group(1)
            assert block in blocks, f"{table}.{name}: no doc block {block}"
            # a shared block is named for its column; a table-specific one for table and column
            short = table.removeprefix("cuped_")
            assert block in (f"cuped__{name}", f"cuped_{short}__{name}"), (table, name, block)
            used.add(block)
    assert set(blocks) == used, "doc blocks no column uses"


def test_public_sql_models_do_not_list_their_columns() -> None:
    for path in PUBLIC.glob("*.sql"):
        sql = path.read_text()
        assert "cuped__select_contract(" in sql, path.name
        assert not re.search(r"\bcast\(\w+ as ", sql), f"{path.name} casts a column by hand"


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> dict:
    run = run_dbt(
        ["run-operation", "cuped__print_settings"],
        project_dir=REPO,
        work_dir=tmp_path_factory.mktemp("settings"),
    ).check()
    line = next(line for line in run.output.splitlines() if line.startswith("{"))
    return json.loads(line)


def test_configuration_choices_are_the_ones_the_core_knows(settings) -> None:
    choices = settings["choices"]
    assert tuple(choices["metric_type"]) == PLAN_METRIC_TYPES
    assert tuple(choices["theta"]) == THETA_METHODS
    assert tuple(choices["relative_ci"]) == RELATIVE_CI_METHODS
    assert tuple(settings["alpha_bounds"]) == ALPHA_BOUNDS
    assert settings["defaults"]["theta"] == THETA_METHODS[0]
    assert settings["defaults"]["relative_ci"] == RELATIVE_CI_METHODS[0]
    assert settings["defaults"]["metric_type"] == PLAN_METRIC_TYPES[0]
