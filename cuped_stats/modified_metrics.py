"""``cuped-stats modified-metrics``: the Semantic Layer metrics whose definition changed between two
dbt manifests, as dbt selectors.

dbt's ``state:modified`` compares a metric's label, description, type and config, not its filter
or type parameters (``Metric.same_filter`` and ``same_type_params`` return True in dbt-core 1.11
and 1.12.0), so after a change to a metric's filter, ``agg``, ``expr`` or measure reference the
package's models that read it are not selected. This compares the metrics of the two manifests
field by field and prints ``metric:<package>.<name>+`` for each changed or new one::

    dbt parse
    dbt build --select state:modified+ $(cuped-stats modified-metrics --state prod-artifacts) \\
        --state prod-artifacts

Standard library only: it reads the two ``manifest.json`` files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DEFINITION", "modified_metrics", "read_manifest"]

#: The fields of a manifest's metric node that define what it computes or how it is shown.
DEFINITION = ("type", "type_params", "filter", "time_granularity", "label", "description", "config")


class ManifestError(Exception):
    """A manifest that cannot be read: the message names the file."""


def read_manifest(directory: Path) -> dict[str, Any]:
    """The ``manifest.json`` dbt wrote in ``directory`` (a target path or a --state directory)."""
    path = Path(directory) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path} does not exist (run `dbt parse` to write it)") from None
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path} is not a readable dbt manifest: {error}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("metrics"), dict):
        raise ManifestError(f"{path} has no `metrics` mapping: not a dbt manifest")
    return manifest


def modified_metrics(current: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    """Selectors ``metric:<package>.<name>+`` of the metrics of ``current`` that are new or whose
    DEFINITION fields differ from ``previous``'s, sorted by unique id."""
    old = previous["metrics"]
    selected = []
    for unique_id, node in sorted(current["metrics"].items()):
        before = old.get(unique_id)
        if before is None or any(node.get(key) != before.get(key) for key in DEFINITION):
            selected.append(f"metric:{node['package_name']}.{node['name']}+")
    return selected
