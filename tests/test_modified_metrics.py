"""`cuped-stats modified-metrics`: the metrics whose definition differs between two manifests, as
dbt selectors (dbt's own state:modified does not compare a metric's filter or type parameters;
tests/test_semantic_metrics.py and tests/test_dbt_112.py run it on manifests dbt wrote)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cuped_stats import cli
from cuped_stats.modified_metrics import DEFINITION, modified_metrics


def _filter(value: str) -> dict:
    return {
        "where_filters": [{"where_sql_template": f"{{{{ Dimension('p__state') }}}} = '{value}'"}]
    }


def _metric(name: str, **fields) -> dict:
    return {
        "name": name,
        "package_name": "shop",
        "unique_id": f"metric.shop.{name}",
        "type": "simple",
        "type_params": {"measure": {"name": "amount", "filter": None}, "expr": None},
        "filter": _filter("x"),
        "time_granularity": None,
        "label": name,
        "description": "",
        "config": {"enabled": True, "group": None, "meta": {}},
        "created_at": 1.0,
        "path": "models/_models.yml",
        **fields,
    }


def _manifest(*metrics: dict) -> dict:
    return {"metrics": {m["unique_id"]: m for m in metrics}, "nodes": {}}


BEFORE = _manifest(_metric("revenue"), _metric("orders"))


def test_an_unchanged_manifest_selects_nothing() -> None:
    # when and where dbt parsed it is not part of a definition
    after = copy.deepcopy(BEFORE)
    for metric in after["metrics"].values():
        metric.update(created_at=2.0, path="models/moved.yml")
    assert modified_metrics(after, BEFORE) == []


@pytest.mark.parametrize(
    "change",
    [
        {"filter": _filter("y")},
        {"filter": None},
        {"type_params": {"measure": {"name": "amount_usd", "filter": None}, "expr": None}},
        {"type_params": {"measure": {"name": "amount", "filter": None}, "expr": "amount * 2"}},
        {"type": "ratio"},
        {"label": "Revenue"},
        {"config": {"enabled": True, "group": None, "meta": {"cuped": {}}}},
    ],
    ids=["filter", "filter removed", "measure", "expr", "type", "label", "meta"],
)
def test_a_changed_definition_selects_that_metric_and_its_descendants(change) -> None:
    assert set(change) <= set(DEFINITION)
    after = copy.deepcopy(BEFORE)
    after["metrics"]["metric.shop.revenue"].update(change)
    assert modified_metrics(after, BEFORE) == ["metric:shop.revenue+"]


def test_a_new_metric_is_selected_and_a_removed_one_is_not() -> None:
    after = _manifest(_metric("revenue"), _metric("sessions"))
    assert modified_metrics(after, BEFORE) == ["metric:shop.sessions+"]


def _write(directory: Path, manifest: dict) -> Path:
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def test_the_command_prints_the_selectors_on_one_line(tmp_path, capsys) -> None:
    after = copy.deepcopy(BEFORE)
    for metric in after["metrics"].values():
        metric["filter"] = None
    state, target = _write(tmp_path / "state", BEFORE), _write(tmp_path / "target", after)
    argv = ["modified-metrics", "--state", str(state), "--target-path", str(target)]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == "metric:shop.orders+ metric:shop.revenue+\n"


def test_the_command_names_a_missing_or_foreign_manifest(tmp_path, capsys) -> None:
    state = _write(tmp_path / "state", BEFORE)
    argv = ["modified-metrics", "--state", str(state), "--target-path", str(tmp_path / "none")]
    assert cli.main(argv) == 2
    assert f"{tmp_path / 'none' / 'manifest.json'} does not exist" in capsys.readouterr().err
    foreign = _write(tmp_path / "foreign", {"nodes": {}})
    argv = ["modified-metrics", "--state", str(foreign), "--target-path", str(state)]
    assert cli.main(argv) == 2
    assert "has no `metrics` mapping: not a dbt manifest" in capsys.readouterr().err
