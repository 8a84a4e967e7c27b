"""``load --rate sweep``: from one request at a time to the saturation knee, as GuideLLM sweeps.

Per target, a synchronous stage (closed loop, one user) and a throughput stage (closed loop at
the in-flight cap: as fast as the server takes them) measure the lowest and highest useful
rate; then ``points - 2`` open-loop stages run at rates evenly spaced between the slowest
target's synchronous rate and the fastest target's throughput rate, the last equal to it, every
target at the same rates (the comparison at equal load). The sustainable rate of a target is
the highest of those rates whose stage kept its schedule, stayed within --max-error-rate and,
with --slo, met the goodput asked for (--min-goodput, else :data:`DEFAULT_SWEEP_GOODPUT`).

Stages above the knee fall behind their schedule by design: that is the sweep's finding, so it
does not fail the run; a stage that failed, lost a worker or lost records does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.load.runner import LoadPlan, run_plan
from hawkeye_bench.load.stage_result import LoadStageResult

MIN_SWEEP_POINTS = 2
DEFAULT_SWEEP_POINTS = 10
DEFAULT_SWEEP_GOODPUT = 0.9
SYNCHRONOUS, THROUGHPUT, RATE = "synchronous", "throughput", "rate"


class SweepError(ValueError):
    """A sweep that cannot run: too few points, or no rate measured to sweep between."""


@dataclass
class SweepSummary(JsonPayload):
    """A ``--rate sweep``'s findings, the ``sweep`` of ``load_results.json``: per target its
    synchronous, throughput and sustainable rate (None: not measured, or none of the rates)."""

    points: int = 0
    rates: list[float] = field(default_factory=list)
    synchronous_per_s: dict[str, float | None] = field(default_factory=dict)
    throughput_per_s: dict[str, float | None] = field(default_factory=dict)
    min_goodput: float | None = None  # the goodput a sustained rate needed (with --slo)
    sustainable_per_s: dict[str, float | None] = field(default_factory=dict)


def sweep_rates(low: float, high: float, points: int) -> list[float]:
    """The ``points - 2`` open-loop rates between ``low`` and ``high``, the last equal to
    ``high`` (4 significant digits: they name the stages)."""
    if points < MIN_SWEEP_POINTS:
        raise SweepError(f"a sweep needs at least {MIN_SWEEP_POINTS} points, not {points}")
    if not 0 < low <= high:
        raise SweepError(f"no rate to sweep between {low:g} and {high:g} requests/s")
    return [float(f"{r:.4g}") for r in np.linspace(low, high, points - 1)[1:]]


def run_sweep(
    plan: LoadPlan, points: int, progress: Callable[[str], None] = print
) -> tuple[list[LoadStageResult], SweepSummary]:
    """Run the sweep's stages; (stages in run order, the sweep's summary)."""
    if points < MIN_SWEEP_POINTS:
        raise SweepError(f"a sweep needs at least {MIN_SWEEP_POINTS} points, not {points}")
    cap = plan.concurrencies[0]
    closed = dataclasses.replace(plan, rates=[])
    synchronous = run_plan(dataclasses.replace(closed, concurrencies=[1]), progress)
    throughput = run_plan(dataclasses.replace(closed, concurrencies=[cap]), progress)
    low = [r for s in synchronous if (r := s.requests_per_s) is not None]
    high = [r for s in throughput if (r := s.requests_per_s) is not None]
    if not low or not high:
        raise SweepError("the synchronous or throughput stage measured no rate")
    rates = sweep_rates(min(low), max(max(high), min(low)), points)
    progress(f"sweep rates (requests/s): {', '.join(f'{r:.3g}' for r in rates)}")
    swept = run_plan(dataclasses.replace(plan, rates=rates), progress) if rates else []
    for role, stages in ((SYNCHRONOUS, synchronous), (THROUGHPUT, throughput), (RATE, swept)):
        for stage in stages:
            stage.sweep_role = role
    stages = [*synchronous, *throughput, *swept]
    goodput = plan.min_goodput if plan.min_goodput is not None else DEFAULT_SWEEP_GOODPUT
    summary = SweepSummary(
        points=points,
        rates=rates,
        synchronous_per_s={s.target: s.requests_per_s for s in synchronous},
        throughput_per_s={s.target: s.requests_per_s for s in throughput},
        min_goodput=goodput if plan.slo else None,
        sustainable_per_s={
            t.name: sustainable_rate([s for s in swept if s.target == t.name], plan, goodput)
            for t in plan.targets
        },
    )
    return stages, summary


def sustainable_rate(stages: list[LoadStageResult], plan: LoadPlan, goodput: float) -> float | None:
    """The highest rate whose stage kept its schedule, its error share and the goodput."""
    good = [s.rate for s in stages if s.rate is not None and _sustained(s, plan, goodput)]
    return max(good) if good else None


def _sustained(stage: LoadStageResult, plan: LoadPlan, goodput: float) -> bool:
    if stage.is_failed or stage.too_many_errors or stage.saturation:
        return False
    if plan.slo:
        share = stage.goodput_share
        return share is not None and share >= goodput
    return True


def sweep_failures(stages: list[LoadStageResult]) -> list[str]:
    """What fails a sweep: a failed stage, an unreliable synchronous or throughput stage, or a
    rate stage unreliable for another reason than falling behind (a lost worker, lost
    records). Saturation, errors and missed SLOs above the knee are the sweep's result."""
    failures = []
    for stage in stages:
        if stage.failed is not None:
            failures.append(f"{stage.stage}: {stage.failed}")
            continue
        reasons = stage.unreliable_reasons
        if stage.sweep_role == RATE:
            expected = {*stage.saturation, *stage.error_reasons}
            reasons = [r for r in reasons if r not in expected]
        failures += [f"{stage.stage}: {r}" for r in reasons]
    return failures
