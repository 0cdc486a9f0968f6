"""`cuped.metric_values` pins a metric's definition in the user's project: a few hand-made rows
and the per-unit values they must give. It passes for the metric as defined, and fails, naming
the unit, when the metric's filter, window or value changes (the README's worked example)."""

from __future__ import annotations

import textwrap

import pytest

from tests.dbt_runner import REPO, deps_and_build, run_dbt, write_installing_project

METRIC = {
    "name": "revenue",
    "source": "orders",
    "unit_column": "user_id",
    "timestamp_column": "ordered_at",
    "value": "amount",
    "filter": "status = 'completed'",
    "window_days": 7,
}
CONFIG = {"assignments": "exposures", "pre_period_days": 14, "metrics": [METRIC]}

# The README's example, as the user writes it next to the metric's source.
TESTS_YML = """
version: 2
seeds:
  - name: orders
    data_tests:
      - cuped.metric_values:
          name: revenue_definition
          arguments:
            metric: revenue
            units:
              - {unit_id: 1, assigned_at: "2026-03-01 12:00:00"}
              - {unit_id: 2, assigned_at: "2026-03-01 12:00:00"}
            events:
              - {user_id: 1, ordered_at: "2026-03-02 10:00:00", amount: 20.0, status: completed}
              - {user_id: 1, ordered_at: "2026-03-03 10:00:00", amount: 5.0, status: refunded}
              - {user_id: 1, ordered_at: "2026-03-09 13:00:00", amount: 7.0, status: completed}
              - {user_id: 1, ordered_at: "2026-02-20 10:00:00", amount: 3.0, status: completed}
              - {user_id: 1, ordered_at: "2026-02-01 10:00:00", amount: 99.0, status: completed}
              - {user_id: 2, ordered_at: "2026-03-01 11:59:59", amount: 4.0, status: completed}
            expected:
              - {unit_id: 1, post: 20.0, pre: 3.0}   # refunded, after 7 days, before 14 days: out
              - {unit_id: 2, post: 0, pre: 4.0}      # one second before exposure: pre-period
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    root, work = tmp_path_factory.mktemp("pin"), tmp_path_factory.mktemp("pin_work")
    write_installing_project(root)
    seeds = root / "seeds"
    (seeds / "exposures.csv").write_text(
        "experiment_id,unit_id,variant,assigned_at\n"
        + "".join(
            f"e,{u},{('control', 'treatment')[u % 2]},2026-03-01 12:00:00\n" for u in range(8)
        )
    )
    (seeds / "orders.csv").write_text(
        "user_id,ordered_at,amount,status\n"
        + "".join(f"{u},2026-03-0{2 + u % 5} 10:00:00,{u + 1}.5,completed\n" for u in range(8))
    )
    (seeds / "_tests.yml").write_text(textwrap.dedent(TESTS_YML))
    build = deps_and_build(root, work, CONFIG, check=False)
    return root, work, build


def _test_with(project, change: dict):
    root, work, _ = project
    config = {**CONFIG, "metrics": [{**METRIC, **change}]}
    return run_dbt(
        ["test", "--select", "test_name:metric_values"],
        project_dir=root,
        work_dir=work,
        variables={"cuped": config},
    )


def test_the_pinned_definition_passes_in_dbt_build(project) -> None:
    build = project[2].check()
    assert "revenue_definition" in build.output
    assert "WARN=0" in build.output and "ERROR=0" in build.output


@pytest.mark.parametrize(
    "change",
    [
        {"filter": "status in ('completed', 'refunded')"},  # unit 1: post 25
        {"window_days": 10},  # unit 1: post 27
        {"value": "amount * 1.2"},  # every value
    ],
    ids=["filter", "window", "value"],
)
def test_a_changed_definition_fails_naming_the_metric_values_test(project, change) -> None:
    run = _test_with(project, change)
    assert run.returncode != 0
    assert "Failure in test revenue_definition" in run.output
    assert "Got 1 result" in run.output or "Got 2 results" in run.output
    # each unit that differs is logged with its expected and actual values
    assert (
        "cuped: metric_values (on " in run.output
        and "does not hold: metric 'revenue'" in run.output
    )
    if change.get("window_days"):
        assert "unit 1, expected post 20.0, actual post 27.0" in run.output, run.output[-3000:]


def test_the_readme_shows_this_example() -> None:
    readme = (REPO / "README.md").read_text()
    assert "```yaml\n" + textwrap.dedent(TESTS_YML).lstrip("\n") + "```" in readme


def test_an_unknown_metric_is_named(project) -> None:
    root, work, _ = project
    (root / "seeds" / "_tests.yml").write_text(
        textwrap.dedent(TESTS_YML).replace("metric: revenue", "metric: revenu")
    )
    try:
        run = run_dbt(
            ["test", "--select", "test_name:metric_values"],
            project_dir=root,
            work_dir=work,
            variables={"cuped": CONFIG},
        )
    finally:
        (root / "seeds" / "_tests.yml").write_text(textwrap.dedent(TESTS_YML))
    assert run.returncode != 0
    assert "cuped.metric_values: metric 'revenu' is not in the `cuped` var" in run.output
