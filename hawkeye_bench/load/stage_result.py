"""One stage of ``load_results.json``: a target at one load level, what its raw records measured
and whether the stage can be trusted.

:class:`StageStatistics` is the part computed from the raw records
(:func:`hawkeye_bench.load.metrics.scan_stage`); :class:`LoadStageResult` adds what the runner knows
about the stage (its Locust run, client CPU, open-loop timing, the reliability verdict). In the
JSON both sit side by side in one flat object per stage, as older versions wrote it; fields an
older file lacks read as empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from hawkeye_bench.core.json_form import JsonPayload, dump, load
from hawkeye_bench.load.cpu import CpuSummary
from hawkeye_bench.load.open_loop import Distribution, OpenLoopStats, TraceStats


@dataclass
class RequestCounts:
    """Recorded, warmup, incomplete (cut by --stop-timeout), measured, ok, failed and refused
    requests of a stage."""

    recorded: int = 0
    warmup: int = 0
    incomplete: int = 0
    measured: int = 0
    ok: int = 0
    errors: int = 0
    refused: int = 0


@dataclass
class Throughput:
    """Finished requests and output tokens per second over the measured window."""

    window_s: float | None = None
    requests_per_s: float | None = None
    output_tokens_per_s: float | None = None


@dataclass
class Goodput:
    """Measured requests that met every SLO bound (metric -> ms), and their share."""

    slo: dict[str, float] = field(default_factory=dict)
    good: int = 0
    measured: int = 0
    share: float | None = None


@dataclass
class StageStatistics(JsonPayload):
    """The statistics of one stage from its raw request records
    (:func:`hawkeye_bench.load.metrics.scan_stage`)."""

    OMITTED_WHEN_NONE = frozenset({"goodput"})

    requests: RequestCounts = field(default_factory=RequestCounts)
    metrics: dict[str, Distribution | None] = field(default_factory=dict)  # metric name ->
    token_sources: dict[str, int] = field(default_factory=dict)
    tbt_token_sources: dict[str, int] = field(default_factory=dict)
    cot_end_sources: dict[str, int] = field(default_factory=dict)
    near_zero_gap_ms: float | None = None
    near_zero_gap_share: float | None = None
    throughput: Throughput = field(default_factory=Throughput)
    errors_by_message: dict[str, int] = field(default_factory=dict)
    goodput: Goodput | None = None  # only with an SLO

    def stat(self, metric: str, stat: str) -> float | None:
        """One statistic of one metric (None: not measured)."""
        dist = self.metrics.get(metric)
        return None if dist is None else dist.get(stat)

    @classmethod
    def stored_in(cls, data: dict[str, Any]) -> StageStatistics | None:
        """The statistics a stored stage holds (None: a failed stage, or none stored)."""
        if isinstance(data.get("metrics"), dict) and isinstance(data.get("requests"), dict):
            return cls.from_json(data)
        return None


@dataclass
class TornLines:
    """Torn last lines (a killed process) dropped from the raw files."""

    requests: int = 0
    cpu: int = 0

    @property
    def total(self) -> int:
        return self.requests + self.cpu


@dataclass
class Arrival:
    """An open-loop stage's arrival process."""

    process: str = "poisson"
    burstiness: float = 1.0


#: the stage's keys in ``load_results.json`` around its statistics, in order; those in
#: :data:`_LEFT_OUT_WHEN_NONE` are written only when set
_IDENTITY = ("target", "url", "concurrency", "stage", "locust_exit_code", "seconds", "raw_dir",
             "locust_log")  # fmt: skip
_MEASURED = ("torn_lines", "cpu", "load_processes", "raw_transfer_problems", "rate", "arrival",
             "open_loop", "trace", "error_share", "too_many_errors", "error_reasons")  # fmt: skip
_VERDICT = ("failed", "log_tail", "reliable", "unreliable_reasons", "slo_met", "sweep_role")
_LEFT_OUT_WHEN_NONE = frozenset(
    ("rate", "arrival", "open_loop", "trace", "failed", "log_tail", "slo_met", "sweep_role")
)
#: sections an empty object stands for as well as a missing one
_SECTIONS = ("arrival", "open_loop", "trace")


@dataclass
class LoadStageResult:
    """One stage as ``load_results.json`` stores it. ``statistics`` is None for a stage that
    failed (no usable raw records: ``failed`` says why)."""

    target: str
    concurrency: int
    url: str = ""
    stage: str = ""
    locust_exit_code: int | None = None
    seconds: float | None = None
    raw_dir: str = ""
    locust_log: str = ""
    statistics: StageStatistics | None = None
    torn_lines: TornLines = field(default_factory=TornLines)
    cpu: CpuSummary = field(default_factory=CpuSummary)  # the load generator's own CPU
    load_processes: int = 0
    raw_transfer_problems: list[str] = field(default_factory=list)
    rate: float | None = None  # open loop: requests per second asked for
    arrival: Arrival | None = None  # open loop
    open_loop: OpenLoopStats | None = None  # open loop and traces
    trace: TraceStats | None = None  # a trace replay
    error_share: float | None = None
    too_many_errors: bool = False
    error_reasons: list[str] = field(default_factory=list)
    failed: str | None = None
    log_tail: str | None = None
    reliable: bool | None = None
    unreliable_reasons: list[str] = field(default_factory=list)
    slo_met: bool | None = None  # only with --min-goodput
    sweep_role: str | None = None  # only in a --rate sweep

    @property
    def is_failed(self) -> bool:
        return self.failed is not None

    def stat(self, metric: str, stat: str) -> float | None:
        """One statistic of one metric (None: not measured, or a failed stage)."""
        return None if self.statistics is None else self.statistics.stat(metric, stat)

    @property
    def requests(self) -> RequestCounts:
        return RequestCounts() if self.statistics is None else self.statistics.requests

    @property
    def goodput_share(self) -> float | None:
        stats = self.statistics
        return None if stats is None or stats.goodput is None else stats.goodput.share

    @property
    def requests_per_s(self) -> float | None:
        """The measured request rate (None: not measured)."""
        return None if self.statistics is None else self.statistics.throughput.requests_per_s

    @property
    def saturation(self) -> list[str]:
        """Why an open-loop stage fell behind its schedule (none: it kept it, or closed loop)."""
        return [] if self.open_loop is None else self.open_loop.saturation

    def to_json(self) -> dict[str, Any]:
        full = dump(self)
        keys = [*_IDENTITY, *(_MEASURED if self.statistics is not None else ()), *_VERDICT]
        data = {k: full[k] for k in _IDENTITY}
        if self.statistics is not None:
            data.update(self.statistics.to_json())
        data.update((k, full[k]) for k in keys[len(_IDENTITY) :])
        return {k: v for k, v in data.items() if v is not None or k not in _LEFT_OUT_WHEN_NONE}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadStageResult:
        """A stored stage; a ValueError (pydantic's ValidationError) when it lacks its target
        or concurrency or holds a value of the wrong type."""
        if not isinstance(data, dict):
            raise TypeError(f"a stage is a JSON object, not {type(data).__name__}")
        own = {f.name for f in fields(cls)} - {"statistics", *_SECTIONS}
        stage = {k: v for k, v in data.items() if k in own}
        stage.update((k, data[k]) for k in _SECTIONS if data.get(k))
        stage["statistics"] = StageStatistics.stored_in(data)
        return load(cls, stage)
