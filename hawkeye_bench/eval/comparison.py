"""A pipeline's accuracy against its baseline on the same problems: the paired difference, its
95% interval and a non-inferiority verdict at a margin the user sets.

Each run's own interval cannot say whether two runs differ: the problems are shared, so the
comparison is paired. Per problem, each run's score is its share of correct samples (failed
items count as wrong, as in the accuracy itself); the difference is the mean over the shared
problems of candidate − baseline, in percentage points.

Its 95% interval: with one sample per problem (right or wrong in each run), Newcombe's hybrid
score interval for a difference of paired proportions (Newcombe 1998, method 10: Wilson
intervals of both accuracies combined with the runs' correlation), which stays honest with few
or no discordant problems (a bootstrap there collapses to a zero-width interval); the exact
McNemar test on the discordant problems is given beside it (two-sided p). With several samples
per problem, a paired bootstrap over problems (percentile, both runs' scores of a problem
resampled together); no interval when the differences do not vary.

Non-inferiority at margin M (percentage points): shown when the interval's lower end is above
−M (a one-sided test at 2.5%), inferior when its upper end is below −M, else not shown.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import numpy as np
from scipy.stats import binomtest

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import wilson_interval

Verdict = Literal["non-inferior", "not shown", "inferior"]

N_RESAMPLES = 10_000
#: resamples drawn at once (bounds memory: rows x problems indices)
_CHUNK = 500
BOOTSTRAP = f"paired bootstrap over problems ({N_RESAMPLES} resamples, percentile)"
NEWCOMBE = "Newcombe hybrid score interval for paired proportions (method 10)"
#: how the interval is computed, as the report states it
METHOD = f"{NEWCOMBE} with one sample per problem, else {BOOTSTRAP}"


class AccuracyComparisonJson(TypedDict):
    """:class:`AccuracyComparison`'s JSON form (``ci95_pp`` a two-item list)."""

    n_problems: int
    accuracy: float
    baseline_accuracy: float
    difference_pp: float
    ci95_pp: list[float] | None
    ci_method: str
    candidate_only: int | None
    baseline_only: int | None
    mcnemar_p: float | None
    margin_pp: float | None
    verdict: Verdict | None


@dataclass(frozen=True)
class AccuracyComparison:
    """summary.json's ``accuracy_vs_baseline``: candidate − baseline on the shared problems."""

    n_problems: int
    accuracy: float  # the candidate's, over the shared problems
    baseline_accuracy: float
    difference_pp: float
    #: [low, high] in percentage points; None where it cannot be computed (see ci_method)
    ci95_pp: tuple[float, float] | None
    ci_method: str
    #: problems only the candidate / only the baseline got right (one sample per problem)
    candidate_only: int | None
    baseline_only: int | None
    #: exact McNemar two-sided p on the discordant pairs (one sample per problem)
    mcnemar_p: float | None
    margin_pp: float | None
    #: None when no margin was given
    verdict: Verdict | None

    def to_dict(self) -> AccuracyComparisonJson:
        return {
            "n_problems": self.n_problems,
            "accuracy": self.accuracy,
            "baseline_accuracy": self.baseline_accuracy,
            "difference_pp": self.difference_pp,
            "ci95_pp": list(self.ci95_pp) if self.ci95_pp is not None else None,
            "ci_method": self.ci_method,
            "candidate_only": self.candidate_only,
            "baseline_only": self.baseline_only,
            "mcnemar_p": self.mcnemar_p,
            "margin_pp": self.margin_pp,
            "verdict": self.verdict,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccuracyComparison:
        ci = data.get("ci95_pp")
        return cls(**{**data, "ci95_pp": (ci[0], ci[1]) if ci is not None else None})


def verdict_at(ci95_pp: tuple[float, float] | None, margin_pp: float) -> Verdict:
    """Non-inferiority of the candidate at ``margin_pp`` from the difference's interval."""
    if ci95_pp is None:
        return "not shown"
    low, high = ci95_pp
    if low > -margin_pp:
        return "non-inferior"
    if high < -margin_pp:
        return "inferior"
    return "not shown"


def problem_scores(records: Iterable[Record]) -> dict[str, list[float]]:
    """Problem id -> 1.0/0.0 per sample (an item that failed or was not graded is 0.0)."""
    scores: dict[str, list[float]] = defaultdict(list)
    for record in records:
        scores[record.problem.id].append(1.0 if record.correct else 0.0)
    return dict(scores)


def paired_bootstrap_ci(
    differences: np.ndarray, *, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of the mean of per-problem differences, problems resampled."""
    rng = np.random.default_rng(seed)
    n = differences.size
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, _CHUNK):
        rows = min(_CHUNK, n_resamples - start)
        means[start : start + rows] = differences[rng.integers(0, n, size=(rows, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def newcombe_interval(both: int, ours: int, theirs: int, neither: int) -> tuple[float, float]:
    """95% interval of p_candidate − p_baseline from a paired 2x2 table: problems both runs got
    right, only the candidate (``ours``), only the baseline (``theirs``), neither."""
    n = both + ours + theirs + neither
    p1, p2 = (both + ours) / n, (both + theirs) / n
    l1, u1 = wilson_interval(both + ours, n)
    l2, u2 = wilson_interval(both + theirs, n)
    margins = (both + ours) * (theirs + neither) * (both + theirs) * (ours + neither)
    # the runs' correlation, continuity-corrected as in Newcombe's method 10
    cross = both * neither - ours * theirs
    corrected = cross - n / 2 if cross > n / 2 else min(cross, 0)
    phi = corrected / math.sqrt(margins) if margins else 0.0
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return (p1 - p2 - below, p1 - p2 + above)


def compare_scores(
    candidate: Mapping[str, list[float]],
    baseline: Mapping[str, list[float]],
    *,
    margin_pp: float | None = None,
    seed: int = 0,
) -> AccuracyComparison | None:
    """The paired comparison over the problems both score maps have; None when none is shared."""
    shared = sorted(set(candidate) & set(baseline))
    if not shared:
        return None
    cand = np.array([np.mean(candidate[p]) for p in shared])
    base = np.array([np.mean(baseline[p]) for p in shared])
    differences = (cand - base) * 100
    single = all(len(candidate[p]) == 1 and len(baseline[p]) == 1 for p in shared) and bool(
        np.isin(cand, (0.0, 1.0)).all() and np.isin(base, (0.0, 1.0)).all()
    )
    ci: tuple[float, float] | None = None
    candidate_only = baseline_only = None
    p_value = None
    if single:
        both = int(np.sum((cand == 1) & (base == 1)))
        candidate_only = int(np.sum((cand == 1) & (base == 0)))
        baseline_only = int(np.sum((cand == 0) & (base == 1)))
        neither = len(shared) - both - candidate_only - baseline_only
        low, high = newcombe_interval(both, candidate_only, baseline_only, neither)
        ci, method = (low * 100, high * 100), NEWCOMBE
        discordant = candidate_only + baseline_only
        p_value = float(binomtest(candidate_only, discordant).pvalue) if discordant else 1.0
    elif len(shared) < 2 or np.all(differences == differences[0]):
        method = "none (the per-problem differences do not vary: a bootstrap cannot bound them)"
    else:
        ci, method = paired_bootstrap_ci(differences, seed=seed), BOOTSTRAP
    return AccuracyComparison(
        n_problems=len(shared),
        accuracy=float(cand.mean()),
        baseline_accuracy=float(base.mean()),
        difference_pp=float(differences.mean()),
        ci95_pp=ci,
        ci_method=method,
        candidate_only=candidate_only,
        baseline_only=baseline_only,
        mcnemar_p=p_value,
        margin_pp=margin_pp,
        verdict=verdict_at(ci, margin_pp) if margin_pp is not None else None,
    )


def compare_accuracy(
    records: Iterable[Record],
    baseline: Iterable[Record],
    *,
    margin_pp: float | None = None,
) -> AccuracyComparison | None:
    """A run's records against its baseline run's, paired by problem id."""
    return compare_scores(problem_scores(records), problem_scores(baseline), margin_pp=margin_pp)


def comparison_line(comparison: AccuracyComparison) -> str:
    """One line for consoles: difference, interval, verdict."""
    ci = comparison.ci95_pp
    interval = f"95% CI [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci is not None else "no interval"
    if comparison.verdict is None:
        verdict = "no --margin: no non-inferiority verdict"
    else:
        verdict = f"non-inferiority at {comparison.margin_pp:g} pp: {comparison.verdict}"
    return (
        f"vs baseline    {comparison.difference_pp:+.1f} pp  {interval}  "
        f"({comparison.n_problems} shared problems; {verdict})"
    )
