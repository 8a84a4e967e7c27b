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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from hawkeye_bench.core.stats import PERCENTILES, describe
from hawkeye_bench.load.records import RawRequests, RequestRecord, by_send_time
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


def refused(record: RequestRecord) -> bool:
    """The request found no server: its connection was refused (no HTTP response)."""
    return record.status is None and "refused" in (record.error or "").lower()


def request_value(record: RequestRecord, metric: str) -> float | int | None:
    """One request's value of a per-request metric (what an SLO bound is checked against)."""
    return load_metric(metric).value(record)


def meets_slo(record: RequestRecord, slo: dict[str, float]) -> bool:
    """Succeeded with every bounded value present and within its bound (vLLM's goodput): a
    failed request, or one missing a bounded value (no content token for ttft_content_ms),
    does not."""
    if record.error is not None:
        return False
    values = [request_value(record, metric) for metric in slo]
    return all(v is not None and v <= b for v, b in zip(values, slo.values(), strict=True))


class Samples:
    """A growable buffer of one metric's samples, 4 or 8 bytes each instead of a Python float's
    24 plus its list slot: blocks of :data:`BLOCK` samples, so growing never copies what is
    held and at most one block stands half empty."""

    BLOCK = 1 << 18

    def __init__(self, dtype: type[np.floating[Any]] = np.float64) -> None:
        self.dtype = dtype
        self._blocks: list[np.ndarray] = []
        self._used = 0  # samples in the last block

    def extend(self, values: Sequence[float] | np.ndarray) -> None:
        array = np.asarray(values, dtype=self.dtype)
        while array.size:
            if not self._blocks or self._used == self.BLOCK:
                self._blocks.append(np.empty(self.BLOCK, dtype=self.dtype))
                self._used = 0
            take = min(array.size, self.BLOCK - self._used)
            self._blocks[-1][self._used : self._used + take] = array[:take]
            self._used += take
            array = array[take:]

    def __len__(self) -> int:
        return max(0, len(self._blocks) - 1) * self.BLOCK + self._used

    def array(self) -> np.ndarray:
        """The samples as one array (a new one: the caller drops it once used)."""
        if not self._blocks:
            return np.empty(0, dtype=self.dtype)
        return np.concatenate([*self._blocks[:-1], self._blocks[-1][: self._used]])


#: pooled (per-chunk) samples are held as float32: relative error below 6e-8, about the
#: precision of the raw files' 4 decimals for gaps under a second; per-request ones as float64
POOLED_DTYPE = np.float32


class StageStats:
    """The statistics of one stage (one target at one load), fed one request record at a time:
    the raw records never need to be held together (a stage of an hour at high concurrency
    has more than memory holds). Samples go to compact :class:`Samples` buffers; percentiles
    are exact over them."""

    def __init__(self, slo: dict[str, float] | None = None) -> None:
        self.slo = slo
        self.counts = dict.fromkeys(
            ("recorded", "warmup", "incomplete", "measured", "ok", "errors", "refused"), 0
        )
        self.samples = {
            m.name: Samples(np.float64 if m.per_request is not None else POOLED_DTYPE)
            for m in load_metrics()
        }
        self.token_sources: Counter[str] = Counter()
        self.tbt_token_sources: Counter[str] = Counter()
        self.cot_end_sources: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.good = 0
        self.hosts: set[str] = set()
        self.output_tokens = 0
        # throughput window on both clocks: which one counts is known once every host is seen
        self.first_send = [np.inf, np.inf]  # perf, wall
        self.last_end = [-np.inf, -np.inf]
        self.ends = 0

    def add(self, record: RequestRecord) -> None:
        counts = self.counts
        counts["recorded"] += 1
        counts["warmup"] += record.warmup
        counts["incomplete"] += record.incomplete and not record.warmup
        counts["refused"] += refused(record)
        if not record.measured:
            return
        counts["measured"] += 1
        self.hosts.add(record.host)
        self.first_send[0] = min(self.first_send[0], record.t_send_perf)
        self.first_send[1] = min(self.first_send[1], record.t_send_wall)
        end_ms = record.e2e_done_ms if record.e2e_done_ms is not None else record.e2e_ms
        if end_ms is not None:
            self.ends += 1
            self.last_end[0] = max(self.last_end[0], record.t_send_perf + (end_ms or 0.0) / 1e3)
            self.last_end[1] = max(self.last_end[1], record.t_send_wall + (end_ms or 0.0) / 1e3)
        if self.slo is not None and meets_slo(record, self.slo):
            self.good += 1
        if record.error is not None:
            counts["errors"] += 1
            self.errors[_error_kind(record.error)] += 1
            return
        counts["ok"] += 1
        self.output_tokens += record.output_tokens or 0
        for metric in load_metrics():
            if metric.per_request is not None:
                value = metric.per_request(record)
                if value is not None:
                    self.samples[metric.name].extend([value])
            else:
                assert metric.pooled is not None
                self.samples[metric.name].extend(metric.pooled(record))
        self.token_sources[record.output_tokens_source or "none"] += 1
        self.tbt_token_sources[per_token_gap_source(record)] += 1
        source = cot_end(record)[1]
        if source is not None:
            self.cot_end_sources[source] += 1

    def throughput(self) -> dict[str, float | None]:
        """Finished requests and output tokens per second over the measured window (on the
        wall clock when the requests came from several machines: perf_counter differs there)."""
        clock = 0 if len(self.hosts) <= 1 else 1
        measured = self.counts["measured"]
        if not measured or not self.ends:
            return {"window_s": None, "requests_per_s": None, "output_tokens_per_s": None}
        window = float(self.last_end[clock] - self.first_send[clock])
        if window <= 0:
            return {"window_s": window, "requests_per_s": None, "output_tokens_per_s": None}
        return {
            "window_s": window,
            "requests_per_s": measured / window,
            "output_tokens_per_s": self.output_tokens / window,
        }

    def result(self) -> dict[str, Any]:
        """What :func:`stage_metrics` returns."""
        metrics = {
            name: distribution(s.array()) for name, s in self.samples.items()
        }  # one at a time
        measured = self.counts["measured"]
        result: dict[str, Any] = {
            "requests": dict(self.counts),
            "metrics": metrics,
            "token_sources": dict(self.token_sources),
            "tbt_token_sources": dict(self.tbt_token_sources),
            "cot_end_sources": dict(self.cot_end_sources),
            "near_zero_gap_ms": NEAR_ZERO_GAP_MS,
            "near_zero_gap_share": share_below(
                self.samples["chunk_gap_ms"].array(), NEAR_ZERO_GAP_MS
            ),
            "throughput": self.throughput(),
            "errors_by_message": dict(self.errors.most_common(ERROR_EXAMPLES)),
        }
        if self.slo:
            result["goodput"] = {
                "slo": self.slo,
                "good": self.good,
                "measured": measured,
                "share": self.good / measured if measured else None,
            }
        return result


def stage_metrics(
    records: Iterable[RequestRecord], slo: dict[str, float] | None = None
) -> dict[str, Any]:
    """All statistics of one stage (one target at one load level)."""
    stats = StageStats(slo)
    for record in records:
        stats.add(record)
    return stats.result()


def request_counts(records: Iterable[RequestRecord]) -> dict[str, int]:
    """Recorded, warmup, incomplete, measured, ok, errors and refused requests."""
    counts: dict[str, int] = stage_metrics(records)["requests"]
    return counts


def goodput(records: Iterable[RequestRecord], slo: dict[str, float]) -> dict[str, Any]:
    """Share of measured requests that meet the SLO (:func:`meets_slo`)."""
    result: dict[str, Any] = stage_metrics(records, slo)["goodput"]
    return result


def _error_kind(error: str | None) -> str:
    return (error or "")[:120]


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


@dataclass
class StageScan:
    """One pass over a stage's raw files (:func:`scan_stage`)."""

    metrics: dict[str, Any]  # what stage_metrics returns
    stats: StageStats  # its sample buffers: ``stats.samples[name].array()``
    records: list[RequestRecord]  # without their chunks; empty unless kept
    torn: int  # torn last lines dropped


def scan_stage(
    raw_dir: Path,
    slo: dict[str, float] | None = None,
    each: Callable[[RequestRecord], None] | None = None,
    keep_records: bool = True,
) -> StageScan:
    """Read a stage's raw files once, a record at a time. ``each`` sees every record with its
    chunks; ``keep_records`` keeps them, in send order, without their chunks (the per-request
    views: open-loop timing, traces). Memory: the compact sample buffers, plus the kept
    records; never the per-chunk rows of all the records."""
    raw = RawRequests(raw_dir)
    stats = StageStats(slo)
    records = []
    for record in raw:
        stats.add(record)
        if each is not None:
            each(record)
        if keep_records:
            record.chunks = []
            records.append(record)
    by_send_time(records)
    return StageScan(stats.result(), stats, records, raw.torn)
