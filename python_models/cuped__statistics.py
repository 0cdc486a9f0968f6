def model(dbt, session):
    """Every statistic of the package, one row per row of a public table (see table_name). First,
    the statistics core where dbt runs Python models: installed, in this dbt package's version."""
    dbt.config(materialized="table")
    meta = dbt.config.get("meta")
    expected = meta["cuped_version"]
    try:
        import cuped_stats
        from cuped_stats.io import gc_paused, read_columns, read_rows, to_frame
        from cuped_stats.tables import STATISTICS_COLUMNS, statistics_columns
    except ImportError as error:
        raise RuntimeError(
            "cuped: the statistics core is not installed in the Python environment that runs "
            f"dbt ({error}). Install it there, in the same version as the dbt package: "
            f"pip install 'cuped-stats=={expected}' (from a checkout of the cuped repository: "
            "pip install path/to/cuped). On Databricks or Snowflake, install the cuped-stats "
            "wheel on the cluster or stage that runs Python models (see the README)."
        ) from None
    installed = cuped_stats.__version__
    if installed != expected:
        raise RuntimeError(
            f"cuped: the dbt package is version {expected} but the statistics core installed "
            f"in dbt's Python environment is {installed}; results would mix two versions. "
            f"Install the matching core: pip install 'cuped-stats=={expected}'."
        )
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
