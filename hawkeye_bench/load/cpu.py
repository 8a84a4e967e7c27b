"""The load generator watching its own CPU.

A saturated client reads chunks late and reports the delay as server latency. Locust only checks
every 10 s at 90 % and keeps the exit code, so each Locust process samples itself once a second
(psutil; percent of one core) and the metrics mark a stage unreliable when any process stayed at
or above :data:`SATURATION_PERCENT` for :data:`SATURATION_SAMPLES` consecutive samples.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from hawkeye_bench.core.jsonl import JsonlWriter

SAMPLE_INTERVAL_S = 1.0
SATURATION_PERCENT = 85.0
SATURATION_SAMPLES = 2


class CpuSampler:
    """Sample this process's CPU every second into a JSONL file, in a background thread.

    Under Locust (gevent monkey-patched) the thread is a greenlet, which is what we want: it
    then competes with the users exactly like the work it measures.
    """

    def __init__(self, path: Path, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.path = path
        self.interval_s = interval_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._process.cpu_percent(None)  # prime: the first call always returns 0.0
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        out = JsonlWriter(self.path).open()
        last = time.monotonic()
        try:
            while True:
                stopping = self._stop.wait(self.interval_s)
                now = time.monotonic()
                # a final, shorter sample at stop, so a run under a second still has one
                if not stopping or now - last > 0.05:
                    cpu = self._process.cpu_percent(None)
                    sample = {"t": time.time(), "cpu": cpu, "interval_s": round(now - last, 3)}
                    out.write(sample)
                    last = now
                if stopping:
                    return
        finally:
            out.close()

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


def cpu_summary(samples_by_pid: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per-process CPU figures and the saturation verdict for one stage."""
    processes = []
    for pid, samples in sorted(samples_by_pid.items()):
        values = [float(s["cpu"]) for s in samples]
        processes.append(
            {
                "pid": pid,
                "samples": len(values),
                "mean_percent": round(sum(values) / len(values), 1) if values else None,
                "max_percent": round(max(values), 1) if values else None,
                "saturated": longest_run_at_or_above(values, SATURATION_PERCENT)
                >= SATURATION_SAMPLES,
            }
        )
    means = [p["mean_percent"] for p in processes if p["mean_percent"] is not None]
    maxima = [p["max_percent"] for p in processes if p["max_percent"] is not None]
    return {
        "threshold_percent": SATURATION_PERCENT,
        "consecutive_samples": SATURATION_SAMPLES,
        "processes": processes,
        "busiest_mean_percent": max(means) if means else None,
        "max_percent": max(maxima) if maxima else None,
        "saturated": any(p["saturated"] for p in processes),
        "sampled": bool(maxima),
    }
