"""Multiple-testing adjustments against statsmodels, SRM against scipy.stats.chisquare."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests

from cuped_stats import benjamini_hochberg, holm, sample_ratio_mismatch
from cuped_stats.srm import SRM_ALPHA

P_VALUES = [0.01, 0.04, 0.03, 0.2, 0.0001, 0.04, 0.9, 0.5]


@pytest.mark.parametrize(("ours", "method"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")])
def test_adjusted_p_values_equal_statsmodels_multipletests(ours, method) -> None:
    expected = multipletests(P_VALUES, method=method)[1]
    np.testing.assert_allclose(ours(P_VALUES), expected, rtol=1e-12)


@pytest.mark.parametrize(("ours", "method"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")])
def test_none_p_values_pass_through_and_do_not_count_in_family_size(ours, method) -> None:
    with_gaps = [None, *P_VALUES[:3], None, *P_VALUES[3:]]
    adjusted = ours(with_gaps)
    assert adjusted[0] is None and adjusted[4] is None
    present = [p for p in adjusted if p is not None]
    np.testing.assert_allclose(present, multipletests(P_VALUES, method=method)[1], rtol=1e-12)
    assert ours([None, None]) == [None, None]
    assert ours([]) == []


def test_srm_equals_scipy_chisquare_with_unequal_weights() -> None:
    counts, weights = [1010, 950, 2100], [1.0, 1.0, 2.0]
    total = sum(counts)
    expected = scipy.stats.chisquare(counts, [total * w / 4.0 for w in weights])
    result = sample_ratio_mismatch(counts, weights)
    assert result.status == "ok" and result.df == 2
    np.testing.assert_allclose(result.chi2, expected.statistic, rtol=1e-12)
    np.testing.assert_allclose(result.p_value, expected.pvalue, rtol=1e-12)
    assert result.flag == (expected.pvalue < SRM_ALPHA)


def test_srm_equal_shares_when_no_weights_and_flags_a_clear_mismatch() -> None:
    counts = [1000, 1200]
    result = sample_ratio_mismatch(counts, [None, None])
    expected = scipy.stats.chisquare(counts)
    np.testing.assert_allclose(result.p_value, expected.pvalue, rtol=1e-12)
    assert expected.pvalue < SRM_ALPHA and result.flag


def test_srm_counts_an_empty_arm_with_positive_weight() -> None:
    result = sample_ratio_mismatch([500, 0, 480], [None, None, None])
    expected = scipy.stats.chisquare([500, 0, 480])
    assert result.df == 2 and result.flag
    np.testing.assert_allclose(result.chi2, expected.statistic, rtol=1e-12)


@pytest.mark.parametrize(
    ("counts", "weights", "status", "flag"),
    [
        ([100], [None], "single_arm", False),
        ([0, 0], [None, None], "no_units", False),
        ([10, 5], [1.0, 0.0], "unexpected_units", True),
    ],
)
def test_degenerate_srm_gives_none_statistics_and_a_status(counts, weights, status, flag) -> None:
    result = sample_ratio_mismatch(counts, weights)
    assert result.status == status and result.flag is flag
    assert result.chi2 is None and result.p_value is None


def test_srm_rejects_partially_given_or_negative_weights() -> None:
    with pytest.raises(ValueError, match="some arms only"):
        sample_ratio_mismatch([10, 10], [1.0, None])
    with pytest.raises(ValueError, match="non-negative"):
        sample_ratio_mismatch([10, 10], [1.0, -1.0])
