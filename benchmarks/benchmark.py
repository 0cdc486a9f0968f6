"""Performance benchmark of the cuped dbt package against a hand-written DuckDB floor.

Usage (from the repository root, in the environment where the package and dbt-duckdb are installed):

    python benchmarks/benchmark.py                        # 10M units, 100M events (+ a 1M-unit run)
    python benchmarks/benchmark.py --units 100000 --events 1000000 --keep
    python benchmarks/benchmark.py --target spark         # on a local PySpark: 1M units, 10M events
    # on Spark at the targets' scale (10M units, 100M events), with a 14 GB JVM heap:
    python benchmarks/benchmark.py --target spark --units 10000000 --events 100000000 \\
        --spark-driver-memory 14g
    python benchmarks/benchmark.py --parse-only           # the full parse, with and without it

What it does, for the main scale and for a scale `--small-factor` times smaller:

1. generates synthetic data inside a DuckDB file with SQL only (range() + hash expressions):
   assignments (two experiments × three arms), users (country, predicted_ltv), sessions and orders;
2. writes a scratch dbt project that installs this package (`packages.yml` `local:`), reads the
   tables as sources and configures five metrics (a ratio, a capped one), a segment and a unit
   attribute covariate;
3. measures, each in its own subprocess, wall time and peak RSS of
   (a) `dbt build` of the package (after `dbt deps` and a warm-up `dbt parse`, both unmeasured
       except that the warm-up parse is reported),
   (b) the floor: one hand-written DuckDB statement computing the same per-experiment × segment ×
       arm moments from the raw tables,
   (c) dbt's fixed cost: `dbt run --select <no such model>` on the same project (process start,
       adapter load, partial-parse manifest load, selection; no model runs),
   (d) the Python statistics step alone: `cuped_stats.tables.results_table` on the moments read
       from the built `cuped__moments`;
4. prints the comparison tables and per-model timings (target/run_results.json);
5. profiles (`--profile`, on by default, at the smaller scale) the compiled SQL of
   cuped__unit_values (and of the models that read it) with DuckDB's profiler.

With `--target spark`, at the requested scale only and all in this process (one JVM): the same
data generated with Spark SQL in a local SparkSession (tests/spark_session.py, the Spark tests'
harness, which also runs the Python models in that session), the same project on dbt-spark's
`session` method (Parquet tables), dbt in-process (dbtRunner), then (c), (a) and (b) as above with
the floor in Spark SQL; wall time and the peak RSS of this process and its JVM in each phase.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GNU_TIME = Path("/usr/bin/time")
NO_SUCH_MODEL = "nonexistent_model_xyz"

# --------------------------------------------------------------------------------------------
# 1. synthetic data
# --------------------------------------------------------------------------------------------

# u01(h): a uniform number in [0, 1) from a 64-bit hash. Activity is skewed by drawing the user of
# event i as floor(units * r^1.5): low user ids are busier, and predicted_ltv follows the same
# curve with noise, so pre-period values and the attribute both predict post-period values.
# Event times are spread uniformly over [-14 d, +14 d) around the user's experiment-1 exposure.
DATA_SQL = """
create or replace temp macro u01(h) as ((h % 1000000007)::double / 1000000007);
create or replace temp macro exposure_1(u) as
    (timestamp '2026-01-05 00:00:00' + to_seconds((hash(u, 't1') % 1209600)::bigint));
create or replace temp macro event_user(i, salt) as
    (least({units} - 1, floor({units} * pow(u01(hash(i, salt)), 1.5)))::bigint);
create or replace temp macro activity(u) as (pow(greatest(u + 0.5, 0.5) / {units}, -1.0 / 3));

create or replace table users as
select
    i as user_id,
    (['US', 'DE', 'FR', 'GB', 'BR'])[1 + (hash(i, 'country') % 5)::int] as country,
    round(40 * activity(i) * (0.5 + u01(hash(i, 'ltv'))), 2) as predicted_ltv
from range({units}) as t(i);

create or replace table assignments as
select
    'exp_1' as experiment_id,
    i as user_id,
    (['control', 'variant_a', 'variant_b'])[1 + (hash(i, 'v1') % 3)::int] as variant,
    exposure_1(i) as first_exposure_at
from range({units}) as t(i)
where hash(i, 'in1') % 100 < 98
union all
select
    'exp_2',
    i,
    (['control', 'variant_a', 'variant_b'])[1 + (hash(i, 'v2') % 3)::int],
    timestamp '2026-01-12 00:00:00' + to_seconds((hash(i, 't2') % 604800)::bigint)
from range({units}) as t(i)
where hash(i, 'in2') % 100 < 30;

create or replace table sessions as
with events as (select i, event_user(i, 'su') as u from range({n_sessions}) as t(i))
select
    i as session_id,
    u as user_id,
    exposure_1(u) + to_seconds((hash(i, 'st') % 2419200)::bigint - 1209600) as session_started_at,
    1 + (hash(i, 'pages') % 12)::int as pages_viewed
from events;

create or replace table orders as
with events as (select i, event_user(i, 'ou') as u from range({n_orders}) as t(i))
select
    i as order_id,
    u as user_id,
    exposure_1(u) + to_seconds((hash(i, 'ot') % 2419200)::bigint - 1209600) as ordered_at,
    round(
        (15 + 20 * u01(hash(u, 'spend'))) * (-ln(1 - u01(hash(i, 'amount'))))
        * case when (hash(u, 'v1') % 3) = 1 and (hash(i, 'ot') % 2419200) >= 1209600
              then 1.03 else 1 end,
        2) as revenue,
    case
        when hash(i, 'status') % 100 < 93 then 'completed'
        when hash(i, 'status') % 100 < 98 then 'refunded'
        else 'cancelled'
    end as status
from events;
"""


def generate_data(database: Path, units: int, events: int) -> dict:
    import duckdb

    n_sessions = round(events * 0.6)
    n_orders = events - n_sessions
    started = time.perf_counter()
    with duckdb.connect(str(database)) as con:
        for statement in DATA_SQL.format(
            units=units, n_sessions=n_sessions, n_orders=n_orders
        ).split(";"):
            if statement.strip():
                con.execute(statement)
        counts = {
            table: con.execute(f"select count(*) from {table}").fetchall()[0][0]
            for table in ["assignments", "users", "sessions", "orders"]
        }
        con.execute("checkpoint")
    counts["seconds"] = time.perf_counter() - started
    counts["file_mb"] = database.stat().st_size / 2**20
    return counts


def data_matches(database: Path, units: int, events: int) -> bool:
    import duckdb

    if not database.exists():
        return False
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            n_users = con.execute("select count(*) from users").fetchall()[0][0]
            n_events = con.execute(
                "select (select count(*) from sessions) + (select count(*) from orders)"
            ).fetchall()[0][0]
    except Exception:
        return False
    return n_users == units and n_events == events


# --------------------------------------------------------------------------------------------
# 2. the scratch dbt project
# --------------------------------------------------------------------------------------------

PROJECT_YML = """
name: cuped_bench
version: "1.0.0"
config-version: 2
profile: cuped_bench
flags:
  send_anonymous_usage_stats: false
vars:
  cuped:
    assignments: source:bench.assignments
    assignment_columns: {unit_id: user_id, assigned_at: first_exposure_at}
    pre_period_days: 14
    unit_attributes:
      relation: source:bench.users
      unit_column: user_id
      columns: [predicted_ltv, country]
    segments: [country]
    metrics:
      - name: revenue_per_user
        source: source:bench.orders
        unit_column: user_id
        timestamp_column: ordered_at
        agg: sum
        value: revenue
        filter: "status = 'completed'"
        covariates: [pre_period, predicted_ltv]
      - name: revenue_per_user_capped
        source: source:bench.orders
        unit_column: user_id
        timestamp_column: ordered_at
        agg: sum
        value: revenue
        filter: "status = 'completed'"
        cap: {upper_quantile: 0.99}
      - name: revenue_per_order
        type: ratio
        numerator: revenue_per_user
        denominator: orders_per_user
      - name: orders_per_user
        source: source:bench.orders
        unit_column: user_id
        timestamp_column: ordered_at
        agg: count
        filter: "status = 'completed'"
      - name: sessions_per_user
        source: source:bench.sessions
        unit_column: user_id
        timestamp_column: session_started_at
        agg: count
"""

SOURCES_YML = """
version: 2
sources:
  - name: bench
    schema: main
    tables:
      - name: assignments
      - name: users
      - name: sessions
      - name: orders
"""


def extra_metrics_yaml(count: int) -> str:
    """``count`` more metrics for the many-metrics measurement: mean metrics on the two event
    sources with different filters and values, each adjusted by its own pre-period value."""
    out = []
    for i in range(count):
        if i % 2 == 0:
            out.append(
                f"""
      - name: orders_over_{i}
        source: source:bench.orders
        unit_column: user_id
        timestamp_column: ordered_at
        agg: sum
        value: "revenue * {1 + i % 5}"
        filter: "status = 'completed' and revenue > {i % 40}"
"""
            )
        else:
            out.append(
                f"""
      - name: sessions_hour_{i}
        source: source:bench.sessions
        unit_column: user_id
        timestamp_column: session_started_at
        agg: count
        filter: "hour(session_started_at) <> {i % 24}"
"""
            )
    return "".join(out)


#: Spark (--target spark): the database of the synthetic tables and that of the package's models.
SPARK_DATA_SCHEMA = "bench"
SPARK_MODEL_SCHEMA = "cuped_bench"


def write_project(
    project: Path,
    database: Path | None,
    extra_metrics: int = 0,
    *,
    with_package: bool = True,
    incremental: bool = False,
    daily_series: bool = False,
    target: str = "duckdb",
    memory_limit: str | None = None,
    threads: int | None = None,
) -> None:
    """The benchmark's dbt project; without the package (the parse-time baseline: the same
    project and configuration, with nothing installed to read it); with `incremental: true`;
    with `daily_series: true` (the results as of each day, ``daily_series``);
    on Spark (`target="spark"`: dbt-spark's `session` method, the sources in the database
    SPARK_DATA_SCHEMA, the models in SPARK_MODEL_SCHEMA, Parquet tables; ``database`` unused);
    with DuckDB's `memory_limit` set in the profile (``memory_limit``)."""
    (project / "models").mkdir(parents=True, exist_ok=True)
    settings = textwrap.dedent(PROJECT_YML).lstrip()
    sources = textwrap.dedent(SOURCES_YML).lstrip()
    if incremental:
        settings = settings.replace(
            "  pre_period_days: 14\n", "  pre_period_days: 14\n    incremental: true\n"
        )
    if daily_series:
        settings = settings.replace(
            "  pre_period_days: 14\n", "  pre_period_days: 14\n    daily_series: true\n"
        )
    if target == "spark":
        # No Delta Lake in a local PySpark. Set as a project that installs the package sets it:
        # the var `cuped_spark_file_format` (README "Spark") is read by the package's own
        # dbt_project.yml, which dbt renders without the root project's and command-line vars
        # when the package is installed (measured: its models stayed `delta`).
        settings = settings.replace(
            "vars:\n", "models:\n  cuped:\n    +file_format: parquet\nvars:\n", 1
        )
        sources = sources.replace("schema: main", f"schema: {SPARK_DATA_SCHEMA}")
        profile = (
            "cuped_bench:\n  target: bench\n  outputs:\n    bench:\n      type: spark\n"
            f"      method: session\n      host: NA\n      schema: {SPARK_MODEL_SCHEMA}\n"
            f"      threads: {threads or 1}\n"
        )
    else:
        profile = (
            "cuped_bench:\n  target: bench\n  outputs:\n    bench:\n      type: duckdb\n"
            f"      path: {json.dumps(str(database))}\n      threads: 2\n"
        )
        if memory_limit:
            profile += f"      settings:\n        memory_limit: {json.dumps(memory_limit)}\n"
    (project / "dbt_project.yml").write_text(settings + extra_metrics_yaml(extra_metrics)[1:])
    (project / "models" / "_bench_sources.yml").write_text(sources)
    if with_package:
        (project / "packages.yml").write_text(f"packages:\n  - local: {json.dumps(str(REPO))}\n")
    (project / "profiles.yml").write_text(profile)


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_command(project: Path, *args: str) -> list[str]:
    return [
        dbt_executable(),
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--no-use-colors",
    ]


def dbt_env() -> dict[str, str]:
    return {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}


# --------------------------------------------------------------------------------------------
# 3. measurement: wall time and the child's own peak RSS
# --------------------------------------------------------------------------------------------

# Fallback when GNU time is missing: a fresh Python child runs the command and reports
# RUSAGE_CHILDREN, whose ru_maxrss is the largest peak RSS among its waited-for descendants,
# i.e. the measured command's own peak (the fresh child has no other children).
RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def measure(
    command: list[str],
    *,
    cwd: Path,
    env: dict | None = None,
    label: str,
    allow_failure: bool = False,
) -> dict:
    """Run `command` once; wall seconds (from the parent), peak RSS in MiB of the command."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss", delete=False) as handle:
        report = Path(handle.name)
    if GNU_TIME.exists():
        full = [str(GNU_TIME), "-v", "-o", str(report), *command]
    else:
        full = [sys.executable, "-c", RUSAGE_WRAPPER, str(report), *command]
    started = time.perf_counter()
    completed = subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    text = report.read_text()
    report.unlink(missing_ok=True)
    if GNU_TIME.exists():
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        peak_kb = int(found.group(1)) if found else 0
    else:
        peak_kb = int(text or 0)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0 and not allow_failure:
        raise SystemExit(f"{label} failed (exit {completed.returncode}):\n{output[-6000:]}")
    failed = f"  ** exit {completed.returncode} **" if completed.returncode else ""
    print(f"  {label}: {wall:8.2f} s, peak RSS {peak_kb / 1024:8.0f} MiB{failed}", flush=True)
    return {
        "wall": wall,
        "rss_mb": peak_kb / 1024,
        "output": output,
        "returncode": completed.returncode,
    }


def run_quiet(command: list[str], *, cwd: Path, env: dict, label: str) -> float:
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"{label} failed:\n{(completed.stdout + completed.stderr)[-6000:]}")
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# (b) the floor: one hand-written statement
# --------------------------------------------------------------------------------------------

# The per-unit variables and, per metric, the variables its analysis needs (outcome(s),
# covariates, pre-period indicator), in the package's order. The floor computes the mean of each
# variable and the sample covariance of each pair within a metric, as cuped__arm_moments does.
FLOOR_METRIC_VARIABLES = {
    "revenue_per_user": ["revenue_post", "revenue_pre", "predicted_ltv", "orders_had_pre"],
    "revenue_per_user_capped": ["revenue_capped_post", "revenue_capped_pre", "orders_had_pre"],
    "revenue_per_order": [
        "revenue_post",
        "orders_post",
        "revenue_pre",
        "orders_pre",
        "orders_had_pre",
    ],
    "orders_per_user": ["orders_post", "orders_pre", "orders_had_pre"],
    "sessions_per_user": ["sessions_post", "sessions_pre", "sessions_had_pre"],
}


def floor_sql(dialect: str = "duckdb") -> str:
    """The floor statement; ``dialect`` "spark" writes it in Spark SQL (a Parquet table instead of
    `create or replace`; the caps by `percentile`, exact and interpolated as DuckDB's
    `quantile_cont`, over a window)."""
    means, pairs = [], []
    for variables in FLOOR_METRIC_VARIABLES.values():
        for a in variables:
            if a not in means:
                means.append(a)
        for a, b in itertools.combinations_with_replacement(variables, 2):
            key = tuple(sorted((a, b)))
            if key not in pairs:
                pairs.append(key)
    aggregates = [f"avg({v}) as mean__{v}" for v in means]
    aggregates += [
        f"var_samp({a}) as cov__{a}__{b}" if a == b else f"covar_samp({a}, {b}) as cov__{a}__{b}"
        for a, b in pairs
    ]
    select_list = ",\n    ".join(aggregates)
    if dialect == "spark":
        # Spark inlines a CTE at each use: the caps as window aggregates over the per-unit rows,
        # so that the joins to the events run once (a caps CTE joined back ran them twice)
        create = "create table floor_moments using parquet as"
        capped = """capped as (
    select
        *,
        least(revenue_post, percentile(revenue_post, 0.99) over (partition by experiment_id))
            as revenue_capped_post,
        least(revenue_pre, percentile(revenue_pre, 0.99) over (partition by experiment_id))
            as revenue_capped_pre
    from unit_values
)"""
    else:
        create = "create or replace table floor_moments as"
        capped = """caps as (
    select
        experiment_id,
        quantile_cont(revenue_post, 0.99) as revenue_post_cap,
        quantile_cont(revenue_pre, 0.99) as revenue_pre_cap
    from unit_values
    group by experiment_id
),
capped as (
    select
        unit_values.*,
        least(revenue_post, caps.revenue_post_cap) as revenue_capped_post,
        least(revenue_pre, caps.revenue_pre_cap) as revenue_capped_pre
    from unit_values
    inner join caps on caps.experiment_id = unit_values.experiment_id
)"""
    return f"""
{create}
with assigned as (
    -- one row per experiment x unit at its first exposure; units in two arms are left out
    select experiment_id, user_id, min(variant) as variant, min(first_exposure_at) as assigned_at
    from assignments
    where experiment_id is not null and user_id is not null
        and variant is not null and first_exposure_at is not null
    group by experiment_id, user_id
    having count(distinct variant) = 1
),
order_units as (
    select
        a.experiment_id,
        a.user_id,
        sum(o.revenue) filter (where o.status = 'completed' and o.ordered_at >= a.assigned_at)
            as revenue_post,
        sum(o.revenue) filter (where o.status = 'completed' and o.ordered_at < a.assigned_at)
            as revenue_pre,
        count(*) filter (where o.status = 'completed' and o.ordered_at >= a.assigned_at)
            as orders_post,
        count(*) filter (where o.status = 'completed' and o.ordered_at < a.assigned_at)
            as orders_pre,
        bool_or(o.ordered_at < a.assigned_at) as had_pre
    from assigned as a
    inner join orders as o on o.user_id = a.user_id
    where o.ordered_at >= a.assigned_at - interval 14 day
    group by a.experiment_id, a.user_id
),
session_units as (
    select
        a.experiment_id,
        a.user_id,
        count(*) filter (where s.session_started_at >= a.assigned_at) as sessions_post,
        count(*) filter (where s.session_started_at < a.assigned_at) as sessions_pre,
        bool_or(s.session_started_at < a.assigned_at) as had_pre
    from assigned as a
    inner join sessions as s on s.user_id = a.user_id
    where s.session_started_at >= a.assigned_at - interval 14 day
    group by a.experiment_id, a.user_id
),
unit_values as (
    select
        a.experiment_id,
        a.variant,
        coalesce(u.country, '(missing)') as country,
        coalesce(u.predicted_ltv, 0)::double as predicted_ltv,
        coalesce(o.revenue_post, 0)::double as revenue_post,
        coalesce(o.revenue_pre, 0)::double as revenue_pre,
        coalesce(o.orders_post, 0)::double as orders_post,
        coalesce(o.orders_pre, 0)::double as orders_pre,
        coalesce(o.had_pre, false)::double as orders_had_pre,
        coalesce(s.sessions_post, 0)::double as sessions_post,
        coalesce(s.sessions_pre, 0)::double as sessions_pre,
        coalesce(s.had_pre, false)::double as sessions_had_pre
    from assigned as a
    left join order_units as o on o.experiment_id = a.experiment_id and o.user_id = a.user_id
    left join session_units as s on s.experiment_id = a.experiment_id and s.user_id = a.user_id
    left join users as u on u.user_id = a.user_id
),
{capped}
select
    experiment_id,
    case when grouping(country) = 0 then 'country' else 'all' end as segment_name,
    case when grouping(country) = 0 then country else 'all' end as segment_value,
    variant,
    count(*) as n_units,
    {select_list}
from capped
group by grouping sets ((experiment_id, variant), (experiment_id, variant, country))
"""


FLOOR_CHILD = """
import duckdb, json, sys, time
database, sql_file = sys.argv[1], sys.argv[2]
started = time.perf_counter()
with duckdb.connect(database) as con:
    if len(sys.argv) > 3:
        con.execute(f"set memory_limit = '{sys.argv[3]}'")
    con.execute(open(sql_file).read())
    rows = con.execute("select count(*) from floor_moments").fetchall()[0][0]
print(json.dumps({"query_seconds": time.perf_counter() - started, "rows": rows}))
"""


def floor_check(database: Path) -> str:
    """Compare the floor's moments with the package's cuped__arm_moments (they must agree)."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        return compare_moments(lambda sql: con.execute(sql).fetchall())


#: The public tables of the least dbt project (--dbt-floor): as many as the package publishes
#: from its statistics model (cuped_results, _decisions, _health, _balance, _power, _results_daily).
DBT_FLOOR_TABLES = ("results", "decisions", "health", "balance", "power", "results_daily")

DBT_FLOOR_PYTHON = """
def model(dbt, session):
    dbt.config(materialized="table")
    import pandas as pd
    from cuped_stats.io import read_columns
    from cuped_stats.tables import results_table  # noqa: F401  (the imports the package pays)

    moments = read_columns(dbt.ref("floor_moments"))
    names = [name for name in moments if name.startswith(("mean__", "cov__"))]
    rows = []
    for table_name in TABLES:
        for i, experiment_id in enumerate(moments["experiment_id"]):
            rows.append({
                "table_name": table_name,
                "experiment_id": experiment_id,
                "variant": moments["variant"][i],
                "value": sum(float(moments[name][i] or 0.0) for name in names),
            })
    frame = pd.DataFrame(rows)
    return session.createDataFrame(frame) if hasattr(session, "createDataFrame") else frame
"""


def write_dbt_floor_project(
    project: Path,
    database: Path | None,
    target: str = "duckdb",
    threads: int | None = None,
    *,
    incremental: bool = False,
) -> None:
    """The least dbt project that publishes what the package publishes, the dbt floor: the floor
    statement as one table model, one Python model reading it with the statistics core imported
    (the package's statistics take milliseconds; its Python model pays the imports and dbt's
    Python-model machinery), six contracted SQL tables over it, an incremental history of the
    results by day, and a data test on each of those seven tables. What dbt itself costs for a
    pipeline of that shape, with none of the package's validation, caps, segments or health work
    beyond what the floor statement computes. On Spark (``target="spark"``): Parquet tables in
    the schema ``SPARK_MODEL_SCHEMA`` + ``_floor``, the history by `insert_overwrite` of its day's
    partition (Spark has no `delete+insert`), dbt-spark's `session` method. With
    ``incremental`` (DuckDB only), the floor statement is the two models of
    incremental_dbt_floor_models() and the project's models go to the schema ``dbt_floor``."""
    models = project / "models"
    models.mkdir(parents=True, exist_ok=True)
    spark = target == "spark"
    text = "string" if spark else "varchar"
    if incremental:
        statements = incremental_dbt_floor_models()
    else:
        statements = {
            "floor_moments": floor_sql("spark" if spark else "duckdb").split(" as\n", 1)[1]
        }
    for name, body in statements.items():
        for table in ("assignments", "users", "sessions", "orders"):
            body = re.sub(
                rf"\b(from|join) {table}\b", rf"\1 {{{{ source('bench', '{table}') }}}}", body
            )
        (models / f"{name}.sql").write_text(body)
    (models / "floor_statistics.py").write_text(
        DBT_FLOOR_PYTHON.replace("TABLES", repr(DBT_FLOOR_TABLES)).lstrip()
    )
    yml = ["version: 2", "models:"]
    for table in DBT_FLOOR_TABLES:
        (models / f"floor_{table}.sql").write_text(
            f"select cast(experiment_id as {text}) as experiment_id,\n"
            f"    cast(variant as {text}) as variant,\n"
            "    cast(value as double) as value,\n"
            "    cast(current_timestamp as timestamp) as computed_at\n"
            "from {{ ref('floor_statistics') }}\n"
            f"where table_name = '{table}'\n"
        )
        yml += [
            f"  - name: floor_{table}",
            "    config: {contract: {enforced: true}}",
            "    columns:",
            f"      - {{name: experiment_id, data_type: {text}, data_tests: [not_null]}}",
            f"      - {{name: variant, data_type: {text}}}",
            "      - {name: value, data_type: double}",
            "      - {name: computed_at, data_type: timestamp}",
        ]
    yml += [
        "  - name: floor_history",
        "    columns:",
        "      - {name: as_of_date, data_tests: [not_null]}",
    ]
    (models / "_floor_models.yml").write_text("\n".join(yml) + "\n")
    strategy = (
        "incremental_strategy='insert_overwrite', partition_by=['as_of_date']"
        if spark
        else "incremental_strategy='delete+insert', unique_key='as_of_date'"
    )
    (models / "floor_history.sql").write_text(
        f"{{{{ config(materialized='incremental', {strategy}) }}}}\n"
        "select * , current_date as as_of_date from {{ ref('floor_results') }}\n"
    )
    sources = textwrap.dedent(SOURCES_YML).lstrip()
    if spark:
        sources = sources.replace("schema: main", f"schema: {SPARK_DATA_SCHEMA}")
    (models / "_bench_sources.yml").write_text(sources)
    (project / "dbt_project.yml").write_text(
        "name: cuped_dbt_floor\nversion: '1.0.0'\nconfig-version: 2\nprofile: cuped_bench\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
        "models:\n  cuped_dbt_floor:\n    +materialized: table\n"
        + ("    +file_format: parquet\n" if spark else "")
    )
    if spark:
        profile = (
            "cuped_bench:\n  target: bench\n  outputs:\n    bench:\n      type: spark\n"
            f"      method: session\n      host: NA\n      schema: {SPARK_MODEL_SCHEMA}_floor\n"
            f"      threads: {threads or 1}\n"
        )
    else:
        profile = (
            "cuped_bench:\n  target: bench\n  outputs:\n    bench:\n      type: duckdb\n"
            f"      path: {json.dumps(str(database))}\n      threads: 2\n"
            + ("      schema: dbt_floor\n" if incremental else "")
        )
    (project / "profiles.yml").write_text(profile)


#: The lookback of the incremental dbt floor: the package's default `incremental.lookback_days`.
DBT_FLOOR_LOOKBACK_DAYS = 2


def incremental_dbt_floor_models() -> dict[str, str]:
    """The floor statement (floor_sql) as the least incremental layout, in two models:

    - ``floor_settled``, incremental (`delete+insert` on the unit): one row per analysed unit with
      its attributes and its sums of the events before the boundary (the day of the latest event
      of either source, less DBT_FLOOR_LOOKBACK_DAYS days), and the boundary (``settled_until``).
      Its full build derives the units from the assignments and sums every event before the
      boundary; a run folds the events from the stored boundary to the new one into the units they
      touch, and writes those units alone.
    - ``floor_moments``: the stored rows joined to the per-unit sums of the events from the
      boundary on (read again by every run, so that late events within the lookback count once),
      then the caps over every unit and the moments, as the floor statement computes them.

    It does less than any correct package: it trusts the assignments never to change after the
    full build (the benchmark's do not; the package checks them every run) and has no daily series,
    health, balance or validation. So its daily run is a lower bound of the package's."""
    body = floor_sql().split(" as\n", 1)[1]
    derived_units = body[: body.index("order_units as (")].strip()  # with assigned as (...),
    per_unit = body[body.index("order_units as (") : body.index("unit_values as (")]
    caps_and_moments = body[body.index("caps as (") :]

    def between(lower: str, upper: str | None) -> str:
        out = per_unit
        for column in ("o.ordered_at", "s.session_started_at"):
            window = f"where {column} >= a.assigned_at - interval 14 day"
            assert window in out, window
            bounds = f" and {column} >= {lower}" + (f" and {column} < {upper}" if upper else "")
            out = out.replace(window, window + bounds)
        return out

    sums = {
        "revenue_post": "o.revenue_post",
        "revenue_pre": "o.revenue_pre",
        "orders_post": "o.orders_post",
        "orders_pre": "o.orders_pre",
        "sessions_post": "s.sessions_post",
        "sessions_pre": "s.sessions_pre",
    }
    flags = {"orders_had_pre": "o.had_pre", "sessions_had_pre": "s.had_pre"}
    added = ",\n        ".join(
        [f"st.{name} + coalesce({new}, 0) as {name}" for name, new in sums.items()]
        + [
            f"greatest(st.{name}, coalesce({new}, false)::double) as {name}"
            for name, new in flags.items()
        ]
    )
    joins = (
        "left join order_units as o"
        " on o.experiment_id = st.experiment_id and o.user_id = st.user_id\n"
        "    left join session_units as s"
        " on s.experiment_id = st.experiment_id and s.user_id = st.user_id"
    )
    boundary = (
        "cast(cast(greatest((select max(ordered_at) from orders),"
        " (select max(session_started_at) from sessions)) as date) as timestamp)"
        f" - interval {DBT_FLOOR_LOOKBACK_DAYS} day"
    )
    full_values = body[body.index("unit_values as (") : body.index("caps as (")]
    full_values = full_values.replace(
        "a.experiment_id,\n        a.variant,",
        "a.experiment_id,\n        a.user_id,\n        a.variant,\n        a.assigned_at,",
    ).replace("unit_values as (", "folded as (", 1)
    settled = f"""{{{{ config(materialized='incremental', incremental_strategy='delete+insert',
    unique_key=['experiment_id', 'user_id']) }}}}
{{% if is_incremental() %}}
with assigned as (
    select experiment_id, user_id, variant, assigned_at from {{{{ this }}}}
),
bounds as (
    select (select max(settled_until) from {{{{ this }}}}) as lo, {boundary} as hi
),
{between("(select lo from bounds)", "(select hi from bounds)")}folded as (
    select
        st.experiment_id, st.user_id, st.variant, st.assigned_at, st.country, st.predicted_ltv,
        {added}
    from {{{{ this }}}} as st
    {joins}
    where o.user_id is not null or s.user_id is not null
),
{{% else %}}
{derived_units}
bounds as (
    select {boundary} as hi
),
{between("timestamp '1970-01-01'", "(select hi from bounds)")}{full_values}{{% endif %}}
final as (
    select *, (select hi from bounds) as settled_until from folded
)
select * from final
"""
    moments = f"""with assigned as (
    select experiment_id, user_id, variant, assigned_at from {{{{ ref('floor_settled') }}}}
),
bounds as (
    select max(settled_until) as lo from {{{{ ref('floor_settled') }}}}
),
{between("(select lo from bounds)", None)}unit_values as (
    select
        st.experiment_id, st.variant, st.country, st.predicted_ltv,
        {added}
    from {{{{ ref('floor_settled') }}}} as st
    {joins}
),
{caps_and_moments}"""
    return {"floor_settled": settled, "floor_moments": moments}


def bench_dbt_floor(work: Path, database: Path) -> dict:
    """(e) the dbt floor (write_dbt_floor_project): its own fixed cost, then its build, both
    after a warm-up parse, as the package's are measured."""
    project = work / "project_dbt_floor"
    write_dbt_floor_project(project, database)
    env = dbt_env()
    run_quiet(dbt_command(project, "parse"), cwd=project, env=env, label="dbt floor: parse")
    empty = measure(
        dbt_command(project, "run", "--select", NO_SUCH_MODEL),
        cwd=project,
        env=env,
        label="(e) dbt floor: its fixed cost",
    )
    build = measure(
        dbt_command(project, "build"), cwd=project, env=env, label="(e) dbt floor: dbt build"
    )
    return {"empty": empty, "build": build, "nodes": node_timings(project / "target")}


#: The floor's variables under the names the package gives them in cuped__arm_moments.
FLOOR_TO_PACKAGE = {
    "revenue_post": "metric_0_post",
    "revenue_pre": "metric_0_pre",
    "predicted_ltv": "attribute_0",
    "orders_had_pre": "source_0_had_pre_period",
    "revenue_capped_post": "metric_1_post",
    "revenue_capped_pre": "metric_1_pre",
    "orders_post": "metric_3_post",
    "orders_pre": "metric_3_pre",
    "sessions_post": "metric_4_post",
    "sessions_pre": "metric_4_pre",
    "sessions_had_pre": "source_1_had_pre_period",
}


def floor_columns() -> dict[str, str]:
    """Every moment column of the floor → the package's column (the package names a covariance
    by its two variables in sorted order)."""
    columns = {"n_units": "n_units"}
    for variables in FLOOR_METRIC_VARIABLES.values():
        for a in variables:
            columns[f"mean__{a}"] = f"mean__{FLOOR_TO_PACKAGE[a]}"
        for a, b in itertools.combinations_with_replacement(variables, 2):
            floor_pair = "__".join(sorted((a, b)))
            package_pair = "__".join(sorted((FLOOR_TO_PACKAGE[a], FLOOR_TO_PACKAGE[b])))
            columns[f"cov__{floor_pair}"] = f"cov__{package_pair}"
    return columns


def compare_moments(
    fetch, floor: str = "floor_moments", package: str = "cuped__arm_moments"
) -> str:
    """The largest relative difference between the floor's moments and the package's
    cuped__arm_moments (the wide table cuped__moments unpivots), over every moment column of the
    floor and every experiment × segment × arm; ``fetch(sql)`` returns rows."""
    columns = floor_columns()
    differences = ",\n".join(
        f"max(abs(f.{f} - p.{p}) / greatest(abs(p.{p}), 1e-12))" for f, p in columns.items()
    )
    counts = fetch(f"select (select count(*) from {floor}), (select count(*) from {package})")[0]
    row = fetch(
        f"""
        select count(*), {differences}
        from {floor} as f
        inner join {package} as p
            on p.experiment_id = f.experiment_id and p.variant = f.variant
            and p.segment_name = f.segment_name and p.segment_value = f.segment_value
        """
    )[0]
    # a column with no comparable value (NULL everywhere) counts as a difference
    values = [float("inf") if value is None else value for value in row[1:]]
    worst = max(zip(columns, values, strict=True), key=lambda item: item[1])
    verdict = "agree within 1e-9" if worst[1] <= 1e-9 else "** differ by more than 1e-9 **"
    return (
        f"floor rows {counts[0]}, package arm rows {counts[1]}, {row[0]} matched; "
        f"{len(columns)} moment columns: largest relative difference {worst[1]:.2e} "
        f"({worst[0]}): {verdict}"
    )


# --------------------------------------------------------------------------------------------
# (d) the Python step alone
# --------------------------------------------------------------------------------------------

PYTHON_STEP_CHILD = """
import duckdb, json, statistics, sys, time
from cuped_stats.io import read_rows
from cuped_stats.tables import results_table
database, repeats = sys.argv[1], int(sys.argv[2])
with duckdb.connect(database, read_only=True) as con:
    started = time.perf_counter()
    moments = read_rows(con.table("cuped__moments"))
    plan = read_rows(con.table("cuped__analysis_plan"))
    read_seconds = time.perf_counter() - started
times = []
for _ in range(repeats):
    started = time.perf_counter()
    table = results_table(moments, plan)
    times.append(time.perf_counter() - started)
n_out = len(next(iter(table.values()))) if table else 0
print(json.dumps({"read_seconds": read_seconds, "median": statistics.median(times),
                  "min": min(times),
                  "moment_rows": len(moments), "plan_rows": len(plan), "result_rows": n_out}))
"""


def python_step(database: Path, repeats: int) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", PYTHON_STEP_CHILD, str(database), str(repeats)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"python step failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# 4. run_results.json
# --------------------------------------------------------------------------------------------


def node_timings(target: Path) -> list[dict]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    rows = []
    for result in results:
        phases = {t["name"]: t for t in result.get("timing", [])}
        rows.append(
            {
                "node": result["unique_id"],
                "status": result["status"],
                "seconds": result.get("execution_time") or 0.0,
                "rows": (result.get("adapter_response") or {}).get("rows_affected"),
                "phases": phases,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# 5. profiling the compiled SQL
# --------------------------------------------------------------------------------------------

PROFILE_CHILD = """
import duckdb, json, sys, time
database, sql_file, json_out, text_out = sys.argv[1:5]
sql = open(sql_file).read()
with duckdb.connect(database, read_only=True) as con:
    started = time.perf_counter()
    plan = con.execute("explain analyze " + sql).fetchall()
    seconds = time.perf_counter() - started
    open(text_out, "w").write("\\n".join(str(row[-1]) for row in plan))
    con.execute("pragma enable_profiling = 'json'")
    con.execute(f"pragma profiling_output = '{json_out}'")
    con.execute(sql).fetchall()
print(json.dumps({"seconds": seconds}))
"""


def _walk(node: dict, depth: int, out: list) -> None:
    """Flatten DuckDB's JSON profile (one operator tree) into rows of self time and output rows."""
    name = node.get("name") or node.get("operator_name") or node.get("operator_type") or "?"
    timing = node.get("timing", node.get("operator_timing", 0.0)) or 0.0
    rows = node.get("intermediate_rows", node.get("operator_cardinality", 0)) or 0
    extra = node.get("extra_info") or {}
    parts = []
    for key in ("Table", "Join Type", "Conditions", "Groups", "CTE Name", "Dynamic Filters"):
        if key in extra:
            value = extra[key]
            parts.append(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    if "Aggregates" in extra:
        aggregates = extra["Aggregates"]
        count = len(aggregates) if isinstance(aggregates, list) else 1
        parts.append(f"{count} aggregates")
    if "rows_scanned" in node:
        parts.append(f"rows scanned: {node['rows_scanned']:,}")
    out.append(
        {
            "depth": depth,
            "name": str(name).strip(),
            "seconds": float(timing),
            "rows": int(rows),
            "extra": "; ".join(parts).replace("\n", " ")[:220],
        }
    )
    for child in node.get("children", []):
        _walk(child, depth + 1, out)


def profile_model(database: Path, compiled: Path, work: Path) -> tuple[float, list[dict], Path]:
    json_out = work / f"profile_{compiled.stem}.json"
    text_out = work / f"explain_analyze_{compiled.stem}.txt"
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            PROFILE_CHILD,
            str(database),
            str(compiled),
            str(json_out),
            str(text_out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"profiling {compiled.name} failed:\n{completed.stderr[-4000:]}")
    seconds = json.loads(completed.stdout.strip().splitlines()[-1])["seconds"]
    operators: list[dict] = []
    profile = json.loads(json_out.read_text())
    roots = profile["operator"] if isinstance(profile.get("operator"), list) else [profile]
    for root in roots:
        _walk(root, 0, operators)
    return seconds, operators, text_out


# --------------------------------------------------------------------------------------------
# one scale
# --------------------------------------------------------------------------------------------


def bench_scale(
    work: Path, units: int, events: int, args: argparse.Namespace, profile: bool
) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    project = work / "project"
    target = project / "target"
    database = work / "bench.duckdb"
    env = dbt_env()
    out: dict = {"units": units, "events": events}
    print(f"\n=== scale: {units:,} units, {events:,} events ({work.name}) ===", flush=True)

    if args.reuse_data and data_matches(database, units, events):
        print("  data: reusing the existing DuckDB file", flush=True)
        out["data"] = None
    else:
        if database.exists():
            database.unlink()
        out["data"] = generate_data(database, units, events)
        d = out["data"]
        print(
            f"  data: {d['seconds']:.1f} s, {d['file_mb']:.0f} MiB; "
            f"assignments {d['assignments']:,}, "
            f"users {d['users']:,}, sessions {d['sessions']:,}, orders {d['orders']:,}",
            flush=True,
        )
    write_project(
        project,
        database,
        args.extra_metrics,
        daily_series=args.daily_series,
        memory_limit=args.memory_limit,
    )
    out["n_metrics"] = 5 + args.extra_metrics
    out["memory_limit"] = args.memory_limit
    run_quiet(dbt_command(project, "deps"), cwd=project, env=env, label="dbt deps")

    # warm-up: a full parse (writes target/partial_parse.msgpack), then the measured commands
    # start from the partial-parse cache as every build after the first one does.
    out["full_parse"] = measure(
        dbt_command(project, "parse", "--no-partial-parse"),
        cwd=project,
        env=env,
        label="warm-up dbt parse (full parse, not in the ratios)",
    )
    bare = work / "project_without_package"
    write_project(bare, database, args.extra_metrics, with_package=False)
    out["parse_without_package"] = measure(
        dbt_command(bare, "parse", "--no-partial-parse"),
        cwd=bare,
        env=env,
        label="full parse of the same project without the package",
    )
    out["empty"] = measure(
        dbt_command(project, "run", "--select", NO_SUCH_MODEL),
        cwd=project,
        env=env,
        label=f"(c) fixed cost: dbt run --select {NO_SUCH_MODEL}",
    )
    # A failing node (the package is edited concurrently) is reported, not fatal: the timing of
    # everything else still stands, and the report names what failed.
    out["build"] = measure(
        dbt_command(project, "build"),
        cwd=project,
        env=env,
        label="(a) package: dbt build",
        allow_failure=True,
    )
    out["nodes"] = node_timings(target)
    out["failed_nodes"] = [
        n["node"].split(".")[2] for n in out["nodes"] if n["status"] in ("error", "fail", "skipped")
    ]
    if out["failed_nodes"]:
        print(
            f"  ** package build: {len(out['failed_nodes'])} nodes failed or skipped: "
            f"{', '.join(out['failed_nodes'])}",
            flush=True,
        )

    sql_file = work / "floor.sql"
    sql_file.write_text(floor_sql())
    out["floor"] = measure(
        [sys.executable, "-c", FLOOR_CHILD, str(database), str(sql_file)]
        + ([args.memory_limit] if args.memory_limit else []),
        cwd=work,
        label="(b) floor: one hand-written DuckDB statement",
    )
    out["floor_query_seconds"] = json.loads(out["floor"]["output"].strip().splitlines()[-1])[
        "query_seconds"
    ]
    try:
        out["floor_check"] = floor_check(database)
    except Exception as error:  # the package's column names may have changed
        out["floor_check"] = f"check not possible: {str(error).splitlines()[0]}"
    print(f"  floor vs package: {out['floor_check']}", flush=True)
    out["dbt_floor"] = bench_dbt_floor(work, database) if args.dbt_floor else None

    try:
        out["python"] = python_step(database, args.python_repeats)
    except SystemExit as error:
        out["python"] = None
        print(f"  ** (d) results_table failed: {str(error)[-1500:]}", flush=True)
    p = out["python"]
    if p:
        print(
            f"  (d) results_table: median {p['median'] * 1000:.1f} ms "
            f"over {args.python_repeats} runs "
            f"({p['moment_rows']} moment rows -> {p['result_rows']} result rows; reading them "
            f"{p['read_seconds'] * 1000:.1f} ms)",
            flush=True,
        )

    out["profiles"] = {}
    if profile:
        compiled_dir = target / "compiled" / "cuped" / "models" / "internal"
        for model in args.profile_models:
            compiled = compiled_dir / f"{model}.sql"
            if not compiled.exists():
                print(f"  ** no compiled SQL for {model}; not profiled", flush=True)
                continue
            out["profiles"][model] = profile_model(database, compiled, work)
    return out


# --------------------------------------------------------------------------------------------
# the incremental scenario (--incremental)
# --------------------------------------------------------------------------------------------

# Events re-timed uniformly over the 60 days from the first pre-period (14 days before the first
# exposure) on, and stored in time order as an append-only event log is (DuckDB's row-group
# min/max then skip the days a filter on the event time excludes, as a warehouse's partitions do);
# the last day is held back in *_last_day tables and appended after the full build.
SIXTY_DAYS_SQL = """
create or replace table sessions as
select * replace (timestamp '2025-12-22 00:00:00'
    + to_seconds((hash(session_id, 's60') % 5184000)::bigint) as session_started_at)
from sessions
order by session_started_at;
create or replace table orders as
select * replace (timestamp '2025-12-22 00:00:00'
    + to_seconds((hash(order_id, 'o60') % 5184000)::bigint) as ordered_at)
from orders
order by ordered_at;
create or replace table sessions_last_day as
select * from sessions where session_started_at >= timestamp '2026-02-19 00:00:00';
delete from sessions where session_started_at >= timestamp '2026-02-19 00:00:00';
create or replace table orders_last_day as
select * from orders where ordered_at >= timestamp '2026-02-19 00:00:00';
delete from orders where ordered_at >= timestamp '2026-02-19 00:00:00';
checkpoint;
"""

APPEND_SQL = """
insert into sessions select * from sessions_last_day;
insert into orders select * from orders_last_day;
checkpoint;
"""

# "save" keeps the incremental run's cuped_results; "compare" compares them with the current ones
COMPARE_CHILD = """
import duckdb, json, sys
database, step = sys.argv[1:3]
with duckdb.connect(database) as con:
    if step == "save":
        con.execute("create or replace table incremental_results as select * from cuped_results")
        print(json.dumps({}))
    else:
        worst = con.execute(
            "select max(abs(a.absolute_effect - b.absolute_effect) / b.absolute_effect_se),"
            "       max(abs(a.absolute_effect_se - b.absolute_effect_se) / b.absolute_effect_se),"
            "       count(*), count(b.metric_name),"
            "       count(*) filter (where a.n_control <> b.n_control"
            "                           or a.n_variant <> b.n_variant)"
            " from incremental_results as a left join cuped_results as b"
            " using (experiment_id, metric_name, segment_name, segment_value, variant)"
        ).fetchall()[0]
        print(json.dumps({"effect": worst[0], "se": worst[1], "rows": worst[2],
                          "matched": worst[3], "count_mismatches": worst[4]}))
"""


def largest_moment_difference(con, table: str, reference: str) -> float:
    """The largest relative difference of a count, mean or covariance between two tables of
    per-arm moments in the floor's columns, rows matched by experiment, segment and arm."""
    columns = [
        row[0]
        for row in con.execute(f"describe {table}").fetchall()
        if row[0].startswith(("mean__", "cov__", "n_units"))
    ]
    worst = 0.0
    for column in columns:
        value = con.execute(
            f"select max(abs(a.{column} - b.{column}) / greatest(abs(b.{column}), 1e-300)) "
            f"from {table} as a inner join {reference} as b "
            "using (experiment_id, segment_name, segment_value, variant)"
        ).fetchall()[0][0]
        worst = max(worst, value or 0.0)
    return worst


def run_sql(database: Path, sql: str) -> float:
    import duckdb

    started = time.perf_counter()
    with duckdb.connect(str(database)) as con:
        for statement in sql.split(";"):
            if statement.strip():
                con.execute(statement)
    return time.perf_counter() - started


def bench_incremental(work: Path, units: int, events: int, args: argparse.Namespace) -> dict:
    """A daily incremental run against the full build. The data span 60 days, the last one held
    back: (1) the first build with `incremental: true` (nothing stored: a full build), (2) the
    last day appended, (3) the incremental run, (4) the floor on the final data, (5) a full build
    of the final data (`--full-refresh`), whose cuped_results the incremental run's must equal."""
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    project = work / "project"
    database = work / "bench.duckdb"
    env = dbt_env()
    out: dict = {"units": units, "events": events}
    print(f"\n=== incremental: {units:,} units, {events:,} events over 60 days ===", flush=True)
    if database.exists():
        database.unlink()
    out["data"] = generate_data(database, units, events)
    seconds = run_sql(database, SIXTY_DAYS_SQL)
    with duckdb.connect(str(database), read_only=True) as con:
        held = con.execute(
            "select (select count(*) from sessions_last_day)"
            " + (select count(*) from orders_last_day)"
        ).fetchall()[0][0]
    out["appended_events"] = held
    print(
        f"  data: {out['data']['seconds'] + seconds:.1f} s; the last day ({held:,} events, "
        f"{held / events:.1%}) held back",
        flush=True,
    )
    write_project(project, database, args.extra_metrics, incremental=True)
    run_quiet(dbt_command(project, "deps"), cwd=project, env=env, label="dbt deps")
    run_quiet(dbt_command(project, "parse"), cwd=project, env=env, label="dbt parse")
    out["empty"] = measure(
        dbt_command(project, "run", "--select", NO_SUCH_MODEL),
        cwd=project,
        env=env,
        label=f"fixed cost: dbt run --select {NO_SUCH_MODEL}",
    )
    out["first"] = measure(
        dbt_command(project, "build"),
        cwd=project,
        env=env,
        label="first build with incremental: true (nothing stored: a full build)",
    )
    least = work / "project_dbt_floor"
    if args.dbt_floor:
        write_dbt_floor_project(least, database, incremental=True)
        run_quiet(dbt_command(least, "parse"), cwd=least, env=env, label="dbt floor: parse")
        out["dbt_floor"] = {
            "empty": measure(
                dbt_command(least, "run", "--select", NO_SUCH_MODEL),
                cwd=least,
                env=env,
                label="incremental dbt floor: its fixed cost",
            ),
            "first": measure(
                dbt_command(least, "build"),
                cwd=least,
                env=env,
                label="incremental dbt floor: first build (nothing stored: a full build)",
            ),
        }
    run_sql(database, APPEND_SQL)
    out["incremental"] = measure(
        dbt_command(project, "build"),
        cwd=project,
        env=env,
        label="incremental run after appending the last day",
    )
    out["nodes"] = node_timings(project / "target")
    if args.dbt_floor:
        out["dbt_floor"]["incremental"] = measure(
            dbt_command(least, "build"),
            cwd=least,
            env=env,
            label="incremental dbt floor: run after appending the last day",
        )
        out["dbt_floor"]["nodes"] = node_timings(least / "target")
    subprocess.run([sys.executable, "-c", COMPARE_CHILD, str(database), "save"], check=True)
    sql_file = work / "floor.sql"
    sql_file.write_text(floor_sql())
    out["floor"] = measure(
        [sys.executable, "-c", FLOOR_CHILD, str(database), str(sql_file)],
        cwd=work,
        label="floor: one hand-written DuckDB statement on the final data",
    )
    out["full"] = measure(
        dbt_command(project, "build", "--full-refresh"),
        cwd=project,
        env=env,
        label="full build of the final data (dbt build --full-refresh)",
    )
    compared = subprocess.run(
        [sys.executable, "-c", COMPARE_CHILD, str(database), "compare"],
        capture_output=True,
        text=True,
        check=True,
    )
    out["compare"] = json.loads(compared.stdout.strip().splitlines()[-1])
    if args.dbt_floor:
        # its daily run's moments against the floor statement's on the same data, before its
        # own full build replaces them
        with duckdb.connect(str(database), read_only=True) as con:
            out["dbt_floor"]["compare"] = {
                "worst": largest_moment_difference(
                    con, "dbt_floor.floor_moments", "main.floor_moments"
                ),
                "rows": con.execute("select count(*) from dbt_floor.floor_moments").fetchall()[0][
                    0
                ],
                "floor_rows": con.execute("select count(*) from main.floor_moments").fetchall()[0][
                    0
                ],
            }
        out["dbt_floor"]["full"] = measure(
            dbt_command(least, "build", "--full-refresh"),
            cwd=least,
            env=env,
            label="incremental dbt floor: full build of the final data (--full-refresh)",
        )
    return out


#: The demo project (this repository as the root project) and what the package adds to it: its
#: models (the issue's measure of the parse cost, "the same project without the package's
#: models"), and its models and macros together.
DEMO_PARTS = [
    "dbt_project.yml",
    "profiles.yml",
    "seeds",
    "demo",
    "macros",
    "models",
    "python_models",
]
DEMO_VARIANTS = {
    "demo": [],
    "demo_without_models": ["models", "python_models"],
    "demo_without_package": ["models", "python_models", "macros"],
}


def write_demo_copies(work: Path) -> dict[str, Path]:
    """Copies of the demo project for the parse comparison, one per DEMO_VARIANTS entry."""
    copies = {}
    for name, left_out in DEMO_VARIANTS.items():
        target = work / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for part in DEMO_PARTS:
            if part in left_out:
                continue
            source = REPO / part
            if source.is_dir():
                shutil.copytree(source, target / part)
            else:
                shutil.copy2(source, target / part)
        copies[name] = target
    return copies


def bench_parse(work: Path, args: argparse.Namespace) -> dict:
    """`--parse-only`: the full parse (`dbt parse --no-partial-parse`) of the benchmark project
    against the same project without the package, and of the demo project (this repository as
    the root project: its seeds, Semantic Layer files and time spine) against the demo without
    the package's models, and without its models and macros; `--parse-repeats` times each,
    alternating all five so that a change in the machine's load hits every one; no data (a
    parse reads none). Then one more parse of the package's project, instrumented, says where
    the time goes."""
    work.mkdir(parents=True, exist_ok=True)
    env = dbt_env()
    database = work / "bench.duckdb"
    project, bare = work / "project", work / "project_without_package"
    write_project(project, database, args.extra_metrics)
    write_project(bare, database, args.extra_metrics, with_package=False)
    run_quiet(dbt_command(project, "deps"), cwd=project, env=env, label="dbt deps")
    demos = write_demo_copies(work)
    demo_env = {**env, "CUPED_DUCKDB_PATH": str(work / "demo.duckdb")}
    runs = [
        ("package", project, env, "full parse with the package"),
        ("without", bare, env, "the same full parse without the package"),
        ("demo", demos["demo"], demo_env, "the demo project"),
        (
            "demo_without_models",
            demos["demo_without_models"],
            demo_env,
            "the demo without the package's models",
        ),
        (
            "demo_without_package",
            demos["demo_without_package"],
            demo_env,
            "the demo without the package's models and macros",
        ),
    ]
    walls: dict[str, list[float]] = {key: [] for key, *_ in runs}
    for round_ in range(1, args.parse_repeats + 1):
        for key, path, run_env, label in runs:
            walls[key].append(
                measure(
                    dbt_command(path, "parse", "--no-partial-parse"),
                    cwd=path,
                    env=run_env,
                    label=f"round {round_}: {label}",
                )["wall"]
            )
    # where the time goes: one more full parse, in-process and instrumented (parse_profile.py)
    profile = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("parse_profile.py")), str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    breakdown = profile.stdout if profile.returncode == 0 else profile.stdout + profile.stderr
    return {"n_metrics": 5 + args.extra_metrics, "walls": walls, "breakdown": breakdown}


def print_parse_report(r: dict) -> None:
    walls = {key: sorted(values) for key, values in r["walls"].items()}

    def median(values: list[float]) -> float:
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2

    def table(title: str, rows: list[tuple[str, str]], differences: list[tuple[str, str, str]]):
        print(f"\n## {title}, {len(walls[rows[0][1]])} runs each")
        print(f"| {'dbt parse --no-partial-parse':<58} | {'best s':>9} | {'median s':>11} |")
        print(f"|{'-' * 60}|{'-' * 11}|{'-' * 13}|")
        for label, key in rows:
            table_row(label, f"{walls[key][0]:.2f}", f"{median(walls[key]):.2f}")
        for label, key, base in differences:
            table_row(
                label,
                f"{walls[key][0] - walls[base][0]:.2f}",
                f"{median(walls[key]) - median(walls[base]):.2f}",
            )

    table(
        f"full parse of the benchmark project, {r['n_metrics']} metrics",
        [("with the package", "package"), ("the same project without the package", "without")],
        [("the package adds", "package", "without")],
    )
    table(
        "full parse of the demo project (this repository as the root project)",
        [
            ("the demo project", "demo"),
            ("without the package's models", "demo_without_models"),
            ("without the package's models and macros", "demo_without_package"),
        ],
        [
            ("the package's models add", "demo", "demo_without_models"),
            ("the package's models and macros add", "demo", "demo_without_package"),
        ],
    )
    print("\nwhere the time goes (benchmarks/parse_profile.py, one more parse, in-process):")
    print(r["breakdown"])


def print_incremental_report(r: dict) -> None:
    empty, incremental, full, floor = r["empty"], r["incremental"], r["full"], r["floor"]
    ratio = (incremental["wall"] - empty["wall"]) / (full["wall"] - empty["wall"])
    print(
        f"\n## incremental: {r['units']:,} units, {r['events']:,} events over 60 days, "
        f"{r['appended_events']:,} appended"
    )
    print(f"| {'measurement':<58} | {'wall s':>9} | {'peak RSS':>11} |")
    print(f"|{'-' * 60}|{'-' * 11}|{'-' * 13}|")
    for label, m in (
        ("incremental run after appending one day (dbt build)", incremental),
        ("full build of the same data (dbt build --full-refresh)", full),
        ("first build with incremental: true (nothing stored)", r["first"]),
        ("floor: one hand-written DuckDB statement", floor),
        (f"fixed cost: dbt run --select {NO_SUCH_MODEL}", empty),
    ):
        table_row(label, f"{m['wall']:.2f}", fmt_mb(m["rss_mb"]))
    table_row("(incremental - fixed cost) / (full - fixed cost)", f"{ratio:.3f}", "")
    c = r["compare"]
    print(
        f"incremental cuped_results vs the full build: {c['matched']}/{c['rows']} rows matched, "
        f"{c['count_mismatches']} with other unit counts, largest difference of the effect "
        f"{c['effect']:.1e} of its SE, largest relative difference of the SE {c['se']:.1e}"
    )
    print("\nper-model timings of the incremental run (run_results.json execution_time):")
    for n in sorted(r["nodes"], key=lambda n: -n["seconds"]):
        if n["node"].startswith("model.") and n["seconds"] >= 0.05:
            print(f"  {n['seconds']:8.2f} s  {n['status']:<7} {n['node'].split('.', 2)[2]}")
    d = r.get("dbt_floor")
    if not d:
        return
    run = d["incremental"]["wall"] - d["empty"]["wall"]
    print("\n### the incremental dbt floor (the least incremental dbt project, --dbt-floor)")
    print(f"| {'measurement':<58} | {'wall s':>9} | {'peak RSS':>11} |")
    print(f"|{'-' * 60}|{'-' * 11}|{'-' * 13}|")
    for label, m in (
        ("its daily run after appending one day (dbt build)", d["incremental"]),
        ("its full build of the same data (--full-refresh)", d["full"]),
        ("its first build (nothing stored)", d["first"]),
        (f"its fixed cost: dbt run --select {NO_SUCH_MODEL}", d["empty"]),
    ):
        table_row(label, f"{m['wall']:.2f}", fmt_mb(m["rss_mb"]))
    own = d["full"]["wall"] - d["empty"]["wall"]
    table_row("(its run - its fixed) / (its full build - its fixed)", f"{run / own:.3f}", "")
    table_row(
        "(its run - its fixed) / (package's full build - fixed)",
        f"{run / (full['wall'] - empty['wall']):.3f}",
        "",
    )
    table_row(
        "(its run - its fixed) / floor",
        f"{run / floor['wall']:.3f}",
        "",
    )
    c = d["compare"]
    print(
        f"its daily run's moments vs the floor statement's: {c['rows']}/{c['floor_rows']} rows, "
        f"largest relative difference {c['worst']:.1e}"
    )
    print("its nodes in the daily run (run_results.json execution_time):")
    for n in sorted(d["nodes"], key=lambda n: -n["seconds"]):
        print(f"  {n['seconds']:8.2f} s  {n['status']:<7} {n['node'].split('.', 2)[2]}")


# --------------------------------------------------------------------------------------------
# --target spark: the same comparison on Spark, in one process
# --------------------------------------------------------------------------------------------

# The DuckDB generator's data in Spark SQL: xxhash64 for DuckDB's hash (pmod keeps it
# non-negative), epoch seconds for the timestamps (2026-01-05 and 2026-01-12 00:00 UTC; the
# helper's session runs in UTC). Same shape and distributions, not the same rows.
_SPARK_EXPRESSIONS = {
    "exposure_1": "(1767571200 + pmod(xxhash64({u}, 't1'), 1209600))",
    "u01": "(pmod({h}, 1000000007) / 1000000007.0D)",
}


def _spark_u01(h: str) -> str:
    return _SPARK_EXPRESSIONS["u01"].format(h=h)


def _spark_exposure_1(u: str) -> str:
    return _SPARK_EXPRESSIONS["exposure_1"].format(u=u)


def _spark_event_user(i: str, salt: str, units: int) -> str:
    return (
        f"cast(least({units} - 1, floor({units} * pow({_spark_u01(f'xxhash64({i}, {salt!r})')},"
        " 1.5))) as bigint)"
    )


def _spark_pick(values: list[str], h: str) -> str:
    items = ", ".join(f"'{v}'" for v in values)
    return f"element_at(array({items}), 1 + cast(pmod({h}, {len(values)}) as int))"


def spark_data_statements(schema: str, units: int, events: int) -> list[str]:
    n_sessions = round(events * 0.6)
    n_orders = events - n_sessions
    activity = f"pow(greatest(i + 0.5D, 0.5D) / {units}, -1.0D / 3)"
    arms = ["control", "variant_a", "variant_b"]
    return [
        f"""
create table {schema}.users using parquet as
select
    i as user_id,
    {_spark_pick(["US", "DE", "FR", "GB", "BR"], "xxhash64(i, 'country')")} as country,
    round(40 * {activity} * (0.5D + {_spark_u01("xxhash64(i, 'ltv')")}), 2) as predicted_ltv
from (select id as i from range({units}))
""",
        f"""
create table {schema}.assignments using parquet as
select
    'exp_1' as experiment_id,
    i as user_id,
    {_spark_pick(arms, "xxhash64(i, 'v1')")} as variant,
    timestamp_seconds({_spark_exposure_1("i")}) as first_exposure_at
from (select id as i from range({units}))
where pmod(xxhash64(i, 'in1'), 100) < 98
union all
select
    'exp_2',
    i,
    {_spark_pick(arms, "xxhash64(i, 'v2')")},
    timestamp_seconds(1768176000 + pmod(xxhash64(i, 't2'), 604800))
from (select id as i from range({units}))
where pmod(xxhash64(i, 'in2'), 100) < 30
""",
        _spark_events_table(
            f"{schema}.sessions",
            ("session_id", "session_started_at", "st"),
            f"{_spark_event_user('id', 'su', units)}",
            n_sessions,
            "1 + cast(pmod(xxhash64(i, 'pages'), 12) as int) as pages_viewed",
        ),
        _spark_events_table(
            f"{schema}.orders",
            ("order_id", "ordered_at", "ot"),
            f"{_spark_event_user('id', 'ou', units)}",
            n_orders,
            f"""
    round(
        (15 + 20 * {_spark_u01("xxhash64(u, 'spend')")})
        * (-ln(1 - {_spark_u01("xxhash64(i, 'amount')")}))
        * case when pmod(xxhash64(u, 'v1'), 3) = 1 and pmod(xxhash64(i, 'ot'), 2419200) >= 1209600
              then 1.03D else 1.0D end,
        2) as revenue,
    case
        when pmod(xxhash64(i, 'status'), 100) < 93 then 'completed'
        when pmod(xxhash64(i, 'status'), 100) < 98 then 'refunded'
        else 'cancelled'
    end as status
""",
        ),
    ]


def _spark_events_table(
    table: str, names: tuple[str, str, str], user: str, rows: int, columns: str
) -> str:
    """A `create table` of ``rows`` events of the users ``user`` picks: an id, the user, a time
    in the four weeks around the user's first exposure (``names``: id column, time column, the
    hash salt of the time), then ``columns`` (SQL over the event ``i`` and its user ``u``)."""
    id_column, time_column, salt = names
    return f"""
create table {table} using parquet as
with events as (select id as i, {user} as u from range({rows}))
select
    i as {id_column},
    u as user_id,
    timestamp_seconds({_spark_exposure_1("u")} + pmod(xxhash64(i, '{salt}'), 2419200) - 1209600)
        as {time_column},
    {columns.strip()}
from events
"""


def generate_spark_data(spark, units: int, events: int) -> dict:
    """The synthetic tables in the database SPARK_DATA_SCHEMA of the local session (Parquet)."""
    started = time.perf_counter()
    spark.sql(f"drop database if exists {SPARK_DATA_SCHEMA} cascade")
    spark.sql(f"create database {SPARK_DATA_SCHEMA}")
    for statement in spark_data_statements(SPARK_DATA_SCHEMA, units, events):
        spark.sql(statement)
    counts = {
        table: spark.table(f"{SPARK_DATA_SCHEMA}.{table}").count()
        for table in ["assignments", "users", "sessions", "orders"]
    }
    counts["seconds"] = time.perf_counter() - started
    return counts


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants (the JVM PySpark launched), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        queue.extend(children.get(pid, []))
    return tree


def _status_kb(pids: list[int], field: str) -> int:
    total = 0
    for pid in pids:
        try:
            found = re.search(
                rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M
            )
        except OSError:
            continue
        total += int(found.group(1)) if found else 0
    return total


def measure_in_process(label: str, action, *, allow_failure: bool = False) -> dict:
    """Wall time of ``action()`` in this process, and the peak RSS of this process and the JVM
    during it: the kernel's high-water marks (VmHWM) are reset first (/proc/<pid>/clear_refs),
    so a phase's peak starts from what the processes hold when it begins (the JVM keeps the heap
    it has grown)."""
    pids = _process_tree(os.getpid())
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    start_kb = _status_kb(pids, "VmRSS")
    started = time.perf_counter()
    ok, output = action()
    wall = time.perf_counter() - started
    peak_kb = _status_kb(pids, "VmHWM")
    if not ok and not allow_failure:
        raise SystemExit(f"{label} failed:\n{output[-6000:]}")
    failed = "" if ok else "  ** failed **"
    print(
        f"  {label}: {wall:8.2f} s, peak RSS {peak_kb / 1024:8.0f} MiB "
        f"(at its start {start_kb / 1024:.0f} MiB){failed}",
        flush=True,
    )
    return {
        "wall": wall,
        "rss_mb": peak_kb / 1024,
        "start_rss_mb": start_kb / 1024,
        "ok": ok,
        "output": output,
    }


def dbt_in_process(project: Path, *args: str) -> tuple[bool, str]:
    """dbt in this process (dbtRunner), so that it runs in the local SparkSession and the Python
    models reach it through the test harness's submission method; its messages collected."""
    from dbt.cli.main import dbtRunner

    messages: list[str] = []
    result = dbtRunner(callbacks=[lambda event: messages.append(event.info.msg)]).invoke(
        [
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--log-path",
            str(project / "logs"),
            "--no-use-colors",
            "--quiet",
        ]
    )
    output = "\n".join(str(message) for message in messages)
    if result.exception is not None:
        output += f"\n{result.exception}"
    return result.success, output


def bench_spark(work: Path, units: int, events: int, args: argparse.Namespace) -> dict:
    """The comparison on Spark in one process and one JVM (each dbt process on Spark pays about a
    minute of JVM start on 2 cores): a local SparkSession with its warehouse in the workdir
    (tests/spark_session.py, the harness the Spark tests use), the data generated in it, then
    dbt's fixed cost, the package's `dbt build` and the floor, one after the other."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.spark_session import local_python_submission, local_spark, unavailable

    reason = unavailable()
    if reason is not None:
        raise SystemExit(f"--target spark: {reason}")
    work.mkdir(parents=True, exist_ok=True)
    project = work / "project"
    out: dict = {"units": units, "events": events, "n_metrics": 5 + args.extra_metrics}
    print(f"\n=== Spark: {units:,} units, {events:,} events ({work.name}) ===", flush=True)
    os.environ.update({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"})
    # no progress bars of Spark stages between the benchmark's lines
    os.environ.setdefault(
        "PYSPARK_SUBMIT_ARGS", "--conf spark.ui.showConsoleProgress=false pyspark-shell"
    )
    started = time.perf_counter()
    with local_spark(work / "spark", args.spark_driver_memory) as spark:
        out["jvm_start"] = time.perf_counter() - started
        print(f"  local SparkSession (JVM start): {out['jvm_start']:.1f} s", flush=True)
        out["data"] = d = generate_spark_data(spark, units, events)
        print(
            f"  data: {d['seconds']:.1f} s; assignments {d['assignments']:,}, "
            f"users {d['users']:,}, sessions {d['sessions']:,}, orders {d['orders']:,}",
            flush=True,
        )
        spark.sql(f"drop database if exists {SPARK_MODEL_SCHEMA} cascade")
        write_project(project, None, args.extra_metrics, target="spark", threads=args.threads)
        ok, output = dbt_in_process(project, "deps")
        if not ok:
            raise SystemExit(f"dbt deps failed:\n{output[-6000:]}")
        with local_python_submission():
            out["full_parse"] = measure_in_process(
                "warm-up dbt parse (full parse, first dbt call: imports; not in the ratios)",
                lambda: dbt_in_process(project, "parse", "--no-partial-parse"),
            )
            out["empty"] = measure_in_process(
                f"(c) fixed cost: dbt run --select {NO_SUCH_MODEL}",
                lambda: dbt_in_process(project, "run", "--select", NO_SUCH_MODEL),
            )
            out["build"] = measure_in_process(
                "(a) package: dbt build",
                lambda: dbt_in_process(project, "build"),
                allow_failure=True,
            )
            out["dbt_floor"] = None
            if args.dbt_floor:
                least = work / "project_dbt_floor"
                spark.sql(f"drop database if exists {SPARK_MODEL_SCHEMA}_floor cascade")
                write_dbt_floor_project(least, None, target="spark", threads=args.threads)
                ok, output = dbt_in_process(least, "parse")
                if not ok:
                    raise SystemExit(f"dbt floor: parse failed:\n{output[-6000:]}")
                floor_empty = measure_in_process(
                    "(e) dbt floor: its fixed cost",
                    lambda: dbt_in_process(least, "run", "--select", NO_SUCH_MODEL),
                )
                floor_build = measure_in_process(
                    "(e) dbt floor: dbt build", lambda: dbt_in_process(least, "build")
                )
                out["dbt_floor"] = {
                    "empty": floor_empty,
                    "build": floor_build,
                    "nodes": node_timings(least / "target"),
                }
        out["nodes"] = node_timings(project / "target")
        out["failed_nodes"] = [
            n["node"].split(".")[2]
            for n in out["nodes"]
            if n["status"] in ("error", "fail", "skipped")
        ]
        if out["failed_nodes"]:
            print(
                f"  ** package build: {len(out['failed_nodes'])} nodes failed or skipped: "
                f"{', '.join(out['failed_nodes'])}\n{out['build']['output'][-4000:]}",
                flush=True,
            )

        def floor() -> tuple[bool, str]:
            spark.catalog.setCurrentDatabase(SPARK_DATA_SCHEMA)
            spark.sql("drop table if exists floor_moments")
            spark.sql(floor_sql("spark"))
            return True, ""

        out["floor"] = measure_in_process("(b) floor: one hand-written Spark SQL statement", floor)
        try:
            out["floor_check"] = compare_moments(
                lambda sql: [tuple(row) for row in spark.sql(sql).collect()],
                floor=f"{SPARK_DATA_SCHEMA}.floor_moments",
                package=f"{SPARK_MODEL_SCHEMA}.cuped__arm_moments",
            )
        except Exception as error:  # the package's column names may have changed
            out["floor_check"] = f"check not possible: {str(error).splitlines()[0]}"
        print(f"  floor vs package: {out['floor_check']}", flush=True)
    return out


def _dbt_floor_rows(r: dict, floor_wall: float) -> None:
    """The rows of (e), the dbt floor (--dbt-floor), when it was measured."""
    if not r.get("dbt_floor"):
        return
    d, build, empty = r["dbt_floor"], r["build"], r["empty"]
    least = d["build"]["wall"] - d["empty"]["wall"]
    table_row(
        "(e) dbt floor: dbt build (floor + Python + 7 tables)",
        f"{d['build']['wall']:.2f}",
        fmt_mb(d["build"]["rss_mb"]),
    )
    table_row(
        "    its fixed cost: dbt run --select <none>",
        f"{d['empty']['wall']:.2f}",
        fmt_mb(d["empty"]["rss_mb"]),
    )
    table_row("time ratio   (dbt floor - its fixed cost) / floor", f"{least / floor_wall:.2f}", "")
    table_row(
        "             (package - fixed cost) / (dbt floor - its fixed)",
        f"{(build['wall'] - empty['wall']) / least:.2f}",
        "",
    )


def print_spark_report(r: dict) -> None:
    build, empty, floor = r["build"], r["empty"], r["floor"]
    time_ratio = (build["wall"] - empty["wall"]) / floor["wall"]
    print(
        f"\n## Spark (local[2], one process and JVM): {r['units']:,} units, "
        f"{r['events']:,} events, {r['n_metrics']} metrics"
    )
    print(f"| {'measurement':<58} | {'wall s':>9} | {'peak RSS':>11} |")
    print(f"|{'-' * 60}|{'-' * 11}|{'-' * 13}|")
    for label, m in (
        ("(a) package: dbt build (partial parse warm)", build),
        ("(b) floor: one hand-written Spark SQL statement", floor),
        (f"(c) fixed cost: dbt run --select {NO_SUCH_MODEL}", empty),
        ("    warm-up full parse (first dbt call in the process)", r["full_parse"]),
    ):
        table_row(label, f"{m['wall']:.2f}", fmt_mb(m["rss_mb"]))
    table_row("    local SparkSession start (JVM)", f"{r['jvm_start']:.2f}", "")
    table_row("    data generation in Spark", f"{r['data']['seconds']:.2f}", "")
    table_row("time ratio   (package - fixed cost) / floor", f"{time_ratio:.2f}", "")
    _dbt_floor_rows(r, floor["wall"])
    _python_models_row(r["nodes"])
    print(
        "peak RSS: this process and its JVM during the phase (the JVM keeps the heap it grew, "
        "so phases are not separable as processes are: no memory ratio on Spark)"
    )
    if r["failed_nodes"]:
        print(
            f"** the package build had {len(r['failed_nodes'])} failed/skipped nodes: "
            f"{', '.join(r['failed_nodes'])}"
        )
    print(f"floor vs package moments: {r['floor_check']}")
    models, tests = _print_model_timings(r["nodes"])
    slowest = ", ".join(f"{n['node'].split('.')[2]} {n['seconds']:.2f} s" for n in tests[:3])
    print(
        f"  models: {sum(n['seconds'] for n in models):.2f} s in {len(models)}; data tests: "
        f"{sum(n['seconds'] for n in tests):.2f} s in {len(tests)} (slowest: {slowest})"
    )


# --------------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------------


def fmt_mb(value: float) -> str:
    return f"{value:,.0f} MiB"


def _print_model_timings(nodes: list[dict]) -> tuple[list[dict], list[dict]]:
    """Print each model's time in the package build, slowest first; returns the model and the
    data-test nodes, slowest first."""
    print("\nper-model timings of the package build (run_results.json execution_time):")
    nodes = sorted(nodes, key=lambda n: -n["seconds"])
    models = [n for n in nodes if n["node"].startswith("model.")]
    tests = [n for n in nodes if n["node"].startswith("test.")]
    for n in models:
        print(f"  {n['seconds']:8.2f} s  {n['status']:<7} {n['node'].split('.', 2)[2]}")
    return models, tests


def _python_models_row(nodes: list[dict]) -> None:
    """The table row of the Python model's time (from run_results.json): cuped__statistics, which
    also checks the core (until 0.6.0 a model of its own, cuped__python_environment)."""
    python_nodes = [n for n in nodes if n["node"].split(".")[-1] == "cuped__statistics"]
    table_row(
        "Python models together (run_results.json)",
        f"{sum(n['seconds'] for n in python_nodes):.2f}",
        "",
    )


def table_row(label: str, wall: str, memory: str) -> None:
    print(f"| {label:<58} | {wall:>9} | {memory:>11} |")


def print_report(results: list[dict], top: int) -> None:
    for r in results:
        build, empty, floor = r["build"], r["empty"], r["floor"]
        time_ratio = (build["wall"] - empty["wall"]) / floor["wall"]
        memory_ratio = (build["rss_mb"] - empty["rss_mb"]) / floor["rss_mb"]
        limit = f", DuckDB memory_limit {r['memory_limit']}" if r.get("memory_limit") else ""
        print(f"\n## {r['units']:,} units, {r['events']:,} events, {r['n_metrics']} metrics{limit}")
        print(f"| {'measurement':<58} | {'wall s':>9} | {'peak RSS':>11} |")
        print(f"|{'-' * 60}|{'-' * 11}|{'-' * 13}|")
        rows = [
            ("(a) package: dbt build (partial parse warm)", build),
            ("(b) floor: one hand-written DuckDB statement (process)", floor),
            (f"(c) fixed cost: dbt run --select {NO_SUCH_MODEL}", empty),
            ("    warm-up full parse: dbt parse --no-partial-parse", r["full_parse"]),
            ("    the same full parse without the package", r["parse_without_package"]),
        ]
        for label, m in rows:
            table_row(label, f"{m['wall']:.2f}", fmt_mb(m["rss_mb"]))
        table_row(
            "    floor query alone (inside its process)", f"{r['floor_query_seconds']:.2f}", ""
        )
        table_row("time ratio   (package - fixed cost) / floor", f"{time_ratio:.2f}", "")
        _dbt_floor_rows(r, floor["wall"])
        parse_cost = r["full_parse"]["wall"] - r["parse_without_package"]["wall"]
        table_row("full parse: the package adds", f"{parse_cost:.2f}", "")
        _python_models_row(r["nodes"])
        table_row(
            "memory ratio (package peak - empty-run peak) / floor peak", "", f"{memory_ratio:.2f}"
        )
        if r["failed_nodes"]:
            print(
                f"** the package build had {len(r['failed_nodes'])} failed/skipped nodes "
                f"(exit {build['returncode']}): {', '.join(r['failed_nodes'])}"
            )
        print(f"floor vs package moments: {r['floor_check']}")
        if r.get("data"):
            data = r["data"]
            print(
                f"data generation: {data['seconds']:.1f} s, DuckDB file {fmt_mb(data['file_mb'])}"
            )

        models, tests = _print_model_timings(r["nodes"])
        model_seconds = sum(n["seconds"] for n in models)
        test_seconds = sum(n["seconds"] for n in tests)
        slowest = ", ".join(f"{n['node'].split('.')[2]} {n['seconds']:.2f} s" for n in tests[:3])
        print(
            f"  models: {model_seconds:.2f} s in {len(models)}; "
            f"data tests: {test_seconds:.2f} s in {len(tests)} (slowest: {slowest})"
        )

    print("\n## Python statistics step alone (cuped_stats.tables.results_table on cuped__moments)")
    header = f"| {'scale':<28} | {'moment rows':>11} | {'median ms':>9} | "
    print(header + f"{'dbt model cuped__statistics s':>32} |")
    print(f"|{'-' * 30}|{'-' * 13}|{'-' * 11}|{'-' * 34}|")
    for r in sorted(results, key=lambda r: r["units"]):
        if not r["python"]:
            print(f"| {r['units']:>14,} units{'':<8} | failed (see above)")
            continue
        node = next((n for n in r["nodes"] if n["node"].endswith(".cuped__statistics")), None)
        dbt_seconds = f"{node['seconds']:.2f}" if node else "n/a"
        print(
            f"| {r['units']:>14,} units{'':<8} | {r['python']['moment_rows']:>11} | "
            f"{r['python']['median'] * 1000:>9.1f} | {dbt_seconds:>32} |"
        )
    ordered = sorted((r for r in results if r["python"]), key=lambda r: r["units"])
    if len(ordered) >= 2:
        small, large = ordered[0], ordered[-1]
        ratio = large["python"]["median"] / small["python"]["median"]
        print(
            f"ratio {large['units']:,} / {small['units']:,} units: {ratio:.2f} "
            f"(units ratio {large['units'] / small['units']:.0f})"
        )

    for r in results:
        for model, (seconds, operators, text_out) in (r.get("profiles") or {}).items():
            print(
                f"\n## profile of compiled {model} at {r['units']:,} units / "
                f"{r['events']:,} events: "
                f"EXPLAIN ANALYZE {seconds:.2f} s (full text plan: {text_out.name} in the workdir)"
            )
            total = sum(o["seconds"] for o in operators) or 1.0
            print("operators by self time (seconds, share, output rows, details):")
            for o in sorted(operators, key=lambda o: -o["seconds"])[:top]:
                print(
                    f"  {o['seconds']:7.2f} s {o['seconds'] / total:6.1%} {o['rows']:>13,}  "
                    f"{o['name']:<22} {o['extra']}"
                )
            scans: dict[str, int] = {}
            for o in operators:
                if "SCAN" in o["name"].upper():
                    found = re.search(r"Table: ([^;]+)", o["extra"])
                    key = found.group(1).strip() if found else o["name"]
                    scans[key] = scans.get(key, 0) + 1
            joins = [o for o in operators if "JOIN" in o["name"].upper()]
            print(f"scans per table: {scans}")
            print(f"joins: {len(joins)} ({', '.join(sorted({o['name'] for o in joins}))})")


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--target",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="spark: dbt-spark on a local PySpark, in this process (only the main scale; "
        "needs the spark extra and Java 17)",
    )
    parser.add_argument(
        "--units", type=int, default=None, help="default 10M on DuckDB, 1M on Spark"
    )
    parser.add_argument(
        "--events", type=int, default=None, help="default 100M on DuckDB, 10M on Spark"
    )
    parser.add_argument(
        "--small-factor",
        type=int,
        default=10,
        help="also run every phase at units/F and events/F (0: only the main scale)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="default: a new temporary directory"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the workdir (always kept when --workdir is given)"
    )
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="reuse a DuckDB file in the workdir that has the requested row counts",
    )
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument(
        "--dbt-floor",
        action="store_true",
        help="also build the least dbt project publishing what the package publishes (the floor "
        "as one model, one Python model, six contracted tables, a history, seven data tests) and "
        "report its ratio: what dbt itself costs for that shape",
    )
    parser.add_argument(
        "--profile-models",
        nargs="+",
        default=["cuped__unit_values", "cuped__arm_moments", "cuped__metric_caps"],
    )
    parser.add_argument(
        "--extra-metrics",
        type=int,
        default=0,
        help="metrics beyond the five standard ones (e.g. 95 for the 100-metric measurement)",
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="measure a daily incremental run against a full build (events over 60 days, the "
        "last one appended); only the main scale",
    )
    parser.add_argument(
        "--memory-limit",
        default=None,
        help="DuckDB's memory_limit for the package's build and the floor (e.g. 3.3GB; default "
        "DuckDB's own, 80%% of the RAM): DuckDB holds what it may, so peak memory without a "
        "limit is not what a build needs",
    )
    parser.add_argument(
        "--daily-series",
        action="store_true",
        help="build with `daily_series: true` (cuped_results_daily: the results as of each day)",
    )
    parser.add_argument(
        "--parse-only",
        action="store_true",
        help="measure only the full parse with and without the package (no data, no build)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="dbt's threads on Spark (default 1; the DuckDB profile runs 2)",
    )
    parser.add_argument(
        "--spark-driver-memory",
        default="2g",
        help="the local Spark JVM's heap with --target spark (default 2g, enough for 2M units)",
    )
    parser.add_argument("--parse-repeats", type=int, default=5)
    parser.add_argument("--python-repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    spark = args.target == "spark"
    if args.units is None:
        args.units = 1_000_000 if spark else 10_000_000
    if args.events is None:
        args.events = 10_000_000 if spark else 100_000_000

    started = time.perf_counter()
    temporary = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="cuped_bench_")) if temporary else args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    meter = "GNU time -v" if GNU_TIME.exists() else "getrusage(RUSAGE_CHILDREN)"
    print(f"workdir: {work}\nmeasuring with: {meter}", flush=True)
    scales = [(args.units, args.events)]
    if args.small_factor and args.small_factor > 1:
        scales.insert(0, (args.units // args.small_factor, args.events // args.small_factor))
    results = []
    try:
        if spark:
            print_spark_report(bench_spark(work / "spark", args.units, args.events, args))
            return
        if args.parse_only:
            print_parse_report(bench_parse(work / "parse", args))
            return
        if args.incremental:
            print_incremental_report(bench_incremental(work / "incremental", *scales[-1], args))
            return
        for index, (units, events) in enumerate(scales):
            profile = args.profile and index == 0  # the smaller scale is the "moderate" one
            results.append(bench_scale(work / f"scale_{units}", units, events, args, profile))
        print_report(results, args.top)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nbenchmark script wall time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
