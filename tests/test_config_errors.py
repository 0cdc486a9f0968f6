"""A configuration mistake stops `dbt parse` with a message naming the metric, the key and what
is allowed; no traceback, no half-built tables."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.dbt_runner import REPO, run_dbt

DEMO = yaml.safe_load((REPO / "dbt_project.yml").read_text())["vars"]["cuped"]


def _with(change) -> dict:
    config = copy.deepcopy(DEMO)
    change(config)
    return {"cuped": config}


def _before_interpreter_exit(output: str) -> str:
    """dbt's output without what CPython may print at exit after a compile error on a one-node
    selection: "Exception ignored in: <function Pool.__del__ ...>" and a traceback of its own
    (dbt's thread pool, left open by the error, finalized after the interpreter closed its pipes;
    not seen in a full build). That is the interpreter's shutdown, not the package's error."""
    return output.split("Exception ignored in: <function Pool.__del__")[0]


def _metric(config: dict, name: str) -> dict:
    return next(m for m in config["metrics"] if m["name"] == name)


CASES = {
    "no metrics at all": (
        lambda c: c.pop("metrics"),
        ["cuped: `metrics` is required: a list of metric definitions"],
    ),
    "a variant name YAML reads as a number": (
        lambda c: c.update(control_variant=0),
        [
            "`control_variant` must be a non-empty string, got: 0 (YAML reads an unquoted 0 as a "
            "number: quote it, '0')"
        ],
    ),
    "typo in a top-level key": (
        lambda c: c.update(pre_period_dayz=7),
        ["unknown key `pre_period_dayz`", "pre_period_days"],
    ),
    "typo in a metric key": (
        lambda c: _metric(c, "orders_per_user").update(filtr="x > 1"),
        ["metric 'orders_per_user'", "unknown key `filtr`", "filter", "semantic_metric"],
    ),
    "string where a number is expected": (
        lambda c: c.update(pre_period_days="14"),
        ["`pre_period_days` must be a whole number of days >= 1", "(string)"],
    ),
    "unknown covariate": (
        lambda c: _metric(c, "revenue_per_user").update(covariates=["pre_period", "sesions"]),
        ["metric 'revenue_per_user'", "unknown covariate 'sesions'", "sessions_per_user"],
    ),
    "unknown metric type": (
        lambda c: _metric(c, "conversion").update(type="percentile"),
        ["metric 'conversion'", "`type` must be one of mean, proportion"],
    ),
    "aggregation without value": (
        lambda c: _metric(c, "revenue_per_user").pop("value"),
        ["metric 'revenue_per_user'", "`agg: sum` needs `value`"],
    ),
    "duplicate metric name": (
        lambda c: c["metrics"].append(dict(_metric(c, "conversion"))),
        ["metric 'conversion' is defined twice"],
    ),
    "segment that is not a unit attribute": (
        lambda c: c.update(segments=["browser"]),
        ["segment 'browser' is not a `unit_attributes` column", "country"],
    ),
    "statement smuggled into a filter": (
        lambda c: _metric(c, "orders_per_user").update(filter="1=1; drop table demo_orders"),
        ["metric 'orders_per_user'", "`filter` must be a single SQL expression"],
    ),
    "statement after a closed literal": (
        lambda c: _metric(c, "orders_per_user").update(filter="status = 'x'; drop table t; --"),
        [
            "cuped: metric 'orders_per_user': `filter` must be a single SQL expression; it may "
            "not contain `;`, `--` or `/*` outside a string literal (`;` at character 13), got: "
            "status = 'x'; drop table t; --"
        ],
    ),
    "comment outside a literal": (
        lambda c: _metric(c, "revenue_per_user").update(value="revenue /* gross */"),
        [
            "cuped: metric 'revenue_per_user': `value` must be a single SQL expression; it may "
            "not contain `;`, `--` or `/*` outside a string literal (`/*` at character 9), got: "
            "revenue /* gross */"
        ],
    ),
    "unclosed quote in a filter": (
        lambda c: _metric(c, "orders_per_user").update(filter="status = 'completed"),
        [
            "cuped: metric 'orders_per_user': `filter` has an unclosed quote: the ' at character "
            "10 starts a string literal that is never closed (a quote inside a literal is written "
            "''), got: status = 'completed"
        ],
    ),
    "unclosed quote in a value": (
        lambda c: _metric(c, "revenue_per_user").update(
            value="case when status = 'completed then revenue end"
        ),
        [
            "cuped: metric 'revenue_per_user': `value` has an unclosed quote: the ' at character "
            "20 starts a string literal that is never closed (a quote inside a literal is written "
            "''), got: case when status = 'completed then revenue end"
        ],
    ),
    "doubled quote that leaves a literal open": (
        lambda c: _metric(c, "orders_per_user").update(filter="status <> 'it''s"),
        [
            "cuped: metric 'orders_per_user': `filter` has an unclosed quote: the ' at character "
            "11 starts a string literal that is never closed"
        ],
    ),
    "unclosed quoted name": (
        lambda c: _metric(c, "revenue_per_user").update(value='"revenue'),
        [
            "cuped: metric 'revenue_per_user': `value` has an unclosed quote: the \" at character "
            '1 starts a quoted name that is never closed, got: "revenue'
        ],
    ),
    "parenthesis never closed": (
        lambda c: _metric(c, "revenue_per_user").update(value="(revenue * 2"),
        [
            "cuped: metric 'revenue_per_user': `value` has unbalanced parentheses: the ( at "
            "character 1 is never closed, got: (revenue * 2"
        ],
    ),
    "parenthesis that closes nothing": (
        lambda c: _metric(c, "orders_per_user").update(filter="status = 'completed')"),
        [
            "cuped: metric 'orders_per_user': `filter` has unbalanced parentheses: the ) at "
            "character 21 closes no (, got: status = 'completed')"
        ],
    ),
    "relation name that is not a name": (
        lambda c: c.update(assignments="demo_assignments; drop table x"),
        ["`assignments` must be a model or seed name"],
    ),
    "experiment_settings: unknown metric in a role": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(primary=["conversoin"]),
        [
            "experiment_settings 'checkout_redesign': `primary`: unknown metric 'conversoin'",
            "revenue_per_user, revenue_per_user_capped",
        ],
    ),
    "experiment_settings: unknown segment": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(segments=["browser"]),
        [
            "experiment_settings 'checkout_redesign': `segments`: unknown segment 'browser'",
            "predicted_ltv, country, platform",
        ],
    ),
    "experiment_settings: negative margin": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(
            guardrails=[{"metric": "sessions_per_user", "margin": -0.02}]
        ),
        [
            "experiment_settings 'checkout_redesign': guardrail 'sessions_per_user'",
            "`margin` must be a finite number >= 0, got: -0.02",
        ],
    ),
    "experiment_settings: relative margin of 100% or more": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(
            guardrails=[{"metric": "sessions_per_user", "margin": 1.5}]
        ),
        ["guardrail 'sessions_per_user'", "must be below 1", "margin_absolute"],
    ),
    "experiment_settings: both margins": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(
            guardrails=[{"metric": "sessions_per_user", "margin": 0.02, "margin_absolute": 1}]
        ),
        ["guardrail 'sessions_per_user'", "give exactly one of `margin`"],
    ),
    "experiment_settings: a metric in two roles": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(
            secondary=["conversion", "revenue_per_user"]
        ),
        [
            "experiment_settings 'checkout_redesign': `secondary`",
            "metric 'revenue_per_user' is already primary",
        ],
    ),
    "experiment_settings: alpha override out of range": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(alpha=0.5),
        ["experiment_settings 'checkout_redesign': `alpha` must be a number between 0 and 0.5"],
    ),
    "experiment_settings: pre_period_days override not a whole number": (
        lambda c: c["experiment_settings"].update(homepage_aa={"pre_period_days": 0}),
        ["experiment_settings 'homepage_aa': `pre_period_days` must be a whole number of days"],
    ),
    "experiment_settings: typo in a key": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(guardrail=[]),
        ["experiment_settings 'checkout_redesign': unknown key `guardrail`", "guardrails"],
    ),
    "experiment_settings: relative margin with a fieller interval": (
        lambda c: c["experiment_settings"]["checkout_redesign"].update(relative_ci="fieller"),
        ["guardrail 'sessions_per_user'", "`relative_ci` is fieller", "margin_absolute"],
    ),
    "decision_tests: unknown severity": (
        lambda c: c["decision_tests"].update(guardrails_hold="fail"),
        ["`decision_tests.guardrails_hold` must be one of error, warn, off, got: fail"],
    ),
    "semantic metric together with a hand-written source": (
        lambda c: _metric(c, "pages_per_user_7d").update(source="demo_sessions"),
        [
            "metric 'pages_per_user_7d'",
            "`source` cannot be combined with `semantic_metric`",
            "neither side would win",
        ],
    ),
    "semantic metric without a unit entity": (
        lambda c: c.pop("semantic_unit_entity"),
        ["metric 'pages_per_user_7d'", "set `semantic_unit_entity`"],
    ),
    "semantic metric typed as a ratio": (
        lambda c: _metric(c, "pages_per_user_7d").update(type="ratio"),
        ["metric 'pages_per_user_7d'", "must be mean or proportion"],
    ),
    "missing: exclude on a proportion": (
        lambda c: _metric(c, "conversion").update(missing="exclude"),
        [
            "metric 'conversion'",
            "`missing: exclude` applies only to `type: mean` and `type: quantile`",
        ],
    ),
    "ratio over a metric with missing: exclude": (
        lambda c: _metric(c, "orders_per_user").update(missing="exclude"),
        [
            "metric 'revenue_per_order'",
            "`denominator` names 'orders_per_user', which has `missing: exclude`",
        ],
    ),
    "missing misspelt": (
        lambda c: _metric(c, "orders_per_user").update(missing="drop"),
        ["metric 'orders_per_user'", "`missing` must be one of zero, exclude"],
    ),
    "quantile metric without its quantile": (
        lambda c: _metric(c, "sessions_per_user").update(type="quantile"),
        ["metric 'sessions_per_user'", "`type: quantile` needs `quantile`"],
    ),
    "quantile out of range": (
        lambda c: _metric(c, "sessions_per_user").update(type="quantile", quantile=90),
        ["metric 'sessions_per_user'", "`quantile` must be a number strictly between 0 and 1"],
    ),
    "quantile metric with covariates": (
        lambda c: _metric(c, "sessions_per_user").update(
            type="quantile", quantile=0.9, covariates=["pre_period"]
        ),
        ["metric 'sessions_per_user'", "`covariates` does not apply to `type: quantile`"],
    ),
    "quantile metric as a guardrail": (
        lambda c: (
            _metric(c, "conversion").update(covariates=["pre_period"]),
            _metric(c, "sessions_per_user").update(type="quantile", quantile=0.5, covariates=[]),
        ),
        ["quantile metric 'sessions_per_user' can only be `secondary`"],
    ),
    "quantile metric as another metric's covariate": (
        lambda c: _metric(c, "sessions_per_user").update(
            type="quantile", quantile=0.5, covariates=[]
        ),
        ["metric 'conversion': covariate 'sessions_per_user' is a quantile metric"],
    ),
    "theta method misspelt": (
        lambda c: c.update(theta="pooled"),
        ["`theta` must be one of within, total, got: pooled"],
    ),
    "bayes prior with a negative sd": (
        lambda c: c.update(bayes_prior={"mean": 0, "sd": -0.1}),
        ["`bayes_prior` must be `empirical` or a mapping {mean:", "`bayes_prior.sd` got: -0.1"],
    ),
    "bayes prior that is not a number": (
        lambda c: c.update(bayes_prior={"mean": float("nan"), "sd": 0.3}),
        ["`bayes_prior.mean` got: NaN"],
    ),
    "bayes prior misspelt": (
        lambda c: c.update(bayes_prior="empirical_bayes"),
        ["`bayes_prior` must be `empirical` or a mapping", "got: empirical_bayes"],
    ),
    "incremental lookback that is not a number of days": (
        lambda c: c.update(incremental={"lookback_days": -1}),
        ["`incremental.lookback_days` must be a whole number of days >= 0", "got: -1"],
    ),
    "incremental lookback beyond a year": (
        lambda c: c.update(incremental={"lookback_days": 400}),
        ["`incremental.lookback_days` must be a whole number of days at most 365, got: 400"],
    ),
    "planned units beyond any experiment": (
        lambda c: c.update(planned_units=10**30),
        ["`planned_units` must be a whole number at most 1000000000000000 (a thousand trillion)"],
    ),
    "a metric named like a categorical covariate's level": (
        lambda c: c["metrics"].append({**_metric(c, "orders_per_user"), "name": "country[DE]"}),
        ["metric 'country[DE]'", "the form '<column>[<level>]'", "('country')"],
    ),
    "incremental misspelt": (
        lambda c: c.update(incremental={"lookback": 2}),
        ["`incremental`", "unknown key `lookback`", "lookback_days"],
    ),
    "incremental with a count of distinct values": (
        lambda c: (
            c.update(incremental=True),
            _metric(c, "orders_per_user").update(agg="count_distinct", value="order_id"),
        ),
        ["metric 'orders_per_user'", "`agg: count_distinct` cannot be built incrementally"],
    ),
    "incremental with an event-level quantile": (
        lambda c: (
            c.update(incremental=True),
            c["metrics"].append(
                {
                    "name": "order_value_p90",
                    "type": "quantile",
                    "quantile": 0.9,
                    "level": "event",
                    "source": "demo_orders",
                    "unit_column": "user_id",
                    "timestamp_column": "ordered_at",
                    "value": "revenue",
                }
            ),
        ),
        ["metric 'order_value_p90'", "a `level: event` quantile reads every event"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_configuration_mistake_stops_parse_with_a_message_that_names_it(case, tmp_path) -> None:
    change, fragments = CASES[case]
    run = run_dbt(["parse"], project_dir=REPO, work_dir=tmp_path, variables=_with(change))
    assert run.returncode != 0
    assert "Compilation Error" in run.output
    for fragment in fragments:
        assert fragment in run.output, f"{fragment!r} not in:\n{run.output[-3000:]}"
    assert "Traceback" not in _before_interpreter_exit(run.output)


def test_separators_and_parentheses_inside_literals_are_accepted(tmp_path) -> None:
    # `;`, `--`, `/*`, parentheses and doubled quotes inside a string literal or quoted name are
    # text, not SQL: only outside literals are they refused (or counted).
    def change(config: dict) -> None:
        _metric(config, "orders_per_user").update(
            filter="status <> '/a;b' and status <> 'it''s -- (' and \"status\" <> '/* x'"
        )
        _metric(config, "revenue_per_user").update(value="coalesce(revenue, length('\");)'))")
        # PostgreSQL/DuckDB escape strings and dollar quotes, Spark's backtick names
        _metric(config, "conversion").update(
            filter="status <> E'it\\'s (' and status <> $$a'b($$ and `status` is not null"
        )

    run = run_dbt(["parse"], project_dir=REPO, work_dir=tmp_path, variables=_with(change))
    assert run.returncode == 0, run.output[-3000:]


EXPRESSION_MISTAKES = {
    "misspelt column": (
        {"value": "revenu"},
        {},
        [
            'Referenced column "revenu" not found',
            "revenu /* cuped: metric 'revenue_per_user': `value` */",
        ],
    ),
    "filter that does not parse": (
        {"filter": "status = 'completed' and"},
        {},
        ["syntax error", "/* cuped: metric 'revenue_per_user': end of `filter`"],
    ),
    "value that does not parse, in a metric with a filter": (
        {"value": "revenue *"},
        {},  # the parser stops at the `end` after the value: that line names the metric
        ["syntax error", "revenue * /* cuped: metric 'revenue_per_user': `value` */ end"],
    ),
    "text value": (
        {"value": "status"},
        {},  # whichever sum fails first, per unit or per unit and day, its line names the metric
        ["sum(VARCHAR)", "/* cuped: metric 'revenue_per_user': `agg` of `value`"],
    ),
    "text value, without the daily series": (
        {"value": "status"},
        {"daily_series": False},
        ["sum(VARCHAR)", "/* cuped: metric 'revenue_per_user': `agg` of `value`"],
    ),
}


@pytest.mark.parametrize("case", sorted(EXPRESSION_MISTAKES))
def test_a_mistake_in_a_metric_expression_names_the_metric_and_key(case, tmp_path) -> None:
    # The warehouse finds the mistake; the failing line it quotes carries the metric and key.
    update, settings, fragments = EXPRESSION_MISTAKES[case]
    change = lambda c: (_metric(c, "revenue_per_user").update(update), c.update(settings))  # noqa: E731
    run = run_dbt(
        ["build", "--select", "+cuped__unit_values"],
        project_dir=REPO,
        work_dir=tmp_path,
        variables=_with(change),
    )
    assert run.returncode != 0
    for fragment in fragments:
        assert fragment in run.output, f"{fragment!r} not in:\n{run.output[-3000:]}"


def test_a_misspelt_relation_is_named_with_the_package_model_that_reads_it(tmp_path) -> None:
    # dbt resolves ref() after rendering every model and stops with its own message: it names
    # the missing relation and the package model; the README's Troubleshooting maps it to the key.
    change = lambda c: _metric(c, "sessions_per_user").update(source="demo_sesions")  # noqa: E731
    run = run_dbt(["parse"], project_dir=REPO, work_dir=tmp_path, variables=_with(change))
    assert run.returncode != 0
    assert "cuped__unit_values.sql) depends on a node named 'demo_sesions'" in run.output


def test_a_relation_missing_from_the_warehouse_is_named_as_missing(tmp_path) -> None:
    # dbt finds no columns in a relation that does not exist (here the demo's seed, never
    # loaded into this new database; a source with a misspelt schema alike): the message says
    # the relation is missing, not that it lacks the configured column.
    run = run_dbt(
        ["run", "--select", "cuped__assignment_rows"], project_dir=REPO, work_dir=tmp_path
    )
    assert run.returncode != 0
    assert (
        'cuped: `assignments` (demo_assignments): the relation "cuped"."main"."demo_assignments" '
        "does not exist on this target (not built yet, or a misspelt database, schema or name of "
        "the source or model that names it), or this target cannot see it."
    ) in run.output
    assert "does not exist in" not in run.output


def test_an_unknown_semantic_layer_metric_stops_parse_naming_it(tmp_path) -> None:
    # The DAG edge is recorded at parse time with metric(<name>): dbt itself stops on a name the
    # project does not define, naming the package model and the metric.
    change = lambda c: _metric(c, "pages_per_user_7d").update(semantic_metric="pages_viewd")  # noqa: E731
    run = run_dbt(["parse"], project_dir=REPO, work_dir=tmp_path, variables=_with(change))
    assert run.returncode != 0
    assert "depends on a metric named 'pages_viewd' which was not found" in run.output


SEMANTIC_COMPILE_CASES = {
    # The Semantic Layer definitions are in dbt's graph only from compile time on.
    "an entity the semantic model lacks": (
        lambda c: c.update(semantic_unit_entity="customer"),
        [
            "metric 'pages_per_user_7d'",
            "the semantic model 'demo_sessions' (SL metric 'pages_viewed', measure 'pages_viewed')",
            "has no entity 'customer'",
            "its entities are: session, user",
        ],
    ),
    "a proportion of an SL ratio metric": (
        lambda c: _metric(c, "pages_per_user_7d").update(
            semantic_metric="revenue_per_order", type="proportion", window_days=None
        ),
        ["metric 'pages_per_user_7d'", "`type: proportion` does not apply to the SL ratio metric"],
    ),
    "an average measure": (
        lambda c: _metric(c, "pages_per_user_7d").update(semantic_metric="average_order_revenue"),
        [
            "metric 'pages_per_user_7d'",
            "the aggregation `average` of the semantic model 'demo_orders'",
            "supported are sum, count, count_distinct, max, sum_boolean",
        ],
    ),
    "a filter that needs a join": (
        lambda c: _metric(c, "pages_per_user_7d").update(semantic_metric="german_revenue"),
        [
            "metric 'pages_per_user_7d'",
            "Dimension('user__country')",
            "a join to another semantic model is not supported",
        ],
    ),
    "a ratio's own filter that needs a join": (
        lambda c: _metric(c, "pages_per_user_7d").update(
            semantic_metric="german_revenue_per_order", window_days=None
        ),
        [
            "metric 'pages_per_user_7d'",
            "the filter `{{ Dimension('user__country') }} = 'DE'` of the SL ratio metric "
            "'german_revenue_per_order' references Dimension('user__country')",
            "a join to another semantic model is not supported",
        ],
    ),
    "a hand-written ratio over an SL ratio metric": (
        lambda c: c["metrics"].__setitem__(
            c["metrics"].index(_metric(c, "orders_per_user")),
            {"name": "orders_per_user", "semantic_metric": "revenue_per_order"},
        ),
        [
            "metric 'revenue_per_order'",
            "`denominator` names 'orders_per_user', which is a ratio metric",
        ],
    ),
    "a derived metric": (
        lambda c: _metric(c, "pages_per_user_7d").update(semantic_metric="revenue_minus_sessions"),
        ["metric 'pages_per_user_7d'", "is a derived metric; supported are simple metrics"],
    ),
}


@pytest.mark.parametrize("case", sorted(SEMANTIC_COMPILE_CASES))
def test_a_semantic_metric_mistake_stops_compile_naming_it(case, tmp_path) -> None:
    change, fragments = SEMANTIC_COMPILE_CASES[case]
    run = run_dbt(
        ["compile", "--select", "cuped__analysis_plan"],
        project_dir=REPO,
        work_dir=tmp_path,
        variables=_with(change),
    )
    assert run.returncode != 0
    for fragment in fragments:
        assert fragment in run.output, f"{fragment!r} not in:\n{run.output[-3000:]}"
    assert "Traceback" not in _before_interpreter_exit(run.output)
