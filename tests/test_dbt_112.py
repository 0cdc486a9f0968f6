"""dbt-core 1.12.0 and the Semantic Layer's latest YAML spec (semantic model on the model's own
YAML entry, columns as entities and dimensions, simple metrics with `agg` and `expr`).

dbt-core 1.12.0 is outside the environment's pins (dbt-core 1.11): the test installs it, with the
only parser build that installs from PyPI alone, in a virtualenv of its own cached under pytest's
cache (40 to 80 s the first time on 2 cores; the file takes about 4 minutes then, 2.5 with the
cache: its tests are marked slow). There:

- the whole demo expressed through the latest spec gives the hand-written demo's per-arm moments
  and `cuped_results` (built by dbt-core 1.11 here), every column but `computed_at`;
- so does the legacy spec (this repository's demo/_demo_semantic.yml) on 1.12.0;
- a project that installs the package, with its own semantic model in the latest spec, builds
  from an empty database in order (seeds, its model, the package) with no warning;
- an aggregation the package refuses stops compile with the same message as in the legacy spec;
- `state:modified+` selects the package's models after a change to the semantic model, not after
  a change to a metric's filter: dbt 1.12.0 does not compare metrics' filters or aggregations
  (`Metric.same_filter` and `same_type_params` return True), as the README says; the selectors
  `cuped-stats modified-metrics` prints then do select them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cuped_stats.modified_metrics import modified_metrics, read_manifest
from tests.dbt_runner import REPO, DbtRun, run_dbt
from tests.test_semantic_metrics import (
    TABLES,
    _table,
    _write_sl_project,
    assert_same_frame,
    build_installing_project,
    hand_written_config,
    semantic_config,
)

#: What installs dbt-core 1.12.0 here (the README's install line says the same).
DBT_112 = [
    "dbt-core==1.12.0",
    "dbt-core-experimental-parser==2.0.0a4",
    "dbt-duckdb>=1.11,<1.12",
]

#: The demo's semantic layer in the latest spec: models over the demo seeds carry the semantic
#: models; the SL metrics the demo reads (tests/test_semantic_metrics.py SEMANTIC) and one the
#: package refuses. `pages_viewed` has no `expr`: MetricFlow reads the column of the metric's name.
LATEST_SPEC = """
version: 2
models:
  - name: metricflow_time_spine
    time_spine: {standard_granularity_column: date_day}
    columns:
      - {name: date_day, granularity: day}
  - name: orders
    semantic_model: {name: demo_orders}
    agg_time_dimension: ordered_at
    columns:
      - {name: order_id, entity: {name: order, type: primary}}
      - {name: user_id, entity: {name: user, type: foreign}}
      - {name: ordered_at, granularity: day, dimension: {type: time}}
      - {name: status, dimension: {type: categorical}}
    metrics:
      - name: revenue
        label: Revenue
        description: Completed-order revenue.
        agg: sum
        expr: revenue
        filter: "{{ Dimension('order__status') }} = 'completed'"
      - name: orders
        label: Orders
        description: Completed orders.
        agg: count
        expr: order_id
        filter: "{{ Dimension('order__status') }} = 'completed'"
      - {name: average_order_revenue, agg: average, expr: revenue}
  - name: sessions
    semantic_model: true
    agg_time_dimension: session_started_at
    columns:
      - {name: session_id, entity: {name: session, type: primary}}
      - {name: user_id, entity: {name: user, type: foreign}}
      - {name: session_started_at, granularity: day, dimension: {type: time}}
    metrics:
      - {name: sessions, label: Sessions, agg: count, expr: session_id}
      - {name: pages_viewed, label: Pages viewed, agg: sum}
metrics:
  - name: revenue_per_order
    label: Revenue per order
    description: Completed-order revenue over completed orders.
    type: ratio
    numerator: revenue
    denominator: orders
"""

#: tests/test_semantic_metrics.py's installing project (SL_MODELS) in the latest spec.
SL_MODELS_LATEST = """
version: 2
models:
  - name: time_spine
    time_spine: {standard_granularity_column: date_day}
    columns:
      - {name: date_day, granularity: day}
  - name: payments
    semantic_model: true
    agg_time_dimension: paid_at
    columns:
      - {name: payment_id, entity: {name: payment, type: primary}}
      - {name: account_id, entity: {name: account, type: foreign}}
      - {name: paid_at, granularity: day, dimension: {type: time}}
      - {name: state, dimension: {type: categorical}}
    metrics:
      - name: paid_revenue
        label: Paid revenue
        agg: sum
        expr: amount_usd
        filter: "{{ Dimension('payment__state') }} = 'paid'"
"""


@pytest.fixture(scope="module")
def dbt_112(request: pytest.FixtureRequest) -> str:
    """The dbt executable of a virtualenv with dbt-core 1.12.0 and this repository (editable,
    for the Python models' statistics core), made once and kept in pytest's cache."""
    root = Path(request.config.cache.mkdir("dbt-1.12"))
    venv, marker = root / "venv", root / "installed.json"
    wanted = json.dumps({"requirements": DBT_112, "repo": str(REPO), "python": sys.version})
    if not marker.exists() or marker.read_text() != wanted:
        shutil.rmtree(venv, ignore_errors=True)
        marker.unlink(missing_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        install = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", *DBT_112, "-e", str(REPO)],
            capture_output=True, text=True, timeout=1200, check=False,
        )  # fmt: skip
        assert install.returncode == 0, f"installing dbt-core 1.12.0 failed:\n{install.stderr}"
        marker.write_text(wanted)
    return str(venv / "bin" / "dbt")


def _latest_spec_project(root: Path) -> Path:
    """A copy of this repository whose demo semantic layer is in the latest spec."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ["dbt_project.yml", "profiles.yml"]:
        shutil.copy(REPO / name, root / name)
    for name in ["models", "macros", "seeds", "python_models", "demo"]:
        shutil.copytree(REPO / name, root / name)
    demo = root / "demo"
    (demo / "_demo_semantic.yml").write_text(LATEST_SPEC)
    for model, seed in [("orders", "demo_orders"), ("sessions", "demo_sessions")]:
        (demo / f"{model}.sql").write_text(f"select * from {{{{ ref('{seed}') }}}}\n")
    return root


@pytest.fixture(scope="module")
def latest_project(tmp_path_factory) -> Path:
    return _latest_spec_project(tmp_path_factory.mktemp("latest_spec"))


def _build(work: Path, project: Path, config: dict, dbt: str | None = None) -> DbtRun:
    return run_dbt(
        ["build", "--select", "+cuped_results"],
        project_dir=project,
        work_dir=work,
        variables={"cuped": config},
        dbt=dbt,
    ).check()


@pytest.fixture(scope="module")
def builds(tmp_path_factory, dbt_112, latest_project) -> dict[str, DbtRun]:
    """The hand-written demo on dbt-core 1.11 (this environment), and the demo through the
    Semantic Layer on 1.12.0 in each spec."""
    work = tmp_path_factory.mktemp("builds")
    return {
        "hand_written_1.11": _build(work / "hand", REPO, hand_written_config()),
        "legacy_1.12": _build(work / "legacy", REPO, semantic_config(), dbt_112),
        "latest_1.12": _build(work / "latest", latest_project, semantic_config(), dbt_112),
    }


def test_the_install_line_is_the_readmes() -> None:
    readme = (REPO / "README.md").read_text()
    assert "pip install " + " ".join(f'"{r}"' if "<" in r else r for r in DBT_112) in readme


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["latest_1.12", "legacy_1.12"])
@pytest.mark.parametrize("table", sorted(TABLES))
def test_the_demo_through_either_spec_on_dbt_112_equals_the_hand_written_demo(
    spec, table, builds
) -> None:
    assert_same_frame(
        _table(builds[spec], table), _table(builds["hand_written_1.11"], table), f"{spec}: {table}"
    )


@pytest.mark.slow
def test_an_installing_project_in_the_latest_spec_builds_in_order(dbt_112, tmp_path) -> None:
    # its own semantic model on its model, the package installed from packages.yml: seeds, its
    # model, then the package, no warning, the per-unit means of its paid payments
    root, work = tmp_path / "sl_shop", tmp_path / "work"
    events = _write_sl_project(root)
    (root / "models" / "_models.yml").write_text(SL_MODELS_LATEST)
    build_installing_project(root, work, events, dbt=dbt_112)


@pytest.mark.slow
def test_the_latest_spec_is_read_from_the_metric_itself(dbt_112, latest_project, tmp_path) -> None:
    # the provenance the package records: no measure, the metric's own agg and time dimension
    run = run_dbt(
        ["run-operation", "cuped__print_metrics"],
        project_dir=latest_project,
        work_dir=tmp_path,
        variables={"cuped": semantic_config()},
        dbt=dbt_112,
    ).check()
    line = next(line for line in run.output.splitlines() if "[{" in line)
    metrics = {m["name"]: m for m in json.loads(line[line.index("[{") :])}
    pages = metrics["pages_per_user_7d"]
    assert pages["source"] == "@node:model.cuped.sessions"
    assert (pages["agg"], pages["value"], pages["timestamp_column"]) == (
        "sum",
        "pages_viewed",
        "session_started_at",
    )
    assert pages["semantic"] == {
        "metric": "pages_viewed",
        "semantic_model": "sessions",
        "measure": None,
        "unit_entity": "user",
        "time_dimension": "session_started_at",
    }


@pytest.mark.slow
def test_a_refused_aggregation_in_the_latest_spec_stops_compile_naming_it(
    dbt_112, latest_project, tmp_path
) -> None:
    config = semantic_config()
    for metric in config["metrics"]:
        if metric["name"] == "pages_per_user_7d":
            metric["semantic_metric"] = "average_order_revenue"
    run = run_dbt(
        ["compile", "--select", "cuped__analysis_plan"],
        project_dir=latest_project,
        work_dir=tmp_path,
        variables={"cuped": config},
        dbt=dbt_112,
    )
    assert run.returncode != 0
    assert (
        "metric 'pages_per_user_7d': the aggregation `average` of the semantic model "
        "'demo_orders' (SL metric 'average_order_revenue') is not supported" in run.output
    )


@pytest.mark.slow
def test_state_modified_sees_semantic_model_changes_not_metric_filters(dbt_112, tmp_path) -> None:
    project = _latest_spec_project(tmp_path / "project")
    config = {"cuped": semantic_config()}
    run_dbt(["parse"], project_dir=project, work_dir=tmp_path / "before", variables=config,
            dbt=dbt_112).check()  # fmt: skip
    yml = project / "demo" / "_demo_semantic.yml"
    original = yml.read_text()

    def modified(changed: str, name: str, *also: str) -> set[str]:
        yml.write_text(changed)
        run = run_dbt(
            ["ls", "--select", "state:modified+", *also, "--state",
             str(tmp_path / "before" / "target"), "--resource-type", "model", "--output", "name"],
            project_dir=project, work_dir=tmp_path / name, variables=config, dbt=dbt_112,
        ).check()  # fmt: skip
        yml.write_text(original)
        return set(run.output.split())

    # a dimension of the semantic model (on the model's columns): its models are selected
    dimension = original.replace(
        "{name: status, dimension: {type: categorical}}",
        "{name: status, dimension: {type: categorical, label: Status}}",
    )
    assert "cuped__unit_values" in modified(dimension, "dimension")
    # a metric's filter: dbt 1.12.0 does not see it (Metric.same_filter returns True)
    filter_ = original.replace(
        "= 'completed'\"\n      - name: orders", "!= 'returned'\"\n      - name: orders"
    )
    assert filter_ != original
    assert "cuped__unit_values" not in modified(filter_, "filter")
    # ... `cuped-stats modified-metrics` names the metric from the two manifests, and its selector
    # selects the package's models
    selectors = modified_metrics(
        read_manifest(tmp_path / "filter" / "target"), read_manifest(tmp_path / "before" / "target")
    )
    assert selectors == ["metric:cuped.revenue+"]
    assert "cuped__unit_values" in modified(filter_, "filter_selected", *selectors)
