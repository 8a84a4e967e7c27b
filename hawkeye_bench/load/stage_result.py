"""One stage of ``load_results.json``: a target at one load level, what its raw records measured
and whether the stage can be trusted.

:class:`StageStatistics` is the part computed from the raw records
(:func:`hawkeye_bench.load.metrics.scan_stage`); :class:`StageResult` adds what the runner knows
about the stage (its Locust run, client CPU, open-loop timing, the reliability verdict). In the
JSON both sit side by side in one flat object per stage, as older versions wrote it; fields an
older file lacks read as empty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeGuard

from hawkeye_bench.load.cpu import CpuSummary
from hawkeye_bench.load.open_loop import OpenLoopStats, TraceStats

#: one metric's statistics: n, mean, p50/p90/p99, min, max (None: no samples)
Distribution = dict[str, float]


def _numbers(data: object) -> dict[str, float]:
    """A JSON object of numbers as stored (an int stays an int)."""
    return {str(k): v for k, v in data.items()} if isinstance(data, dict) else {}


def _counts(data: object) -> dict[str, int]:
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _object(value: object) -> TypeGuard[dict[str, Any]]:
    """A non-empty JSON object (an empty one, like a missing one, means "not this kind")."""
    return isinstance(value, dict) and bool(value)


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


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

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestCounts:
        return cls(**{f.name: int(data.get(f.name) or 0) for f in fields(cls)})


@dataclass
class Throughput:
    """Finished requests and output tokens per second over the measured window."""

    window_s: float | None = None
    requests_per_s: float | None = None
    output_tokens_per_s: float | None = None

    def to_json(self) -> dict[str, float | None]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Throughput:
        return cls(**{f.name: _optional_float(data.get(f.name)) for f in fields(cls)})


@dataclass
class Goodput:
    """Measured requests that met every SLO bound (metric -> ms), and their share."""

    slo: dict[str, float]
    good: int = 0
    measured: int = 0
    share: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Goodput:
        return cls(
            slo=_numbers(data.get("slo")),
            good=int(data.get("good") or 0),
            measured=int(data.get("measured") or 0),
            share=_optional_float(data.get("share")),
        )


@dataclass
class StageStatistics:
    """The statistics of one stage from its raw request records."""

    requests: RequestCounts
    metrics: dict[str, Distribution | None]  # metric name -> statistics
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

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "requests": self.requests.to_json(),
            "metrics": self.metrics,
            "token_sources": self.token_sources,
            "tbt_token_sources": self.tbt_token_sources,
            "cot_end_sources": self.cot_end_sources,
            "near_zero_gap_ms": self.near_zero_gap_ms,
            "near_zero_gap_share": self.near_zero_gap_share,
            "throughput": self.throughput.to_json(),
            "errors_by_message": self.errors_by_message,
        }
        if self.goodput is not None:
            data["goodput"] = self.goodput.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageStatistics:
        metrics = data.get("metrics") or {}
        goodput = data.get("goodput")
        return cls(
            requests=RequestCounts.from_json(data.get("requests") or {}),
            metrics={str(k): None if v is None else _numbers(v) for k, v in metrics.items()},
            token_sources=_counts(data.get("token_sources")),
            tbt_token_sources=_counts(data.get("tbt_token_sources")),
            cot_end_sources=_counts(data.get("cot_end_sources")),
            near_zero_gap_ms=_optional_float(data.get("near_zero_gap_ms")),
            near_zero_gap_share=_optional_float(data.get("near_zero_gap_share")),
            throughput=Throughput.from_json(data.get("throughput") or {}),
            errors_by_message=_counts(data.get("errors_by_message")),
            goodput=Goodput.from_json(goodput) if isinstance(goodput, dict) else None,
        )

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

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TornLines:
        return cls(requests=int(data.get("requests") or 0), cpu=int(data.get("cpu") or 0))


@dataclass
class Arrival:
    """An open-loop stage's arrival process."""

    process: str = "poisson"
    burstiness: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Arrival:
        burstiness = data.get("burstiness")
        return cls(
            process=str(data.get("process") or "poisson"),
            burstiness=1.0 if burstiness is None else float(burstiness),
        )


@dataclass
class StageResult:
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
        data: dict[str, Any] = {
            "target": self.target,
            "url": self.url,
            "concurrency": self.concurrency,
            "stage": self.stage,
            "locust_exit_code": self.locust_exit_code,
            "seconds": self.seconds,
            "raw_dir": self.raw_dir,
            "locust_log": self.locust_log,
        }
        if self.statistics is not None:
            data.update(self.statistics.to_json())
            data.update(self._measured_json())
        if self.failed is not None:
            data["failed"] = self.failed
        if self.log_tail is not None:
            data["log_tail"] = self.log_tail
        data["reliable"] = self.reliable
        data["unreliable_reasons"] = self.unreliable_reasons
        if self.slo_met is not None:
            data["slo_met"] = self.slo_met
        if self.sweep_role is not None:
            data["sweep_role"] = self.sweep_role
        return data

    def _measured_json(self) -> dict[str, Any]:
        """What the runner found beside the statistics of a stage that produced records."""
        data: dict[str, Any] = {
            "torn_lines": self.torn_lines.to_json(),
            "cpu": self.cpu.to_json(),
            "load_processes": self.load_processes,
            "raw_transfer_problems": self.raw_transfer_problems,
        }
        if self.rate is not None:
            data["rate"] = self.rate
        if self.arrival is not None:
            data["arrival"] = self.arrival.to_json()
        if self.open_loop is not None:
            data["open_loop"] = self.open_loop.to_json()
        if self.trace is not None:
            data["trace"] = self.trace.to_json()
        data.update(
            error_share=self.error_share,
            too_many_errors=self.too_many_errors,
            error_reasons=self.error_reasons,
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageResult:
        """A stored stage; KeyError, TypeError or ValueError when it lacks its target or
        concurrency."""
        rate, arrival = data.get("rate"), data.get("arrival")
        open_loop, trace = data.get("open_loop"), data.get("trace")
        failed, log_tail = data.get("failed"), data.get("log_tail")
        seconds, exit_code = data.get("seconds"), data.get("locust_exit_code")
        return cls(
            target=str(data["target"]),
            concurrency=int(data["concurrency"]),
            url=str(data.get("url") or ""),
            stage=str(data.get("stage") or ""),
            locust_exit_code=None if exit_code is None else int(exit_code),
            seconds=_optional_float(seconds),
            raw_dir=str(data.get("raw_dir") or ""),
            locust_log=str(data.get("locust_log") or ""),
            statistics=StageStatistics.stored_in(data),
            torn_lines=TornLines.from_json(data.get("torn_lines") or {}),
            cpu=CpuSummary.from_json(data.get("cpu") or {}),
            load_processes=int(data.get("load_processes") or 0),
            raw_transfer_problems=[str(p) for p in data.get("raw_transfer_problems") or []],
            rate=_optional_float(rate),
            arrival=Arrival.from_json(arrival) if isinstance(arrival, dict) else None,
            open_loop=OpenLoopStats.from_json(open_loop) if _object(open_loop) else None,
            trace=TraceStats.from_json(trace) if _object(trace) else None,
            error_share=_optional_float(data.get("error_share")),
            too_many_errors=bool(data.get("too_many_errors")),
            error_reasons=[str(r) for r in data.get("error_reasons") or []],
            failed=None if failed is None else str(failed),
            log_tail=None if log_tail is None else str(log_tail),
            reliable=data.get("reliable"),
            unreliable_reasons=[str(r) for r in data.get("unreliable_reasons") or []],
            slo_met=data.get("slo_met"),
            sweep_role=data.get("sweep_role"),
        )
