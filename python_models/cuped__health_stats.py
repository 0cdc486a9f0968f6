from cuped_stats.records import records
from cuped_stats.tables import health_table


def model(dbt, session):
    """Sample-ratio-mismatch statistics per experiment × segment × variant (see cuped_health)."""
    dbt.config(materialized="table")
    counts = records(dbt.ref("cuped__arm_counts"))
    return health_table(counts)
