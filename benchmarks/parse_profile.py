"""Where a full `dbt parse` spends its time: one `dbt parse --no-partial-parse` in this process,
with dbt's parser instrumented.

Usage (from the repository root, in the environment where dbt is installed):

    python benchmarks/parse_profile.py PROJECT_DIR [--top 25]

`benchmarks/benchmark.py --parse-only` runs it on the benchmark project. It prints

1. the phases of the parse (wall seconds, outermost calls only): loading the macro files (every
   macro is parsed by Jinja, then parsed again to find the macros it calls), the SQL and Python
   nodes, the YAML files, the descriptions (`doc()`), writing the partial-parse file;
2. every Jinja template compiled, by what it is: a macro (once per macro per process, on its first
   call), a node's SQL, a YAML value (a column's `data_type`, a `config` value; a string without
   Jinja is compiled once per distinct string), a description, a data test, a hook; in a parse
   Jinja compilation, not running the templates, is most of the time;
3. the calls of each macro (count, seconds including the macros it calls, seconds of its own
   including its first-call compilation), the package's first.

It patches dbt-core 1.11 internals (private functions); a dbt version that renames one of them
makes this script fail with an AttributeError, not a wrong figure.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

# What compiled a template: the nearest of these functions on the call stack.
TEMPLATE_KINDS = {
    "get_node_template": "macro (first call)",
    "update_parsed_node_config": "hook or config() value",
    "render_with_context": "node SQL (model, seed)",
    "render_test_update": "data test",
    "_convert_function": "data test arguments",
    "_render_values": "data test arguments",
    "_process_docs_for_node": "description (doc())",
    "_process_docs_for_source": "description (doc())",
    "_process_docs_for_macro": "description (doc())",
    "parse_semantic_model": "semantic model value",
    "parse_exposure": "exposure value",
    "render_value": "YAML value",
}


def _kind(frame) -> str:
    while frame is not None:
        kind = TEMPLATE_KINDS.get(frame.f_code.co_name)
        if kind is not None:
            return kind
        frame = frame.f_back
    return "other"


def instrument(top_package: str):
    """Patch dbt; returns the dicts the patches fill."""
    import dbt.clients.jinja as dbt_jinja
    import dbt.parser.base
    import dbt.parser.manifest
    import dbt.parser.schemas
    import dbt_common.clients.jinja as common_jinja

    phases: collections.Counter = collections.Counter()
    phase_calls: collections.Counter = collections.Counter()
    active: collections.Counter = collections.Counter()

    def wrap_phase(owner, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def wrapper(*args, **kwargs):
            active[label] += 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                active[label] -= 1
                phase_calls[label] += 1
                if active[label] == 0:
                    phases[label] += time.perf_counter() - started

        setattr(owner, attr, wrapper)

    loader = dbt.parser.manifest.ManifestLoader
    wrap_phase(loader, "load", "whole manifest load")
    wrap_phase(loader, "load_and_parse_macros", "macro files: Jinja parse of every macro")
    wrap_phase(loader, "macro_depends_on", "  of which: static scan of macro calls")
    wrap_phase(dbt.parser.base.ConfiguredParser, "parse_node", "SQL and Python nodes")
    wrap_phase(dbt.parser.schemas.SchemaParser, "parse_file", "YAML files (incl. data tests)")
    wrap_phase(loader, "process_docs", "descriptions (doc())")
    wrap_phase(loader, "write_manifest_for_partial_parse", "writing partial_parse.msgpack")

    templates: dict = collections.defaultdict(lambda: [0, 0.0, 0])
    original_get_template = common_jinja.get_template

    def get_template(string, ctx, node=None, capture_macros=False, native=False):
        started = time.perf_counter()
        try:
            return original_get_template(string, ctx, node, capture_macros, native)
        finally:
            entry = templates[_kind(sys._getframe(1))]
            entry[0] += 1
            entry[1] += time.perf_counter() - started
            entry[2] += len(string)

    common_jinja.get_template = get_template
    dbt_jinja.get_template = get_template

    compiles: dict = {}
    cache_class = common_jinja.TemplateCache
    original_node_template = cache_class.get_node_template

    def get_node_template(self, node):
        if node.macro_sql in self.file_cache:
            return self.file_cache[node.macro_sql]
        started = time.perf_counter()
        template = original_node_template(self, node)
        compiles[f"{node.package_name}.{node.name}"] = time.perf_counter() - started
        return template

    cache_class.get_node_template = get_node_template

    calls: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    exclusive: collections.Counter = collections.Counter()
    stack: list[float] = []
    original_call = dbt_jinja.MacroGenerator.__call__

    def call(self, *args, **kwargs):
        name = f"{self.macro.package_name}.{self.macro.name}"
        started = time.perf_counter()
        stack.append(0.0)
        try:
            return original_call(self, *args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            children = stack.pop()
            calls[name] += 1
            inclusive[name] += elapsed
            exclusive[name] += elapsed - children
            if stack:
                stack[-1] += elapsed

    dbt_jinja.MacroGenerator.__call__ = call
    return {
        "phases": phases,
        "phase_calls": phase_calls,
        "templates": templates,
        "compiles": compiles,
        "calls": calls,
        "inclusive": inclusive,
        "exclusive": exclusive,
        "top_package": top_package,
    }


def report(stats: dict, wall: float, cpu: float, top: int) -> None:
    print(f"\nfull parse in this process: {wall:.2f} s wall, {cpu:.2f} s CPU")
    print("\nphases (wall s, outermost calls):")
    for label, seconds in sorted(stats["phases"].items(), key=lambda item: -item[1]):
        print(f"  {seconds:7.2f}  {stats['phase_calls'][label]:5d} calls  {label}")

    print("\nJinja templates compiled, by what they are:")
    print(f"  {'seconds':>7}  {'count':>5}  {'KiB':>6}  kind")
    rows = sorted(stats["templates"].items(), key=lambda item: -item[1][1])
    for kind, (count, seconds, chars) in rows:
        print(f"  {seconds:7.3f}  {count:5d}  {chars / 1024:6.1f}  {kind}")
    total = sum(entry[1] for entry in stats["templates"].values())
    print(f"  {total:7.3f}  {sum(e[0] for e in stats['templates'].values()):5d}          all")

    package = stats["top_package"]
    compiles = stats["compiles"]
    by_package: collections.Counter = collections.Counter()
    count_by_package: collections.Counter = collections.Counter()
    for name, seconds in compiles.items():
        by_package[name.split(".")[0]] += seconds
        count_by_package[name.split(".")[0]] += 1
    print("\nmacros compiled on their first call, by package:")
    for name, seconds in by_package.most_common():
        print(f"  {seconds:7.3f}  {count_by_package[name]:5d}  {name}")

    print(
        f"\nmacro calls ({package} first; seconds of its own include its first-call compile), "
        f"top {top} by own seconds:"
    )
    print(f"  {'calls':>6}  {'incl. s':>7}  {'own s':>7}  {'compile':>7}  macro")
    names = sorted(
        stats["calls"],
        key=lambda n: (not n.startswith(package + "."), -stats["exclusive"][n]),
    )
    for name in names[:top]:
        print(
            f"  {stats['calls'][name]:6d}  {stats['inclusive'][name]:7.3f}  "
            f"{stats['exclusive'][name]:7.3f}  {compiles.get(name, 0.0):7.3f}  {name}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--package", default="cuped", help="the package whose macros come first")
    args = parser.parse_args(argv)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    project = args.project.resolve()

    from dbt.cli.main import dbtRunner

    stats = instrument(args.package)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = dbtRunner().invoke(
        [
            "parse",
            "--no-partial-parse",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--quiet",
        ]
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if not result.success:
        raise SystemExit(f"dbt parse failed: {result.exception}")
    report(stats, wall, cpu, args.top)


if __name__ == "__main__":
    main()
