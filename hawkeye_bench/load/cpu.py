"""The load generator watching its own CPU.

A saturated client reads chunks late and reports the delay as server latency. Locust only checks
every 10 s at 90 % and keeps the exit code, so each load-generating Locust process (every
worker of a distributed run) samples itself once a second (psutil; percent of one core) and the
metrics mark a stage unreliable when any process stayed at or above :data:`SATURATION_PERCENT`
for :data:`SATURATION_SAMPLES` consecutive samples.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from hawkeye_bench.core.json_form import JsonPayload

SAMPLE_INTERVAL_S = 1.0
SATURATION_PERCENT = 85.0
SATURATION_SAMPLES = 2


@dataclass(frozen=True)
class CpuSample(JsonPayload):
    """One line of ``cpu-<host>-<pid>.jsonl``: this process's CPU over the last interval."""

    t: float  # wall-clock time of the sample
    cpu: float  # percent of one core
    interval_s: float | None = None  # the interval it covers (None in files of older versions)


@dataclass(frozen=True)
class ProcessCpu(JsonPayload):
    """One load-generating process's CPU over a stage."""

    process: str = ""  # <host>-<pid>
    samples: int = 0
    mean_percent: float | None = None
    max_percent: float | None = None
    saturated: bool = False


@dataclass(frozen=True)
class CpuSummary(JsonPayload):
    """The client CPU of one stage (a stage's ``cpu`` in ``load_results.json``)."""

    threshold_percent: float = SATURATION_PERCENT
    consecutive_samples: int = SATURATION_SAMPLES
    processes: list[ProcessCpu] = field(default_factory=list)
    busiest_mean_percent: float | None = None
    max_percent: float | None = None
    saturated: bool = False  # some process stayed at or above the threshold
    sampled: bool = False  # some process has a sample


class CpuSampler:
    """Sample this process's CPU every second, handing each sample to ``on_sample`` (a raw sink),
    in a background thread.

    Under Locust (gevent monkey-patched) the thread is a greenlet, which is what we want: it
    then competes with the users exactly like the work it measures.
    """

    def __init__(
        self, on_sample: Callable[[CpuSample], None], interval_s: float = SAMPLE_INTERVAL_S
    ) -> None:
        self.on_sample = on_sample
        self.interval_s = interval_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._process.cpu_percent(None)  # prime: the first call always returns 0.0
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            stopping = self._stop.wait(self.interval_s)
            now = time.monotonic()
            # a final, shorter sample at stop, so a run under a second still has one
            if not stopping or now - last > 0.05:
                cpu = self._process.cpu_percent(None)
                self.on_sample(CpuSample(time.time(), cpu, round(now - last, 3)))
                last = now
            if stopping:
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def longest_run_at_or_above(values: Sequence[float], threshold: float) -> int:
    longest = current = 0
    for value in values:
        current = current + 1 if value >= threshold else 0
        longest = max(longest, current)
    return longest


def summarize_cpu(samples_by_process: Mapping[Any, Sequence[CpuSample]]) -> CpuSummary:
    """Per-process CPU figures and the saturation verdict for one stage; processes are named
    ``<host>-<pid>``, so a saturated worker of a distributed run is named."""
    processes: list[ProcessCpu] = []
    for label, samples in sorted(samples_by_process.items(), key=lambda item: str(item[0])):
        values = [s.cpu for s in samples]
        processes.append(
            ProcessCpu(
                process=str(label),
                samples=len(values),
                mean_percent=round(sum(values) / len(values), 1) if values else None,
                max_percent=round(max(values), 1) if values else None,
                saturated=longest_run_at_or_above(values, SATURATION_PERCENT) >= SATURATION_SAMPLES,
            )
        )
    means = [p.mean_percent for p in processes if p.mean_percent is not None]
    maxima = [p.max_percent for p in processes if p.max_percent is not None]
    return CpuSummary(
        processes=processes,
        busiest_mean_percent=max(means) if means else None,
        max_percent=max(maxima) if maxima else None,
        saturated=any(p.saturated for p in processes),
        sampled=bool(maxima),
    )
