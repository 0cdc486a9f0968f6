"""Shared test helpers: the public tables and their keys, and a comparison of two builds of them;
per-arm moment rows from plain numpy, as cuped__moments has them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

#: the repository (the demo project)
REPO = Path(__file__).resolve().parents[1]

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
    "cuped_caps": ["experiment_id", "metric_name", "period"],
    "cuped_power": ["experiment_id", "metric_name", "variant"],
    "cuped_results_daily": ["experiment_id", "metric_name", "variant", "as_of_date"],
}


def moment_rows(
    experiment: str,
    metric: str,
    variant: str,
    columns: dict[str, np.ndarray],
    segment: tuple[str, str] = ("all", "all"),
) -> list[dict]:
    """cuped__moments rows of one arm, computed with plain numpy (ddof=1)."""
    names = list(columns)
    data = np.column_stack([columns[name] for name in names])
    n = len(data)
    mean = data.mean(axis=0)
    cov = np.cov(data, rowvar=False, ddof=1).reshape(len(names), len(names)) if n > 1 else None
    return [
        {
            "experiment_id": experiment,
            "segment_name": segment[0],
            "segment_value": segment[1],
            "metric_name": metric,
            "variant": variant,
            "variable_1": names[i],
            "variable_2": names[j],
            "index_1": i,
            "index_2": j,
            "n": n,
            "mean_1": float(mean[i]),
            "mean_2": float(mean[j]),
            "covariance": None if cov is None else float(cov[i, j]),
        }
        for i in range(len(names))
        for j in range(i, len(names))
    ]


def assert_matches_tea_tasting(estimate, expected, rtol: float) -> None:
    """A cuped_stats Estimate equals tea-tasting's result for the same comparison: adjusted means,
    effect, SE (effect / statistic), CI, p-value and relative effect."""
    np.testing.assert_allclose(estimate.control_mean, expected.control, rtol=rtol)
    np.testing.assert_allclose(estimate.variant_mean, expected.treatment, rtol=rtol)
    np.testing.assert_allclose(estimate.effect, expected.effect_size, rtol=rtol)
    np.testing.assert_allclose(estimate.se, expected.effect_size / expected.statistic, rtol=rtol)
    np.testing.assert_allclose(
        [estimate.ci_lower, estimate.ci_upper],
        [expected.effect_size_ci_lower, expected.effect_size_ci_upper],
        rtol=rtol,
    )
    np.testing.assert_allclose(estimate.p_value, expected.pvalue, rtol=rtol)
    np.testing.assert_allclose(estimate.relative_effect, expected.rel_effect_size, rtol=rtol)


class EstimatedThetaReference(NamedTuple):
    """Unit-level figures of the CUPED comparison with θ estimated (estimated_theta_reference)."""

    effect: float
    se: float
    df: float
    #: Cov((m_t, m_c) | X) under the by-arm heteroskedastic linear model, t first.
    conditional_covariance: np.ndarray
    theta: np.ndarray


def estimated_theta_reference(
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    control: str,
    treatment: str,
    theta_method: str = "within",
) -> EstimatedThetaReference:
    """The CUPED effect, SE and df with θ estimated, from unit-level matrices.

    ``data`` maps each arm to ``(y, X)``. Every estimate here is linear in y given X: the adjusted
    mean ``m_g = ȳ_g - θ̂ᵀ(x̄_g - x̄)`` has unit weights ``c^g = e_g/n_g - Θᵀ(x̄_g - x̄)`` with
    ``θ̂ = Θ y``, and the residuals are ``R y``. Within θ is the statsmodels OLS of
    ``y ~ 0 + C(arm) + X`` over all arms (residuals and leverages from statsmodels, contrast
    weights from the pseudo-inverse of its design); total θ is ``T⁻¹ Σ (x_j - x̄)(y_j - ȳ)`` over
    control + treatment, with ``R = I - P_arm - U T⁻¹ Vᵀ`` built as an N x N matrix. Then per arm
    ``ν_h = Σ_{j∈h} (R Rᵀ)_jj`` (OLS: ``Σ (1 - h_jj)``), ``σ̂²_h = Σ_{j∈h} e_j² / ν_h``,
    ``Var(Δ) = Σ_h σ̂²_h Σ_{j∈h} (c^t_j - c^c_j)²`` and Satterthwaite
    ``df = Var² / Σ_h (σ̂²_h Σ_{j∈h}(c^t_j - c^c_j)²)² / ν_h``.
    """
    import statsmodels.api as sm

    pool = list(data) if theta_method == "within" else [control, treatment]
    y = np.concatenate([data[v][0] for v in pool])
    x = np.vstack([data[v][1] for v in pool])
    arm = np.concatenate([np.full(len(data[v][0]), i) for i, v in enumerate(pool)])
    dummies = (arm[:, None] == np.arange(len(pool))[None, :]).astype(float)
    n = dummies.sum(axis=0)
    x_bar = x.mean(axis=0)
    if theta_method == "within":
        design = np.column_stack([dummies, x])
        fit = sm.OLS(y, design).fit()
        residual, leverage = fit.resid, fit.get_influence().hat_matrix_diag
        theta_op = np.linalg.pinv(design)[len(pool) :]
        nu = np.array([(1 - leverage[arm == h]).sum() for h in range(len(pool))])
    else:
        centred_within = x - (dummies / n) @ (dummies.T @ x)
        centred_total = x - x_bar
        theta_op = np.linalg.solve(centred_total.T @ centred_total, centred_total.T)
        r_op = np.eye(len(y)) - (dummies / n) @ dummies.T - centred_within @ theta_op
        residual = r_op @ y
        diag = np.einsum("ij,ij->i", r_op, r_op)
        nu = np.array([diag[arm == h].sum() for h in range(len(pool))])
    theta = theta_op @ y
    weights = {}
    for v in (treatment, control):
        g = pool.index(v)
        weights[v] = dummies[:, g] / n[g] - theta_op.T @ (x[arm == g].mean(axis=0) - x_bar)
    sigma2 = np.array([(residual[arm == h] ** 2).sum() / nu[h] for h in range(len(pool))])
    contrast = weights[treatment] - weights[control]
    terms = np.array([sigma2[h] * (contrast[arm == h] ** 2).sum() for h in range(len(pool))])
    pair = (weights[treatment], weights[control])
    cov = np.array(
        [
            [sum(sigma2[h] * (wa * wb)[arm == h].sum() for h in range(len(pool))) for wb in pair]
            for wa in pair
        ]
    )
    return EstimatedThetaReference(
        effect=float(contrast @ y),
        se=float(np.sqrt(terms.sum())),
        df=float(terms.sum() ** 2 / (terms**2 / nu).sum()),
        conditional_covariance=cov,
        theta=theta,
    )


def _json_close(left, right, rtol: float) -> bool:
    """Two JSON texts (e.g. `theta`) with the same keys and numbers equal to ``rtol``."""
    if pd.isna(left) or pd.isna(right):
        return pd.isna(left) and pd.isna(right)
    a, b = json.loads(left), json.loads(right)
    return a.keys() == b.keys() and all(
        np.isclose(a[key], b[key], rtol=rtol, atol=1e-15)
        if isinstance(a[key], float) and isinstance(b[key], float)
        else a[key] == b[key]
        for key in a
    )


def assert_same_tables(
    got: dict[str, pd.DataFrame],
    want: dict[str, pd.DataFrame],
    label: str,
    tables: dict[str, list[str]],
    rtol: float = 1e-12,
) -> None:
    """Each of ``tables`` (name → key columns) the same in ``got`` and ``want``, rows matched by
    key: the same columns and rows, numbers equal to ``rtol`` relative (or of the column's scale
    for values near 0), JSON texts by their numbers, everything else exactly (dates and
    timestamps as instants, whatever type the engine returned them in). `computed_at` columns
    are left out."""
    for name, keys in tables.items():
        a = got[name].sort_values(keys).reset_index(drop=True)
        b = want[name].sort_values(keys).reset_index(drop=True)
        a = a.drop(columns=[c for c in a.columns if c.endswith("computed_at")])
        b = b.drop(columns=[c for c in b.columns if c.endswith("computed_at")])
        assert list(a.columns) == list(b.columns), (label, name)
        assert len(a) == len(b), (label, name, len(a), len(b))
        for column in a.columns:
            x, y = a[column], b[column]
            if pd.api.types.is_datetime64_any_dtype(x) or pd.api.types.is_datetime64_any_dtype(y):
                x, y = pd.to_datetime(x), pd.to_datetime(y)
            if pd.api.types.is_float_dtype(x) or pd.api.types.is_float_dtype(y):
                # rtol relative, or of the column's scale for values near 0 (the difference of
                # two means carries the rounding of the means: 2e-12 of 0.016 for the demo's)
                scale = np.nanmax(np.abs(y.astype(float).to_numpy()), initial=0.0)
                ok = np.isclose(
                    x.astype(float),
                    y.astype(float),
                    rtol=rtol,
                    atol=max(1e-15, rtol * scale),
                    equal_nan=True,
                )
                assert ok.all(), (
                    label,
                    name,
                    column,
                    a.loc[~ok, [*keys, column]].to_string(),
                    y[~ok].to_list(),
                    (x[~ok] / y[~ok] - 1).to_list(),
                )
            elif x.astype(str).str.startswith("{").any():
                for left, right in zip(x, y, strict=True):
                    assert _json_close(left, right, rtol), (label, name, column, left, right)
            else:
                assert (
                    x.astype(object).fillna("<null>").astype(str)
                    == y.astype(object).fillna("<null>").astype(str)
                ).all(), (label, name, column)


def same_run_day(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    """Two builds compared table by table may run either side of midnight, and
    `cuped_results_history` is keyed by the day each ran: check that each build wrote one day,
    that the two are at most a day apart, and give ``got`` the day of ``want`` so the rest of the
    table is compared as usual."""
    days = [
        pd.to_datetime(tables["cuped_results_history"]["as_of_date"]).unique()
        for tables in (got, want)
    ]
    assert [len(d) for d in days] == [1, 1], days
    assert abs(days[0][0] - days[1][0]) <= pd.Timedelta(days=1), days
    got["cuped_results_history"] = got["cuped_results_history"].assign(
        as_of_date=want["cuped_results_history"]["as_of_date"].iloc[0]
    )


def incremental_demo_copy(project: Path, before: str) -> dict[str, str]:
    """A copy of the demo project in ``project`` with `incremental: true` and only the events
    before ``before`` in its event seeds; returns the full seeds' texts (file name → text), to
    write back for the next run."""
    shutil.copytree(
        REPO,
        project,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "target", "logs", "dbt_packages", "*.duckdb", "__pycache__"
        ),
    )
    settings = project / "dbt_project.yml"
    text = settings.read_text()
    assert "    daily_series: true\n" in text
    settings.write_text(
        text.replace("    daily_series: true\n", "    daily_series: true\n    incremental: true\n")
    )
    seeds = {}
    for name, column in (
        ("demo_orders.csv", "ordered_at"),
        ("demo_sessions.csv", "session_started_at"),
    ):
        seeds[name] = (project / "seeds" / name).read_text()
        frame = pd.read_csv(project / "seeds" / name)
        frame[pd.to_datetime(frame[column]) < pd.Timestamp(before)].to_csv(
            project / "seeds" / name, index=False
        )
    return seeds


def reachable(start, following) -> set[str]:
    """The ids in ``start`` and every id reachable from them through ``following(id)``."""
    seen, todo = set(), list(start)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += following(current)
    return seen


#: Reads of what a downstream model left on the previous run, which are not dependencies by
#: design: the incremental daily series runs before cuped__unit_settled and computes again the
#: units that model is about to compute again (macros/sql/cuped__incremental_daily.sql).
PREVIOUS_STATE_READS = {("cuped__unit_daily_values", "model.cuped.cuped__unit_settled")}


def undeclared_reads(target: Path) -> dict[str, list[str]]:
    """The relations each SQL model of the package reads without depending on them, from the
    manifest a build wrote in ``target``: model → sorted unique ids (empty when every read is a
    declared dependency). A read is a relation name of the manifest (a model, seed, snapshot or
    source; an ephemeral model's CTE) in the model's compiled SQL. A Semantic Layer metric's
    dependency covers the nodes under its semantic models, which the SQL reads at run time; an
    ephemeral model's, what the ephemeral model reads (its SQL is inlined)."""
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest["sources"]}
    names = {}
    for unique_id, node in nodes.items():
        if node.get("resource_type") == "model" and node["config"]["materialized"] == "ephemeral":
            names[unique_id] = f"__dbt__cte__{node['name']}"
        elif node.get("relation_name"):
            names[unique_id] = node["relation_name"]
    semantic = {**manifest["metrics"], **manifest["semantic_models"]}
    under_metric = {
        unique_id: reachable(
            metric["depends_on"]["nodes"],
            lambda other: semantic[other]["depends_on"]["nodes"] if other in semantic else [],
        )
        for unique_id, metric in manifest["metrics"].items()
    }

    def read_through(dependency: str) -> list[str]:
        # an ephemeral model's SQL is inlined: what it reads is read through it
        ephemeral = names.get(dependency, "").startswith("__dbt__cte__")
        return [
            *under_metric.get(dependency, ()),
            *(nodes[dependency]["depends_on"]["nodes"] if ephemeral else []),
        ]

    found = {}
    for unique_id, node in manifest["nodes"].items():
        if node["package_name"] != "cuped" or node["resource_type"] != "model":
            continue
        if node["language"] != "sql" or not node.get("compiled_code"):
            continue
        declared = reachable(node["depends_on"]["nodes"], read_through)
        read = {
            other
            for other, name in names.items()
            if other != unique_id
            and name in node["compiled_code"]
            and (node["name"], other) not in PREVIOUS_STATE_READS
        }
        found[node["name"]] = sorted(read - declared)
    return found
