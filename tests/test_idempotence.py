"""Building the demo twice gives identical public tables, apart from `computed_at`.

Floating-point sums depend on the order they add in, and a parallel aggregate adds in a varying
order; the demo's profile runs each DuckDB query on one thread, so the moments, and everything
computed from them, are bit-identical from build to build.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.dbt_runner import REPO, run_dbt
from tests.helpers import PUBLIC_TABLES


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
def test_a_second_build_reproduces_the_public_table_exactly(
    two_builds: tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]], table: str
) -> None:
    before, after = two_builds[0][table], two_builds[1][table]
    assert len(before) > 0
    pd.testing.assert_frame_equal(before, after, check_exact=True)
