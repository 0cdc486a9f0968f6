from cuped_stats.records import records
from cuped_stats.tables import balance_table


def model(dbt, session):
    """Pre-period covariate balance per experiment × segment × metric × covariate × variant."""
    dbt.config(materialized="table")
    moments = records(dbt.ref("cuped__moments"))
    plan = records(dbt.ref("cuped__analysis_plan"))
    return balance_table(moments, plan)
