"""summary.json: accuracy with intervals, tokens per stage (with their source), latency, errors.

Token definitions follow the paper: Baseline (Full) = the single model's completion tokens;
Hawkeye (CoT only) = the reasoner's completion tokens; Hawkeye (Full) = reasoner + responder.
Compression ratio = 1 - CoT-only / Baseline-Full, over the problems both runs answered.

:func:`summarize` computes a :class:`RunSummary` (the payload's types are
:mod:`hawkeye_bench.eval.summary_types`); the eval runner and ``import`` store it through
:class:`~hawkeye_bench.eval.store.RunStore`, the report recomputes it from the records.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import cluster_bootstrap_ci, describe, pass_at_k, wilson_interval
from hawkeye_bench.core.trace import EXACT_TOKEN_SOURCES, StageResult, Trace
from hawkeye_bench.endpoints.replica_report import ReplicaSetReport
from hawkeye_bench.eval.analyses import Overthinking
from hawkeye_bench.eval.comparison import compare_accuracy
from hawkeye_bench.eval.summary_types import (
    AccuracySummary,
    BaselineSummary,
    CompressionSummary,
    ErrorSummary,
    OverthinkingSummary,
    RunSummary,
    StageSummary,
    TokenSummary,
)
from hawkeye_bench.pipelines import chunked_roles_of, cot_role_of
from hawkeye_bench.routing.summary import route_summary


def _stage_end(stage: StageResult) -> float:
    """When a call was last busy: its last token, else (a call that streamed no token, such
    as a route chunk that ends at once) the end of its response, else its send."""
    return stage.started_at + next(
        (t for t in (stage.latency_s, stage.duration_s) if t is not None), 0.0
    )


def end_to_end_s(trace: Trace) -> float | None:
    """Send of the first stage -> the last token of any stage (stage 2 waits for stage 1).

    A call with no token counts until its response ended, so an item with a zero-token call
    keeps its whole time (records written before calls kept that end: until its send). None
    only when a call without latency has no send time either (an imported stage without
    timings), or when there is no stage.
    """
    stages = trace.stages
    if not stages or any(s.latency_s is None and not s.started_at for s in stages):
        return None
    return max(_stage_end(s) for s in stages) - stages[0].started_at


def total_completion_tokens(trace: Trace) -> int | None:
    counts = [s.completion_tokens for s in trace.stages]
    if not counts or any(c is None for c in counts):
        return None
    return sum(c for c in counts if c is not None)


def cot_only_tokens(trace: Trace) -> int | None:
    """The paper's CoT-only column for one trace: its CoT role's completion tokens (None for a
    pipeline without one); its Full column is :func:`total_completion_tokens`."""
    cot_role = cot_role_of(trace.pipeline)
    cot = trace.stage(cot_role) if cot_role is not None else None
    return cot.completion_tokens if cot is not None else None


def cut_short(trace: Trace, stage: StageResult) -> bool:
    """The call stopped at its token limit: for a role the pipeline calls in chunks, whose
    limit ends each call by design, only the item's last call counts."""
    if stage.role in chunked_roles_of(trace.pipeline):
        return stage.truncated and stage is trace.stages[-1]
    return stage.truncated


def _stage_summary(stages: list[StageResult], cut: set[int]) -> StageSummary:
    """One role's calls; ``cut``: the ids of those cut short (see :func:`cut_short`)."""
    ok = [s for s in stages if s.ok]
    return StageSummary(
        calls=len(stages),
        errors=len(stages) - len(ok),
        completion_tokens=describe([s.completion_tokens for s in ok]),
        prompt_tokens=describe([s.prompt_tokens for s in ok]),
        token_sources=dict(Counter(s.token_source or "missing" for s in ok)),
        truncated_share=(sum(id(s) in cut for s in ok) / len(ok)) if ok else None,
        ttft_s=describe([s.ttft_s for s in ok]),
        latency_s=describe([s.latency_s for s in ok]),
    )


def accuracy_summary(records: Sequence[Record]) -> AccuracySummary:
    """Accuracy over all items (errors count as wrong) with a 95% interval, and pass@k."""
    by_problem: dict[str, list[float]] = defaultdict(list)
    for record in records:
        by_problem[record.problem.id].append(1.0 if record.correct else 0.0)
    n = len(records)
    correct = sum(1 for r in records if r.correct)
    graded = [r for r in records if r.correct is not None]
    k = max((len(v) for v in by_problem.values()), default=0)
    if k <= 1:
        low, high = wilson_interval(correct, n)
        method = "wilson"
    else:
        low, high = cluster_bootstrap_ci(list(by_problem.values()))
        method = "bootstrap over problems"
    result = AccuracySummary(
        mean=correct / n if n else None,
        ci95=(low, high),
        ci_method=method,
        correct=correct,
        n=n,
        n_graded=len(graded),
        mean_excluding_errors=(
            sum(1 for r in graded if r.correct) / len(graded) if graded else None
        ),
    )
    if k > 1:
        full = {pid: v for pid, v in by_problem.items() if len(v) == k}
        result.samples_per_problem = k
        result.avg_at_k = sum(sum(v) / k for v in full.values()) / len(full) if full else None
        result.pass_at = {
            str(j): sum(pass_at_k(k, int(sum(v)), j) for v in full.values()) / len(full)
            for j in sorted({1, k} | {j for j in (2, 4, 8, 16) if j < k})
            if full
        }
    return result


def compression_summary(
    records: Sequence[Record], baseline: Sequence[Record]
) -> CompressionSummary:
    """Compression of CoT-only tokens against the baseline's full tokens, paired by problem."""
    cot = _mean_by_problem(records, cot_only_tokens)
    base = _mean_by_problem(baseline, total_completion_tokens)
    shared = sorted(set(cot) & set(base))
    if not shared:
        return CompressionSummary(n_problems=0, note="no problem answered by both")
    cot_mean = sum(cot[p] for p in shared) / len(shared)
    base_mean = sum(base[p] for p in shared) / len(shared)
    return CompressionSummary(
        n_problems=len(shared),
        cot_only_tokens=cot_mean,
        baseline_full_tokens=base_mean,
        ratio_percent=(1 - cot_mean / base_mean) * 100 if base_mean else None,
    )


def _mean_by_problem(
    records: Sequence[Record], count: Callable[[Trace], int | None]
) -> dict[str, float]:
    values: dict[str, list[int]] = defaultdict(list)
    for record in records:
        if record.trace.ok and (c := count(record.trace)) is not None:
            values[record.problem.id].append(c)
    return {pid: sum(v) / len(v) for pid, v in values.items()}


def _stages_by_role(records: Sequence[Record]) -> tuple[dict[str, list[StageResult]], set[int]]:
    """Each role's calls, and the ids of those cut short (:func:`cut_short`)."""
    by_role: dict[str, list[StageResult]] = defaultdict(list)
    cut: set[int] = set()
    for record in records:
        for stage in record.trace.stages:
            by_role[stage.role].append(stage)
            if cut_short(record.trace, stage):
                cut.add(id(stage))
    return by_role, cut


def error_summary(records: Sequence[Record]) -> ErrorSummary:
    """Failed items, counted by the error type of their first failed stage."""
    errors = [r for r in records if r.error]
    by_type = Counter(
        next((s.error_type or "error" for s in r.trace.stages if s.error), "no stage")
        for r in errors
    )
    share = len(errors) / len(records) if records else 0.0
    return ErrorSummary(count=len(errors), share=share, by_type=dict(by_type))


def overthinking_summary(records: Sequence[Record]) -> OverthinkingSummary | None:
    """eval.analyses' measure over the run: the CoT's words after the answer was already right
    (None when no record has one)."""
    measured = [m for r in records if (m := Overthinking.of_record(r)) is not None]
    if not measured:
        return None
    return OverthinkingSummary(
        n=len(measured),
        n_right_before_end=sum(1 for m in measured if m.first_correct_at is not None),
        share_after_first_correct=describe([m.share_after_first_correct for m in measured]),
    )


def summarize(
    records: Sequence[Record],
    *,
    baseline: Sequence[Record] | None = None,
    replicas: Sequence[ReplicaSetReport] = (),
    margin_pp: float | None = None,
) -> RunSummary:
    """summary.json; with ``baseline`` (its run's records) also the compression ratio and the
    paired accuracy difference, judged non-inferior or not at ``margin_pp`` when given."""
    by_role, cut = _stages_by_role(records)
    ok_traces = [r.trace for r in records if r.trace.ok]
    vs_baseline = None
    if baseline is not None:
        comparison = compare_accuracy(records, baseline, margin_pp=margin_pp)
        vs_baseline = BaselineSummary(compression_summary(records, baseline), comparison)
    return RunSummary(
        n=len(records),
        n_problems=len({r.problem.id for r in records}),
        accuracy=accuracy_summary(records),
        errors=error_summary(records),
        grading_errors=sum(1 for r in records if r.grade_error),
        # answers where no extraction rule could tell which number is the answer (wrong)
        ambiguous_extractions=sum(1 for r in records if r.extra.get("extraction_ambiguous")),
        # stage counts that are not exact (counted chunks, or no count at all)
        approximate_token_counts=sum(
            1
            for stages in by_role.values()
            for s in stages
            if s.ok and s.token_source not in EXACT_TOKEN_SOURCES
        ),
        stages={role: _stage_summary(stages, cut) for role, stages in by_role.items()},
        tokens=TokenSummary(
            cot_only=describe([cot_only_tokens(t) for t in ok_traces]),
            full=describe([total_completion_tokens(t) for t in ok_traces]),
        ),
        end_to_end_s=describe([end_to_end_s(t) for t in ok_traces]),
        overthinking=overthinking_summary(records),
        # the route pipeline: routed share, uploads, time split
        route=route_summary(records),
        vs_baseline=vs_baseline,
        # this session's calls per replica (a resumed run counts anew)
        replicas=list(replicas) or None,
    )
