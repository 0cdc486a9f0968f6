"""Test-only harness for the package on Spark: a local SparkSession whose warehouse and metastore
live in a folder the test chooses, the demo seeds loaded through it, and a dbt Python-model
submission method that runs the compiled model in that session.

dbt-spark's `session` method runs SQL in the SparkSession of the dbt process but has no way to run
a Python model (its submission methods post notebooks to a Databricks workspace). The helper here
plugs into dbt's own interface for that (`PythonJobHelper`, looked up by `submission_method` in the
adapter's `python_submission_helpers`): dbt compiles the model with its Spark materialization code
(the model, `dbtObj`, then `df.write...saveAsTable(...)`) and the helper executes that text with
`spark` bound to the local session. dbt must run in this process (dbtRunner) to share the session.
Nothing here ships with the package.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.dbt_runner import REPO

#: The submission method the helper registers under (the models get it as their default).
SUBMISSION_METHOD = "local_session"

#: Seed column types (seeds/_demo_seeds.yml) → Spark SQL types.
_SPARK_TYPES = {
    "bigint": "bigint",
    "integer": "int",
    "varchar": "string",
    "date": "date",
    "timestamp": "timestamp",
    "double": "double",
}


def unavailable() -> str | None:
    """Why the Spark tests cannot run here, or None."""
    for module, extra in (("pyspark", "pyspark"), ("dbt.adapters.spark", "dbt-spark[session]")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{extra} is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None and not _install_java():
        return "no Java runtime on PATH (PySpark needs Java 17: apt-get install openjdk-17-jre)"
    return None


def _install_java() -> bool:
    """Java 17 from Debian's packages when it is missing and the tests run as root (as on CI);
    True when `java` is on the PATH afterwards."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "openjdk-17-jre-headless"],
    ):
        subprocess.run(command, env=env, capture_output=True, timeout=900, check=False)
    return shutil.which("java") is not None


@contextmanager
def local_spark(folder: Path, driver_memory: str = "2g") -> Iterator[Any]:
    """A local SparkSession (2 cores) with its warehouse and Derby metastore under ``folder``,
    stopped at exit. dbt-spark's `session` method picks it up (SparkSession.getOrCreate).
    ``driver_memory`` is the JVM's heap (the benchmark raises it at larger scales)."""
    from pyspark.sql import SparkSession

    folder.mkdir(parents=True, exist_ok=True)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("cuped-tests")
        .config("spark.sql.warehouse.dir", str(folder / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={folder / 'derby'}")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true",
        )
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", driver_memory)
        .enableHiveSupport()
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


def load_demo_seeds(session: Any, schema: str) -> None:
    """The demo seeds as tables of ``schema``, typed as seeds/_demo_seeds.yml types them: read
    by pandas as text, converted by Spark SQL casts (`dbt seed` takes ~17 minutes on Spark)."""
    spec = yaml.safe_load((REPO / "seeds" / "_demo_seeds.yml").read_text())
    session.sql(f"create database if not exists {schema}")
    for seed in spec["seeds"]:
        import pandas as pd

        name = seed["name"]
        types = seed["config"]["column_types"]
        text = pd.read_csv(REPO / "seeds" / f"{name}.csv", dtype=str, keep_default_na=False)
        frame = session.createDataFrame(
            text.astype(object).where(text != "", None),
            schema=", ".join(f"`{column}` string" for column in text.columns),
        )
        typed = frame.selectExpr(
            *(
                f"cast(`{column}` as {_SPARK_TYPES[_type_name(types[column])]}) as `{column}`"
                for column in text.columns
            )
        )
        typed.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.{name}")


def _type_name(declared: str) -> str:
    """The type of a seed column whose YAML anchor picks the type by adapter."""
    if "double" in declared:
        return "double"
    return "varchar" if "varchar" in declared else declared


class LocalSessionPythonJobHelper:
    """dbt's PythonJobHelper for the local SparkSession: runs the compiled Python model (the
    model's code followed by dbt-spark's materialization code) with `spark` bound to it."""

    def __init__(self, parsed_model: dict, credentials: Any) -> None:
        self.parsed_model = parsed_model

    def submit(self, compiled_code: str) -> None:
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        name = f"<dbt python model {self.parsed_model['alias']}>"
        exec(compile(compiled_code, name, "exec"), {"spark": session, "__name__": "__dbt__"})


@contextmanager
def local_python_submission() -> Iterator[None]:
    """The helper registered on dbt-spark's adapter as `submission_method: local_session`, the
    default of every Python model while the context is open."""
    from dbt.adapters.base import PythonJobHelper
    from dbt.adapters.spark.impl import SparkAdapter

    helper = type("LocalSessionJobHelper", (LocalSessionPythonJobHelper, PythonJobHelper), {})
    saved = {
        name: SparkAdapter.__dict__[name]
        for name in ("python_submission_helpers", "default_python_submission_method")
    }
    original = saved["python_submission_helpers"]
    SparkAdapter.python_submission_helpers = property(
        lambda self: {**original.fget(self), SUBMISSION_METHOD: helper}
    )
    SparkAdapter.default_python_submission_method = property(lambda self: SUBMISSION_METHOD)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(SparkAdapter, name, value)
