"""Latency statistics from raw request records, with numpy.

Which statistics exist, and how each is taken from a record, is the load metric registry
(:mod:`hawkeye_bench.load.registry`); the built-in metrics are registered at the end of this
module, after the per-record computations they use. Percentiles come from the raw samples
(linear interpolation), never from Locust's bucketed histograms. Requests are pooled across
processes sample by sample. Only *measured* requests count (sent after the warmup, not cut by
the load generator); latency figures use the ones that succeeded, failures are counted and
listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from hawkeye_bench.core.stats import PERCENTILES, describe
from hawkeye_bench.load.records import RequestRecord
from hawkeye_bench.load.registry import (
    LoadMetric,
    load_metric,
    load_metrics,
    register_load_metric,
    slo_metric_names,
)
from hawkeye_bench.load.stream import COT_END_LAST_REASONING, REASONING

#: a chunk gap below this is "near zero": chunks that arrived together (buffering, batching)
NEAR_ZERO_GAP_MS = 1.0
ERROR_EXAMPLES = 5


def distribution(values: Iterable[float]) -> dict[str, float | int] | None:
    """:func:`hawkeye_bench.core.stats.describe` of raw samples as ``load_results.json`` has it: n,
    mean, p50/p90/p99, min, max (samples never miss, so no ``missing``); None when there are
    none."""
    summary = describe(values)
    if not summary["n"]:
        return None
    # with samples present no statistic is None
    return {k: v for k, v in summary.items() if k != "missing" and v is not None}


def share_below(values: Sequence[float] | np.ndarray, threshold: float) -> float | None:
    array = np.asarray(values, dtype=float)
    return float((array < threshold).mean()) if array.size else None


def _chunk_arrays(record: RequestRecord) -> tuple[np.ndarray, np.ndarray]:
    if not record.chunks:
        return np.empty(0), np.empty(0)
    times = np.fromiter((c[0] for c in record.chunks), dtype=float, count=len(record.chunks))
    tokens = np.fromiter((c[1] for c in record.chunks), dtype=float, count=len(record.chunks))
    return times, tokens


def chunk_gaps(record: RequestRecord) -> np.ndarray:
    """Gaps between consecutive token-bearing chunks of one request (ms)."""
    times, _ = _chunk_arrays(record)
    return np.diff(times)


def per_token_gap_source(record: RequestRecord) -> str:
    """How the tokens per chunk of one request are known (see :func:`per_token_gaps`)."""
    if record.chunk_tokens_source == "usage":
        return "usage"
    if (
        record.output_tokens_source == "usage"
        and record.output_tokens
        and len(record.chunks) > 0
        and record.output_tokens != len(record.chunks)
    ):
        return "usage_spread"
    return "chunks"


def per_token_gaps(record: RequestRecord) -> tuple[np.ndarray, str]:
    """Per-token gaps of one request and how the tokens per chunk were known.

    ``usage``: the server's cumulative usage per chunk (exact). ``usage_spread``: only the
    total is known from usage, spread evenly over the chunks. ``chunks``: one token per chunk.
    A gap is repeated once per token it covers, so the mean is sum(gaps) / tokens.
    """
    times, tokens = _chunk_arrays(record)
    gaps = np.diff(times)
    source = per_token_gap_source(record)
    if not gaps.size:
        return gaps, source
    if source == "usage_spread":  # equal weights: every chunk holds the same count
        return gaps / ((record.output_tokens or 0) / len(record.chunks)), source
    counts = np.maximum(tokens[1:], 1).astype(int)  # a 0-token delta counts as one token
    return np.repeat(gaps / counts, counts), source


def cot_end(record: RequestRecord) -> tuple[float | None, str | None]:
    """(send -> end of the chain of thought, its source); records written before the stage
    marker was read fall back to the last reasoning chunk, like the meter does."""
    if record.cot_end_ms is not None:
        return record.cot_end_ms, record.cot_end_source or COT_END_LAST_REASONING
    times = [c[0] for c in record.chunks if c[2] == REASONING]
    return (times[-1], COT_END_LAST_REASONING) if times else (None, None)


def reasoning_end_ms(record: RequestRecord) -> float | None:
    return cot_end(record)[0]


def cot_tokens(record: RequestRecord) -> int | None:
    """Tokens of the chain of thought; records written before they were counted: the
    reasoning tokens."""
    return record.cot_tokens if record.cot_tokens is not None else record.reasoning_tokens


def cot_per_token_gaps(record: RequestRecord) -> np.ndarray:
    """Per-token gaps within the chain of thought (the chunks up to its end), weighted as
    :func:`per_token_gaps` weighs them."""
    gaps, _ = per_token_gaps(record)
    end, _ = cot_end(record)
    if end is None:
        return np.empty(0)
    if record.cot_chunks is not None:
        chunks = record.cot_chunks
    else:  # no marker: the chunks up to the last reasoning one (rows keep 4 decimals)
        chunks = sum(1 for c in record.chunks if c[0] <= end + 1e-3)
    if chunks < 2:
        return np.empty(0)
    if per_token_gap_source(record) == "usage_spread":
        return gaps[: chunks - 1]
    counts = np.maximum(np.array([c[1] for c in record.chunks[1:chunks]], dtype=float), 1)
    return gaps[: int(counts.astype(int).sum())]


def tpot_ms(record: RequestRecord) -> float | None:
    if record.e2e_ms is None or record.ttft_ms is None or not record.output_tokens:
        return None
    if record.output_tokens < 2:
        return None
    return (record.e2e_ms - record.ttft_ms) / (record.output_tokens - 1)


def delivery_lags(record: RequestRecord) -> list[float]:
    """Server write -> client read per chunk, for chunks the server stamped (ms)."""
    return [c[3] for c in record.chunks if len(c) > 3]


def request_counts(records: Sequence[RequestRecord]) -> dict[str, int]:
    measured = [r for r in records if r.measured]
    return {
        "recorded": len(records),
        "warmup": sum(r.warmup for r in records),
        "incomplete": sum(r.incomplete and not r.warmup for r in records),
        "measured": len(measured),
        "ok": sum(r.error is None for r in measured),
        "errors": sum(r.error is not None for r in measured),
        "refused": sum(refused(r) for r in records),
    }


def refused(record: RequestRecord) -> bool:
    """The request found no server: its connection was refused (no HTTP response)."""
    return record.status is None and "refused" in (record.error or "").lower()


def stage_metrics(
    records: Sequence[RequestRecord], slo: dict[str, float] | None = None
) -> dict[str, Any]:
    """All statistics of one stage (one target at one concurrency)."""
    measured = [r for r in records if r.measured]
    ok = [r for r in measured if r.error is None]
    metrics = {m.name: distribution(m.samples(ok)) for m in load_metrics()}
    gap_arrays = [chunk_gaps(r) for r in ok]
    all_chunk_gaps = np.concatenate(gap_arrays) if gap_arrays else np.empty(0)
    result = {
        "requests": request_counts(records),
        "metrics": metrics,
        "token_sources": dict(Counter(r.output_tokens_source or "none" for r in ok)),
        "tbt_token_sources": dict(Counter(per_token_gap_source(r) for r in ok)),
        "cot_end_sources": dict(Counter(s for r in ok if (s := cot_end(r)[1]) is not None)),
        "near_zero_gap_ms": NEAR_ZERO_GAP_MS,
        "near_zero_gap_share": share_below(all_chunk_gaps, NEAR_ZERO_GAP_MS),
        "throughput": throughput(measured),
        "errors_by_message": dict(
            Counter(_error_kind(r.error) for r in measured if r.error).most_common(ERROR_EXAMPLES)
        ),
    }
    if slo:
        result["goodput"] = goodput(records, slo)
    return result


def _error_kind(error: str | None) -> str:
    return (error or "")[:120]


def request_value(record: RequestRecord, metric: str) -> float | int | None:
    """One request's value of a per-request metric (what an SLO bound is checked against)."""
    return load_metric(metric).value(record)


def goodput(records: Sequence[RequestRecord], slo: dict[str, float]) -> dict[str, Any]:
    """Share of measured requests that succeeded and met every SLO bound (vLLM's goodput).

    A failed request, or one missing a bounded value (no content token for ttft_content_ms),
    does not meet the SLO.
    """
    measured = [r for r in records if r.measured]
    good = 0
    for record in measured:
        values = [request_value(record, metric) for metric in slo]
        if record.error is None and all(
            v is not None and v <= bound for v, bound in zip(values, slo.values(), strict=True)
        ):
            good += 1
    return {
        "slo": slo,
        "good": good,
        "measured": len(measured),
        "share": good / len(measured) if measured else None,
    }


def throughput(measured: Sequence[RequestRecord]) -> dict[str, float | None]:
    """Finished requests and output tokens per second over the measured window (on the
    wall clock when the requests came from several machines: perf_counter differs there)."""
    one_host = len({r.host for r in measured}) <= 1

    def sent(record: RequestRecord) -> float:
        return record.t_send_perf if one_host else record.t_send_wall

    ends = [
        sent(r) + (r.e2e_done_ms or r.e2e_ms or 0.0) / 1000.0
        for r in measured
        if r.e2e_done_ms is not None or r.e2e_ms is not None
    ]
    if not measured or not ends:
        return {"window_s": None, "requests_per_s": None, "output_tokens_per_s": None}
    window = max(ends) - min(sent(r) for r in measured)
    tokens = sum(r.output_tokens or 0 for r in measured if r.error is None)
    if window <= 0:
        return {"window_s": window, "requests_per_s": None, "output_tokens_per_s": None}
    return {
        "window_s": window,
        "requests_per_s": len(measured) / window,
        "output_tokens_per_s": tokens / window,
    }


# ----------------------------------------------------------------------------- built-in metrics

#: registry order = the order of ``load_results.json`` and of the printed definitions;
#: ``csv_rank`` keeps the CSV's column order
BUILTIN_LOAD_METRICS = (
    LoadMetric(
        "e2e_ms",
        "ms",
        "E2E / Time per Req: send -> last token-bearing chunk",
        per_request=attrgetter("e2e_ms"),
        csv_rank=0,
        table_column="time",
        table_stats=("mean", *(f"p{p}" for p in PERCENTILES)),
        slo=True,
    ),
    LoadMetric(
        "e2e_done_ms",
        "ms",
        "send -> `data: [DONE]`",
        per_request=attrgetter("e2e_done_ms"),
        csv_rank=11,
    ),
    LoadMetric(
        "tt_ack_ms",
        "ms",
        "TT_ACK: send -> first SSE chunk of any kind (role-only included)",
        per_request=attrgetter("tt_ack_ms"),
        csv_rank=5,
    ),
    LoadMetric(
        "ttft_ms",
        "ms",
        "TTFT: send -> first non-empty token chunk (reasoning or content)",
        per_request=attrgetter("ttft_ms"),
        csv_rank=1,
        table_column="ttft",
        table_stats=("mean", *(f"p{p}" for p in PERCENTILES)),
        slo=True,
    ),
    LoadMetric(
        "ttft_reasoning_ms",
        "ms",
        "TTFT-reasoning: send -> first reasoning token",
        per_request=attrgetter("ttft_reasoning_ms"),
        csv_rank=3,
        cot_only_column="ttft",
    ),
    LoadMetric(
        "ttft_content_ms",
        "ms",
        "TTFT-content: send -> first answer (content) token; for Hawkeye the first stage-2 token",
        per_request=attrgetter("ttft_content_ms"),
        csv_rank=2,
        slo=True,
    ),
    LoadMetric(
        "tbt_ms",
        "ms",
        "TBT (Avg TBT), per token: each gap between consecutive token-bearing chunks divided by "
        "the tokens in the later chunk, pooled over requests",
        pooled=lambda record: per_token_gaps(record)[0],
        csv_rank=6,
        table_column="tbt",
    ),
    LoadMetric(
        "cot_tbt_ms",
        "ms",
        "CoT TBT, per token: the TBT gaps within the chain of thought (up to its end, see "
        "reasoning_end_ms), pooled over requests",
        pooled=cot_per_token_gaps,
        csv_rank=13,
        cot_only_column="tbt",
    ),
    LoadMetric(
        "reasoning_end_ms",
        "ms",
        "CoT end: send -> last token before the server's `x_hawkeye.stage_end` marker (Hawkeye: "
        "end of the stage-1 CoT as the client sees it, the paper's 'CoT only' time); without a "
        "marker, the last reasoning token, which then includes any reasoning of a final stage "
        "(counted in cot_end_sources)",
        per_request=reasoning_end_ms,
        csv_rank=4,
        cot_only_column="time",
    ),
    LoadMetric(
        "chunk_gap_ms",
        "ms",
        "gaps between consecutive token-bearing chunks, pooled (ITL)",
        pooled=chunk_gaps,
        csv_rank=7,
    ),
    LoadMetric(
        "tpot_ms",
        "ms",
        "TPOT: (E2E - TTFT) / (output tokens - 1), per request",
        per_request=tpot_ms,
        csv_rank=8,
        slo=True,
    ),
    LoadMetric(
        "output_tokens",
        "tokens",
        "Tokens: completion tokens per request (usage, else counted)",
        per_request=attrgetter("output_tokens"),
        csv_rank=9,
        table_column="tokens",
    ),
    LoadMetric(
        "reasoning_tokens",
        "tokens",
        "reasoning tokens per request: every token streamed as reasoning, a final stage's own "
        "reasoning included (usage, else counted)",
        per_request=attrgetter("reasoning_tokens"),
        csv_rank=10,
    ),
    LoadMetric(
        "cot_tokens",
        "tokens",
        "CoT tokens per request: the stages up to the server's `x_hawkeye.stage_end` marker "
        "(its per-stage usage, else the token chunks before it); without a marker, the "
        "reasoning tokens",
        per_request=cot_tokens,
        csv_rank=14,
        cot_only_column="tokens",
    ),
    LoadMetric(
        "delivery_lag_ms",
        "ms",
        "server write -> client read per chunk (only servers that stamp chunks, e.g. the "
        "scripted test server)",
        pooled=delivery_lags,
        csv_rank=12,
    ),
)
for _metric in BUILTIN_LOAD_METRICS:
    register_load_metric(_metric)

#: metrics an SLO can bound (per request, milliseconds)
SLO_METRICS = slo_metric_names()
