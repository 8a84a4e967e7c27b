"""Latency statistics from raw request records (REFERENCE 4.1 definitions), with numpy.

Percentiles come from the raw samples (linear interpolation), never from Locust's bucketed
histograms. Requests are pooled across processes sample by sample. Only *measured* requests
count (sent after the warmup, not cut by the load generator); latency figures use the ones that
succeeded, failures are counted and listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hawkeye_bench.load.records import RequestRecord
from hawkeye_bench.load.stream import COT_END_LAST_REASONING, REASONING

PERCENTILES = (50, 90, 99)
#: a chunk gap below this is "near zero": chunks that arrived together (buffering, batching)
NEAR_ZERO_GAP_MS = 1.0
ERROR_EXAMPLES = 5

#: metric key -> (unit, definition); printed in every report (REFERENCE 4.1)
METRIC_DEFINITIONS: dict[str, tuple[str, str]] = {
    "e2e_ms": ("ms", "E2E / Time per Req: send -> last token-bearing chunk"),
    "e2e_done_ms": ("ms", "send -> `data: [DONE]`"),
    "tt_ack_ms": ("ms", "TT_ACK: send -> first SSE chunk of any kind (role-only included)"),
    "ttft_ms": ("ms", "TTFT: send -> first non-empty token chunk (reasoning or content)"),
    "ttft_reasoning_ms": ("ms", "TTFT-reasoning: send -> first reasoning token"),
    "ttft_content_ms": (
        "ms",
        "TTFT-content: send -> first answer (content) token; for Hawkeye the first stage-2 token",
    ),
    "tbt_ms": (
        "ms",
        "TBT (Avg TBT), per token: each gap between consecutive token-bearing chunks divided by "
        "the tokens in the later chunk, pooled over requests",
    ),
    "reasoning_end_ms": (
        "ms",
        "CoT end: send -> last token before the server's `x_hawkeye.stage_end` marker (Hawkeye: "
        "end of the stage-1 CoT as the client sees it, the paper's 'CoT only' time); without a "
        "marker, the last reasoning token, which then includes any reasoning of a final stage "
        "(counted in cot_end_sources)",
    ),
    "chunk_gap_ms": ("ms", "gaps between consecutive token-bearing chunks, pooled (ITL)"),
    "tpot_ms": ("ms", "TPOT: (E2E - TTFT) / (output tokens - 1), per request"),
    "output_tokens": ("tokens", "Tokens: completion tokens per request (usage, else counted)"),
    "reasoning_tokens": ("tokens", "reasoning tokens per request (usage, else counted)"),
    "delivery_lag_ms": (
        "ms",
        "server write -> client read per chunk (only servers that stamp chunks, e.g. the "
        "scripted test server)",
    ),
}


def distribution(values: Iterable[float]) -> dict[str, float | int] | None:
    """n, mean, p50/p90/p99, min, max of raw samples; None when there are none."""
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        return None
    result: dict[str, float | int] = {"n": int(array.size), "mean": float(array.mean())}
    for p, value in zip(PERCENTILES, np.percentile(array, PERCENTILES), strict=True):
        result[f"p{p}"] = float(value)
    result["min"] = float(array.min())
    result["max"] = float(array.max())
    return result


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


def per_token_gaps(record: RequestRecord) -> tuple[np.ndarray, str]:
    """Per-token gaps of one request and how the tokens per chunk were known.

    ``usage``: the server's cumulative usage per chunk (exact). ``usage_spread``: only the
    total is known from usage, spread evenly over the chunks. ``chunks``: one token per chunk.
    A gap is repeated once per token it covers, so the mean is sum(gaps) / tokens.
    """
    times, tokens = _chunk_arrays(record)
    gaps = np.diff(times)
    later = tokens[1:]
    source = "usage" if record.chunk_tokens_source == "usage" else "chunks"
    if (
        source == "chunks"
        and record.output_tokens_source == "usage"
        and record.output_tokens
        and len(record.chunks) > 0
        and record.output_tokens != len(record.chunks)
    ):
        later = np.full(gaps.size, record.output_tokens / len(record.chunks))
        source = "usage_spread"
    if not gaps.size:
        return gaps, source
    if source == "usage_spread":
        return gaps / later, source  # equal weights: every chunk holds the same count
    counts = np.maximum(later, 1).astype(int)  # a 0-token delta counts as one token
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


def tpot_ms(record: RequestRecord) -> float | None:
    if record.e2e_ms is None or record.ttft_ms is None or not record.output_tokens:
        return None
    if record.output_tokens < 2:
        return None
    return (record.e2e_ms - record.ttft_ms) / (record.output_tokens - 1)


def _values(records: Iterable[RequestRecord], name: str) -> list[float]:
    return [v for r in records if (v := getattr(r, name)) is not None]


def request_counts(records: Sequence[RequestRecord]) -> dict[str, int]:
    measured = [r for r in records if r.measured]
    return {
        "recorded": len(records),
        "warmup": sum(r.warmup for r in records),
        "incomplete": sum(r.incomplete and not r.warmup for r in records),
        "measured": len(measured),
        "ok": sum(r.error is None for r in measured),
        "errors": sum(r.error is not None for r in measured),
    }


def stage_metrics(
    records: Sequence[RequestRecord], slo: dict[str, float] | None = None
) -> dict[str, Any]:
    """All statistics of one stage (one target at one concurrency)."""
    measured = [r for r in records if r.measured]
    ok = [r for r in measured if r.error is None]
    gap_arrays = [chunk_gaps(r) for r in ok]
    token_gaps = [per_token_gaps(r) for r in ok]
    all_chunk_gaps = np.concatenate(gap_arrays) if gap_arrays else np.empty(0)
    all_token_gaps = np.concatenate([g for g, _ in token_gaps]) if token_gaps else np.empty(0)
    lags = [c[3] for r in ok for c in r.chunks if len(c) > 3]
    metrics = {
        "e2e_ms": distribution(_values(ok, "e2e_ms")),
        "e2e_done_ms": distribution(_values(ok, "e2e_done_ms")),
        "tt_ack_ms": distribution(_values(ok, "tt_ack_ms")),
        "ttft_ms": distribution(_values(ok, "ttft_ms")),
        "ttft_reasoning_ms": distribution(_values(ok, "ttft_reasoning_ms")),
        "ttft_content_ms": distribution(_values(ok, "ttft_content_ms")),
        "reasoning_end_ms": distribution(v for r in ok if (v := reasoning_end_ms(r)) is not None),
        "tbt_ms": distribution(all_token_gaps),
        "chunk_gap_ms": distribution(all_chunk_gaps),
        "tpot_ms": distribution(v for r in ok if (v := tpot_ms(r)) is not None),
        "output_tokens": distribution(_values(ok, "output_tokens")),
        "reasoning_tokens": distribution(_values(ok, "reasoning_tokens")),
        "delivery_lag_ms": distribution(lags),
    }
    result = {
        "requests": request_counts(records),
        "metrics": metrics,
        "token_sources": dict(Counter(r.output_tokens_source or "none" for r in ok)),
        "tbt_token_sources": dict(Counter(source for _, source in token_gaps)),
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


#: metrics an SLO can bound (per request, milliseconds)
SLO_METRICS = ("ttft_ms", "ttft_content_ms", "tpot_ms", "e2e_ms")


def request_value(record: RequestRecord, metric: str) -> float | None:
    return tpot_ms(record) if metric == "tpot_ms" else getattr(record, metric)


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
    """Finished requests and output tokens per second over the measured window."""
    ends = [
        r.t_send_perf + (r.e2e_done_ms or r.e2e_ms or 0.0) / 1000.0
        for r in measured
        if r.e2e_done_ms is not None or r.e2e_ms is not None
    ]
    if not measured or not ends:
        return {"window_s": None, "requests_per_s": None, "output_tokens_per_s": None}
    window = max(ends) - min(r.t_send_perf for r in measured)
    tokens = sum(r.output_tokens or 0 for r in measured if r.error is None)
    if window <= 0:
        return {"window_s": window, "requests_per_s": None, "output_tokens_per_s": None}
    return {
        "window_s": window,
        "requests_per_s": len(measured) / window,
        "output_tokens_per_s": tokens / window,
    }
