"""Each arm's moments (:class:`cuped_stats.moments.ArmMoments`) from the long moment rows of
``cuped__moments`` and ``cuped__daily_moments``.

The rows come as dicts (:func:`arms_from_moment_rows`, one group at a time) or as columns
(:func:`arms_by_group`, every group of a table at once). The columnar path is what the
statistics step uses: the daily series of 100 metrics is about 90,000 rows, and rebuilding
each arm from its rows one dict at a time cost more than analysing it. It checks every arm
with array operations; an arm that fails a check sends its group to
:func:`arms_from_moment_rows`, so that every error is raised by one function, with one message.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from cuped_stats.moments import ArmMoments

Row = Mapping[str, Any]

#: The columns a moment row has (``n_arm`` and ``as_of_date`` may be absent).
MOMENT_COLUMNS: tuple[str, ...] = (
    "experiment_id",
    "segment_name",
    "segment_value",
    "metric_name",
    "variant",
    "variable_1",
    "variable_2",
    "index_1",
    "index_2",
    "n",
    "mean_1",
    "mean_2",
    "covariance",
)
_OPTIONAL_COLUMNS = ("n_arm", "as_of_date")

#: A group: experiment, segment name, segment value, metric and the day (None but in the daily
#: series); its arms sorted by variant, and every analysed unit of each arm (``n_arm``, or ``n``).
GroupKey = tuple[Any, ...]
GroupArms = tuple[list[ArmMoments], dict[str, int]]
#: Moment rows (dicts) or their columns (column name → values).
Moments = Mapping[str, Sequence[Any]] | Iterable[Row]


def arms_from_moment_rows(rows: Iterable[Row], *, context: str = "") -> list[ArmMoments]:
    """Rebuild each arm's mean vector and covariance matrix from long moment rows.

    ``rows`` are the ``cuped__moments`` rows of one experiment x segment x metric: per variant one
    row per unordered pair ``index_1 ≤ index_2`` of variables, diagonal included. Arms come back
    sorted by variant name.

    Raises:
        ValueError: naming ``context`` and what is missing or inconsistent.
    """
    by_variant: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_variant[str(row["variant"])].append(row)
    arms = []
    for variant in sorted(by_variant):
        where = f"{context}, variant {variant!r}"
        arm_rows = by_variant[variant]
        ns = {int(row["n"]) for row in arm_rows}
        if len(ns) != 1:
            raise ValueError(f"{where}: inconsistent n across moment rows: {sorted(ns)}")
        n = ns.pop()
        p = 1 + max(max(int(row["index_1"]), int(row["index_2"])) for row in arm_rows)
        names: list[str | None] = [None] * p
        # filled as Python lists (setting numpy elements one by one costs more)
        mean = [math.nan] * p
        cov = [[math.nan] * p for _ in range(p)]
        seen: set[tuple[int, int]] = set()
        for row in arm_rows:
            i, j = int(row["index_1"]), int(row["index_2"])
            if not 0 <= i <= j:
                raise ValueError(f"{where}: index_1={i} must satisfy 0 <= index_1 <= index_2={j}")
            if (i, j) in seen:
                raise ValueError(f"{where}: duplicate moment row for indices ({i}, {j})")
            seen.add((i, j))
            for idx, key_name, key_mean in (
                (i, "variable_1", "mean_1"),
                (j, "variable_2", "mean_2"),
            ):
                name = str(row[key_name])
                if names[idx] is not None and names[idx] != name:
                    raise ValueError(
                        f"{where}: variable index {idx} is named both {names[idx]!r} and {name!r}"
                    )
                names[idx] = name
                if row[key_mean] is not None:
                    mean[idx] = float(row[key_mean])
            covariance = row["covariance"]
            if covariance is None:
                if n >= 2:
                    raise ValueError(
                        f"{where}: covariance of ({names[i]!r}, {names[j]!r}) is missing with n={n}"
                    )
            else:
                cov[i][j] = cov[j][i] = float(covariance)
        if len(seen) < p * (p + 1) // 2:  # seen holds pairs 0 <= i <= j < p only
            missing = [
                f"({names[i] or i}, {names[j] or j})"
                for i in range(p)
                for j in range(i, p)
                if (i, j) not in seen
            ]
            raise ValueError(f"{where}: missing covariance pair(s) {', '.join(missing)}")
        mean_vector = np.array(mean)
        if n >= 1 and np.isnan(mean_vector).any():
            raise ValueError(f"{where}: missing mean of a variable with n={n}")
        if not np.isfinite(mean_vector).all():  # nan_to_num is slow; most arms need none
            mean_vector = np.nan_to_num(mean_vector)
        arms.append(
            ArmMoments(
                variant=variant,
                n=n,
                names=tuple(str(name) for name in names),
                mean=mean_vector,
                cov=np.array(cov) if n >= 2 else np.zeros((p, p)),
            )
        )
    return arms


def moment_columns(moments: Moments) -> dict[str, Sequence[Any]]:
    """Moment rows as columns: ``moments`` as columns already (a mapping of column name to
    values, as :func:`cuped_stats.io.read_columns` returns), or rows (dicts).

    Raises:
        ValueError: naming a column the moments lack, or columns of different lengths.
    """
    if isinstance(moments, Mapping):
        columns = {
            str(name).lower(): values if isinstance(values, (list, tuple)) else list(values)
            for name, values in moments.items()
        }
    else:
        rows = moments if isinstance(moments, list) else list(moments)
        names = [*MOMENT_COLUMNS, *(c for c in _OPTIONAL_COLUMNS if any(c in r for r in rows))]
        for name in MOMENT_COLUMNS:
            lacking = next((row for row in rows if name not in row), None)
            if lacking is not None:
                raise ValueError(f"a moment row has no {name!r}: {dict(lacking)}")
        columns = {name: [row.get(name) for row in rows] for name in names}
    missing = [name for name in MOMENT_COLUMNS if name not in columns]
    if missing and any(columns.values()):
        raise ValueError(f"the moments have no column {', '.join(map(repr, missing))}")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"the moments' columns have different lengths: {sorted(lengths)}")
    return columns


def rows_of_columns(columns: Mapping[str, Sequence[Any]]) -> Iterator[dict[str, Any]]:
    """The rows (dicts) of moment columns."""
    names = list(columns)
    for values in zip(*(columns[name] for name in names), strict=True):
        yield dict(zip(names, values, strict=True))


def _row_count(columns: Mapping[str, Sequence[Any]]) -> int:
    return len(next(iter(columns.values()), ()))


def group_keys(columns: Mapping[str, Sequence[Any]], *, daily: bool) -> list[GroupKey]:
    """Each row's group: experiment, segment name, segment value, metric, and ``as_of_date``
    when ``daily`` (None otherwise)."""
    n_rows = _row_count(columns)
    if not n_rows:
        return []
    days = columns.get("as_of_date") if daily else None
    return list(
        zip(
            columns["experiment_id"],
            columns["segment_name"],
            columns["segment_value"],
            columns["metric_name"],
            days if days is not None else [None] * n_rows,
            strict=True,
        )
    )


def arms_by_group(
    columns: Mapping[str, Sequence[Any]],
    *,
    daily: bool,
    context: Any,
) -> dict[GroupKey, GroupArms]:
    """Every group's arms (sorted by variant) and analysed units per arm, from moment columns
    (:func:`moment_columns`): the same arms as :func:`arms_from_moment_rows` of each group's rows,
    which is called for any group whose rows fail a check (so it raises its error).

    ``context(key)`` names a group in messages.
    """
    n_rows = _row_count(columns)
    if not n_rows:
        return {}
    days = columns.get("as_of_date") if daily else None
    arm_ids: dict[tuple[Any, ...], int] = {}
    arm_of_row = [
        arm_ids.setdefault(arm_key, len(arm_ids))
        for arm_key in zip(
            columns["experiment_id"],
            columns["segment_name"],
            columns["segment_value"],
            columns["metric_name"],
            days if days is not None else [None] * n_rows,
            _texts(columns["variant"]),
            strict=True,
        )
    ]
    arm_keys = list(arm_ids)  # experiment, segment name and value, metric, day, variant
    arm = np.array(arm_of_row)
    order = np.argsort(arm, kind="stable")  # each arm's rows together, in row order
    sorted_arm = arm[order]
    starts = np.flatnonzero(np.r_[True, sorted_arm[1:] != sorted_arm[:-1]])
    last_row = order[np.r_[starts[1:], n_rows] - 1].tolist()  # each arm's last row
    n_arm = columns.get("n_arm")
    # unit counts that are not all whole numbers: every group row by row (their conversion, and
    # its error, are the row-by-row reading's)
    plain_counts = set(map(type, columns["n"])) <= {int} and (
        n_arm is None or set(map(type, n_arm)) <= {int, type(None)}
    )
    try:
        if not plain_counts:
            raise TypeError("unit counts that are not whole numbers")
        built = _build_arms(columns, arm, order, starts, [k[5] for k in arm_keys])
    except (TypeError, ValueError, OverflowError):  # a value that is no number: row by row
        built = [None] * len(arm_keys)
    arms_of: dict[GroupKey, list[tuple[str, int]]] = defaultdict(list)
    for arm_id, arm_key in enumerate(arm_keys):
        arms_of[arm_key[:5]].append((arm_key[5], arm_id))

    unbuilt = {k[:5] for k, arm_moments in zip(arm_keys, built, strict=True) if arm_moments is None}
    group_rows: dict[GroupKey, list[dict[str, Any]]] = defaultdict(list)
    if unbuilt:  # one pass over the rows for every group read row by row
        names = list(columns)
        for row, arm_id in enumerate(arm_of_row):
            key = arm_keys[arm_id][:5]
            if key in unbuilt:
                group_rows[key].append({name: columns[name][row] for name in names})
    # the groups read row by row first, in sorted order: which error is raised does not
    # depend on the order of the rows
    first_seen = {key: index for index, key in enumerate(arms_of)}
    read_by_rows = {
        key: arms_from_moment_rows(group_rows[key], context=context(key))
        for key in sorted(unbuilt, key=lambda k: (_sort_key(k), first_seen[k]))
    }
    out: dict[GroupKey, GroupArms] = {}
    for key, members in arms_of.items():
        members.sort()
        if key in unbuilt:
            rows = group_rows[key]
            arms = read_by_rows[key]
            arm_units = {
                str(r["variant"]): int(r["n_arm"] if r.get("n_arm") is not None else r["n"])
                for r in rows
            }
        else:
            arms = [built[arm_id] for _, arm_id in members]  # type: ignore[misc]
            units_source = n_arm if n_arm is not None else columns["n"]
            arm_units = {}
            for variant, arm_id in members:
                row = last_row[arm_id]
                value = units_source[row]
                arm_units[variant] = value if value is not None else columns["n"][row]
        out[key] = (arms, arm_units)
    return out


def _sort_key(key: GroupKey) -> tuple[tuple[bool, str], ...]:
    """Groups in the order the result tables sort them (None last, values as text)."""
    return tuple((value is None, "" if value is None else str(value)) for value in key)


#: Arms with more variables than this are read row by row (no group has so many; the arrays
#: below are as wide as the widest arm).
_MAX_VARIABLES = 1024


#: The types of the values a numeric moment column may hold for the arrays below; anything
#: else (numpy dates, bytes) is read row by row, which converts with float() and int().
_NUMBER_TYPES = frozenset({int, float, bool, str, type(None)})


def _numbers(values: Sequence[Any], dtype: type) -> np.ndarray:
    """A numeric moment column as an array (None as NaN for floats).

    Raises:
        TypeError: for a value of a type not in _NUMBER_TYPES.
    """
    if not set(map(type, values)) <= _NUMBER_TYPES:
        raise TypeError("a moment value of another type than a number or text")
    return np.asarray(values, dtype=dtype)


def _count_none(values: Sequence[Any]) -> int:
    return values.count(None) if isinstance(values, (list, tuple)) else list(values).count(None)


def _texts(values: Sequence[Any]) -> Sequence[str]:
    """``str`` of every value (the values themselves when they are all text already)."""
    return values if set(map(type, values)) <= {str} else [str(v) for v in values]


def _build_arms(
    columns: Mapping[str, Sequence[Any]],
    arm: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    variants: Sequence[str],
) -> list[ArmMoments | None]:
    """Each arm's moments, or None for an arm whose rows fail a check of
    :func:`arms_from_moment_rows` or of :class:`ArmMoments`. Arm ``k`` is variant
    ``variants[k]``; ``arm`` gives each row's arm, ``order`` sorts the rows by arm (stably) and
    ``starts`` is where each arm's rows start in that order."""
    n_arms = len(variants)
    first = _numbers(columns["index_1"], np.int64)
    second = _numbers(columns["index_2"], np.int64)
    n = _numbers(columns["n"], np.int64)
    # None becomes NaN: a missing mean or covariance is NaN from here on
    mean_1 = _numbers(columns["mean_1"], np.float64)
    mean_2 = _numbers(columns["mean_2"], np.float64)
    covariance = _numbers(columns["covariance"], np.float64)
    variables_1, variables_2 = _texts(columns["variable_1"]), _texts(columns["variable_2"])
    name_codes = {
        name: code for code, name in enumerate(dict.fromkeys([*variables_1, *variables_2]))
    }
    names_1 = np.array(list(map(name_codes.__getitem__, variables_1)))
    names_2 = np.array(list(map(name_codes.__getitem__, variables_2)))
    code_names = list(name_codes)

    bad = np.zeros(n_arms, dtype=bool)
    np.logical_or.at(bad, arm, (first < 0) | (first > second) | (n < 0))
    for name, means in (("mean_1", mean_1), ("mean_2", mean_2)):
        missing = np.isnan(means)
        if np.count_nonzero(missing) != _count_none(columns[name]):
            # a NaN that is not None: row by row it replaces a mean (a None does not)
            np.logical_or.at(bad, arm, missing)
    ids = arm[order][starts]  # every arm has a row: ids == arange(n_arms)
    n_sorted = n[order]
    bad[ids] |= np.minimum.reduceat(n_sorted, starts) != np.maximum.reduceat(n_sorted, starts)
    p = np.maximum.reduceat(np.maximum(first, second)[order], starts) + 1
    counts = np.diff(np.r_[starts, len(arm)])
    width = int(p.max())
    if not 1 <= width <= _MAX_VARIABLES:  # (below 1: every index negative)
        return [None] * n_arms
    first_slot, second_slot = np.clip(first, 0, width - 1), np.clip(second, 0, width - 1)
    # duplicate pairs: equal codes of (arm, index_1, index_2)
    pair_code = (arm * width + first_slot) * width + second_slot
    pair_sorted = np.sort(pair_code)
    duplicate = pair_sorted[1:] == pair_sorted[:-1]
    bad[pair_sorted[1:][duplicate] // (width * width)] = True
    # with no duplicate and 0 <= i <= j < p, p(p+1)/2 rows are every pair
    bad[ids] |= counts != p[ids] * (p[ids] + 1) // 2
    # every (arm, index) named once; the last mean given wins (as row by row)
    slot = np.concatenate([arm * width + first_slot, arm * width + second_slot])
    interleaved = np.empty(2 * len(arm), dtype=np.int64)
    interleaved[0::2], interleaved[1::2] = np.arange(len(arm)), np.arange(len(arm)) + len(arm)
    slot = slot[interleaved]
    codes = np.concatenate([names_1, names_2])[interleaved]
    means = np.concatenate([mean_1, mean_2])[interleaved]
    by_slot = np.lexsort((codes, slot))
    slot_sorted, codes_sorted = slot[by_slot], codes[by_slot]
    clash = (slot_sorted[1:] == slot_sorted[:-1]) & (codes_sorted[1:] != codes_sorted[:-1])
    bad[slot_sorted[1:][clash] // width] = True
    slot_names = np.full(n_arms * width, -1, dtype=np.int64)
    slot_names[slot] = codes
    given = ~np.isnan(means)
    slot_means = np.full(n_arms * width, np.nan)
    last = np.unique(slot[given][::-1], return_index=True)[1]  # first of the reversed: last
    slot_means[slot[given][::-1][last]] = means[given][::-1][last]
    slot_means = slot_means.reshape(n_arms, width)
    n_of = n_sorted[starts]  # one n per arm (where it differs the arm is bad)
    within = np.arange(width)[None, :] < p[:, None]
    # a covariance missing or not finite with n >= 2: row by row says which (or ArmMoments)
    np.logical_or.at(bad, arm, (n >= 2) & ~np.isfinite(covariance))
    # a mean missing (NaN here) or not finite with n >= 1: row by row says which (or
    # makes it finite, as it does with an infinite one)
    bad |= (n_of >= 1) & (~np.isfinite(slot_means) & within).any(axis=1)

    out: list[ArmMoments | None] = [None] * n_arms
    slot_names = slot_names.reshape(n_arms, width).tolist()
    n_list = n_of.tolist()
    name_tuples: dict[tuple[int, ...], tuple[str, ...] | None] = {}
    for size in np.unique(p).tolist():
        members = np.flatnonzero((p == size) & ~bad)
        if not len(members):
            continue
        local = np.full(n_arms, -1)
        local[members] = np.arange(len(members))
        rows = np.flatnonzero(local[arm] >= 0)
        cov = np.full((len(members), size, size), np.nan)
        cov[local[arm[rows]], first[rows], second[rows]] = covariance[rows]
        cov[local[arm[rows]], second[rows], first[rows]] = covariance[rows]
        cov[n_of[members] < 2] = 0.0  # an arm of fewer than 2 units has no sample covariance
        # as ArmMoments symmetrizes (the same matrix, but beyond half the largest float)
        with np.errstate(over="ignore"):
            cov = (cov + cov.swapaxes(1, 2)) / 2.0
        mean = np.nan_to_num(slot_means[members, :size])
        mean.setflags(write=False)  # the arms hold views of these arrays
        cov.setflags(write=False)
        for k, arm_id in enumerate(members.tolist()):
            codes = tuple(slot_names[arm_id][:size])
            names = name_tuples.get(codes, ())
            if names == ():
                names = tuple(code_names[code] for code in codes)
                # distinct names, as ArmMoments requires (else row by row raises)
                names = name_tuples[codes] = names if len(set(names)) == size else None
            if names is None:
                continue
            out[arm_id] = ArmMoments._checked(
                variants[arm_id], n_list[arm_id], names, mean[k], cov[k]
            )
    return out
