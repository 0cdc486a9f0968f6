"""``cuped-stats statistics``: the statistics step of a dbt project on a warehouse whose adapter
has no Python models (PostgreSQL, Redshift, Trino...), run between two dbt builds::

    dbt build --select +tag:cuped_statistics_input
    cuped-stats statistics
    dbt build --exclude +tag:cuped_statistics_input

It parses the project with dbt (the same ``--project-dir``, ``--profiles-dir``, ``--target``,
``--vars`` as the builds), opens the target's connection through dbt's adapter, reads the moments
tables the first build wrote and writes ``cuped__statistics`` beside them
(:func:`cuped_stats.warehouse.run_statistics`). dbt is imported only here, when the command runs.

``cuped-stats modified-metrics --state <dir>``: the Semantic Layer metrics whose definition
differs between the manifest in ``--state`` and the current one, as dbt selectors to add to
``state:modified+`` (dbt does not compare a metric's filter or type parameters;
:mod:`cuped_stats.modified_metrics`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cuped_stats
from cuped_stats.modified_metrics import ManifestError, modified_metrics, read_manifest
from cuped_stats.warehouse import STATISTICS_INPUTS, column_types, run_statistics

__all__ = ["main"]

_PACKAGE = "cuped"


class CommandError(Exception):
    """Bad input or a project the command cannot serve: printed, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cuped-stats",
        description="The statistics step of the cuped dbt package on warehouses without dbt "
        "Python models.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    statistics = commands.add_parser(
        "statistics",
        help="read the moments dbt built, write cuped__statistics (run between two dbt builds)",
    )
    statistics.add_argument("--project-dir", help="the dbt project (default: dbt's)")
    statistics.add_argument("--profiles-dir", help="where profiles.yml is (default: dbt's)")
    statistics.add_argument("--profile", help="the profile (default: the project's)")
    statistics.add_argument("--target", "-t", help="the target (default: the profile's)")
    statistics.add_argument("--vars", help="dbt vars, as for dbt build (YAML)")
    modified = commands.add_parser(
        "modified-metrics",
        help="print metric:<package>.<name>+ for each Semantic Layer metric whose definition "
        "changed since --state (add them to state:modified+)",
    )
    modified.add_argument(
        "--state", required=True, help="the directory of the comparison manifest.json"
    )
    modified.add_argument(
        "--target-path",
        default="target",
        help="the directory of the current manifest.json, written by `dbt parse` (default: target)",
    )
    return parser


def _dbt_args(args: argparse.Namespace) -> list[str]:
    out = ["parse", "--quiet"]
    for flag in ("project_dir", "profiles_dir", "profile", "target", "vars"):
        value = getattr(args, flag)
        if value is not None:
            out += ["--" + flag.replace("_", "-"), value]
    return out


def _parse(args: argparse.Namespace) -> Any:
    try:
        from dbt.cli.main import dbtRunner
    except ImportError:
        raise CommandError(
            "dbt-core is not installed in this Python environment; run the command where dbt "
            "runs (pip install dbt-core and the adapter, e.g. dbt-postgres)"
        ) from None
    result = dbtRunner().invoke(_dbt_args(args))
    if not result.success:
        raise CommandError(f"dbt could not parse the project: {result.exception or 'see above'}")
    return result.result


def _input_nodes(manifest: Any) -> dict[str, Any]:
    nodes = {}
    for model in STATISTICS_INPUTS.values():
        node = manifest.nodes.get(f"model.{_PACKAGE}.{model}")
        if node is None:
            raise CommandError(
                f"the project has no model {_PACKAGE}.{model}: is the cuped package installed "
                "(dbt deps) and enabled?"
            )
        nodes[model] = node
    return nodes


def _check_versions(manifest: Any) -> None:
    """The core must be the version the dbt package expects, as the Python model checks."""
    key = f"model.{_PACKAGE}.cuped__statistics"
    if key in manifest.nodes:
        raise CommandError(
            "this target's adapter runs dbt Python models: the model cuped__statistics computes "
            "the statistics there, in `dbt build`; the command is for adapters without them"
        )
    disabled = manifest.disabled.get(key) or []
    expected = disabled[0].config.meta.get("cuped_version") if disabled else None
    if expected is not None and expected != cuped_stats.__version__:
        raise CommandError(
            f"the dbt package is version {expected} but this statistics core is "
            f"{cuped_stats.__version__}; install the matching core: "
            f"pip install 'cuped-stats=={expected}'"
        )


def _statistics(args: argparse.Namespace) -> int:
    manifest = _parse(args)
    _check_versions(manifest)
    nodes = _input_nodes(manifest)
    from dbt.adapters.factory import get_adapter_by_type

    moments = nodes["cuped__moments"]
    adapter_type = manifest.metadata.adapter_type
    adapter = get_adapter_by_type(adapter_type)
    output = adapter.Relation.create(
        database=moments.database, schema=moments.schema, identifier="cuped__statistics"
    ).render()
    inputs = {model: node.relation_name for model, node in nodes.items()}
    with adapter.connection_named("cuped_stats"):
        connection = adapter.connections.get_thread_connection().handle
        try:
            written = run_statistics(connection, inputs, output, types=column_types(adapter_type))
        except Exception as error:
            raise CommandError(
                f"the statistics step failed on {output}: {error} (did `dbt build --select "
                "+tag:cuped_statistics_input` run first, on the same target?)"
            ) from error
    print(f"cuped-stats: wrote {written} rows to {output}")
    return 0


def _modified_metrics(args: argparse.Namespace) -> int:
    try:
        current = read_manifest(Path(args.target_path))
        previous = read_manifest(Path(args.state))
    except ManifestError as error:
        raise CommandError(str(error)) from None
    print(" ".join(modified_metrics(current, previous)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (2: bad input, a failed step)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "modified-metrics":
            return _modified_metrics(args)
        return _statistics(args)
    except CommandError as error:
        print(f"cuped-stats: {error}", file=sys.stderr)
        return 2
