"""cuped_stats: the statistics core of the cuped dbt package.

Moments in, results out: per-arm moments (count, means, covariance matrix) of the per-unit
variables become CUPED-adjusted treatment-vs-control effects, multiple-testing adjusted p-values,
sample-ratio-mismatch checks, one-sided and non-inferiority tests, a ship / roll-back decision
per experiment and a Bayesian read-out of the relative effects. numpy and scipy only; no dbt, no
warehouse, no pandas.
"""

from cuped_stats._version import __version__
from cuped_stats.balance import covariate_balance
from cuped_stats.bayes import (
    BayesReadout,
    NormalPrior,
    bayes_readout,
    empirical_bayes_prior,
    fixed_prior,
)
from cuped_stats.cuped import (
    METRIC_TYPES,
    RELATIVE_CI_METHODS,
    STATUSES,
    THETA_METHODS,
    Comparison,
    CovariateScreen,
    Estimate,
    ThetaFit,
    analyze_metric,
    fit_theta,
    screen_covariates,
)
from cuped_stats.decisions import (
    DECISIONS,
    ROLES,
    Decision,
    ExperimentContext,
    MetricResult,
    MetricVerdict,
    decide,
    role_family_p_values,
)
from cuped_stats.moments import (
    ArmMoments,
    pooled_mean,
    pooled_total_covariance,
    pooled_within_covariance,
)
from cuped_stats.multiplicity import benjamini_hochberg, holm
from cuped_stats.one_sided import (
    Margin,
    OneSidedTest,
    SequentialLook,
    deterioration_test,
    non_inferiority_test,
    superiority_test,
)
from cuped_stats.power import (
    minimum_detectable_effect,
    plan_sample_size,
    sample_size,
)
from cuped_stats.quantile import (
    QUANTILE_LEVELS,
    QuantileArm,
    QuantileComparison,
    analyze_quantile,
)
from cuped_stats.sequential import confidence_sequence
from cuped_stats.srm import SRM_ALPHA, SampleRatioMismatch, sample_ratio_mismatch
from cuped_stats.tables import balance_table, health_table, power_table, results_table

__all__ = [
    "DECISIONS",
    "METRIC_TYPES",
    "QUANTILE_LEVELS",
    "RELATIVE_CI_METHODS",
    "ROLES",
    "SRM_ALPHA",
    "STATUSES",
    "THETA_METHODS",
    "ArmMoments",
    "BayesReadout",
    "Comparison",
    "CovariateScreen",
    "Decision",
    "Estimate",
    "ExperimentContext",
    "Margin",
    "MetricResult",
    "MetricVerdict",
    "NormalPrior",
    "OneSidedTest",
    "QuantileArm",
    "QuantileComparison",
    "SampleRatioMismatch",
    "SequentialLook",
    "ThetaFit",
    "__version__",
    "analyze_metric",
    "analyze_quantile",
    "balance_table",
    "bayes_readout",
    "benjamini_hochberg",
    "confidence_sequence",
    "covariate_balance",
    "decide",
    "deterioration_test",
    "empirical_bayes_prior",
    "fit_theta",
    "fixed_prior",
    "health_table",
    "holm",
    "minimum_detectable_effect",
    "non_inferiority_test",
    "plan_sample_size",
    "pooled_mean",
    "pooled_total_covariance",
    "pooled_within_covariance",
    "power_table",
    "results_table",
    "role_family_p_values",
    "sample_ratio_mismatch",
    "sample_size",
    "screen_covariates",
    "superiority_test",
]
