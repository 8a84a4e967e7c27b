"""What a calibration measured at one concurrency, against the truth the scripted server was
told to send: the typed form of ``calibration.json`` (and ``ceiling.json``'s runs), the checks
that judge it, and its text rendering."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hawkeye_bench.core.json_form import JsonPayload, dump
from hawkeye_bench.load.metrics import chunk_gaps, distribution, share_below
from hawkeye_bench.load.records import read_requests
from hawkeye_bench.load.stage_result import LoadStageResult
from hawkeye_bench.testing.scripted_server import ScriptedConfig

#: a gap below this fraction of the configured gap counts as near zero
NEAR_ZERO_FRACTION = 0.1


@dataclass(frozen=True)
class Tolerances:
    """Pass limits (lag uses the shared-machine/CI limit)."""

    ttft_p50_ms: float = 3.0
    tbt_mean_fraction: float = 0.01
    near_zero_share: float = 0.01
    lag_p99_ms: float = 5.0


@dataclass(frozen=True)
class Truth(JsonPayload):
    """What the scripted server is told to send (its JSON also holds the end-to-end time it
    implies; reading drops it)."""

    ttft_ms: float = 100.0
    gap_ms: float = 20.0
    tokens: int = 64
    tokens_per_chunk: int = 1

    def server_config(self) -> ScriptedConfig:
        return ScriptedConfig(
            ttft_ms=self.ttft_ms,
            gap_ms=self.gap_ms,
            tokens=self.tokens,
            tokens_per_chunk=self.tokens_per_chunk,
            role_chunk=True,
            usage="requested",
            continuous_usage_stats=True,
        )

    def e2e_ms(self) -> float:
        chunks = -(-self.tokens // self.tokens_per_chunk)
        return self.ttft_ms + (chunks - 1) * self.gap_ms

    def to_json(self) -> dict[str, Any]:
        """The configured values and the ideal end-to-end time they imply."""
        return dump(self) | {"e2e_ms": self.e2e_ms()}


@dataclass(frozen=True)
class Check(JsonPayload):
    """One pass/fail check of a calibration: the measured value against its limit."""

    check: str = ""
    measured: float | None = None
    limit: float = 0.0
    passed: bool = False
    text: str = ""

    @classmethod
    def of(cls, name: str, measured: float | None, limit: float, text: str) -> Check:
        return cls(name, measured, limit, measured is not None and measured <= limit, text)


@dataclass
class Measured(JsonPayload):
    """The figures a calibration read (None: not measured)."""

    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    tbt_mean_ms: float | None = None
    tbt_p50_ms: float | None = None
    tbt_p99_ms: float | None = None
    e2e_p50_ms: float | None = None
    tt_ack_p50_ms: float | None = None
    #: the server's own first-token write after our send (measured TTFT minus its lag)
    server_ttft_p50_ms: float | None = None
    first_token_lag_p50_ms: float | None = None
    lag_p50_ms: float | None = None
    lag_p99_ms: float | None = None
    near_zero_gap_share: float | None = None
    requests_ok: int | None = None
    client_cpu_mean_percent: float | None = None
    client_cpu_max_percent: float | None = None
    events_per_s: float | None = None  # streamed events read per second
    #: near-zero gaps between the server's own writes: it wrote in bursts
    server_near_zero_gap_share: float | None = None


@dataclass
class MachineLoad(JsonPayload):
    """The machine while it calibrated: a busy machine is measured too (the scripted server's
    figures are written only when measured)."""

    OMITTED_WHEN_NONE = frozenset({"server_cpu_percent", "server_rss_mb"})

    load_1min: float = 0.0
    load_5min: float = 0.0
    cores: int | None = None
    server_cpu_percent: float | None = None  # the scripted server's, over the stage
    server_rss_mb: float | None = None

    @classmethod
    def now(cls) -> MachineLoad:
        one, five, _ = os.getloadavg()
        return cls(one, five, os.cpu_count())


@dataclass
class Evaluation:
    """Measured vs configured at one concurrency, with pass/fail per check.

    Its JSON stays written by hand: the derived ``passed`` sits between ``checks`` and
    ``machine``, and ``processes`` is left out when unknown."""

    concurrency: int
    truth: Truth
    measured: Measured
    checks: list[Check]
    machine: MachineLoad
    stage: LoadStageResult
    processes: int | None = None  # the load processes (``calibrate()``'s runs say)
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.passed = all(c.passed for c in self.checks)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.check == name), None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "concurrency": self.concurrency,
            "truth": self.truth.to_json(),
            "measured": self.measured.to_json(),
            "checks": [c.to_json() for c in self.checks],
            "passed": self.passed,
            "machine": self.machine.to_json(),
            "stage": self.stage.to_json(),
        }
        if self.processes is not None:
            data["processes"] = self.processes
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        processes = data.get("processes")
        return cls(
            concurrency=int(data["concurrency"]),
            truth=Truth.from_json(data.get("truth") or {}),
            measured=Measured.from_json(data.get("measured") or {}),
            checks=[Check.from_json(c) for c in data.get("checks") or []],
            machine=MachineLoad.from_json(data.get("machine") or {}),
            stage=LoadStageResult.from_json(data["stage"]),
            processes=None if processes is None else int(processes),
        )


def evaluate(stage: LoadStageResult, raw_dir: Path, truth: Truth, tol: Tolerances) -> Evaluation:
    """Measured vs configured for one concurrency, with pass/fail per check."""
    records = [r for r in read_requests(raw_dir) if r.measured and r.error is None]
    gaps = np.concatenate([chunk_gaps(r) for r in records]) if records else np.empty(0)
    # the server's own first-token write, relative to our send (measured TTFT minus its lag):
    # separates "the server was late" (e.g. a busy machine) from "the client measured late"
    first = [r.chunks[0] for r in records if r.chunks and len(r.chunks[0]) > 3]
    server_ttft = distribution(c[0] - c[3] for c in first)
    first_lag = distribution(c[3] for c in first)
    near_zero = share_below(gaps, NEAR_ZERO_FRACTION * truth.gap_ms)
    server_ttft_p50 = server_ttft["p50"] if server_ttft else None
    measured = _measured(stage, server_ttft_p50, first_lag["p50"] if first_lag else None)
    measured.near_zero_gap_share = near_zero
    stats = stage.statistics
    window = None if stats is None else stats.throughput.window_s
    events = sum(len(r.chunks) for r in records)
    measured.events_per_s = events / window if window else None
    # the same gaps between the server's own writes: near-zero gaps there mean the server
    # wrote in bursts (it could not keep its schedule), not that the client read late
    server_gaps = [
        np.diff([c[0] - c[3] for c in r.chunks])
        for r in records
        if r.chunks and all(len(c) > 3 for c in r.chunks)
    ]
    server_gap_array = np.concatenate(server_gaps) if server_gaps else np.empty(0)
    measured.server_near_zero_gap_share = share_below(
        server_gap_array, NEAR_ZERO_FRACTION * truth.gap_ms
    )
    return Evaluation(
        concurrency=stage.concurrency,
        truth=truth,
        measured=measured,
        checks=_calibration_checks(stage, server_ttft_p50, near_zero, truth, tol),
        machine=MachineLoad.now(),
        stage=stage,
    )


def _calibration_checks(
    stage: LoadStageResult,
    server_ttft_p50: float | None,
    near_zero: float | None,
    truth: Truth,
    tol: Tolerances,
) -> list[Check]:
    ttft = stage.stat("ttft_ms", "p50")
    tbt = stage.stat("tbt_ms", "mean")  # per token: gap / tokens in the chunk
    ttft_error = abs(ttft - truth.ttft_ms) if ttft is not None else None
    # the measurement's own error: what we measured vs when the server really wrote the token
    ttft_vs_server = (
        abs(ttft - server_ttft_p50) if ttft is not None and server_ttft_p50 is not None else None
    )
    token_gap = truth.gap_ms / truth.tokens_per_chunk
    tbt_error = abs(tbt - token_gap) / token_gap if tbt is not None else None
    errors = None if stage.statistics is None else stage.requests.errors
    cpu = stage.cpu
    return [
        Check.of("ttft_p50_error_ms", ttft_error, tol.ttft_p50_ms, "|TTFT p50 - configured|"),
        Check.of(
            "ttft_p50_vs_server_ms",
            ttft_vs_server,
            tol.ttft_p50_ms,
            "|TTFT p50 - server's first-token write p50| (both from our send)",
        ),
        Check.of("tbt_mean_error", tbt_error, tol.tbt_mean_fraction, "|mean TBT - truth| / truth"),
        Check.of(
            "near_zero_gap_share",
            near_zero,
            tol.near_zero_share,
            f"share of gaps < {NEAR_ZERO_FRACTION * truth.gap_ms:g} ms",
        ),
        Check.of(
            "delivery_lag_p99_ms",
            stage.stat("delivery_lag_ms", "p99"),
            tol.lag_p99_ms,
            "server write -> read p99",
        ),
        Check.of("errors", errors, 0, "failed measured requests"),
        Check.of(
            "client_cpu_saturated",
            float(cpu.saturated) if cpu.sampled else None,
            0,
            "load generator saturated (1 = yes)",
        ),
    ]


def _measured(
    stage: LoadStageResult, server_ttft_p50: float | None, first_lag_p50: float | None
) -> Measured:
    return Measured(
        ttft_p50_ms=stage.stat("ttft_ms", "p50"),
        ttft_p99_ms=stage.stat("ttft_ms", "p99"),
        tbt_mean_ms=stage.stat("tbt_ms", "mean"),
        tbt_p50_ms=stage.stat("tbt_ms", "p50"),
        tbt_p99_ms=stage.stat("tbt_ms", "p99"),
        e2e_p50_ms=stage.stat("e2e_ms", "p50"),
        tt_ack_p50_ms=stage.stat("tt_ack_ms", "p50"),
        server_ttft_p50_ms=server_ttft_p50,
        first_token_lag_p50_ms=first_lag_p50,
        lag_p50_ms=stage.stat("delivery_lag_ms", "p50"),
        lag_p99_ms=stage.stat("delivery_lag_ms", "p99"),
        requests_ok=None if stage.statistics is None else stage.requests.ok,
        client_cpu_mean_percent=stage.cpu.busiest_mean_percent,
        client_cpu_max_percent=stage.cpu.max_percent,
    )


def render(evaluations: list[Evaluation]) -> str:
    """Measured vs configured, one block per concurrency."""
    lines = []
    for ev in evaluations:
        truth, m, machine = ev.truth, ev.measured, ev.machine
        verdict = "PASS" if ev.passed else "FAIL"
        lines += [
            f"concurrency {ev.concurrency}: {verdict} ({m.requests_ok} requests)",
            f"  TTFT p50      {_f(m.ttft_p50_ms)} ms   (configured {truth.ttft_ms:g} ms; "
            f"p99 {_f(m.ttft_p99_ms)} ms; TT_ACK p50 {_f(m.tt_ack_p50_ms)} ms)",
            f"  TBT mean      {_f(m.tbt_mean_ms, 3)} ms  (configured "
            f"{truth.gap_ms / truth.tokens_per_chunk:g} ms per token; "
            f"p50 {_f(m.tbt_p50_ms)}, p99 {_f(m.tbt_p99_ms)} ms)",
            f"  server TTFT   {_f(m.server_ttft_p50_ms)} ms p50 (its first-token write after "
            f"our send; first-token lag p50 {_f(m.first_token_lag_p50_ms, 3)} ms)",
            f"  E2E p50       {_f(m.e2e_p50_ms)} ms   (ideal {truth.e2e_ms():g} ms)",
            f"  near-zero gaps {_f(_pct(m.near_zero_gap_share), 2)} %",
            f"  delivery lag  p50 {_f(m.lag_p50_ms, 3)} ms, p99 {_f(m.lag_p99_ms, 3)} ms "
            f"({_f(m.events_per_s, 0)} streamed events/s read)",
            f"  client CPU    mean {_f(m.client_cpu_mean_percent, 0)} %, "
            f"max {_f(m.client_cpu_max_percent, 0)} %",
            f"  machine       load average {machine.load_1min:.1f} "
            f"on {machine.cores} cores; scripted server CPU "
            f"{_f(machine.server_cpu_percent, 0)} % (stage average)",
        ]
        for check in ev.checks:
            mark = "ok  " if check.passed else "FAIL"
            lines.append(
                f"  [{mark}] {check.check}: {_f(check.measured, 4)} "
                f"(limit {check.limit:g}; {check.text})"
            )
    return "\n".join(lines)


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"
