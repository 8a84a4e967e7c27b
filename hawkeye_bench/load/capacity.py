"""How many Locust processes a stage needs: ``--processes auto``.

One load process reads SSE events on time up to a ceiling (events per second at which its
delivery lag p99 stays under a bound), measured on this machine by ``hawkeye-bench load
--calibrate --ceiling`` and kept in :func:`capacity_path`. A stage at concurrency C against a
server that streams R events per second per request needs about C x R events per second, so
``ceil(C x R / ceiling)`` processes; R is measured with one streamed request to the target
before the load starts (under load a server usually streams slower, so this errs towards more
processes). The count is capped at the cores this process may use; a stage that needs more is
said to need more cores, and its client CPU check will tell whether it held. Without a
measured ceiling ``auto`` is one process per usable core.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.load.endpoint import EndpointError
from hawkeye_bench.load.records import host_name
from hawkeye_bench.load.stream import StreamMeter

CAPACITY_ENV = "HAWKEYE_LOAD_CAPACITY"
PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Capacity(JsonPayload):
    """One load process's measured ceiling on this machine; a kept ceiling without its host
    reads as another host's."""

    events_per_s: float  # streamed events per second read with lag p99 under the bound
    lag_p99_bound_ms: float = 0.0
    lag_p99_ms: float | None = None  # at the ceiling
    concurrency: int = 0  # the calibration concurrency that reached it
    host: str = ""
    cores: int = 0
    measured: str = ""  # ISO time

    @classmethod
    def from_json(cls, data: object) -> Capacity:
        """A kept ceiling; one without ``events_per_s`` is a KeyError, as it always was."""
        if not isinstance(data, Mapping) or "events_per_s" not in data:
            raise KeyError("events_per_s")
        return super().from_json(data)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def capacity_path() -> Path:
    """``$HAWKEYE_LOAD_CAPACITY``, else ``<cache>/hawkeye-bench/load_capacity.json``."""
    if os.environ.get(CAPACITY_ENV):
        return Path(os.environ[CAPACITY_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "hawkeye-bench" / "load_capacity.json"


def save_capacity(capacity: Capacity, path: Path | None = None) -> Path:
    path = path or capacity_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(capacity.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def read_capacity(path: Path | None = None) -> Capacity | None:
    """The capacity measured on this host, or None (none measured, or another host's)."""
    path = path or capacity_path()
    if not path.is_file():
        return None
    capacity = Capacity.from_json(json.loads(path.read_text(encoding="utf-8")))
    return capacity if capacity.host == host_name() else None


def new_capacity(
    events_per_s: float, lag_p99_ms: float | None, concurrency: int, bound_ms: float
) -> Capacity:
    return Capacity(
        events_per_s=events_per_s,
        lag_p99_bound_ms=bound_ms,
        lag_p99_ms=lag_p99_ms,
        concurrency=concurrency,
        host=host_name(),
        cores=usable_cores(),
        measured=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def stream_event_rate(url: str, body: dict[str, Any], headers: dict[str, str]) -> float | None:
    """Token-bearing SSE events per second of one streamed request (first to last token), or
    None when it streamed fewer than two token chunks."""
    data = json.dumps({**body, "stream": True}).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **headers}
    )
    t_send = time.perf_counter()
    meter = StreamMeter(t_send)
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S) as response:
            for line in response:
                if meter.feed(line, time.perf_counter()):
                    break
    except Exception as exc:
        raise EndpointError(f"probe request to {url} failed: {type(exc).__name__}: {exc}") from exc
    if len(meter.chunks) < 2:
        return None
    span_s = (meter.chunks[-1].t_ms - meter.chunks[0].t_ms) / 1000
    return (len(meter.chunks) - 1) / span_s if span_s > 0 else None


@dataclass(frozen=True)
class ProcessPlan:
    processes: int  # Locust --processes (0: one process)
    needed: int  # processes the measured rates call for (may exceed the cores)
    note: str


def plan_processes(
    concurrency: int,
    events_per_stream_s: float | None,
    capacity: Capacity | None,
    cores: int | None = None,
) -> ProcessPlan:
    """Processes for one stage, and a line saying how the count was reached."""
    cores = cores or usable_cores()
    if capacity is None or events_per_stream_s is None:
        why = "no measured ceiling (run `hawkeye-bench load --calibrate --ceiling`)"
        if capacity is not None:
            why = "the probe request streamed fewer than two token chunks"
        return ProcessPlan(
            _locust_processes(cores), cores, f"{why}: one process per core ({cores})"
        )
    events = concurrency * events_per_stream_s
    needed = max(1, math.ceil(events / capacity.events_per_s))
    processes = min(needed, cores)
    note = (
        f"c={concurrency} x {events_per_stream_s:.1f} events/s per stream = {events:.0f} "
        f"events/s; one process reads {capacity.events_per_s:.0f} events/s with lag p99 < "
        f"{capacity.lag_p99_bound_ms:g} ms: {needed} process(es)"
    )
    if needed > cores:
        note += f", but only {cores} cores here: {processes} (needs {needed} cores)"
    return ProcessPlan(_locust_processes(processes), needed, note)


def _locust_processes(processes: int) -> int:
    return 0 if processes <= 1 else processes
