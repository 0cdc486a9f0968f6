from cuped_stats.records import records
from cuped_stats.tables import results_table


def model(dbt, session):
    """CUPED results per experiment × segment × metric × treatment variant (see cuped_results)."""
    dbt.config(materialized="table")
    moments = records(dbt.ref("cuped__moments"))
    plan = records(dbt.ref("cuped__analysis_plan"))
    return results_table(moments, plan)
