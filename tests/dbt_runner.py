"""Run the dbt CLI of this environment the way a user does, with every output in a temp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DbtRun:
    returncode: int
    output: str
    database: Path
    project_dir: Path

    def check(self) -> DbtRun:
        assert self.returncode == 0, f"dbt failed:\n{self.output[-6000:]}"
        return self


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: list[str],
    *,
    project_dir: Path,
    work_dir: Path,
    variables: dict | None = None,
    env: dict[str, str] | None = None,
    dbt: str | None = None,
    real_deps: bool = False,
) -> DbtRun:
    """`dbt <args>` in `project_dir`, writing target, logs and the DuckDB file under `work_dir`;
    ``dbt``: another dbt executable than this environment's (always run in its own process).

    `dbt deps` of a project whose only package is this repository (``LOCAL_PACKAGES``) makes the
    link `dbt deps` makes for a `local:` package, without starting dbt (2 s a project, dozens of
    projects a suite run); ``real_deps`` runs dbt's (tests/test_package_install.py does)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    database = work_dir / "cuped.duckdb"
    packages = project_dir / "packages.yml"
    local = packages.exists() and packages.read_text() == LOCAL_PACKAGES
    if args == ["deps"] and dbt is None and not real_deps and local:
        return _link_package(project_dir, database)
    command = [
        dbt or dbt_executable(),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--log-path",
        str(work_dir / "logs"),
        "--no-use-colors",
    ]
    if args[0] != "deps":
        command += ["--target-path", str(work_dir / "target")]
    if variables is not None:
        command += ["--vars", json.dumps(variables)]
    extra = {"CUPED_DUCKDB_PATH": str(database), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    # dbt's state is per process: only the main thread parses in-process (some fixtures run
    # several dbt invocations at once from worker threads; those start their own processes)
    in_process = dbt is None and args[0] == "parse"
    if in_process and threading.current_thread() is threading.main_thread():
        return _run_in_process(command[1:], {**extra, **(env or {})}, database, project_dir)
    env = {**os.environ, **extra, **(env or {})}
    completed = subprocess.run(
        command, cwd=project_dir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return DbtRun(completed.returncode, completed.stdout + completed.stderr, database, project_dir)


#: The `packages.yml` of a project that installs this repository alone.
LOCAL_PACKAGES = f"packages:\n  - local: {REPO}\n"


def _link_package(project: Path, database: Path) -> DbtRun:
    """What `dbt deps` does for ``LOCAL_PACKAGES``: `dbt_packages/cuped`, a link to this
    repository (dbt-core links a `local:` package where it can)."""
    link = project / "dbt_packages" / "cuped"
    link.parent.mkdir(exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(REPO, target_is_directory=True)
    assert link.resolve() == REPO, link
    return DbtRun(0, f"linked {link.name} to this repository", database, project)


#: dbt's programmatic runner, made once, and the messages of its current invocation.
_RUNNER: list = []
_MESSAGES: list[str] = []


def _run_in_process(args: list[str], env: dict[str, str], database: Path, project: Path) -> DbtRun:
    """`dbt parse` through dbt's programmatic entry point in this process: the same parse and
    messages, without starting an interpreter and importing dbt each time (2 s instead of 6.7 s
    for the demo; the suite parses about 60 configurations that must fail)."""
    from dbt.cli.main import dbtRunner

    if not _RUNNER:
        _RUNNER.append(dbtRunner(callbacks=[lambda event: _MESSAGES.append(event.info.msg)]))
    _MESSAGES.clear()
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        result = _RUNNER[0].invoke(args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    output = "\n".join(_MESSAGES)
    if result.exception is not None:
        output += f"\n{result.exception}"
    return DbtRun(0 if result.success else 1, output, database, project)


def write_installing_project(root: Path) -> None:
    """A dbt project `shop` in ``root`` that installs this package (``packages.yml`` ``local:``),
    on a DuckDB file the runner places (``CUPED_DUCKDB_PATH``), with an empty ``seeds`` folder."""
    (root / "seeds").mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(
        "name: shop\nversion: '1.0.0'\nconfig-version: 2\nprofile: shop\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
    )
    (root / "profiles.yml").write_text(
        "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('CUPED_DUCKDB_PATH') }}\"\n"
    )
    (root / "packages.yml").write_text(LOCAL_PACKAGES)


def deps_and_build(root: Path, work: Path, config: dict, *, check: bool = True) -> DbtRun:
    """`dbt deps`, then `dbt build` with the `cuped` var set to ``config``, in an installing
    project (write_installing_project); the build must pass unless ``check`` is false."""
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    run = run_dbt(["build"], project_dir=root, work_dir=work, variables={"cuped": config})
    return run.check() if check else run
