"""Latency statistics from raw request records, with numpy.

Which statistics exist, and how each is taken from a record, is the load metric registry
(:mod:`hawkeye_bench.load.registry`; the built-ins are in
:mod:`hawkeye_bench.load.builtin_metrics`, over the per-record values of
:mod:`hawkeye_bench.load.request_values`). Percentiles come from the raw samples (linear
interpolation), never from Locust's bucketed histograms. Requests are pooled across
processes sample by sample. Only *measured* requests count (sent after the warmup, not cut by
the load generator); latency figures use the ones that succeeded, failures are counted and
listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np

from hawkeye_bench.core.stats import PERCENTILES, describe
from hawkeye_bench.load.records import RawRequests, RequestRecord, by_send_time
from hawkeye_bench.load.registry import load_metric, load_metrics, slo_metric_names
from hawkeye_bench.load.request_values import (
    chunk_gaps,
    cot_end,
    per_token_gap_source,
    per_token_gaps,
    reasoning_end_ms,
    refused,
    tpot_ms,
)

#: a chunk gap below this is "near zero": chunks that arrived together (buffering, batching)
NEAR_ZERO_GAP_MS = 1.0
ERROR_EXAMPLES = 5


class ThroughputJson(TypedDict):
    """Finished requests and output tokens per second over the measured window."""

    window_s: float | None
    requests_per_s: float | None
    output_tokens_per_s: float | None


class GoodputJson(TypedDict):
    """Measured requests that met every SLO bound (metric -> ms), and their share."""

    slo: dict[str, float]
    good: int
    measured: int
    share: float | None


class StageMetricsJson(TypedDict):
    """What :func:`stage_metrics` returns: a stage's statistics as ``load_results.json`` holds
    them (read back as ``load.stage_result.StageStatistics``); ``goodput`` only with an SLO."""

    requests: dict[str, int]
    metrics: dict[str, dict[str, float | int] | None]
    token_sources: dict[str, int]
    tbt_token_sources: dict[str, int]
    cot_end_sources: dict[str, int]
    near_zero_gap_ms: float
    near_zero_gap_share: float | None
    throughput: ThroughputJson
    errors_by_message: dict[str, int]
    goodput: NotRequired[GoodputJson]


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

    def throughput(self) -> ThroughputJson:
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

    def result(self) -> StageMetricsJson:
        """What :func:`stage_metrics` returns."""
        metrics = {
            name: distribution(s.array()) for name, s in self.samples.items()
        }  # one at a time
        measured = self.counts["measured"]
        result: StageMetricsJson = {
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
) -> StageMetricsJson:
    """All statistics of one stage (one target at one load level)."""
    stats = StageStats(slo)
    for record in records:
        stats.add(record)
    return stats.result()


def request_counts(records: Iterable[RequestRecord]) -> dict[str, int]:
    """Recorded, warmup, incomplete, measured, ok, errors and refused requests."""
    return stage_metrics(records)["requests"]


def goodput(records: Iterable[RequestRecord], slo: dict[str, float]) -> GoodputJson:
    """Share of measured requests that meet the SLO (:func:`meets_slo`)."""
    return stage_metrics(records, slo)["goodput"]


def _error_kind(error: str | None) -> str:
    return (error or "")[:120]


#: metrics an SLO can bound (per request, milliseconds)
SLO_METRICS = slo_metric_names()


@dataclass
class StageScan:
    """One pass over a stage's raw files (:func:`scan_stage`)."""

    metrics: StageMetricsJson
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


__all__ = [
    "ERROR_EXAMPLES",
    "NEAR_ZERO_GAP_MS",
    "PERCENTILES",
    "POOLED_DTYPE",
    "SLO_METRICS",
    "Samples",
    "StageScan",
    "StageStats",
    "chunk_gaps",
    "cot_end",
    "distribution",
    "goodput",
    "meets_slo",
    "per_token_gap_source",
    "per_token_gaps",
    "reasoning_end_ms",
    "refused",
    "request_counts",
    "request_value",
    "scan_stage",
    "share_below",
    "stage_metrics",
    "tpot_ms",
]
