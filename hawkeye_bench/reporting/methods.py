"""The paper's columns as views of one trace: Baseline (Full), Hawkeye (CoT only), Hawkeye (Full).

A view picks the stages that count: every stage ("<Name> (Full)", end to end), or the
pipeline's CoT role alone ("<Name> (CoT only)", what the paper's "CoT only" column times).
From those stages come the request's time, TTFT, tokens and mean time between tokens, all read
from the StageResults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.eval.summary import end_to_end_s
from hawkeye_bench.pipelines import cot_role_of, display_name, registered

COT_ONLY = "(CoT only)"
FULL = "(Full)"


@dataclass(frozen=True)
class TraceTiming:
    """Latency figures of one trace under one view (None where a value was not measured)."""

    time_s: float | None
    ttft_s: float | None
    tokens: int | None
    tbt_s: float | None


def views_for(pipeline: str) -> tuple[str, ...]:
    """The paper columns a run of ``pipeline`` fills: "<Name> (Full)", preceded by
    "<Name> (CoT only)" when the pipeline has a CoT role."""
    name = display_name(pipeline)
    if cot_role_of(pipeline) is not None:
        return (f"{name} {COT_ONLY}", f"{name} {FULL}")
    return (f"{name} {FULL}",)


def view_stages(trace: Trace, view: str) -> list[StageResult]:
    if view.endswith(COT_ONLY):
        cot_role = cot_role_of(trace.pipeline)
        cot = trace.stage(cot_role) if cot_role is not None else None
        return [cot] if cot is not None else []
    return list(trace.stages)


def is_baseline_method(method: str) -> bool:
    """Whether a view or method label belongs to a baseline pipeline."""
    return any(
        method in (cls.display_name, f"{cls.display_name} {FULL}")
        for cls in registered().values()
        if cls.is_baseline
    )


def mean_tbt_s(stages: Sequence[StageResult]) -> float | None:
    """Generation time after the first token over the tokens after the first, pooled over stages.

    Per stage that is (latency - TTFT) / (tokens - 1), the usual TPOT; pooling divides
    the summed times by the summed token gaps so long stages weigh by their tokens.
    """
    time_sum, gaps = 0.0, 0
    for stage in stages:
        if stage.latency_s is None or stage.ttft_s is None or stage.completion_tokens is None:
            return None
        if stage.completion_tokens < 2:
            continue
        time_sum += stage.latency_s - stage.ttft_s
        gaps += stage.completion_tokens - 1
    return time_sum / gaps if gaps else None


def trace_timing(trace: Trace, view: str) -> TraceTiming | None:
    """The view's figures for a successful trace; None if the trace failed or lacks the stages."""
    stages = view_stages(trace, view)
    if not trace.ok or not stages:
        return None
    if len(stages) == 1:
        time_s = stages[0].latency_s
    else:
        time_s = end_to_end_s(Trace(trace.pipeline, stages))
    counts = [s.completion_tokens for s in stages]
    tokens = None if any(c is None for c in counts) else sum(c for c in counts if c is not None)
    return TraceTiming(
        time_s=time_s, ttft_s=stages[0].ttft_s, tokens=tokens, tbt_s=mean_tbt_s(stages)
    )


def method_name(pipeline: str) -> str:
    """How a pipeline is named in the accuracy table."""
    return display_name(pipeline)


def accuracy_per_1k(accuracy: float | None, tokens: float | None) -> float | None:
    """Accuracy in percentage points per 1,000 (Full) tokens spent per answer."""
    if accuracy is None or not tokens:
        return None
    return accuracy * 100 / (tokens / 1000)


def method_sort_key(method: str) -> tuple[int, str]:
    """Baselines first, then CoT-only views, then the rest, each by name."""
    if is_baseline_method(method):
        return (0, method)
    return (1 if method.endswith(COT_ONLY) else 2, method)
