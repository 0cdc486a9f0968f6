from cuped_stats.io import read_rows, to_frame
from cuped_stats.tables import STATISTICS_COLUMNS, statistics_rows


def model(dbt, session):
    """Every statistic of the package, one row per row of a public table (see table_name)."""
    dbt.config(materialized="table")
    dbt.ref(
        "cuped__python_environment"
    )  # waits for the check of the core, which runs beside the SQL
    rows = statistics_rows(
        moment_rows=read_rows(dbt.ref("cuped__moments")),
        daily_moment_rows=read_rows(dbt.ref("cuped__daily_moments")),
        plan_rows=read_rows(dbt.ref("cuped__analysis_plan")),
        count_rows=read_rows(dbt.ref("cuped__arm_counts")),
        quantile_rows=read_rows(dbt.ref("cuped__quantile_arms")),
    )
    return to_frame(rows, STATISTICS_COLUMNS, session)
