"""Statistics over judge scores: paired bootstrap intervals, agreement, length bias.

Every function takes plain arrays (one value per question unless said otherwise) and returns
None where the statistic is undefined (too few values, no variation) instead of a number.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import krippendorff
import numpy as np
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from hawkeye_bench.judging.summary_file import Consistency, Interval

CONFIDENCE = 0.95
N_RESAMPLES = 9999


def _bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    n_resamples: int,
    seed: int,
) -> tuple[float | None, float | None, str]:
    """BCa interval (percentile if BCa is undefined for these data), resampling rows together."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DegenerateDataWarning: handled via NaN below
            result = stats.bootstrap(
                data,
                statistic,
                paired=True,
                vectorized=True,
                n_resamples=n_resamples,
                confidence_level=CONFIDENCE,
                method=method,
                rng=np.random.default_rng(seed),
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high, method
    return None, None, "none"


def _mean_difference(candidate: np.ndarray, baseline: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(candidate - baseline, axis=axis)


def paired_difference(
    candidate: Sequence[float],
    baseline: Sequence[float],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """Mean of candidate - baseline over paired questions, with a bootstrap 95% interval."""
    cand, base = np.asarray(candidate, float), np.asarray(baseline, float)
    if cand.shape != base.shape:
        raise ValueError(f"paired arrays differ in length: {cand.shape} vs {base.shape}")
    if cand.size == 0:
        return None
    diffs = cand - base
    estimate = float(diffs.mean())
    if cand.size < 2:
        return Interval(estimate, None, None, int(cand.size), "none")
    if np.all(diffs == diffs[0]):  # no variation: every resample gives the same mean
        return Interval(estimate, estimate, estimate, int(cand.size), "exact")
    low, high, method = _bootstrap((cand, base), _mean_difference, n_resamples, seed)
    return Interval(estimate, low, high, int(cand.size), method)


def _relative(candidate: np.ndarray, baseline: np.ndarray, axis: int = -1) -> np.ndarray:
    base = np.mean(baseline, axis=axis)
    cand = np.mean(candidate, axis=axis)
    out = np.full(np.shape(base), np.nan)
    return np.divide(cand, base, out=out, where=base != 0) - 1.0


def paired_relative_improvement(
    candidate: Sequence[float],
    baseline: Sequence[float],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """``mean(candidate) / mean(baseline) − 1`` over paired questions (the paper's "about 10%
    better"), with a paired bootstrap 95% interval; None when the baseline mean is 0."""
    cand, base = np.asarray(candidate, float), np.asarray(baseline, float)
    if cand.shape != base.shape:
        raise ValueError(f"paired arrays differ in length: {cand.shape} vs {base.shape}")
    if cand.size == 0 or base.mean() == 0:
        return None
    estimate = float(_relative(cand, base))
    if cand.size < 2:
        return Interval(estimate, None, None, int(cand.size), "none")
    if np.all(cand == cand[0]) and np.all(base == base[0]):  # every resample is the same
        return Interval(estimate, estimate, estimate, int(cand.size), "exact")
    low, high, method = _bootstrap((cand, base), _relative, n_resamples, seed)
    return Interval(estimate, low, high, int(cand.size), method)


def _ols_intercept(dy: np.ndarray, dx: np.ndarray, axis: int = -1) -> np.ndarray:
    mx = dx.mean(axis=axis, keepdims=True)
    my = dy.mean(axis=axis, keepdims=True)
    var = ((dx - mx) ** 2).mean(axis=axis)
    cov = ((dx - mx) * (dy - my)).mean(axis=axis)
    slope = np.divide(cov, var, out=np.zeros_like(cov), where=var > 0)
    return np.squeeze(my, axis) - slope * np.squeeze(mx, axis)


def length_adjusted_difference(
    score_diffs: Sequence[float],
    log_length_diffs: Sequence[float],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """Intercept of the per-question score difference regressed on the log-length difference.

    That is the difference predicted for two answers of equal length. (Standardising the
    length difference, as the reference describes, changes the slope, not the intercept.)
    Undefined when all length differences are equal.
    """
    dy, dx = np.asarray(score_diffs, float), np.asarray(log_length_diffs, float)
    if dy.size < 3 or np.all(dx == dx[0]):
        return None
    estimate = float(_ols_intercept(dy, dx))
    low, high, method = _bootstrap((dy, dx), _ols_intercept, n_resamples, seed)
    return Interval(estimate, low, high, int(dy.size), method)


def krippendorff_alpha(ratings: np.ndarray) -> float | None:
    """Ordinal alpha of a raters x units matrix (NaN = missing); None if undefined."""
    ratings = np.asarray(ratings, float)
    if ratings.ndim != 2 or ratings.shape[0] < 2:
        return None
    pairable = np.sum(~np.isnan(ratings), axis=0) >= 2
    values = ratings[:, pairable]
    if values.size == 0 or len(np.unique(values[~np.isnan(values)])) < 2:
        return None
    try:
        alpha = krippendorff.alpha(reliability_data=values, level_of_measurement="ordinal")
    except (ValueError, ZeroDivisionError):
        return None
    return float(alpha) if np.isfinite(alpha) else None


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    if xs.size < 3 or np.all(xs == xs[0]) or np.all(ys == ys[0]):
        return None
    return float(stats.spearmanr(xs, ys).statistic)


def weighted_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Quadratic-weighted Cohen's kappa between two raters on the same units."""
    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return None
    value = cohen_kappa_score(list(a), list(b), weights="quadratic")
    return float(value) if np.isfinite(value) else None


def self_consistency(first: Sequence[int], again: Sequence[int]) -> Consistency | None:
    """Agreement of a judge with itself on answers it rated twice."""
    a, b = np.asarray(first, float), np.asarray(again, float)
    if a.size == 0:
        return None
    return Consistency(
        n=int(a.size),
        exact_agreement=float(np.mean(a == b)),
        mean_abs_diff=float(np.mean(np.abs(a - b))),
        alpha=krippendorff_alpha(np.vstack([a, b])),
    )
