from cuped_stats.records import records
from cuped_stats.tables import results_table


def model(dbt, session):
    """CUPED results as of each day of each experiment (see cuped_results_daily)."""
    dbt.config(materialized="table")
    moments = records(dbt.ref("cuped__daily_moments"))
    experiments = {row["experiment_id"] for row in moments}
    plan = [
        row
        for row in records(dbt.ref("cuped__analysis_plan"))
        if row["experiment_id"] in experiments
    ]
    return results_table(moments, plan)
