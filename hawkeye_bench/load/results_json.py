"""``load_results.json`` as a type: the plan, the metric definitions, every stage, each target's
speedup over the baseline at the same load, and the rate sweep's findings.

The speedup of a target is the baseline's mean E2E divided by the target's at the same
concurrency (the first target is the baseline, as in the paper: Baseline / Hawkeye).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hawkeye_bench.core.json_form import dump, load
from hawkeye_bench.load.plan import PlanDescription
from hawkeye_bench.load.registry import load_metrics
from hawkeye_bench.load.stage_result import LoadStageResult
from hawkeye_bench.load.sweep import SweepSummary


@dataclass
class Speedup:
    """One non-baseline target against the baseline at one concurrency (or rate)."""

    concurrency: int
    rate: float | None
    target: str
    baseline: str
    e2e_speedup: float | None = None
    #: the paper's headline: Baseline / CoT only (time to the end of the reasoning)
    cot_speedup: float | None = None
    ttft_speedup: float | None = None
    token_share: float | None = None
    cot_token_share: float | None = None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def speedups(stages: Sequence[LoadStageResult], baseline: str) -> list[Speedup]:
    """Per concurrency (or rate) and non-baseline target: E2E and TTFT speedup, token share."""
    by_key = {(s.concurrency, s.rate, s.target): s for s in stages}
    rows = []
    for stage in stages:
        if stage.target == baseline:
            continue
        base = by_key.get((stage.concurrency, stage.rate, baseline))
        if base is None:
            continue
        base_e2e = base.stat("e2e_ms", "mean")
        base_tokens = base.stat("output_tokens", "mean")
        rows.append(
            Speedup(
                concurrency=stage.concurrency,
                rate=stage.rate,
                target=stage.target,
                baseline=baseline,
                e2e_speedup=_ratio(base_e2e, stage.stat("e2e_ms", "mean")),
                cot_speedup=_ratio(base_e2e, stage.stat("reasoning_end_ms", "mean")),
                ttft_speedup=_ratio(base.stat("ttft_ms", "mean"), stage.stat("ttft_ms", "mean")),
                token_share=_ratio(stage.stat("output_tokens", "mean"), base_tokens),
                cot_token_share=_ratio(stage.stat("cot_tokens", "mean"), base_tokens),
            )
        )
    return rows


@dataclass
class MetricDefinition:
    """A load metric's unit and meaning, as the results file explains it."""

    unit: str = ""
    definition: str = ""


@dataclass
class LoadResults:
    """What ``load_results.json`` holds."""

    created: str = ""
    plan: PlanDescription = field(default_factory=PlanDescription)
    definitions: dict[str, MetricDefinition] = field(default_factory=dict)
    stages: list[LoadStageResult] = field(default_factory=list)
    speedups: list[Speedup] = field(default_factory=list)
    sweep: SweepSummary | None = None  # only from --rate sweep

    def speedup_for(self, stage: LoadStageResult) -> Speedup | None:
        """The stage's speedup over the baseline at its load (None: the baseline itself, or no
        baseline stage at that load)."""
        for row in self.speedups:
            if (row.target, row.concurrency, row.rate) == (
                stage.target,
                stage.concurrency,
                stage.rate,
            ):
                return row
        return None

    def to_json(self) -> dict[str, Any]:
        data = dump(dataclasses.replace(self, stages=[]))
        data["stages"] = [s.to_json() for s in self.stages]
        if self.sweep is None:
            del data["sweep"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResults:
        """A stored ``load_results.json``; a KeyError, TypeError or ValueError when a part of it
        is malformed (a stage without its target or concurrency)."""
        results = load(cls, {**data, "stages": []})
        results.stages = [LoadStageResult.from_json(s) for s in data.get("stages") or []]
        return results


def build_results(
    plan: PlanDescription, stages: list[LoadStageResult], sweep: SweepSummary | None = None
) -> LoadResults:
    """The results of a run: its stages, with the metric definitions and speedups."""
    return LoadResults(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        plan=plan,
        definitions={m.name: MetricDefinition(m.unit, m.definition) for m in load_metrics()},
        stages=stages,
        speedups=speedups(stages, plan.baseline),
        sweep=sweep,
    )
