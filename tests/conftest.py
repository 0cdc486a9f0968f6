from __future__ import annotations

from pathlib import Path

import pytest

from tests.dbt_runner import REPO, DbtRun, run_dbt


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    """The README's demo: `dbt build` of this repository on the embedded DuckDB."""
    work_dir: Path = tmp_path_factory.mktemp("demo")
    return run_dbt(["build"], project_dir=REPO, work_dir=work_dir).check()
