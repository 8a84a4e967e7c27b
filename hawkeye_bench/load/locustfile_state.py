"""One Locust process's state: its workload, counters and output, and how it stops.

Everything the event hooks and the users share lives in :data:`PROCESS` (one per process), so
the modules of the locustfile read and set one object instead of each other's globals.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
from locust.env import Environment

from hawkeye_bench.load.arrivals import ArrivalSpec, Schedule, TraceSchedule
from hawkeye_bench.load.cpu import CpuSampler
from hawkeye_bench.load.locustfile_workload import Workload
from hawkeye_bench.load.prompts import Messages
from hawkeye_bench.load.shipping import RawCollector, RawShipper, RawSink
from hawkeye_bench.load.traces import TraceRow

#: What is sent as ``stream_options``, richest first; on a 400 that names the option we step down.
STREAM_OPTION_LEVELS: tuple[dict[str, bool] | None, ...] = (
    {"include_usage": True, "continuous_usage_stats": True},
    {"include_usage": True},
    None,
)


@dataclass
class LoadState:
    """Per-process state: prompts, output files, counters. Built at test start."""

    workload: Workload
    max_tokens: int
    temperature: float | None
    stage: str
    warmup_until: float  # perf_counter
    stop_after: int
    max_failures: int
    raw: RawSink
    cpu: CpuSampler
    host: str
    prompt_order: itertools.count[int]
    stream_option_level: int = 0
    measured: int = 0  # successful measured requests
    failed: int = 0  # failed measured requests
    seq: itertools.count[int] = field(default_factory=itertools.count)
    quitting: bool = False
    #: no new request is sent: the test stops once the ones in flight are done
    draining: bool = False
    #: set with ``draining``: wakes the open-loop users waiting for a due time
    drain_event: gevent.event.Event = field(default_factory=gevent.event.Event)
    in_flight: int = 0
    ignore_eos: bool = True  # trace replay: sent until the server rejects it
    #: open loop (--rate): this process's arrival process; None: closed loop
    arrivals: ArrivalSpec | None = None
    trace_speed: float = 1.0  # --trace: the workload's rows, replayed at this pace
    slot: tuple[int, int] = (0, 1)  # (index, count) of this process among the load processes
    spin_s: float = 0.0  # the last stretch before a due time waited by yielding (open loop)
    #: when each request is due; made once every user is spawned (open loop)
    schedule: Schedule | TraceSchedule | None = None
    schedule_made: gevent.event.Event = field(default_factory=gevent.event.Event)

    def body(self, messages: Messages, row: TraceRow | None = None) -> str:
        body: dict[str, Any] = {
            "model": self.workload.model,
            "messages": messages,
            "max_tokens": self.max_tokens if row is None else row.output_tokens,
            "stream": True,
        }
        if row is not None and self.ignore_eos:  # the trace's output length, not an early stop
            body["ignore_eos"] = True
        if self.temperature is not None:
            body["temperature"] = self.temperature
        options = STREAM_OPTION_LEVELS[self.stream_option_level]
        if options is not None:
            body["stream_options"] = options
        return json.dumps(body)


@dataclass
class ProcessState:
    """What this Locust process holds between Locust's events."""

    workload: Workload | None = None
    load: LoadState | None = None  # a load-generating process, while its test runs
    collector: RawCollector | None = None  # master: the workers' raw records
    last_shipper: RawShipper | None = None  # worker: answers a late flush request again
    worker_count: int = 1  # worker: load-generating processes of the run (from the master)
    master_ok: int = 0  # master: the workers' successful measured requests
    master_failed: int = 0  # master: the workers' failed measured requests
    master_quitting: bool = False


PROCESS = ProcessState()


def stop_reason(ok: int, failed: int, stop_after: int, max_failures: int) -> str | None:
    """Why the test should stop now (None: go on)."""
    if stop_after and ok >= stop_after:
        return f"{ok} measured requests succeeded"
    if max_failures and failed >= max_failures:
        return f"{failed} measured requests failed (--max-failures {max_failures})"
    return None


def drain_then(environment: Environment, stop: Callable[[], Any]) -> None:
    """Send no new request, wait (up to --stop-timeout) for those in flight, then ``stop()``.

    Locust's own stop blocks its process for a while (it inspects the call stack, ~0.1 s):
    streams still being read then would take that as latency.
    """
    state = PROCESS.load
    if state is not None:
        state.draining = True
        state.drain_event.set()
        deadline = time.monotonic() + (environment.stop_timeout or 0.0)
        while state.in_flight and time.monotonic() < deadline:
            gevent.sleep(0.01)
    stop()
