def model(dbt, session):
    """The statistics core in the Python environment that runs dbt: installed, and the version of
    this dbt package. It runs beside the SQL models; cuped__statistics waits for it."""
    dbt.config(materialized="table")
    meta = dbt.config.get("meta")
    expected = meta["cuped_version"]
    try:
        import cuped_stats
        from cuped_stats.io import to_frame
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
    # Not read: the ref places this model after the package's first one, which validates the
    # `cuped` var; started beside it, these imports and that validation contend for Python's GIL
    # (README "Performance").
    dbt.ref("cuped__assignment_rows")
    rows = [{"package_version": expected, "core_version": installed}]
    return to_frame(rows, {"package_version": object, "core_version": object}, session)
