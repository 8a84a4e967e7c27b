"""Per-sample metrics for the hawkeye_* tasks (``process_results``) and the keep-all filter.

From a :class:`PipelineAnswer` (the hawkeye model) every metric below is read off the Record;
from a plain string (any other lm-eval model) only ``exact_match`` can be honest, because
lm-eval's API models record no usage, reasoning or timing.

- ``exact_match``: the shared grader's verdict (:mod:`hawkeye_bench.grading.workers`, as
  ``hawkeye-bench eval``); a failed request is wrong. With k samples: the mean (avg@k), plus
  ``pass@k``.
- ``request_error``: 1 when the request failed after retries (it is also scored wrong).
- ``cot_tokens`` / ``response_tokens`` / ``total_tokens``: completion tokens of the reasoner /
  responder / all stages (the paper's CoT-only and Full). For a one-stage pipeline the split is
  at the think boundary: no thinking text means 0 CoT tokens; thinking with a server-given
  reasoning count splits by that count; inline thinking without one gives the total only.
  Only counts from the server's ``usage`` or its tokenize endpoint are used; counted chunks
  are approximate and stay in the traces sidecar only. A count nobody gave is left out.
- ``finish_length``: 1 when any stage stopped at its token limit.
- ``latency_s`` (first request sent to last token), ``ttft_s`` (of the first stage) and
  ``<role>_latency_s`` per stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hawkeye_bench.core.stats import pass_at_k
from hawkeye_bench.core.trace import EXACT_TOKEN_SOURCES, StageResult, Trace
from hawkeye_bench.eval.summary import end_to_end_s
from hawkeye_bench.grading.context import AnswerContext
from hawkeye_bench.grading.workers import grade
from hawkeye_bench.lmeval.answer import PipelineAnswer
from hawkeye_bench.pipelines import cot_role_of


def exact_tokens(stage: StageResult | None) -> int | None:
    """The stage's completion tokens when the server counted them; else None."""
    if stage is None or not stage.ok or stage.token_source not in EXACT_TOKEN_SOURCES:
        return None
    return stage.completion_tokens


def _split_single(stage: StageResult) -> tuple[int | None, int | None]:
    """(cot, response) tokens of a one-model answer, split at the think boundary."""
    total = exact_tokens(stage)
    if total is None:
        return None, None
    if not stage.thinking:
        return 0, total
    if stage.reasoning_tokens is not None and stage.reasoning_tokens <= total:
        return stage.reasoning_tokens, total - stage.reasoning_tokens
    return None, None


def token_metrics(trace: Trace) -> dict[str, int]:
    """cot_tokens (the pipeline's CoT role; for a one-model answer, its thinking),
    response_tokens (the final stage's answer) and total_tokens, where counted exactly."""
    counts: dict[str, int | None] = {}
    cot_role = cot_role_of(trace.pipeline)
    final = trace.stages[-1] if trace.stages else None
    if cot_role is not None:
        counts["cot_tokens"] = exact_tokens(trace.stage(cot_role))
        counts["response_tokens"] = exact_tokens(final) if final is not None else None
    elif final is not None and len(trace.stages) == 1:
        counts["cot_tokens"], counts["response_tokens"] = _split_single(final)
    stage_counts = [exact_tokens(s) for s in trace.stages]
    if stage_counts and all(c is not None for c in stage_counts):
        counts["total_tokens"] = sum(c for c in stage_counts if c is not None)
    return {name: value for name, value in counts.items() if value is not None}


def timing_metrics(trace: Trace) -> dict[str, float]:
    """latency_s (end to end), ttft_s (first stage), cot_latency_s (the CoT role's stage) and
    answer_latency_s (the final stage), in seconds."""
    timings: dict[str, float] = {}
    cot_role = cot_role_of(trace.pipeline)
    cot = trace.stage(cot_role) if cot_role is not None else None
    final = trace.stages[-1] if trace.stages else None
    for name, stage in (("cot_latency_s", cot), ("answer_latency_s", final)):
        if stage is not None and stage.ok and stage.latency_s is not None:
            timings[name] = stage.latency_s
    if trace.stages and trace.stages[0].ttft_s is not None:
        timings["ttft_s"] = trace.stages[0].ttft_s
    e2e = end_to_end_s(trace)
    if e2e is not None:
        timings["latency_s"] = e2e
    return timings


def answer_metrics(doc: dict[str, Any], response: Any) -> dict[str, float]:
    """Metrics of one generation for one document."""
    if isinstance(response, PipelineAnswer):
        record = response.record
        metrics: dict[str, float] = {
            "exact_match": 1.0 if record.correct else 0.0,
            "request_error": 1.0 if response.failed else 0.0,
        }
        if response.failed:
            return metrics
        trace = record.trace
        metrics.update(token_metrics(trace))
        metrics["finish_length"] = 1.0 if any(s.truncated for s in trace.stages) else 0.0
        metrics.update(timing_metrics(trace))
        return metrics
    # the grader removes thinking itself (and reads a think block's final box when cut after it)
    question = doc.get("question")
    context = AnswerContext(question=str(question) if question is not None else None)
    verdict = grade(str(response), str(doc["gold"]), str(doc["dataset"]), context)
    return {"exact_match": 1.0 if verdict.correct else 0.0}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def combine_samples(per_sample: Sequence[dict[str, float]]) -> dict[str, float]:
    """k samples of one document: every metric averaged over the samples that have it
    (exact_match becomes avg@k), plus the unbiased ``pass@k``."""
    names = sorted({name for metrics in per_sample for name in metrics})
    combined = {name: _mean([m[name] for m in per_sample if name in m]) for name in names}
    k = len(per_sample)
    correct = sum(1 for m in per_sample if m["exact_match"] == 1.0)
    combined[f"pass@{k}"] = pass_at_k(k, correct, k)
    return combined


def process_results(doc: dict[str, Any], results: Sequence[Any]) -> dict[str, float]:
    """lm-eval's ``process_results`` for every hawkeye_* task.

    ``results[0]`` is one generation (after ``take_first``) or the list of a document's k
    repeats (after the ``keep_all_samples`` filter, for avg@k and pass@k).
    """
    response = results[0]
    if isinstance(response, (list, tuple)):
        if not response:
            raise ValueError(f"document {doc.get('id')!r}: no generations to score")
        if len(response) > 1:
            return combine_samples([answer_metrics(doc, r) for r in response])
        response = response[0]
    return answer_metrics(doc, response)


def keep_all_samples(resps: list[list[Any]], docs: list[dict[str, Any]]) -> list[list[Any]]:
    """Identity filter (``filter: custom``): keep all k repeats of each document."""
    return resps
