"""Open-loop arrivals: when each request of a ``load --rate`` stage is due, whatever the others do.

Gaps follow vLLM's ``bench serve`` convention: ``poisson`` draws exponential gaps of mean
1/rate; ``gamma`` draws gamma gaps of shape ``burstiness`` and scale 1/(rate x burstiness) (mean
1/rate, coefficient of variation 1/sqrt(burstiness): below 1 burstier than Poisson, 1 is
Poisson); ``constant`` spaces them exactly 1/rate apart. A schedule is seeded, so a stage's
arrivals repeat from run to run. Unlike vLLM the offsets are not rescaled to end at N/rate: a
stage runs for a duration or until N successes, and the achieved rate is measured instead.

Several load processes split the rate: process ``i`` of ``n`` draws its own seeded stream at
rate/n (for ``constant``, shifted by i/rate so the processes interleave evenly). The union of n
independent Poisson streams of rate r/n is a Poisson stream of rate r; for ``gamma`` with
burstiness other than 1 the union is only approximately gamma, which the stage's gap statistics
show. A trace (:class:`TraceSchedule`) gives each request its own due time instead, split the
same way (row i to process i mod n). This module does not import Locust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hawkeye_bench.load.traces import TraceRow

ARRIVALS = ("poisson", "gamma", "constant")


class ArrivalError(ValueError):
    """A rate, arrival process or burstiness that cannot be scheduled."""


def check_rate(rate: float) -> float:
    """``rate`` when it is a finite number of requests per second above 0."""
    if not math.isfinite(rate) or rate <= 0:
        raise ArrivalError(f"a rate must be a finite number of requests per second > 0, not {rate}")
    return rate


@dataclass(frozen=True)
class ArrivalSpec:
    """One stage's arrival process, for all its load processes together."""

    rate: float  # requests per second
    arrival: str = "poisson"
    burstiness: float = 1.0  # gamma's shape; 1 = Poisson
    seed: int = 0

    def __post_init__(self) -> None:
        check_rate(self.rate)
        if self.arrival not in ARRIVALS:
            raise ArrivalError(f"arrival {self.arrival!r}: expected one of {', '.join(ARRIVALS)}")
        if not math.isfinite(self.burstiness) or self.burstiness <= 0:
            raise ArrivalError(f"burstiness must be a finite number > 0, not {self.burstiness}")
        if self.burstiness != 1.0 and self.arrival != "gamma":
            raise ArrivalError("a burstiness other than 1 is for the gamma arrival process")

    def gaps(self, count: int, index: int = 0, processes: int = 1) -> np.ndarray:
        """The first ``count`` gaps (seconds) of process ``index`` of ``processes``."""
        return Schedule(self, 0.0, index, processes).take(count)


class Schedule:
    """Due times (``time.perf_counter()`` seconds) of one process's requests, in order."""

    BLOCK = 1024  # gaps drawn at a time

    def __init__(self, spec: ArrivalSpec, start: float, index: int = 0, processes: int = 1):
        if not 0 <= index < processes:
            raise ArrivalError(f"process {index} of {processes}")
        self.spec = spec
        self.rate = spec.rate / processes  # this process's share
        self.rng = np.random.default_rng([spec.seed, index])
        # constant: the processes interleave evenly; random processes start with a drawn gap
        self.due = start + (index / spec.rate if spec.arrival == "constant" else 0.0)
        self._gaps = np.empty(0)
        self._next = 0
        self._first = True

    def _draw(self) -> np.ndarray:
        spec, size = self.spec, self.BLOCK
        if spec.arrival == "constant":
            return np.full(size, 1.0 / self.rate)
        if spec.arrival == "poisson":
            return self.rng.exponential(1.0 / self.rate, size)
        return self.rng.gamma(spec.burstiness, 1.0 / (self.rate * spec.burstiness), size)

    def _gap(self) -> float:
        if self._next >= len(self._gaps):
            self._gaps, self._next = self._draw(), 0
        gap = float(self._gaps[self._next])
        self._next += 1
        return gap

    def next(self) -> float:
        """The due time of the next request (the first is the start, for constant spacing)."""
        if self._first and self.spec.arrival == "constant":
            self._first = False
            return self.due
        self._first = False
        self.due += self._gap()
        return self.due

    def take(self, count: int) -> np.ndarray:
        """The gaps between this schedule's next ``count`` + 1 due times."""
        times = np.array([self.next() for _ in range(count + 1)])
        return np.diff(times)


class TraceSchedule:
    """Due times of one process's share of a trace (rows ``index::processes``), replayed at
    ``speed`` times the trace's pace; None once the share is sent."""

    def __init__(
        self, rows: list[TraceRow], start: float, speed: float = 1.0, index: int = 0,
        processes: int = 1,
    ) -> None:  # fmt: skip
        if not math.isfinite(speed) or speed <= 0:
            raise ArrivalError(f"a trace speed must be a finite number > 0, not {speed}")
        self.rows = rows[index::processes]
        self.start = start
        self.speed = speed
        self._next = 0

    def next(self) -> tuple[float, TraceRow] | None:
        if self._next >= len(self.rows):
            return None
        row = self.rows[self._next]
        self._next += 1
        return self.start + row.at_s / self.speed, row


def trace_rate(rows: list[TraceRow], speed: float = 1.0) -> float | None:
    """A trace's mean arrival rate at ``speed`` (None: one row, or all at once)."""
    span = rows[-1].at_s - rows[0].at_s if rows else 0.0
    return (len(rows) - 1) * speed / span if span > 0 else None
