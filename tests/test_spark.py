"""The package on Spark: the demo built by dbt-spark's `session` method on a local PySpark, the SQL
models in Spark SQL and the Python model run from its compiled code in the same session
(tests/spark_session.py), gives every public table the DuckDB build gives.

One process for everything: the JVM starts once (about a minute on 2 cores), the seeds are loaded
through Spark (`dbt seed` takes ~17 minutes there) and dbt runs in-process (dbtRunner) so that the
Python models see the session.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from tests.dbt_runner import REPO, DbtRun
from tests.helpers import PUBLIC_TABLES, assert_same_tables, same_run_day
from tests.spark_session import (
    load_demo_seeds,
    local_python_submission,
    local_spark,
    unavailable,
)

pytestmark = [
    pytest.mark.spark,
    # PySpark 4's pandas conversions warn about pandas 3 (the test reads its tables with them)
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

TABLES = {
    **PUBLIC_TABLES,
    "cuped_decisions": ["experiment_id", "variant"],
    "cuped_results_history": ["as_of_date", *PUBLIC_TABLES["cuped_results"]],
    "cuped_incremental_state": ["experiment_id"],
}
SCHEMA = "demo"
#: No Delta Lake in a local PySpark: the tables are Parquet.
VARS = "{cuped_spark_file_format: parquet}"


#: Spark's limit on the fields of a stage it generates code for (macros/sql/cuped__codegen_hook.sql)
CODEGEN_MAX_FIELDS = "spark.sql.codegen.maxFields"
#: The session's time zone, UTC in the harness (tests/spark_session.py), and another one.
SESSION_TIME_ZONE = "spark.sql.session.timeZone"
ZONE = "Europe/London"


def _spark_flags(work: Path) -> list[str]:
    """The `spark` target of this repository's profile, dbt's outputs under ``work``."""
    return [
        "--target",
        "spark",
        "--project-dir",
        str(REPO),
        "--profiles-dir",
        str(REPO),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]


def _invoke(args: list[str], work: Path) -> tuple[bool, str]:
    """dbt in this process on the `spark` target, its messages collected."""
    from dbt.cli.main import dbtRunner

    messages: list[str] = []
    runner = dbtRunner(callbacks=[lambda event: messages.append(event.info.msg)])
    result = runner.invoke([*args, *_spark_flags(work), "--no-use-colors"])
    output = "\n".join(str(message) for message in messages)
    if result.exception is not None:
        output += f"\n{result.exception}"
    return result.success, output


#: A name with a quote and backslashes, as the package writes names into SQL (cuped__literal).
NAME = "it's a \\ back\\'slash"


def _compiled_literal(work: Path) -> str:
    """`select <cuped__literal(NAME)>` compiled by dbt for the spark target."""
    from dbt.cli.main import dbtRunner

    jinja_name = NAME.replace("\\", "\\\\").replace('"', '\\"')
    inline = f'select {{{{ cuped.cuped__literal("{jinja_name}") }}}} as v'
    args = ["compile", "--inline", inline, *_spark_flags(work), "--vars", VARS]
    result = dbtRunner().invoke(args)
    assert result.success, result.exception
    return result.result.results[0].node.compiled_code


def _nan_counts(spark, names: list[str]) -> dict[str, int]:
    """`table.column` → rows holding NaN, over every double column of ``names`` (pandas reads
    NULL and NaN alike, so this is asked of Spark)."""
    counts = {}
    for name in names:
        frame = spark.table(f"{SCHEMA}.{name}")
        doubles = [f.name for f in frame.schema.fields if f.dataType.typeName() == "double"]
        if doubles:
            row = frame.selectExpr(
                *(f"count_if(isnan(`{column}`)) as `{column}`" for column in doubles)
            ).collect()[0]
            counts.update({f"{name}.{column}": row[column] for column in doubles})
    return counts


@pytest.fixture(scope="module")
def spark_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The demo's seeds loaded through Spark, `dbt build` of everything else on the `spark`
    target, and what the tests read from it, in one JVM."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("spark")
    saved = os.environ.get("CUPED_SPARK_SCHEMA")
    os.environ["CUPED_SPARK_SCHEMA"] = SCHEMA
    try:
        with local_spark(work / "spark") as spark:
            load_demo_seeds(spark, SCHEMA)
            max_fields = [spark.conf.get(CODEGEN_MAX_FIELDS)]
            with local_python_submission():
                ok, output = _invoke(
                    ["build", "--exclude-resource-type", "seed", "--vars", VARS], work
                )
                assert ok, output[-8000:]
                max_fields.append(spark.conf.get(CODEGEN_MAX_FIELDS))
                again, again_output = _invoke(
                    ["build", "--select", "cuped_results_history", "--vars", VARS], work
                )
                assert again, again_output[-8000:]
                demo = yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]["cuped"]
                incremental = json.dumps(
                    {"cuped_spark_file_format": "parquet", "cuped": {**demo, "incremental": True}}
                )
                refused = _invoke(["parse", "--vars", incremental], work)
                zoned = json.dumps(
                    {"cuped_spark_file_format": "parquet", "cuped": {**demo, "timezone": ZONE}}
                )
                refused_timezone = _invoke(["parse", "--vars", zoned], work)
                literal = _compiled_literal(work)
                literal_value = spark.sql(literal).collect()[0][0]
            tables = {name: spark.table(f"{SCHEMA}.{name}").toPandas() for name in TABLES}
            nans = _nan_counts(spark, [*TABLES, "cuped__statistics"])
            # last, since it would stop the build: a session in another time zone
            spark.conf.set(SESSION_TIME_ZONE, ZONE)
            try:
                session_zone = _invoke(
                    ["run", "--select", "cuped__assignment_rows", "--vars", VARS], work
                )
            finally:
                spark.conf.set(SESSION_TIME_ZONE, "UTC")
        yield {
            "output": output,
            "tables": tables,
            "incremental": refused,
            "timezone": refused_timezone,
            "session_zone": session_zone,
            "literal": (literal, literal_value),
            "nans": nans,
            "max_fields": max_fields,
            "log": (work / "logs" / "dbt.log").read_text(),
        }
    finally:
        if saved is None:
            os.environ.pop("CUPED_SPARK_SCHEMA", None)
        else:
            os.environ["CUPED_SPARK_SCHEMA"] = saved


def test_demo_on_spark_equals_the_duckdb_build(spark_demo: dict, demo_build: DbtRun) -> None:
    """Every public table built on Spark equals the DuckDB build (1e-9 relative; counts,
    statuses and decisions exactly), every data test of the package passes on Spark, and
    re-running the history replaces its day instead of appending it twice."""
    output = spark_demo["output"]
    assert "ERROR=0" in output and "WARN=0" in output, output[-4000:]
    with duckdb.connect(str(demo_build.database), read_only=True) as con:
        want = {name: con.sql(f"select * from {name}").df() for name in TABLES}
    got: dict[str, pd.DataFrame] = dict(spark_demo["tables"])
    # a Parquet table partitioned by as_of_date keeps that column last (cuped_results_history.sql)
    history = got["cuped_results_history"]
    assert list(history.columns) == [*want["cuped_results_history"].columns[1:], "as_of_date"]
    got["cuped_results_history"] = history[list(want["cuped_results_history"].columns)]
    assert all(len(got[name]) > 0 for name in PUBLIC_TABLES)
    same_run_day(got, want)
    assert_same_tables(got, want, "spark", TABLES, rtol=1e-9)


def test_incremental_builds_are_refused_on_spark(spark_demo: dict) -> None:
    """`incremental:` keeps per-unit values with delete+insert, which dbt-spark does not offer:
    the build stops with a message saying so instead of failing inside the adapter."""
    ok, output = spark_demo["incremental"]
    assert not ok
    assert "cuped: `incremental` is not supported on Spark (dbt-spark)" in output, output[-3000:]


def test_time_zones_other_than_utc_are_refused_on_spark(spark_demo: dict) -> None:
    """On Spark the session's time zone decides a timestamp's day and dbt-spark's day arithmetic,
    and Spark SQL has no AT TIME ZONE: a session in another zone stops the build at its first
    model, naming the zone and the setting (Europe/London: UTC+0 in winter only), and a
    `timezone` other than UTC is refused when the var is read."""
    session = f"cuped: the Spark session's time zone is '{ZONE}' (spark.sql.session.timeZone)"
    ok, output = spark_demo["session_zone"]
    assert not ok
    assert session in output, output[-3000:]
    setting = f"cuped: `timezone` '{ZONE}' is not supported on Spark and Databricks"
    ok, output = spark_demo["timezone"]
    assert not ok
    assert setting in output, output[-3000:]


def test_names_with_quotes_and_backslashes_survive_spark_sql(spark_demo: dict) -> None:
    """Spark SQL reads a backslash in a string literal as an escape (`'x\\y'` is `xy`): the
    package's literals splice it in as chr(92), so the name Spark returns is the name given."""
    sql, value = spark_demo["literal"]
    assert "chr(92)" in sql, sql
    assert value == NAME


def test_no_nan_is_written_on_spark(spark_demo: dict) -> None:
    """A missing number is NULL in every double column the package writes on Spark, the
    Python model's statistics table included, never NaN."""
    nans = spark_demo["nans"]
    assert any(key.startswith("cuped__statistics.") for key in nans)
    assert {key: count for key, count in nans.items() if count} == {}


def test_arm_moments_raise_the_codegen_limit_and_put_it_back(spark_demo: dict) -> None:
    """cuped__arm_moments raises Spark's `spark.sql.codegen.maxFields` for its own statement
    (its partial aggregate has more than the default 100 fields, which Spark interprets row by
    row) and its post-hook puts the session's value back."""
    before, after = spark_demo["max_fields"]
    assert before == after == "100"
    log = spark_demo["log"]
    raised = log.index(f"set {CODEGEN_MAX_FIELDS} = 2000")
    created = log.index("create table demo.cuped__arm_moments", raised)
    assert log.index(f"set {CODEGEN_MAX_FIELDS} = 100", created) > created
    assert log.count(f"set {CODEGEN_MAX_FIELDS} = 2000") == 1
