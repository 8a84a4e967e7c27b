"""Latency against achieved request rate: the comparison of baseline and pipeline at equal load.

From the open-loop stages of a load run (``load --rate sweep`` or ``--rate R1,R2,...``): one
row of panels per load run and dataset, TTFT, TBT and E2E at p50 (solid) and p99 (dashed)
against the rate each stage achieved, every target on the same panels. Beside it, the
sustainable-rate table of each ``--rate sweep``: the synchronous and throughput rates it
measured and the highest swept rate whose stage kept its schedule, its error share and the
goodput asked for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import matplotlib.pyplot as plt

from hawkeye_bench.load.plan import PlanDescription
from hawkeye_bench.load.sweep import SweepSummary
from hawkeye_bench.reporting.figures import PANEL_SIZE, _save
from hawkeye_bench.reporting.inputs import LoadResult
from hawkeye_bench.reporting.load_inputs import LoadStage, stored_results
from hawkeye_bench.reporting.model import Column, Figure, Table
from hawkeye_bench.reporting.tables import Rel

FIGURE_FILE = "load_latency_vs_rate.png"
#: (metric, panel title, divisor from ms to the axis unit, axis unit)
PANELS = (("ttft_ms", "TTFT", 1.0, "ms"), ("tbt_ms", "TBT", 1.0, "ms"), ("e2e_ms", "E2E", 1e3, "s"))
STATS = (("p50", "-", "o"), ("p99", "--", "^"))


class SustainableRateRow(TypedDict):
    load: str
    target: str
    synchronous_per_s: float | None
    throughput_per_s: float | None
    sustainable_per_s: float | None
    rates: str
    requirement: str
    sources: list[str]


COLUMNS = [
    Column("load", "load run"),
    Column("target", "target"),
    Column("synchronous_per_s", "synchronous /s", "float2"),
    Column("throughput_per_s", "throughput /s", "float2"),
    Column("sustainable_per_s", "sustainable /s", "float2"),
    Column("rates", "swept rates /s"),
    Column("requirement", "sustained means"),
]


def achieved_rate(stage: LoadStage) -> float | None:
    """The rate the stage's sends achieved (its requested rate where none was stored)."""
    stats = stage.entry.open_loop
    achieved = None if stats is None else stats.achieved_per_s
    return achieved if achieved is not None else stage.level.rate or None


def rate_curves(
    stages: Sequence[LoadStage],
) -> dict[tuple[str, str], dict[str, list[LoadStage]]]:
    """(load run, dataset) -> target -> its open-loop stages by rate, where some target of the
    run has two rates or more (one rate is no curve)."""
    groups: dict[tuple[str, str], dict[str, list[LoadStage]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for stage in stages:
        if stage.level.is_open_loop and achieved_rate(stage) is not None:
            groups[(stage.load_label, stage.dataset)][stage.target].append(stage)
    return {
        key: {t: sorted(s, key=lambda s: s.level) for t, s in by_target.items()}
        for key, by_target in groups.items()
        if any(len(s) > 1 for s in by_target.values())
    }


def _value(stage: LoadStage, metric: str, stat: str) -> float | None:
    value = stage.metrics.stat(metric, stat)
    return None if value is None else float(value)


def latency_vs_rate(stages: Sequence[LoadStage], out: Path, rel: Rel) -> Figure | None:
    curves = rate_curves(stages)
    if not curves:
        return None
    fig, axes = plt.subplots(
        len(curves),
        len(PANELS),
        figsize=(PANEL_SIZE[0] * len(PANELS), PANEL_SIZE[1] * len(curves)),
        squeeze=False,
    )
    sources: list[str] = []
    for row, ((load, dataset), by_target) in enumerate(curves.items()):
        for col, (metric, title, scale, unit) in enumerate(PANELS):
            ax = axes[row, col]
            for number, (target, points) in enumerate(by_target.items()):
                for stat, line, marker in STATS:
                    xy = [
                        (rate, value / scale)
                        for s in points
                        if (rate := achieved_rate(s)) is not None
                        and (value := _value(s, metric, stat)) is not None
                    ]
                    if xy:
                        ax.plot(*zip(*xy, strict=True), line, marker=marker,
                                color=f"C{number}", label=f"{target} {stat}")  # fmt: skip
            ax.set_title(f"{title}, {dataset} ({load})" if len(curves) > 1 else title)
            ax.set_xlabel("achieved rate (requests/s)")
            ax.set_ylabel(f"{title} ({unit})")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        sources += [rel(p) for points in by_target.values() for s in points for p in s.sources]
    return Figure(
        _save(fig, out, FIGURE_FILE),
        "Latency against the achieved request rate (open-loop stages: the same arrival "
        "schedule for every target), p50 solid and p99 dashed: baseline and pipeline at equal "
        "load. Percentiles of the measured successful requests of each stage.",
        list(dict.fromkeys(sources)),
    )


def _requirement(plan: PlanDescription, sweep: SweepSummary) -> str:
    parts = ["on schedule", f"errors ≤ {100 * (plan.max_error_rate or 0.0):.1f} %"]
    if plan.slo and sweep.min_goodput is not None:
        bounds = ", ".join(f"{k} ≤ {v:g}" for k, v in plan.slo.items())
        parts.append(f"goodput ≥ {100 * sweep.min_goodput:.0f} % ({bounds})")
    return "; ".join(parts)


def sustainable_rate_table(loads: Sequence[LoadResult], rel: Rel) -> Table[SustainableRateRow]:
    rows: list[SustainableRateRow] = []
    for load in loads:
        results = stored_results(load)
        sweep = results.sweep
        if sweep is None:
            continue
        requirement = _requirement(results.plan, sweep)
        rates = ", ".join(f"{r:.3g}" for r in sweep.rates)
        for target, sustainable in sweep.sustainable_per_s.items():
            rows.append(
                {
                    "load": load.label,
                    "target": target,
                    "synchronous_per_s": sweep.synchronous_per_s.get(target),
                    "throughput_per_s": sweep.throughput_per_s.get(target),
                    "sustainable_per_s": sustainable,
                    "rates": rates,
                    "requirement": requirement,
                    "sources": [rel(load.results_file)],
                }
            )
    notes = [
        "From `hawkeye-bench load --rate sweep`: a synchronous stage (one request at a time), a "
        "throughput stage (closed loop at the in-flight cap), then open-loop stages at rates "
        "evenly spaced between them, the same rates for every target. Sustainable = the "
        "highest swept rate whose stage met every condition in the last column; empty: none "
        "of the rates did."
    ]
    return Table("sustainable_rate", "Sustainable request rate", COLUMNS, rows, notes)
