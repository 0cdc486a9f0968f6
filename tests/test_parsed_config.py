"""The configuration validated when dbt parses the project is what a run uses
(macros/config/cuped__config.sql, `cuped__parsed_config`): the parse stores it in the `meta` of
cuped__assignment_rows, and a run reads it back instead of validating the `cuped` var again.

- For the demo's configuration with its Semantic Layer metric written out in YAML (with and
  without `incremental`), the stored configuration equals the one a run builds from the var,
  key for key.
- A configuration with Semantic Layer metrics is stored marked incomplete, and a run builds it
  (they are resolved from the graph, empty while dbt parses).
- A change to the var changes the stored configuration, so `state:modified` selects the model,
  and `state:modified+` the package's models downstream.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.dbt_runner import REPO, DbtRun, run_dbt
from tests.test_semantic_metrics import hand_written_config

#: dbt compile --inline at run time: the stored configuration, then the one built from the var.
INLINE = (
    "{{ tojson(cuped.cuped__parsed_config(), sort_keys=true) }}\n@@\n"
    "{{ tojson(cuped.cuped__build_config(), sort_keys=true) }}"
)


def _stored(work: Path) -> dict:
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    meta = manifest["nodes"]["model.cuped.cuped__assignment_rows"]["config"]["meta"]
    return meta["cuped_parsed_config"]


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
def test_the_stored_configuration_is_the_one_a_run_builds(tmp_path: Path, incremental) -> None:
    config = {**hand_written_config(), "daily_series": True, "incremental": incremental}
    run = run_dbt(
        ["compile", "--inline", INLINE, "--quiet"],
        project_dir=REPO,
        work_dir=tmp_path,
        variables={"cuped": config},
    ).check()
    stored, built = (json.loads(part) for part in run.output.split("@@"))
    assert stored is not None
    assert stored == built
    assert {m["name"] for m in config["metrics"]} <= {m["name"] for m in stored["metrics"]}
    assert _stored(tmp_path)["complete"] is True
    assert json.loads(_stored(tmp_path)["config"]) == built


def test_a_configuration_with_semantic_layer_metrics_is_built_at_run_time(
    demo_build: DbtRun, tmp_path: Path
) -> None:
    """The demo reads one Semantic Layer metric: stored incomplete, not read back by a run."""
    stored = _stored(demo_build.database.parent)
    assert stored["complete"] is False
    assert '"semantic_metric__pages_viewed"' not in stored["config"]
    run = run_dbt(
        ["compile", "--inline", "{{ cuped.cuped__parsed_config() is none }}", "--quiet"],
        project_dir=REPO,
        work_dir=tmp_path,
    ).check()
    assert run.output.strip() == "True"


def test_a_changed_var_selects_the_package_with_state_modified(tmp_path: Path) -> None:
    config = hand_written_config()
    before, after = tmp_path / "before", tmp_path / "after"
    run_dbt(["parse"], project_dir=REPO, work_dir=before, variables={"cuped": config}).check()
    state = tmp_path / "state"
    shutil.copytree(before / "target", state)
    changed = {**config, "alpha": 0.1}
    args = ["ls", "--select", "state:modified+", "--state", str(state), "--resource-type", "model"]
    listed = run_dbt(args, project_dir=REPO, work_dir=after, variables={"cuped": changed}).check()
    assert "cuped.internal.cuped__assignment_rows" in listed.output
    assert "cuped.public.cuped_decisions" in listed.output
    unchanged = run_dbt(args, project_dir=REPO, work_dir=after, variables={"cuped": config})
    assert "cuped__assignment_rows" not in unchanged.check().output
