"""The least SQL a daily incremental run needs, hand-written, against the full floor.

Usage, after `benchmark.py --incremental` (its work directory keeps `incremental/bench.duckdb`,
whose last build is a full build of the final data, `cuped__unit_settled` holding every unit's
sums before the boundary):

    python benchmarks/incremental_floor.py <workdir>/incremental/bench.duckdb

Each statement computes the per-arm moments the floor computes (benchmark.floor_sql), from less
than every event, in one DuckDB process, read-only:

  A  units re-derived from the assignments, joined to the stored per-unit sums before the
     boundary (cuped__unit_settled), the users' attributes and the per-unit aggregates of the
     events from the boundary on, then caps and moments: what a run that re-reads the
     assignments must do at least. Its moments are compared with the full floor's.
  B  as A, with the analysed units stored (cuped__units) instead of re-derived.
  C  caps and moments from one stored per-unit table alone (cuped__unit_values): no event.
  D  the per-unit aggregates of the events from the boundary on alone.
  G  one stored per-unit table (units, attributes and sums together; cuped__unit_values stands
     in for it, so its moments are not the floor's: it measures time only) joined to D's
     aggregates, then caps and moments: the best layout's run, before folding the new days
     into the stored table and before dbt's own nodes.

It prints each statement's seconds (best of --repeats) and its share of the full floor's. The
column names of the package's tables are those of the benchmark project's metrics (positional:
metric_0 revenue, metric_3 orders, metric_4 sessions); another project needs another mapping.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import floor_sql, largest_moment_difference

SETTLED_VALUES = """unit_values as (
    select
        a.experiment_id,
        a.variant,
        coalesce(u.country, '(missing)') as country,
        coalesce(u.predicted_ltv, 0)::double as predicted_ltv,
        (coalesce(st.metric_0_post, 0) + coalesce(o.revenue_post, 0))::double as revenue_post,
        (coalesce(st.metric_0_pre, 0) + coalesce(o.revenue_pre, 0))::double as revenue_pre,
        (coalesce(st.metric_3_post, 0) + coalesce(o.orders_post, 0))::double as orders_post,
        (coalesce(st.metric_3_pre, 0) + coalesce(o.orders_pre, 0))::double as orders_pre,
        greatest(coalesce(st.source_0_had_pre_period, 0), coalesce(o.had_pre, false)::int)::double
            as orders_had_pre,
        (coalesce(st.metric_4_post, 0) + coalesce(s.sessions_post, 0))::double as sessions_post,
        (coalesce(st.metric_4_pre, 0) + coalesce(s.sessions_pre, 0))::double as sessions_pre,
        greatest(coalesce(st.source_1_had_pre_period, 0), coalesce(s.had_pre, false)::int)::double
            as sessions_had_pre
    from assigned as a
    left join cuped__unit_settled as st
        on st.experiment_id = a.experiment_id and st.unit_id = a.user_id
    left join order_units as o on o.experiment_id = a.experiment_id and o.user_id = a.user_id
    left join session_units as s on s.experiment_id = a.experiment_id and s.user_id = a.user_id
    left join users as u on u.user_id = a.user_id
),
"""

ONE_TABLE_VALUES = """unit_values as (
    select
        st.experiment_id, st.variant, st.segment_0 as country, st.attribute_0 as predicted_ltv,
        st.metric_0_post + coalesce(o.revenue_post, 0) as revenue_post,
        st.metric_0_pre + coalesce(o.revenue_pre, 0) as revenue_pre,
        st.metric_3_post + coalesce(o.orders_post, 0) as orders_post,
        st.metric_3_pre + coalesce(o.orders_pre, 0) as orders_pre,
        greatest(st.source_0_had_pre_period, coalesce(o.had_pre, false)::int)::double
            as orders_had_pre,
        st.metric_4_post + coalesce(s.sessions_post, 0) as sessions_post,
        st.metric_4_pre + coalesce(s.sessions_pre, 0) as sessions_pre,
        greatest(st.source_1_had_pre_period, coalesce(s.had_pre, false)::int)::double
            as sessions_had_pre
    from cuped__unit_values as st
    left join order_units as o on o.experiment_id = st.experiment_id and o.user_id = st.unit_id
    left join session_units as s on s.experiment_id = st.experiment_id and s.user_id = st.unit_id
),
"""

STORED_VALUES = """unit_values as (
    select experiment_id, variant, segment_0 as country, attribute_0 as predicted_ltv,
        metric_0_post as revenue_post, metric_0_pre as revenue_pre,
        metric_3_post as orders_post, metric_3_pre as orders_pre,
        source_0_had_pre_period as orders_had_pre,
        metric_4_post as sessions_post, metric_4_pre as sessions_pre,
        source_1_had_pre_period as sessions_had_pre
    from cuped__unit_values
),
"""

STORED_UNITS = """with assigned as (
    select experiment_id, unit_id as user_id, variant, assigned_at
    from cuped__units
    where exclusion_reason is null
),
"""


def statements() -> dict[str, str]:
    """The statements A, B, C, D, G and the full floor, each creating a temporary table."""
    full = floor_sql()
    body = full.split(" as\n", 1)[1]
    derived_units = body[: body.index("order_units as (")]  # `with assigned as (...),`
    caps_and_moments = body[body.index("caps as (") :]
    # the floor's per-unit aggregates of each source, of the events from the boundary on
    recent = (
        "\nboundary as (select max(settled_until) as b from cuped__unit_settled),\n"
        + body[body.index("order_units as (") : body.index("unit_values as (")]
    )
    for column in ("o.ordered_at", "s.session_started_at"):
        window = f"where {column} >= a.assigned_at - interval 14 day"
        assert window in recent, window
        recent = recent.replace(window, f"{window} and {column} >= (select b from boundary)")

    def table(name: str, sql: str) -> str:
        return f"create or replace temp table {name} as\n{sql}"

    recent_only = STORED_UNITS + recent.rstrip().rstrip(",")
    return {
        "A": table("inc_a", derived_units + recent + SETTLED_VALUES + caps_and_moments),
        "B": table("inc_b", STORED_UNITS + recent + SETTLED_VALUES + caps_and_moments),
        "C": table("inc_c", "with " + STORED_VALUES + caps_and_moments),
        "D": table(
            "inc_d",
            recent_only
            + "\nselect * from order_units full join session_units using (experiment_id, user_id)",
        ),
        "G": table("inc_g", STORED_UNITS + recent + ONE_TABLE_VALUES + caps_and_moments),
        "full floor": table("inc_full", body),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", type=Path, help="the incremental benchmark's bench.duckdb")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    con = duckdb.connect(str(args.database), read_only=True)
    seconds = {}
    for name, sql in statements().items():
        runs = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            con.execute(sql)
            runs.append(time.perf_counter() - started)
        seconds[name] = min(runs)
        print(f"  {name}: best {seconds[name]:.2f} s ({', '.join(f'{r:.2f}' for r in runs)})")
    full = seconds["full floor"]
    print("\n| statement | best s | / full floor |\n|---|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.2f} | {value / full:.3f} |")
    worst = largest_moment_difference(con, "inc_a", "inc_full")
    print(f"A vs the full floor: largest relative difference of a moment {worst:.2e}")


if __name__ == "__main__":
    main()
