from cuped_stats.records import records
from cuped_stats.tables import power_table


def model(dbt, session):
    """Minimum detectable effects and sample sizes (see cuped_power)."""
    dbt.config(materialized="table")
    results = records(dbt.ref("cuped_results"))
    moments = records(dbt.ref("cuped__moments"))
    plan = records(dbt.ref("cuped__analysis_plan"))
    return power_table(results, moments, plan)
