"""cuped.table_checks, the one test node per public table: each kind of check (unique, p-values,
intervals, accepted values) fails on the rows that break it, names the check, and counts them;
nulls pass every check but `unique`. Run on seeds of an installing project."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.dbt_runner import DbtRun, run_dbt, write_installing_project

HEADER = "id,part,p,estimate,lower,upper,status"
GOOD = [
    "1,a,0.5,1.0,0.5,1.5,ok",
    "2,a,0,2.0,2.0,2.0,ok",
    "3,a,1,,,,missing_control",
    "1,b,,1.0,,1.5,",  # nulls pass every row check
]
BROKEN = [
    *GOOD,
    "1,a,0.2,1.0,0.5,1.5,ok",  # (1, a) twice
    "2,a,0.1,2.0,2.0,2.0,ok",  # (2, a) twice
    "4,a,1.5,1.0,0.5,1.5,ok",  # p above 1
    "5,a,-0.1,1.0,0.5,1.5,ok",  # p below 0
    "6,a,0.5,3.0,0.5,1.5,ok",  # outside its interval
    "7,a,0.5,1.0,0.5,1.5,done",  # not an accepted status
    "8,a,2.0,5.0,0.0,1.0,done",  # p above 1, outside its interval, not accepted: each counted
]
CHECKS = """
      - cuped.table_checks:
          name: {name}_checks
          arguments:
            unique: [id, part]
            p_values: [p]
            intervals:
              - [estimate, lower, upper]
            accepted_values:
              status: [ok, missing_control]
"""


@pytest.fixture(scope="module")
def tested(tmp_path_factory) -> DbtRun:
    root = tmp_path_factory.mktemp("table_checks")
    write_installing_project(root)
    _only_the_tests(root)
    for name, rows in (("good", GOOD), ("broken", BROKEN)):
        (root / "seeds" / f"{name}.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    (root / "seeds" / "_seeds.yml").write_text(
        "version: 2\nseeds:\n"
        + "".join(
            f"  - name: {name}\n    data_tests:{CHECKS.format(name=name)}"
            for name in ("good", "broken")
        )
    )
    work = root / "work"
    run_dbt(["deps"], project_dir=root, work_dir=work).check()
    return run_dbt(
        ["build", "--select", "good", "broken", "--store-failures"],
        project_dir=root,
        work_dir=work,
        variables={"cuped": CONFIG},
    )


#: A `cuped` var that parses; the package's models are disabled (only its test macro is used).
CONFIG = {
    "assignments": "good",
    "metrics": [
        {
            "name": "m",
            "source": "good",
            "unit_column": "id",
            "timestamp_column": "id",
            "agg": "count",
        }
    ],
}


def _only_the_tests(root: Path) -> None:
    with (root / "dbt_project.yml").open("a") as project:
        project.write("models:\n  cuped:\n    +enabled: false\n")


def _failures(run: DbtRun, test: str) -> dict[str, int]:
    with duckdb.connect(str(run.database), read_only=True) as con:
        rows = con.sql(f"select failed_check, n_rows from main_dbt_test__audit.{test}").fetchall()
    return dict(rows)


def test_good_rows_pass_and_broken_rows_fail_the_node(tested: DbtRun) -> None:
    output = " ".join(tested.output.split())
    assert tested.returncode != 0
    assert "PASS good_checks" in output or "PASS=3" in output, output[-3000:]
    assert "Failure in test broken_checks" in output, output[-3000:]
    assert _failures(tested, "good_checks") == {}


def test_each_failed_check_is_named_with_its_count(tested: DbtRun) -> None:
    assert _failures(tested, "broken_checks") == {
        "not unique: id, part": 2,
        "p outside [0, 1]": 3,
        "[lower, upper] does not contain estimate": 2,
        "status not one of ok, missing_control": 2,
    }


def test_it_needs_at_least_one_check(tmp_path: Path) -> None:
    write_installing_project(tmp_path)
    _only_the_tests(tmp_path)
    (tmp_path / "seeds" / "good.csv").write_text("\n".join([HEADER, *GOOD]) + "\n")
    (tmp_path / "seeds" / "_seeds.yml").write_text(
        "version: 2\nseeds:\n  - name: good\n    data_tests:\n      - cuped.table_checks\n"
    )
    work = tmp_path / "work"
    run_dbt(["deps"], project_dir=tmp_path, work_dir=work).check()
    run = run_dbt(
        ["build", "--select", "good"],
        project_dir=tmp_path,
        work_dir=work,
        variables={"cuped": CONFIG},
    )
    assert run.returncode != 0
    assert "cuped.table_checks: give at least one of `unique`" in " ".join(run.output.split())
