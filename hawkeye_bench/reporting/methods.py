"""The paper's three columns as views of one trace: Baseline (Full), Hawkeye (CoT only), Full.

A view picks the stages that count: the baseline's single call; the reasoner alone (what the
paper's "CoT only" column times); every stage (Hawkeye end to end). From those stages come the
request's time, TTFT, tokens and mean time between tokens, all read from the StageResults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hawkeye_bench.summary import end_to_end_s
from hawkeye_bench.trace import StageResult, Trace

BASELINE = "Baseline (Full)"
COT_ONLY = "Hawkeye (CoT only)"
HAWKEYE_FULL = "Hawkeye (Full)"
#: display order of the methods in every table and figure
METHOD_ORDER = (BASELINE, COT_ONLY, HAWKEYE_FULL)


@dataclass(frozen=True)
class TraceTiming:
    """Latency figures of one trace under one view (None where a value was not measured)."""

    time_s: float | None
    ttft_s: float | None
    tokens: int | None
    tbt_s: float | None


def views_for(pipeline: str) -> tuple[str, ...]:
    """The paper columns a run of ``pipeline`` fills."""
    if pipeline == "baseline":
        return (BASELINE,)
    if pipeline == "hawkeye":
        return (COT_ONLY, HAWKEYE_FULL)
    return (pipeline,)  # another pipeline: its end-to-end figures under its own name


def view_stages(trace: Trace, view: str) -> list[StageResult]:
    if view == COT_ONLY:
        reasoner = trace.stage("reasoner")
        return [reasoner] if reasoner is not None else []
    return list(trace.stages)


def mean_tbt_s(stages: Sequence[StageResult]) -> float | None:
    """Generation time after the first token over the tokens after the first, pooled over stages.

    Per stage that is (latency - TTFT) / (tokens - 1), the TPOT of REFERENCE 4.1; pooling divides
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


METHOD_NAMES = {"baseline": "Baseline", "hawkeye": "Hawkeye"}


def method_name(pipeline: str) -> str:
    """How a pipeline is named in the accuracy table."""
    return METHOD_NAMES.get(pipeline, pipeline)


def accuracy_per_1k(accuracy: float | None, tokens: float | None) -> float | None:
    """Accuracy in percentage points per 1,000 (Full) tokens spent per answer."""
    if accuracy is None or not tokens:
        return None
    return accuracy * 100 / (tokens / 1000)


def method_sort_key(method: str) -> tuple[int, str]:
    return (
        (METHOD_ORDER.index(method), "") if method in METHOD_ORDER else (len(METHOD_ORDER), method)
    )
