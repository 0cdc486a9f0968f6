from __future__ import annotations

from pathlib import Path

import pytest

from tests.dbt_runner import REPO, DbtRun, run_dbt

#: The files that take longest (dbt builds on several engines), run first: pytest-xdist hands
#: whole files to its workers in collection order, so the workers then finish close together.
LONGEST_FIRST = [
    "test_health_edge_cases.py",
    "test_postgres.py",
    "test_spark.py",
    "test_semantic_metrics.py",
    "test_dbt_112.py",
    "test_bad_inputs.py",
    "test_incremental.py",
    "test_config_errors.py",
    "test_coverage.py",
    "test_history.py",
    "test_categorical_covariates.py",
    "test_calibration_dbt.py",
    "test_idempotence.py",
    "test_decisions_dbt.py",
    "test_staged_sources.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    """The README's demo: `dbt build` of this repository on the embedded DuckDB."""
    work_dir: Path = tmp_path_factory.mktemp("demo")
    return run_dbt(["build"], project_dir=REPO, work_dir=work_dir).check()
