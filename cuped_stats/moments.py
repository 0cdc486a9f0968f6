"""Per-arm moments (count, mean vector, covariance matrix), their pooled forms, and features.

Only moments cross from the warehouse into Python: per arm the count ``n``, the mean vector and
the sample covariance matrix (``ddof=1``) of the per-unit variables. Every statistic of the core
is a function of these.

A *feature* is what the analysis compares or adjusts by: a function ``h`` of an arm's mean vector
``μ``. It is either one variable (``h = μ_i``) or a ratio of means (``h = μ_a/μ_b``) of the
adjacent variable pair ``"<x>@numerator"``, ``"<x>@denominator"`` (the feature is named ``"<x>"``).
By the delta method (Deng, Knoblich, Lu 2018, §3) a feature's estimator behaves like the mean of
its per-unit linearisation ``∇h(μ)·z``; for a ratio ``(a - (μ_a/μ_b)·b)/μ_b``. So the features
of an arm have covariance ``J Σ Jᵀ`` with ``J`` the Jacobian of ``h`` at ``μ``
(:func:`feature_moments`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DENOMINATOR_SUFFIX",
    "NUMERATOR_SUFFIX",
    "ArmMoments",
    "Feature",
    "feature_jacobian",
    "feature_moments",
    "feature_values",
    "parse_features",
    "pooled_mean",
    "pooled_total_covariance",
    "pooled_within_covariance",
]


#: Suffixes of the two variables of a ratio feature ``"<x>"``: numerator first, then denominator.
NUMERATOR_SUFFIX = "@numerator"
DENOMINATOR_SUFFIX = "@denominator"


@dataclass(frozen=True, eq=False)
class ArmMoments:
    """Moments of the per-unit variables of one arm.

    Attributes:
        variant: Arm (variant) name.
        n: Number of units.
        names: Variable names, in order. Index 0 is the outcome (``"@y"``); for ratio metrics
            indices 0 and 1 are ``"@numerator"`` and ``"@denominator"``; the rest are covariates,
            a ratio covariate ``"<x>"`` as the adjacent pair ``"<x>@numerator"``,
            ``"<x>@denominator"`` (see :func:`parse_features`).
        mean: Sample means, shape ``(p,)``.
        cov: Sample covariance matrix with ``ddof=1``, shape ``(p, p)``. For ``n < 2`` the sample
            covariance is undefined; it is stored as zeros, which is exactly this arm's
            contribution ``(n - 1) * Cov`` to every pooled covariance below.

    The arrays are copied and made read-only, so an instance is immutable. Equality is identity
    (numpy arrays have no scalar truth value).
    """

    variant: str
    n: int
    names: tuple[str, ...]
    mean: np.ndarray
    cov: np.ndarray

    def __post_init__(self) -> None:
        names = tuple(map(str, self.names))
        p = len(names)
        if len(set(names)) != p:
            raise ValueError(f"arm {self.variant!r}: duplicate variable names in {names}")
        if int(self.n) != self.n or self.n < 0:
            raise ValueError(
                f"arm {self.variant!r}: n must be a non-negative integer, got {self.n}"
            )
        mean = np.array(self.mean, dtype=np.float64).reshape(-1)
        cov = np.array(self.cov, dtype=np.float64)
        if mean.shape != (p,) or cov.shape != (p, p):
            raise ValueError(
                f"arm {self.variant!r}: expected mean of shape ({p},) and cov of shape "
                f"({p}, {p}) for variables {names}, got {mean.shape} and {cov.shape}"
            )
        if self.n >= 1 and not np.isfinite(mean).all():
            raise ValueError(f"arm {self.variant!r}: non-finite mean {mean}")
        if self.n < 2:
            cov = np.zeros((p, p))
        elif not np.isfinite(cov).all():
            raise ValueError(f"arm {self.variant!r}: non-finite covariance with n={self.n}")
        cov = (cov + cov.T) / 2.0
        mean.setflags(write=False)
        cov.setflags(write=False)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)

    @classmethod
    def _checked(
        cls, variant: str, n: int, names: tuple[str, ...], mean: np.ndarray, cov: np.ndarray
    ) -> ArmMoments:
        """An arm from values that already pass ``__post_init__``'s checks (``names`` a tuple of
        distinct strings, ``n`` an int ≥ 0, float64 ``mean`` of shape (p,) and finite when
        n ≥ 1, float64 ``cov`` of shape (p, p), exactly symmetric and finite, zeros when n < 2),
        for callers that check many arms at once with array operations. The arrays must be
        read-only already (views of a read-only array, say); they are not copied."""
        if mean.flags.writeable or cov.flags.writeable:
            raise ValueError(f"arm {variant!r}: the arrays of a checked arm must be read-only")
        arm = object.__new__(cls)
        arm.__dict__.update(variant=variant, n=n, names=names, mean=mean, cov=cov)
        return arm

    @classmethod
    def from_units(cls, variant: str, columns: Mapping[str, ArrayLike]) -> ArmMoments:
        """Moments of unit-level data, one array per variable (in mapping order).

        ``mean = Σ zᵢ / n``; ``cov = Σ (zᵢ - z̄)(zᵢ - z̄)ᵀ / (n - 1)`` (zeros when ``n < 2``).
        Meant for tests and benchmarks; production moments come from SQL.
        """
        names = tuple(columns)
        if not names:
            raise ValueError(f"arm {variant!r}: no variables given")
        data = np.vstack([np.asarray(columns[name], dtype=np.float64) for name in names])
        n = data.shape[1]
        mean = data.mean(axis=1) if n else np.zeros(len(names))
        cov = np.atleast_2d(np.cov(data, ddof=1)) if n >= 2 else np.zeros((len(names),) * 2)
        return cls(variant=variant, n=n, names=names, mean=mean, cov=cov)

    def select(self, names: Sequence[str]) -> ArmMoments:
        """The moments of a subset (or reordering) of the variables."""
        idx = [self.names.index(name) for name in names]
        return ArmMoments(
            variant=self.variant,
            n=self.n,
            names=tuple(names),
            mean=self.mean[idx],
            cov=self.cov[np.ix_(idx, idx)],
        )


def _check_same_variables(arms: Sequence[ArmMoments]) -> None:
    if not arms:
        raise ValueError("no arms given")
    names = arms[0].names
    for arm in arms[1:]:
        if arm.names != names:
            raise ValueError(
                f"arms {arms[0].variant!r} and {arm.variant!r} have different variables: "
                f"{names} vs {arm.names}"
            )


def pooled_mean(arms: Sequence[ArmMoments]) -> np.ndarray:
    """Mean vector of the union of the arms: ``μ = Σ_g n_g μ_g / N``.

    Raises:
        ValueError: if the arms hold no units or have different variables.
    """
    _check_same_variables(arms)
    total = sum(arm.n for arm in arms)
    if total < 1:
        raise ValueError("pooled mean of arms without units is undefined")
    return sum(arm.n * arm.mean for arm in arms) / total


def pooled_within_covariance(arms: Sequence[ArmMoments]) -> np.ndarray:
    """Pooled within-arm covariance ``S = Σ_g (n_g - 1)·Cov_g / (N - G)``.

    Arms with ``n < 2`` contribute nothing (an arm of one unit adds one to ``N`` and one to
    ``G``; an empty arm is skipped). ``S`` is the residual covariance of the regression of every
    variable on the arm indicators, so ``S_xx⁻¹ S_xy`` is the covariate coefficient vector of the
    ANCOVA ``y ~ C(arm) + x₁ + … + x_k`` (Lin 2013, §2; Deng et al. 2013, §3.3).

    Raises:
        ValueError: if ``N - G < 1`` (no arm has two units) or the arms' variables differ.
    """
    _check_same_variables(arms)
    used = [arm for arm in arms if arm.n >= 1]
    return _pooled_within([arm.n for arm in used], [arm.cov for arm in used])


def _pooled_within(counts: Sequence[int], covariances: Sequence[np.ndarray]) -> np.ndarray:
    """:func:`pooled_within_covariance` of arms with units given by their counts ``n_g ≥ 1`` and
    covariance matrices (for :mod:`cuped_stats.cuped`, which has those without the arms).

    Raises:
        ValueError: if ``N - G < 1`` (no arm has two units).
    """
    dof = sum(counts) - len(counts)
    if dof < 1:
        raise ValueError("pooled within-arm covariance needs an arm with at least two units")
    return sum((n - 1) * cov for n, cov in zip(counts, covariances, strict=True)) / dof


def pooled_total_covariance(arms: Sequence[ArmMoments]) -> np.ndarray:
    """Sample covariance (``ddof=1``) of the union of the arms, exact from their moments.

    ``S = [Σ_g (n_g - 1)·Cov_g + Σ_g n_g (μ_g - μ)(μ_g - μ)ᵀ] / (N - 1)`` with ``μ`` the pooled
    mean (the law of total covariance; Chan, Golub, LeVeque 1979 "Updating formulae and a pairwise
    algorithm for computing sample variances").

    Raises:
        ValueError: if ``N < 2`` or the arms' variables differ.
    """
    _check_same_variables(arms)
    total = sum(arm.n for arm in arms)
    if total < 2:
        raise ValueError("total covariance needs at least two units")
    mu = pooled_mean(arms)
    scatter = sum(
        (arm.n - 1) * arm.cov + arm.n * np.outer(arm.mean - mu, arm.mean - mu)
        for arm in arms
        if arm.n >= 1
    )
    return scatter / (total - 1)


class Feature(NamedTuple):
    """A function of an arm's mean vector: variable ``numerator`` alone (``denominator`` is
    ``None``), or the ratio of means of variables ``numerator`` and ``denominator`` (indices)."""

    name: str
    numerator: int
    denominator: int | None


def parse_features(names: Sequence[str]) -> tuple[Feature, ...]:
    """The features of the variables ``names``, in order.

    ``"<x>@numerator"`` directly followed by ``"<x>@denominator"`` is the ratio feature ``"<x>"``
    (``x`` may be empty: the outcome of a ratio metric); any other variable is a feature of its
    own name.

    Raises:
        ValueError: for a numerator without its denominator right after it, a denominator without
            its numerator right before it, or two features of the same name.
    """
    names = tuple(names)
    features: list[Feature] = []
    i = 0
    while i < len(names):
        name = names[i]
        if name.endswith(NUMERATOR_SUFFIX):
            stem = name[: -len(NUMERATOR_SUFFIX)]
            if i + 1 >= len(names) or names[i + 1] != stem + DENOMINATOR_SUFFIX:
                raise ValueError(
                    f"variable {name!r} must be directly followed by {stem + DENOMINATOR_SUFFIX!r}"
                    f" (a ratio feature), got variables {names}"
                )
            features.append(Feature(stem, i, i + 1))
            i += 2
            continue
        if name.endswith(DENOMINATOR_SUFFIX):
            stem = name[: -len(DENOMINATOR_SUFFIX)]
            raise ValueError(
                f"variable {name!r} must directly follow {stem + NUMERATOR_SUFFIX!r} (a ratio "
                f"feature), got variables {names}"
            )
        features.append(Feature(name, i, None))
        i += 1
    feature_names = [feature.name for feature in features]
    if len(set(feature_names)) != len(feature_names):
        raise ValueError(f"duplicate feature names {feature_names} from variables {names}")
    return tuple(features)


def feature_values(features: Sequence[Feature], mean: np.ndarray) -> np.ndarray:
    """``h(μ)``: ``μ_i`` for a variable, ``μ_a/μ_b`` for a ratio (``μ_b`` must be non-zero)."""
    return np.array(
        [
            mean[f.numerator] if f.denominator is None else mean[f.numerator] / mean[f.denominator]
            for f in features
        ],
        dtype=np.float64,
    )


def feature_jacobian(features: Sequence[Feature], mean: np.ndarray) -> np.ndarray:
    """``J = ∂h/∂μ``, shape ``(len(features), len(mean))``: row ``e_i`` for a variable,
    ``e_a/μ_b - (μ_a/μ_b²)·e_b`` for a ratio (Deng, Knoblich, Lu 2018, §3)."""
    jac = np.zeros((len(features), len(mean)))
    for row, f in enumerate(features):
        if f.denominator is None:
            jac[row, f.numerator] = 1.0
        else:
            jac[row, f.numerator] = 1.0 / mean[f.denominator]
            jac[row, f.denominator] = -mean[f.numerator] / mean[f.denominator] ** 2
    return jac


def feature_moments(arm: ArmMoments, features: Sequence[Feature]) -> ArmMoments:
    """The arm's moments over ``features``: mean ``h(μ)``, covariance ``J Σ Jᵀ`` (J at ``μ``).

    The covariance is that of the per-unit linearisations ``J·zᵢ``, so pooling it over arms is
    pooling the linearised units of each arm (with arm-specific ``J``). An arm without units
    keeps zero means.
    """
    if arm.n >= 1:
        mean = feature_values(features, arm.mean)
        jac = feature_jacobian(features, arm.mean)
        cov = jac @ arm.cov @ jac.T
    else:
        mean = np.zeros(len(features))
        cov = np.zeros((len(features), len(features)))
    return ArmMoments(
        variant=arm.variant, n=arm.n, names=tuple(f.name for f in features), mean=mean, cov=cov
    )
