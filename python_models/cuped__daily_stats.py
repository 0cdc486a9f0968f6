from cuped_stats.records import records
from cuped_stats.tables import results_table


def model(dbt, session):
    """CUPED results as of each day of each experiment (see cuped_results_daily)."""
    dbt.config(materialized="table")
    moments = records(dbt.ref("cuped__daily_moments"))
    plan = records(dbt.ref("cuped__analysis_plan"))
    return results_table(moments, plan)
