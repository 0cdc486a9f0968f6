"""Installed into another dbt project (`packages.yml` local + the pip-installed core), the package
builds only its own models for that project's configuration: none of the demo."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml

from tests.dbt_runner import REPO, DbtRun, run_dbt

PROJECT = """
name: shop
version: "1.0.0"
config-version: 2
profile: shop
flags:
  send_anonymous_usage_stats: false
vars:
  cuped:
    assignments: exposures
    assignment_columns:
      {experiment_id: test_name, unit_id: account_id, variant: arm, assigned_at: exposed_at}
    control_variant: baseline
    metrics:
      - name: Spend (USD)
        source: source:app.raw_events
        unit_column: account_id
        timestamp_column: event_time
        value: amount
      - name: active
        type: proportion
        source: source:app.raw_events
        unit_column: account_id
        timestamp_column: event_time
        covariates: [pre_period, Spend (USD)]
"""

SOURCES = """
version: 2
sources:
  - name: app
    schema: main
    tables:
      - name: raw_events
seeds:
  - name: exposures
    data_tests:
      - cuped.one_variant_per_unit:
          arguments:
            column_name: account_id
            experiment_column: test_name
            variant_column: arm
          config:
            severity: warn
  - name: my_health
    data_tests:
      - cuped.no_sample_ratio_mismatch:
          name: my_health_has_no_mismatch
"""


def _write_project(root: Path) -> None:
    rng = np.random.default_rng(7)
    (root / "seeds").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(textwrap.dedent(PROJECT))
    (root / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('CUPED_DUCKDB_PATH') }}\"\n"
    )
    (root / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n")
    (root / "seeds" / "_seeds.yml").write_text(textwrap.dedent(SOURCES))
    exposures = ["test_name,account_id,arm,exposed_at"]
    events = ["account_id,event_time,amount"]
    for account in range(400):
        arm = "baseline" if account % 2 == 0 else "new_flow"
        exposures.append(f"pricing,{account},{arm},2026-03-15 12:00:00")
        spend = rng.gamma(2.0, 10.0)
        for day in rng.choice(np.arange(1, 29), size=rng.integers(0, 6), replace=False):
            events.append(
                f"{account},2026-03-{day:02d} 09:00:00,{spend * rng.lognormal(0, 0.3):.2f}"
            )
    exposures.append("pricing,0,new_flow,2026-03-15 13:00:00")  # one unit in both arms
    # an experiment whose arms are named ctrl/new: its control is not the configured `baseline`
    for account in range(1000, 1040):
        arm = "ctrl" if account % 2 == 0 else "new"
        exposures.append(f"onboarding,{account},{arm},2026-03-15 12:00:00")
    (root / "seeds" / "exposures.csv").write_text("\n".join(exposures) + "\n")
    (root / "seeds" / "raw_events.csv").write_text("\n".join(events) + "\n")
    # a table of the project's own with the columns the shipped SRM test needs, and no others
    (root / "seeds" / "my_health.csv").write_text(
        "experiment_id,variant,srm_flag\npricing,baseline,false\npricing,new_flow,false\n"
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    root = tmp_path_factory.mktemp("shop")
    work = tmp_path_factory.mktemp("shop_work")
    _write_project(root)
    run_dbt(["deps"], project_dir=root, work_dir=work, real_deps=True).check()
    run_dbt(["seed"], project_dir=root, work_dir=work).check()
    return run_dbt(["build"], project_dir=root, work_dir=work)


def test_installed_package_builds_results_for_the_projects_own_config(installed: DbtRun) -> None:
    assert installed.returncode == 0, installed.output[-4000:]
    with duckdb.connect(str(installed.database), read_only=True) as con:
        rows = con.sql(
            "select metric_name, variant, control_variant, n_control, n_variant, status "
            "from cuped_results where experiment_id = 'pricing' order by metric_name"
        ).fetchall()
    assert rows == [
        ("Spend (USD)", "new_flow", "baseline", 199, 200, "ok"),
        ("active", "new_flow", "baseline", 199, 200, "ok"),
    ]


def test_installed_package_builds_none_of_the_demo(installed: DbtRun) -> None:
    with duckdb.connect(str(installed.database), read_only=True) as con:
        tables = {
            name
            for (name,) in con.sql("select table_name from information_schema.tables").fetchall()
        }
    assert not {t for t in tables if t.startswith("demo_")}, tables
    assert {"cuped_results_v1", "cuped_results", "cuped_health", "exposures"} <= tables


def test_a_forgotten_control_variant_warns_naming_the_variants_found(installed: DbtRun) -> None:
    output = " ".join(installed.output.split())
    assert (
        "cuped: experiment 'onboarding' has no analysed unit in its control variant 'baseline', "
        "so every result is `missing_control`; its variants are ctrl (20 units), new (20 units)"
    ) in output
    assert "[WARNING]" not in output, "the package warns about something else"


def test_the_package_adds_no_parse_warning_to_the_installing_project(installed: DbtRun) -> None:
    assert "PackageNodeDependsOnRootProjectNode" not in installed.output
    parse = run_dbt(
        ["--warn-error", "parse", "--no-partial-parse"],
        project_dir=installed.project_dir,
        work_dir=installed.database.parent / "parse",
    )
    assert parse.returncode == 0, parse.output[-3000:]
    assert "[WARNING]" not in parse.output


def test_shipped_srm_test_runs_on_a_table_with_only_the_columns_it_needs(
    installed: DbtRun,
) -> None:
    assert "PASS my_health_has_no_mismatch" in " ".join(installed.output.split())


def test_shipped_one_variant_per_unit_test_flags_the_double_assignment(installed: DbtRun) -> None:
    assert "WARN=1" in installed.output
    assert "one_variant_per_unit" in installed.output and "Got 1 result" in installed.output


# --- project-level configs of the installing project ---------------------------------------------


def _copy(installed: DbtRun, root: Path, project_yml: str = "", profile_yml: str = "") -> Path:
    """The installed project copied to ``root`` (its installed package too), with lines added to
    its dbt_project.yml and to its profile's outputs."""
    shutil.copytree(installed.project_dir, root, symlinks=True)
    (root / "dbt_project.yml").write_text((root / "dbt_project.yml").read_text() + project_yml)
    (root / "profiles.yml").write_text((root / "profiles.yml").read_text() + profile_yml)
    return root


def test_a_project_wide_materialization_cannot_erase_the_history(
    installed: DbtRun, tmp_path: Path
) -> None:
    """A `+materialized` under the project's `models:` reaches installed packages and overrides
    their own configs: as a table, cuped_results_history would lose every past day on each run,
    and dbt runs no Python model as a view. Both stop with what to change."""
    root = _copy(installed, tmp_path / "copy", "models:\n  +materialized: view\n")
    for model, expected in (
        ("cuped_results_history", "incremental"),
        ("cuped__assignment_rows", "table"),
    ):
        (tmp_path / model).mkdir()
        shutil.copy(installed.database, tmp_path / model / "cuped.duckdb")
        run = run_dbt(["run", "--select", model], project_dir=root, work_dir=tmp_path / model)
        assert run.returncode != 0
        named = "cuped_results_history" if model == "cuped_results_history" else "cuped__statistics"
        assert (
            f"cuped: the package's model {named} is materialized as 'view', not '{expected}'"
        ) in " ".join(run.output.split()), run.output[-3000:]
        assert f"models: cuped: {named}: +materialized: {expected}" in " ".join(run.output.split())


def test_persisted_column_docs_and_another_target_leave_the_package_quiet(
    installed: DbtRun, tmp_path: Path
) -> None:
    """`+persist_docs: {columns: true}` over the package warns of no documented column the
    stored values lack (the table of incremental state is built empty without `incremental`),
    so `--warn-error` builds; and the same configuration on another target of the same adapter
    is not `state:modified` (slim CI against production's manifest)."""
    state = tmp_path / "state"
    shutil.copytree(installed.database.parent / "target", state)
    root = _copy(
        installed,
        tmp_path / "copy",
        "models:\n  cuped:\n    +persist_docs: {relation: true, columns: true}\n",
    )
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(installed.database, work / "cuped.duckdb")
    run = run_dbt(
        ["--warn-error", "run", "--select", "cuped__unit_settled"], project_dir=root, work_dir=work
    )
    assert run.returncode == 0, run.output[-3000:]
    listed = run_dbt(
        ["ls", "--select", "state:modified", "--state", str(state), "--target", "ci",
         "--resource-type", "model", "--output", "name"],
        project_dir=_copy(
            installed,
            tmp_path / "ci",
            profile_yml="    ci:\n      type: duckdb\n"
            "      path: \"{{ env_var('CUPED_DUCKDB_PATH') }}\"\n",
        ),
        work_dir=tmp_path / "ls",
    ).check()  # fmt: skip
    assert "cuped__assignment_rows" not in listed.output.split(), listed.output[-2000:]


def test_an_empty_run_warns_of_nothing_and_off_may_be_unquoted(
    installed: DbtRun, tmp_path: Path
) -> None:
    """`dbt run --empty` reads no rows, so the package's warnings about missing rows stay quiet
    (they failed `--warn-error`), and `decision_tests: {guardrails_hold: off}` written unquoted,
    YAML's false, turns the test off as `'off'` does."""
    config = yaml.safe_load(textwrap.dedent(PROJECT))["vars"]["cuped"]
    config["experiment_settings"] = {"pricing": {"primary": ["active"]}}
    config["decision_tests"] = {"guardrails_hold": False, "control_present": "warn"}
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(installed.database, work / "cuped.duckdb")
    run = run_dbt(
        ["--warn-error", "run", "--empty"],
        project_dir=installed.project_dir,
        work_dir=work,
        variables={"cuped": config},
    )
    assert run.returncode == 0, run.output[-3000:]
    tests = run_dbt(
        ["ls", "--resource-type", "test", "--select", "package:cuped", "--output", "name"],
        project_dir=installed.project_dir,
        work_dir=work,
        variables={"cuped": config},
    ).check()
    names = tests.output.split()
    assert any("control_present" in n for n in names)
    assert not any("guardrails_hold" in n for n in names)


def test_an_ephemeral_assignments_model_is_refused_naming_it(
    installed: DbtRun, tmp_path: Path
) -> None:
    root = _copy(installed, tmp_path / "copy")
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "stg_exposures.sql").write_text(
        "{{ config(materialized='ephemeral') }}\nselect * from {{ ref('exposures') }}\n"
    )
    config = yaml.safe_load(textwrap.dedent(PROJECT))["vars"]["cuped"]
    config["assignments"] = "stg_exposures"
    run = run_dbt(
        ["run", "--select", "cuped__assignment_rows"],
        project_dir=root,
        work_dir=tmp_path / "work",
        variables={"cuped": config},
    )
    assert run.returncode != 0
    assert (
        "'stg_exposures' is an ephemeral model; the package reads it from several models of its "
        "own, so it must be materialized"
    ) in " ".join(run.output.split()), run.output[-3000:]
