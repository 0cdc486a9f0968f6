"""A package model renders its SQL only when dbt runs it: at parse time it renders
cuped.cuped__parse_dependencies, the refs and configured relations its SQL reads
(macros/config/cuped__parse_dependencies.sql). Checked here on the demo build: every relation a
compiled model reads is one of its dependencies, and each model still depends (for
`state:modified`) on every package macro its SQL calls. test_incremental.py and
test_quantile_metrics.py check the reads of their builds (incremental and quantile models) too."""

from __future__ import annotations

import json
import re

from tests.dbt_runner import DbtRun
from tests.helpers import reachable, undeclared_reads


def test_demo_models_depend_on_every_relation_they_read(demo_build: DbtRun) -> None:
    found = undeclared_reads(demo_build.database.parent / "target")
    assert "cuped__unit_values" in found and "cuped_health" in found
    assert {model: reads for model, reads in found.items() if reads} == {}


def test_models_depend_on_the_macros_their_sql_calls(demo_build: DbtRun) -> None:
    """dbt's `state:modified` selects a model when a macro it depends on changed: every package
    macro a model's file calls must be among its macro dependencies (closed over the macros they
    call), although at parse time the model calls only cuped__parse_dependencies."""
    manifest = json.loads((demo_build.database.parent / "target" / "manifest.json").read_text())
    macros = manifest["macros"]

    def closure(ids: list[str]) -> set[str]:
        return reachable(
            ids, lambda macro: macros.get(macro, {}).get("depends_on", {}).get("macros", [])
        )

    checked = 0
    for node in manifest["nodes"].values():
        if node["package_name"] != "cuped" or node["resource_type"] != "model":
            continue
        if node["language"] != "sql":
            continue
        called = {
            f"macro.cuped.{name}"
            for name in re.findall(r"\b(cuped__\w+)\s*\(", node["raw_code"])
            if f"macro.cuped.{name}" in macros
        }
        missing = called - closure(node["depends_on"]["macros"])
        assert not missing, (node["name"], sorted(missing))
        checked += bool(called)
    assert checked >= 20
