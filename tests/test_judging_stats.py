"""Statistics against hand-computed values and constructed cases."""

from __future__ import annotations

import numpy as np
import pytest

from hawkeye_bench.judging import stats


def test_paired_bootstrap_estimate_and_ci_contain_the_true_difference() -> None:
    rng = np.random.default_rng(1)
    baseline = rng.integers(3, 8, size=60).astype(float)
    candidate = baseline + 0.5 + rng.normal(0, 0.3, size=60)
    interval = stats.paired_difference(candidate, baseline, n_resamples=2000)
    assert interval is not None and interval.method == "BCa" and interval.n == 60
    assert interval.estimate == pytest.approx(float(np.mean(candidate - baseline)))
    assert interval.low < 0.5 < interval.high
    assert interval.high - interval.low < 0.3  # paired: question difficulty cancels out


def test_paired_bootstrap_edge_cases() -> None:
    assert stats.paired_difference([], []) is None
    single = stats.paired_difference([7], [5])
    assert single is not None and (single.estimate, single.low, single.high) == (2.0, None, None)
    constant = stats.paired_difference([6, 7, 8], [5, 6, 7])
    assert constant is not None and (constant.low, constant.high) == (1.0, 1.0)
    with pytest.raises(ValueError, match="differ in length"):
        stats.paired_difference([1, 2], [1])


def test_krippendorff_alpha_ordinal_matches_a_hand_computation() -> None:
    # Raters A=[1,2,3], B=[1,3,3]. Value counts n1=2, n2=1, n3=3 (n=6); ordinal distances
    # d(1,2)=(2+1-1.5)^2=2.25, d(2,3)=(1+3-2)^2=4, d(1,3)=(2+1+3-2.5)^2=12.25.
    # Observed: o23=o32=1 -> sum o*d = 8. Expected: 2*(2*1*2.25 + 2*3*12.25 + 1*3*4) = 180.
    # alpha = 1 - (n-1) * 8 / 180 = 1 - 40/180 = 7/9.
    assert stats.krippendorff_alpha(np.array([[1, 2, 3], [1, 3, 3]])) == pytest.approx(7 / 9)
    assert stats.krippendorff_alpha(np.array([[1, 2, 3], [1, 2, 3]])) == pytest.approx(1.0)
    with_missing = np.array([[1, 2, 3, np.nan], [1, 3, 3, 9]])  # a unit with one rating is dropped
    assert stats.krippendorff_alpha(with_missing) == pytest.approx(7 / 9)
    assert stats.krippendorff_alpha(np.array([[5, 5], [5, 5]])) is None  # one value: undefined
    assert stats.krippendorff_alpha(np.array([[1, 2, 3]])) is None  # one rater


def test_length_adjusted_difference_recovers_the_equal_length_intercept() -> None:
    rng = np.random.default_rng(2)
    dx = rng.normal(-0.7, 0.4, size=80)  # candidate answers shorter, like Hawkeye's
    exact = stats.length_adjusted_difference(1.0 + 2.0 * dx, dx, n_resamples=500)
    assert exact is not None and exact.estimate == pytest.approx(1.0)
    # Raw mean difference is far from 1 (length bias); the intercept is not.
    noisy_dy = 1.0 + 2.0 * dx + rng.normal(0, 0.2, size=80)
    assert abs(np.mean(noisy_dy) - 1.0) > 1.0
    noisy = stats.length_adjusted_difference(noisy_dy, dx, n_resamples=2000)
    assert noisy is not None and noisy.low < 1.0 < noisy.high
    assert stats.length_adjusted_difference([1, 2, 3], [0.5, 0.5, 0.5]) is None


def test_correlations_kappa_and_self_consistency_by_hand() -> None:
    assert stats.spearman([1, 2, 3, 4], [10, 20, 40, 30]) == pytest.approx(0.8)
    assert stats.spearman([1, 1, 1], [1, 2, 3]) is None
    assert stats.weighted_kappa([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    consistency = stats.self_consistency([7, 8, 5, 6], [7, 6, 5, 6])
    assert consistency is not None
    assert consistency.n == 4
    assert consistency.exact_agreement == pytest.approx(0.75)
    assert consistency.mean_abs_diff == pytest.approx(0.5)


def test_relative_improvement_is_the_ratio_of_means_with_a_paired_interval() -> None:
    rng = np.random.default_rng(2)
    baseline = rng.integers(5, 8, size=80).astype(float)  # mean about 6
    candidate = baseline * 1.1 + rng.normal(0, 0.2, size=80)  # about 10% better
    interval = stats.paired_relative_improvement(candidate, baseline, n_resamples=2000)
    assert interval is not None and interval.n == 80 and interval.method == "BCa"
    assert interval.estimate == pytest.approx(candidate.mean() / baseline.mean() - 1)
    assert interval.low < 0.1 < interval.high
    assert interval.high - interval.low < 0.05  # paired: question difficulty cancels out
    # hand-computed: means 8 and 6.4 -> 8 / 6.4 - 1 = 0.25
    by_hand = stats.paired_relative_improvement([8, 8, 8, 8], [6, 7, 6, 6.6])
    assert by_hand is not None and by_hand.estimate == pytest.approx(0.25)
    assert by_hand.low is not None and by_hand.low <= 0.25 <= by_hand.high


def test_relative_improvement_edge_cases() -> None:
    assert stats.paired_relative_improvement([], []) is None
    assert stats.paired_relative_improvement([3, 4], [0, 0]) is None  # no baseline to divide by
    single = stats.paired_relative_improvement([6], [5])
    assert single is not None and single.estimate == pytest.approx(0.2) and single.low is None
    constant = stats.paired_relative_improvement([6, 6], [5, 5])
    assert constant is not None and (constant.low, constant.high) == pytest.approx((0.2, 0.2))
