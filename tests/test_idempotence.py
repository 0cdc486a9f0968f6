"""Building the demo twice gives the same public tables (apart from `computed_at`).

Known deviation (see the xfail below): the floating-point moments differ in their last bits
between builds. `cuped__unit_values` is written by parallel joins and aggregates, so its physical
row order changes from build to build; DuckDB's `avg`/`var_samp`/`covar_samp` accumulate in input
order, so `cuped__arm_moments` differs by ~1e-15 relative, and every statistic downstream by up to
~1e-12. Given the same row order the aggregates are reproducible. Until the moments are computed
order-independently, the guarded property is: identical keys, counts, statuses, flags and texts,
and numbers equal to 1e-9 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.dbt_runner import REPO, run_dbt

#: Public table → the columns that identify a row.
PUBLIC_TABLES: dict[str, list[str]] = {
    "cuped_results": ["experiment_id", "metric_name", "segment_name", "segment_value", "variant"],
    "cuped_health": ["experiment_id", "segment_name", "segment_value", "variant"],
    "cuped_balance": [
        "experiment_id",
        "segment_name",
        "segment_value",
        "metric_name",
        "covariate",
        "variant",
    ],
}
#: Text columns holding JSON objects of numbers (compared as numbers).
JSON_NUMBER_COLUMNS = {"theta"}
RTOL = 1e-9


def _snapshot(database: Path) -> dict[str, pd.DataFrame]:
    """Every public table without computed_at, rows sorted by its key."""
    with duckdb.connect(str(database), read_only=True) as con:
        return {
            table: con.sql(f"select * exclude (computed_at) from {table}")
            .df()
            .sort_values(keys)
            .reset_index(drop=True)
            for table, keys in PUBLIC_TABLES.items()
        }


@pytest.fixture(scope="module")
def two_builds(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    work_dir = tmp_path_factory.mktemp("idempotence")
    first = run_dbt(["build"], project_dir=REPO, work_dir=work_dir).check()
    before = _snapshot(first.database)
    second = run_dbt(["build"], project_dir=REPO, work_dir=work_dir).check()
    return before, _snapshot(second.database)


@pytest.mark.parametrize("table", PUBLIC_TABLES)
def test_a_second_build_reproduces_every_key_status_and_number_of_the_public_table(
    two_builds: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]], table: str
) -> None:
    before, after = two_builds[0][table], two_builds[1][table]
    assert len(before) > 0
    assert list(before.columns) == list(after.columns) and len(before) == len(after)
    for column in before.columns:
        left, right = before[column], after[column]
        if column in JSON_NUMBER_COLUMNS:
            left_objects = [json.loads(v) for v in left]
            right_objects = [json.loads(v) for v in right]
            assert [list(o) for o in left_objects] == [list(o) for o in right_objects], column
            np.testing.assert_allclose(
                [x for o in left_objects for x in o.values()],
                [x for o in right_objects for x in o.values()],
                rtol=RTOL,
                err_msg=column,
            )
        elif left.dtype.kind == "f":
            np.testing.assert_allclose(left, right, rtol=RTOL, atol=0, err_msg=column)
        else:
            pd.testing.assert_series_equal(left, right, check_exact=True, obj=column)


_LAST_BITS = pytest.mark.xfail(
    reason="moments aggregate in the non-deterministic row order of cuped__unit_values "
    "(see the module docstring); last-bit differences follow",
    strict=False,
)


@pytest.mark.parametrize(
    "table",
    [
        pytest.param("cuped_results", marks=_LAST_BITS),
        "cuped_health",
        pytest.param("cuped_balance", marks=_LAST_BITS),
    ],
)
def test_a_second_build_reproduces_the_public_table_bit_for_bit(
    two_builds: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]], table: str
) -> None:
    pd.testing.assert_frame_equal(two_builds[0][table], two_builds[1][table], check_exact=True)
