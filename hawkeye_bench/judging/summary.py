"""``judge_summary.json``: scores, paired differences, agreement and length bias from results.

Only ``ok`` results count, and only those that rate every criterion asked for (a stored result
of another plan, with other criteria, is left out rather than half read). Per criterion the
unit of analysis is the question: samples of the same problem are averaged first, and candidate
and baseline are compared on the questions both have. The panel value of an answer is the mean
over the judges that rated it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import TypeGuard, TypeVar

import numpy as np

from hawkeye_bench.judging import stats
from hawkeye_bench.judging.answers import AnswerKey, RunAnswers
from hawkeye_bench.judging.config import Criterion, JudgeSpec
from hawkeye_bench.judging.pairwise import summarize as summarize_pairs
from hawkeye_bench.judging.parsing import FAILURE_STATUSES
from hawkeye_bench.judging.results import JudgeResult
from hawkeye_bench.judging.summary_file import (
    Agreement,
    AgreementPair,
    Comparison,
    CriterionInfo,
    JudgeCounts,
    JudgedRun,
    JudgeSummary,
    LengthBias,
    MeanScore,
    Nested,
    PairwiseEntry,
)

PANEL = "panel"
#: (source, criterion, run) -> answer key -> score; source is a judge name or PANEL.
ScoreTable = dict[tuple[str, str, str], dict[AnswerKey, float]]
V = TypeVar("V")


def _rates_all(values: dict[str, V] | None, criteria: Sequence[str]) -> TypeGuard[dict[str, V]]:
    return values is not None and bool(values) and all(c in values for c in criteria)


def _score_table(results: Iterable[JudgeResult], criteria: Sequence[str]) -> ScoreTable:
    table: ScoreTable = defaultdict(dict)
    for r in results:
        if r.task == "single" and r.repeat == 0 and r.ok and _rates_all(r.scores, criteria):
            for c in criteria:
                table[(r.judge, c, r.run)][(r.id, r.sample)] = float(r.scores[c])
    panel: dict[tuple[str, str], dict[AnswerKey, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (_, c, run), scores in list(table.items()):
        for key, value in scores.items():
            panel[(c, run)][key].append(value)
    for (c, run), per_key in panel.items():
        table[(PANEL, c, run)] = {k: float(np.mean(v)) for k, v in per_key.items()}
    return table


def _per_question(values: dict[AnswerKey, float], keys: Iterable[AnswerKey]) -> dict[str, float]:
    grouped: dict[str, list[float]] = defaultdict(list)
    for key in keys:
        grouped[key[0]].append(values[key])
    return {qid: float(np.mean(v)) for qid, v in grouped.items()}


def _log_length(run: RunAnswers, key: AnswerKey) -> float:
    return math.log1p(len(run.answers[key].text))


def _comparison(
    table: ScoreTable,
    source: str,
    criterion: str,
    baseline: RunAnswers,
    candidate: RunAnswers,
    n_resamples: int,
    seed: int,
) -> Comparison | None:
    base_scores = table.get((source, criterion, baseline.label), {})
    cand_scores = table.get((source, criterion, candidate.label), {})
    shared = [
        k
        for k in cand_scores
        if k in base_scores and k in candidate.answers and k in baseline.answers
    ]
    if not shared:
        return None
    cand_q = _per_question(cand_scores, shared)
    base_q = _per_question(base_scores, shared)
    questions = sorted(cand_q)
    cand = [cand_q[q] for q in questions]
    base = [base_q[q] for q in questions]
    diff = stats.paired_difference(cand, base, n_resamples=n_resamples, seed=seed)
    relative = stats.paired_relative_improvement(cand, base, n_resamples=n_resamples, seed=seed)
    length_diff = {k: _log_length(candidate, k) - _log_length(baseline, k) for k in shared}
    dx = _per_question(length_diff, shared)
    adjusted = stats.length_adjusted_difference(
        [c - b for c, b in zip(cand, base, strict=True)],
        [dx[q] for q in questions],
        n_resamples=n_resamples,
        seed=seed,
    )
    return Comparison(
        candidate=candidate.label,
        baseline=baseline.label,
        criterion=criterion,
        judge=source,
        n_questions=len(questions),
        n_answers=len(shared),
        mean_candidate=float(np.mean(cand)),
        mean_baseline=float(np.mean(base)),
        difference=diff,
        relative_improvement=relative,
        length_adjusted_difference=adjusted,
    )


def _judge_counts(
    results: Iterable[JudgeResult], judges: Sequence[JudgeSpec]
) -> tuple[JudgeCounts, ...]:
    by_judge: dict[str, Counter[str]] = {j.name: Counter() for j in judges}
    for r in results:
        by_judge.setdefault(r.judge, Counter())[r.status] += 1
    rows = []
    for spec in judges:
        counts = by_judge[spec.name]
        total = sum(counts.values())
        failed = sum(counts[s] for s in FAILURE_STATUSES)
        rows.append(
            JudgeCounts(
                judge=spec.name,
                model=spec.model,
                family=spec.family,
                provider=spec.provider,
                structured_output=spec.capabilities.structured_output,
                results=total,
                ok=counts["ok"],
                failures={s: counts[s] for s in FAILURE_STATUSES},
                failure_rate=failed / total if total else None,
            )
        )
    return tuple(rows)


def _agreement(
    table: ScoreTable, judges: Sequence[str], criterion: str, runs: Sequence[str]
) -> Agreement:
    units = sorted(
        {(run, key) for j in judges for run in runs for key in table.get((j, criterion, run), {})}
    )
    matrix = np.full((len(judges), len(units)), np.nan)
    for i, j in enumerate(judges):
        for u, (run, key) in enumerate(units):
            matrix[i, u] = table.get((j, criterion, run), {}).get(key, np.nan)
    pairs = []
    for (i, a), (k, b) in combinations(enumerate(judges), 2):
        both = ~np.isnan(matrix[i]) & ~np.isnan(matrix[k])
        xa, xb = matrix[i, both].astype(int).tolist(), matrix[k, both].astype(int).tolist()
        pairs.append(
            AgreementPair(
                judges=(a, b),
                n=int(both.sum()),
                kappa_quadratic=stats.weighted_kappa(xa, xb),
                spearman=stats.spearman(xa, xb),
            )
        )
    return Agreement(
        krippendorff_alpha_ordinal=stats.krippendorff_alpha(matrix) if len(judges) > 1 else None,
        n_answers=len(units),
        pairs=tuple(pairs),
    )


def _self_consistency(
    results: Sequence[JudgeResult], criteria: Sequence[str]
) -> Nested[stats.Consistency | None]:
    # (judge, run, id, sample) -> the scores of the first rating and of a repeat
    first: dict[tuple[str, str, str, int], dict[str, int]] = {}
    again: dict[tuple[str, str, str, int], dict[str, int]] = {}
    for r in results:
        if r.task == "single" and r.ok and _rates_all(r.scores, criteria):
            (first if r.repeat == 0 else again)[(r.judge, r.run, r.id, r.sample)] = r.scores
    out: Nested[stats.Consistency | None] = defaultdict(dict)
    for judge in sorted({k[0] for k in again}):
        keys = [k for k in again if k[0] == judge and k in first]
        for c in criteria:
            out[judge][c] = stats.self_consistency(
                [first[k][c] for k in keys],
                [again[k][c] for k in keys],
            )
    return dict(out)


def _length_bias(
    table: ScoreTable, runs: Sequence[RunAnswers], sources: Sequence[str], criteria: Sequence[str]
) -> Nested[LengthBias]:
    out: Nested[LengthBias] = defaultdict(dict)
    for source in sources:
        for c in criteria:
            scores, lengths = [], []
            for run in runs:
                for key, value in table.get((source, c, run.label), {}).items():
                    if key not in run.answers:
                        continue
                    scores.append(value)
                    lengths.append(len(run.answers[key].text))
            out[source][c] = LengthBias(stats.spearman(scores, lengths), len(scores))
    return dict(out)


def _pairwise(results: Sequence[JudgeResult], criteria: Sequence[str]) -> Nested[PairwiseEntry]:
    orders: dict[tuple, dict[str, JudgeResult]] = defaultdict(dict)
    for r in results:
        if r.task == "pairwise":
            orders[(r.run, r.against, r.judge, r.id, r.sample)][r.order] = r
    out: Nested[PairwiseEntry] = defaultdict(dict)
    for run, against, judge in sorted({k[:3] for k in orders}):
        items = [v for k, v in orders.items() if k[:3] == (run, against, judge)]
        # the verdicts of both orders, for the pairs where both rated every criterion
        complete: list[tuple[dict[str, str], dict[str, str]]] = []
        for v in items:
            ab, ba = v.get("AB"), v.get("BA")
            if ab is None or ba is None or not (ab.ok and ba.ok):
                continue
            if _rates_all(ab.verdicts, criteria) and _rates_all(ba.verdicts, criteria):
                complete.append((ab.verdicts, ba.verdicts))
        per_criterion = {
            c: summarize_pairs((ab[c], ba[c]) for ab, ba in complete) for c in criteria
        }
        out[f"{run} vs {against}"][judge] = PairwiseEntry(
            pairs=len(items),
            pairs_with_failed_order=len(items) - len(complete),
            criteria=per_criterion,
        )
    return dict(out)


def _sign_consistency(
    comparisons: Sequence[Comparison], judges: Sequence[str]
) -> Nested[bool | None]:
    """Per (candidate, criterion): does every judge's difference have the panel's sign?"""
    out: Nested[bool | None] = defaultdict(dict)
    by: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in comparisons:
        if row.difference is not None:
            by[(row.candidate, row.criterion)][row.judge] = row.difference.estimate
    for (cand, c), values in by.items():
        panel = values.get(PANEL)
        per_judge = [values[j] for j in judges if j in values]
        if panel is None or not per_judge:
            out[cand][c] = None
        else:
            out[cand][c] = all(np.sign(v) == np.sign(panel) for v in per_judge)
    return dict(out)


def build_summary(
    results: Sequence[JudgeResult],
    runs: Sequence[RunAnswers],
    judges: Sequence[JudgeSpec],
    criteria: Sequence[Criterion],
    *,
    n_resamples: int = stats.N_RESAMPLES,
    seed: int = 0,
) -> JudgeSummary:
    names = [c.name for c in criteria]
    judge_names = [j.name for j in judges]
    table = _score_table(results, names)
    sources = [*judge_names, PANEL]
    labels = [r.label for r in runs]
    means = {
        c: {
            s: {
                run: MeanScore(float(np.mean(list(v.values()))), len(v))
                for run in labels
                if (v := table.get((s, c, run)))
            }
            for s in sources
        }
        for c in names
    }
    comparisons = tuple(
        row
        for cand in runs[1:]
        for c in names
        for s in sources
        if (row := _comparison(table, s, c, runs[0], cand, n_resamples, seed)) is not None
    )
    return JudgeSummary(
        baseline=labels[0] if labels else None,
        runs=tuple(JudgedRun(r.label, str(r.path), len(r.answers), r.skipped_errors) for r in runs),
        criteria=tuple(
            CriterionInfo(c.name, c.version, (c.scale.min, c.scale.max)) for c in criteria
        ),
        judges=_judge_counts(results, judges),
        means=means,
        comparisons=comparisons,
        sign_consistent_with_panel=_sign_consistency(comparisons, judge_names),
        agreement={c: _agreement(table, judge_names, c, labels) for c in names},
        self_consistency=_self_consistency(results, names),
        length_bias=_length_bias(table, runs, sources, names),
        pairwise=_pairwise(results, names),
        confidence=stats.CONFIDENCE,
        bootstrap_resamples=n_resamples,
    )
