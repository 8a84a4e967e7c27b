"""Small statistics used across summaries: intervals, pass@k, distribution summaries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

Z95 = 1.959963984540054
#: the percentiles :func:`describe` reports, as keys ``p50``, ``p90``, ``p99``
PERCENTILES = (50, 90, 99)
#: the statistics of :func:`describe` besides its counts ``n`` and ``missing``, in order
DISTRIBUTION_STATS = ("mean", *(f"p{p}" for p in PERCENTILES), "min", "max")


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (well-behaved at 0, 1 and small n)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact at the ends, where float
    high = 1.0 if successes >= n else min(1.0, centre + half)  # rounding would leave 1e-17
    return (low, high)


def cluster_bootstrap_ci(
    clusters: Sequence[Sequence[float]], *, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of the overall mean, resampling whole clusters (problems).

    With k samples per problem the samples are not independent; resampling problems keeps the
    interval honest.
    """
    if not clusters:
        return (math.nan, math.nan)
    sums = np.array([sum(c) for c in clusters], dtype=float)
    sizes = np.array([len(c) for c in clusters], dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(clusters), size=(n_resamples, len(clusters)))
    means = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    return (float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def describe(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """The distribution summary every part of the package uses (eval summaries, report
    tables, load stages): ``n``, ``missing``, ``mean``, ``p50``, ``p90``, ``p99``, ``min``,
    ``max``.

    ``None`` values are counted in ``missing`` and left out; percentiles interpolate linearly
    between the present values. With none present, ``n`` is 0 and the statistics are None.
    """
    if isinstance(values, np.ndarray):  # a numeric array has no None: taken as it is, uncopied
        present, total = values, values.size
    else:
        items = list(values)
        present = np.asarray([v for v in items if v is not None], dtype=float)
        total = len(items)
    summary: dict[str, float | int | None] = {
        "n": int(present.size),
        "missing": total - int(present.size),
    }
    if present.size == 0:
        return summary | dict.fromkeys(DISTRIBUTION_STATS)
    summary["mean"] = float(present.mean(dtype=np.float64))
    for p, value in zip(PERCENTILES, np.percentile(present, PERCENTILES), strict=True):
        summary[f"p{p}"] = float(value)
    summary["min"] = float(present.min())
    summary["max"] = float(present.max())
    return summary
