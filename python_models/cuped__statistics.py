from cuped_stats.io import gc_paused, read_columns, read_rows, to_frame
from cuped_stats.tables import STATISTICS_COLUMNS, statistics_columns


def model(dbt, session):
    """Every statistic of the package, one row per row of a public table (see table_name)."""
    dbt.config(materialized="table")
    dbt.ref(
        "cuped__python_environment"
    )  # waits for the check of the core, which runs beside the SQL
    with gc_paused():  # many small objects in dbt's large process: see gc_paused
        table = to_frame(
            statistics_columns(
                moment_rows=read_columns(dbt.ref("cuped__moments")),
                daily_moment_rows=read_columns(dbt.ref("cuped__daily_moments")),
                plan_rows=read_rows(dbt.ref("cuped__analysis_plan")),
                count_rows=read_rows(dbt.ref("cuped__arm_counts")),
                quantile_rows=read_rows(dbt.ref("cuped__quantile_arms")),
            ),
            STATISTICS_COLUMNS,
            session,
        )
    return table
