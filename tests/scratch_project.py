"""A scratch dbt project that installs this package the way a user does, with seeds holding many
small experiments, each planting one bad input (tests/test_bad_inputs.py builds it once).

Every experiment has its own unit ids, so no experiment's events leak into another's. All units
are exposed at ``ASSIGNED_AT`` (except the planted later duplicate rows); pre-period events fall
in the 14 days before it, post-period events after it, and no experiment has an analysis end.
"""

from __future__ import annotations

import copy
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import yaml

from tests.dbt_runner import REPO

ASSIGNED_AT = datetime(2026, 3, 15, 12, 0, 0)
CONTROL, TREATMENT = "control", "treatment"

#: Metric names; the last three need quoting or try to break out of a SQL string.
REVENUE = "revenue"
REVENUE_ATTR = "revenue_attr"
EVENT_COUNT = "event_count"
RATIO = "revenue_per_event"
ODD = "Order Value (€)"
KEYWORD = "select"
INJECTED = "x'); drop table exposures; --"
INJECTED_LABEL = "it's \"quoted\"'); drop table events; --"
#: The unit-attribute column exactly twice `ltv` (a name with a space and capitals).
LTV, LTV_DOUBLE = "ltv", "LTV x2"

METRICS: list[dict] = [
    {
        "name": REVENUE,
        "source": "events",
        "unit_column": "unit_id",
        "timestamp_column": "event_at",
        "agg": "sum",
        "value": "amount",
    },
    {
        "name": REVENUE_ATTR,
        "source": "events",
        "unit_column": "unit_id",
        "timestamp_column": "event_at",
        "value": "amount",
        "covariates": [LTV, LTV_DOUBLE],
    },
    {
        "name": EVENT_COUNT,
        "source": "events",
        "unit_column": "unit_id",
        "timestamp_column": "event_at",
        "agg": "count",
        "covariates": [],
    },
    {"name": RATIO, "type": "ratio", "numerator": REVENUE, "denominator": EVENT_COUNT},
    {
        # source columns "UserID" (mixed case), "Event Time" (space) and "order" (keyword)
        "name": ODD,
        "source": "odd_events",
        "unit_column": "UserID",
        "timestamp_column": "Event Time",
        "value": '"order"',
        "filter": '"order" > 0',
    },
    {
        "name": KEYWORD,
        "type": "proportion",
        "source": "events",
        "unit_column": "unit_id",
        "timestamp_column": "event_at",
    },
    {
        "name": INJECTED,
        "label": INJECTED_LABEL,
        "source": "events",
        "unit_column": "unit_id",
        "timestamp_column": "event_at",
        "agg": "count",
    },
]

CONFIG: dict = {
    "assignments": "exposures",
    "experiments": "experiment_settings",
    "pre_period_days": 14,
    "unit_attributes": {
        "relation": "unit_attrs",
        "unit_column": "unit_id",
        "columns": [LTV, LTV_DOUBLE],
    },
    "metrics": METRICS,
}

SEEDS_YML = """
version: 2
seeds:
  - name: exposures
    config:
      column_types:
        {experiment_id: varchar, unit_id: bigint, variant: varchar, assigned_at: timestamp}
  - name: events
    config:
      column_types: {unit_id: bigint, event_at: timestamp, amount: double}
  - name: odd_events
    config:
      quote_columns: true
      column_types: {"UserID": bigint, "Event Time": timestamp, "order": double}
  - name: unit_attrs
    config:
      quote_columns: true
      column_types: {unit_id: bigint, ltv: double, "LTV x2": double}
  - name: experiment_settings
    config:
      column_types: {experiment_id: varchar, control_variant: varchar}
  - name: bad_times
    config:
      column_types:
        experiment_id: varchar
        unit_id: bigint
        variant: varchar
        control_variant: varchar
        text_at: varchar
        said_at: varchar
        epoch_at: bigint
        analysis_end_at: bigint
        amount: double
"""

#: Times the package cannot read (tests/test_bad_inputs.py points a variant's time column at one
#: of its columns): text that is no time, and epoch seconds; the main build does not read it.
BAD_TIMES = (
    "experiment_id,unit_id,variant,control_variant,text_at,said_at,epoch_at,analysis_end_at,amount\n"
    "main,1000,control,control,2026-03-16 09:00:00,2026-03-15 12:00:00,1773576000,1774872000,1.5\n"
    "dirty,2000,control,control,12/03/2026 10:00,last tuesday,1773576000,1774872000,2.5\n"
)

#: An ephemeral model over the events: a metric's `source` cannot be one (the main build does
#: not read it).
EPHEMERAL_EVENTS = "{{ config(materialized='ephemeral') }}\nselect * from {{ ref('events') }}\n"


def config_with(change) -> dict:
    """The `--vars` of a variant of the scratch configuration: ``change`` edits a deep copy."""
    config = copy.deepcopy(CONFIG)
    change(config)
    return {"cuped": config}


def metric(config: dict, name: str) -> dict:
    return next(m for m in config["metrics"] if m["name"] == name)


@dataclass
class Unit:
    """What was written for one unit, for recomputing expected per-unit values."""

    post_amounts: list[float] = field(default_factory=list)
    post_orders: list[float] = field(default_factory=list)


@dataclass
class ScratchData:
    exposures: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    odd_events: list[tuple] = field(default_factory=list)
    attributes: list[tuple] = field(default_factory=list)
    settings: list[tuple] = field(default_factory=list)
    units: dict[int, Unit] = field(default_factory=dict)
    arms: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def expected_means(self, experiment: str, variant: str) -> dict[str, float]:
        """Unadjusted arm means of the plain metrics, recomputed from the written rows."""
        units = [self.units[u] for u in self.arms[(experiment, variant)]]
        return {
            REVENUE: float(np.mean([sum(u.post_amounts) for u in units])),
            EVENT_COUNT: float(np.mean([len(u.post_amounts) for u in units])),
            INJECTED: float(np.mean([len(u.post_amounts) for u in units])),
            KEYWORD: float(np.mean([1.0 if u.post_amounts else 0.0 for u in units])),
            ODD: float(np.mean([sum(o for o in u.post_orders if o > 0) for u in units])),
        }


def _ts(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def generate(seed: int = 20260315) -> ScratchData:
    rng = np.random.default_rng(seed)
    data = ScratchData()

    def unit(experiment: str, variant: str, unit_id: int, *, pre: bool, post: bool, lift=0.0):
        """One analysed unit: its assignment row, events and attributes."""
        data.exposures.append((experiment, unit_id, variant, _ts(ASSIGNED_AT)))
        data.arms.setdefault((experiment, variant), []).append(unit_id)
        record = data.units.setdefault(unit_id, Unit())
        ltv = float(f"{rng.gamma(2.0, 20.0):.2f}")
        data.attributes.append((unit_id, ltv, 2 * ltv))
        level = ltv / 10
        if pre:
            for day in rng.choice(np.arange(2, 15), size=rng.integers(0, 4), replace=False):
                at = datetime(2026, 3, int(day), 9)
                data.events.append((unit_id, _ts(at), float(f"{level * rng.lognormal():.2f}")))
                data.odd_events.append((unit_id, _ts(at), float(rng.integers(0, 40))))
        if post:
            for day in rng.choice(np.arange(16, 29), size=rng.integers(0, 5), replace=False):
                at = datetime(2026, 3, int(day), 9)
                amount = float(f"{(level + lift) * rng.lognormal():.2f}")
                order = float(rng.integers(0, 40))
                data.events.append((unit_id, _ts(at), amount))
                data.odd_events.append((unit_id, _ts(at), order))
                record.post_amounts.append(amount)
                record.post_orders.append(order)

    def two_arms(experiment: str, first: int, per_arm: int, *, pre=True, post=True, arms=None):
        control, treatment = arms or (CONTROL, TREATMENT)
        for k in range(2 * per_arm):
            variant = control if k % 2 == 0 else treatment
            lift = 1.0 if variant == treatment else 0.0
            unit(experiment, variant, first + k, pre=pre, post=post, lift=lift)

    # A healthy experiment: quoting (15), collinear covariates (12), injection carried as text (16).
    two_arms("main", 1000, 30)

    # (1)-(3) a unit in two variants, duplicate rows, rows with a null key.
    two_arms("dirty", 2000, 20)
    later = _ts(ASSIGNED_AT + timedelta(days=1))
    data.exposures += [
        ("dirty", 2000, CONTROL, later),  # 1 extra control row
        ("dirty", 2001, TREATMENT, later),  # 2 extra treatment rows
        ("dirty", 2001, TREATMENT, _ts(ASSIGNED_AT + timedelta(days=2))),
        ("dirty", 2099, CONTROL, _ts(ASSIGNED_AT)),  # in both arms
        ("dirty", 2099, TREATMENT, later),
        ("dirty", None, CONTROL, _ts(ASSIGNED_AT)),  # 1 null unit id
        ("dirty", 2090, None, _ts(ASSIGNED_AT)),  # 2 null variants
        ("dirty", 2091, None, _ts(ASSIGNED_AT)),
        ("dirty", 2092, TREATMENT, None),  # 3 null assignment times
        ("dirty", 2093, TREATMENT, None),
        ("dirty", 2094, CONTROL, None),
    ]
    data.attributes.append((2099, 10.0, 20.0))
    data.events += [(2099, _ts(datetime(2026, 3, 20, 9)), 5000.0)]

    # (4) the configured control 'ctrl' has no units: the arms are 'a' and 'b'.
    two_arms("no_control", 3000, 10, arms=("a", "b"))
    data.settings += [("no_control", "ctrl"), ("main", CONTROL)]

    # (5) only the control arm.
    for k in range(10):
        unit("one_arm", CONTROL, 4000 + k, pre=True, post=True)

    # (10) every unit has value 0 in every period: no events at all.
    two_arms("zero_variance", 5000, 10, pre=False, post=False)

    # (11) no unit has pre-period data.
    two_arms("no_pre_period", 6000, 20, pre=False, post=True)

    # (13) one unit per arm; two units per arm.
    two_arms("one_unit_arms", 7000, 1)
    two_arms("two_unit_arms", 7100, 2)
    for unit_id in (7000, 7001, 7100, 7101, 7102, 7103):  # make sure each has a post event
        at = datetime(2026, 3, 17 + unit_id % 3, 10)
        amount = float(unit_id % 7 + 1)
        data.events.append((unit_id, _ts(at), amount))
        data.odd_events.append((unit_id, _ts(at), amount))
        data.units[unit_id].post_amounts.append(amount)
        data.units[unit_id].post_orders.append(amount)

    # (14) events only before the assignment.
    two_arms("pre_period_only", 8000, 15, pre=True, post=False)
    for k in range(30):  # at least one pre-period event per unit
        data.events.append((8000 + k, _ts(datetime(2026, 3, 10, 8)), float(k + 1)))
    return data


def _csv(header: str, rows: list[tuple]) -> str:
    lines = [header]
    for row in rows:
        lines.append(",".join("" if v is None else str(v) for v in row))
    return "\n".join(lines) + "\n"


def write_project(root: Path, data: ScratchData) -> None:
    """A dbt project in ``root`` that installs this repository with `packages.yml` (local)."""
    (root / "seeds").mkdir(parents=True)
    project = {
        "name": "bad_inputs",
        "version": "1.0.0",
        "config-version": 2,
        "profile": "bad_inputs",
        "flags": {"send_anonymous_usage_stats": False},
        "vars": {"cuped": CONFIG},
    }
    (root / "dbt_project.yml").write_text(
        yaml.safe_dump(project, allow_unicode=True, sort_keys=False)
    )
    (root / "profiles.yml").write_text(
        "bad_inputs:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('CUPED_DUCKDB_PATH') }}\"\n"
    )
    (root / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n")
    seeds = root / "seeds"
    (seeds / "_seeds.yml").write_text(textwrap.dedent(SEEDS_YML))
    (seeds / "exposures.csv").write_text(
        _csv("experiment_id,unit_id,variant,assigned_at", data.exposures)
    )
    (seeds / "events.csv").write_text(_csv("unit_id,event_at,amount", data.events))
    (seeds / "odd_events.csv").write_text(_csv("UserID,Event Time,order", data.odd_events))
    (seeds / "unit_attrs.csv").write_text(_csv(f"unit_id,{LTV},{LTV_DOUBLE}", data.attributes))
    (seeds / "experiment_settings.csv").write_text(
        _csv("experiment_id,control_variant", data.settings)
    )
    (seeds / "bad_times.csv").write_text(BAD_TIMES)
    (root / "models").mkdir()
    (root / "models" / "ephemeral_events.sql").write_text(EPHEMERAL_EVENTS)
