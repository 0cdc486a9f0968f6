"""The statistics core is checked where dbt runs Python, first thing in cuped__statistics: missing
or of another version than the dbt package, the model fails with one message saying what to
install, and nothing over the statistics (the public tables) runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import cuped_stats
from tests.dbt_runner import REPO, run_dbt

BLOCK_THE_CORE = """
import sys

class _NoCore:
    def find_spec(self, name, path=None, target=None):
        if name == "cuped_stats" or name.startswith("cuped_stats."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, _NoCore())
"""

ANOTHER_VERSION = """
import cuped_stats
cuped_stats.__version__ = "0.0.1"
"""


def _build_with(site: str, tmp_path: Path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(textwrap.dedent(site))
    env = {"PYTHONPATH": str(tmp_path / "site")}
    run_dbt(["seed"], project_dir=REPO, work_dir=tmp_path / "work", env=env).check()
    return run_dbt(
        ["run", "--exclude", "cuped_results_history"],
        project_dir=REPO,
        work_dir=tmp_path / "work",
        env=env,
    )


@pytest.mark.parametrize(
    ("site", "message"),
    [
        (
            BLOCK_THE_CORE,
            "cuped: the statistics core is not installed in the Python environment that runs "
            f"dbt (No module named 'cuped_stats'). Install it there, in the same version as the "
            f"dbt package: pip install 'cuped-stats=={cuped_stats.__version__}'",
        ),
        (
            ANOTHER_VERSION,
            f"cuped: the dbt package is version {cuped_stats.__version__} but the statistics "
            "core installed in dbt's Python environment is 0.0.1",
        ),
    ],
    ids=["missing", "other version"],
)
def test_a_missing_or_mismatched_core_stops_the_build_before_any_statistic(site, message, tmp_path):
    run = _build_with(site, tmp_path)
    assert run.returncode != 0
    output = " ".join(run.output.split())
    assert message in output
    assert "ERROR=1" in output and "Failure in model cuped__statistics" in output
    for public in ("cuped_results", "cuped_health", "cuped_decisions"):
        assert f"SKIP relation main.{public} " in output, f"{public} ran without statistics"
