"""How a load stage made its load: the key that pairs stages of one load run, and its label.

Closed loop is keyed by its concurrency; open loop by its requested rate and arrival process
(and its in-flight cap); a trace replay by its file and speed. Keying by concurrency alone would
make the rate stages of one run (all at the one cap) look alike and pair them wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hawkeye_bench.load.plan import PlanDescription
from hawkeye_bench.load.stage_result import LoadStageResult

CLOSED, OPEN, TRACE = 0, 1, 2  # the modes, in the order the report lists them


@dataclass(frozen=True, order=True)
class LoadLevel:
    """One stage's load; equal levels are the same load. Ordered: closed loop by concurrency,
    then open loop by rate, then traces."""

    mode: int
    rate: float = 0.0  # open loop: requests per second asked for
    concurrency: int = 0  # closed loop: users; open loop and traces: the in-flight cap
    arrival: str = ""  # open loop: constant, poisson or gamma
    burstiness: float = 1.0  # gamma arrivals only
    trace_file: str = ""
    trace_speed: float = 1.0

    @property
    def label(self) -> str:
        if self.mode == CLOSED:
            return f"concurrency {self.concurrency}"
        if self.mode == TRACE:
            return f"trace {Path(self.trace_file).name} ×{self.trace_speed:g}"
        arrival = self.arrival
        if arrival == "gamma":
            arrival += f" (burstiness {self.burstiness:g})"
        return f"{self.rate:g} requests/s {arrival}, ≤ {self.concurrency} in flight"

    @property
    def is_open_loop(self) -> bool:
        return self.mode == OPEN

    def __str__(self) -> str:
        return self.label


def load_level(entry: LoadStageResult, plan: PlanDescription) -> LoadLevel:
    """The level of one ``load_results.json`` stage under its run's plan (old folders, which
    had closed loop only, read as closed loop)."""
    concurrency = entry.concurrency
    if entry.trace is not None and plan.trace is not None:
        return LoadLevel(
            TRACE,
            concurrency=concurrency,
            trace_file=plan.trace.file,
            trace_speed=plan.trace.speed,
        )
    if entry.rate is None:
        return LoadLevel(CLOSED, concurrency=concurrency)
    # the stage's own arrival (a sweep's plan has no rates), else the plan's
    arrival, burstiness = "poisson", None
    if plan.open_loop is not None:
        arrival, burstiness = plan.open_loop.arrival or arrival, plan.open_loop.burstiness
    if entry.arrival is not None:
        arrival, burstiness = entry.arrival.process or arrival, entry.arrival.burstiness
    return LoadLevel(
        OPEN,
        rate=entry.rate,
        concurrency=concurrency,
        arrival=arrival,
        burstiness=float(burstiness) if arrival == "gamma" and burstiness is not None else 1.0,
    )
