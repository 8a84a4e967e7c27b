"""Load-result stages: one (target, load level) of a ``hawkeye-bench load`` folder.

Statistics are recomputed from the stage's raw request files with the load runner's own code
(:func:`hawkeye_bench.load.metrics.stage_metrics`) when the files are present; otherwise the
numbers stored in ``load_results.json`` are used, and the report names that file instead.
A raw file's torn last line (Locust killed mid-write) is dropped and noted; any other bad line
stops the report with an error naming the file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hawkeye_bench.load.metrics import stage_metrics
from hawkeye_bench.load.records import REQUESTS_GLOB, RawRecordError, RequestRecord, load_requests
from hawkeye_bench.load.runner import stage_level as stage_folder
from hawkeye_bench.reporting.inputs import LoadResult, ReportInputError
from hawkeye_bench.reporting.load_levels import TRACE, LoadLevel, load_level


@dataclass
class LoadStage:
    load_label: str
    target: str
    concurrency: int
    dataset: str
    baseline_target: str
    reliable: bool | None
    metrics: dict[str, Any]  # stage_metrics() output: "requests", "metrics", ...
    metrics_from: str  # "raw" or "load_results.json"
    sources: list[Path]
    level: LoadLevel  # what pairs it with the other targets' stages, and names it
    entry: dict[str, Any]  # the stage as load_results.json stores it (open_loop, sweep_role, ...)
    requests: list[RequestRecord] = field(default_factory=list)  # raw records, if present


def _raw_dir(load: LoadResult, stage: dict[str, Any], level: LoadLevel) -> Path | None:
    """The stage's raw folder: as recorded if it exists, else the runner's layout under it."""
    candidates = []
    if stage.get("raw_dir"):
        recorded = Path(stage["raw_dir"])
        candidates.append(recorded if recorded.is_absolute() else load.path / recorded)
        candidates.append(recorded)
    rate = level.rate if level.is_open_loop else None
    folder = stage_folder(level.concurrency, rate, level.mode == TRACE)
    candidates.append(load.path / "raw" / str(stage["target"]) / folder)
    return next((c for c in candidates if c.is_dir() and any(c.glob(REQUESTS_GLOB))), None)


def load_stages(load: LoadResult) -> tuple[list[LoadStage], list[str]]:
    """The stages that produced data, and a note for each that failed."""
    plan = load.results.get("plan") or {}
    stages, notes = [], []
    entries = load.results.get("stages")
    if not isinstance(entries, list):
        raise ReportInputError(f"{load.results_file}: no 'stages' list (not a load result)")
    for number, entry in enumerate(entries, start=1):
        try:
            target, concurrency = str(entry["target"]), int(entry["concurrency"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportInputError(
                f"{load.results_file}: stage {number} lacks target/concurrency ({exc})"
            ) from exc
        level = load_level(entry, plan)
        if "failed" in entry:
            notes.append(f"{load.label}: {target} at {level} failed: {entry['failed']}")
            continue
        raw = _raw_dir(load, entry, level)
        requests: list[RequestRecord] = []
        if raw is not None:
            try:
                requests, torn = load_requests(raw)
            except RawRecordError as exc:  # names the file and line
                raise ReportInputError(str(exc)) from exc
            if torn:
                notes.append(
                    f"{load.label}: {target} at {level}: {torn} torn last line(s) "
                    f"dropped from the raw files in {raw} (Locust was killed while writing)"
                )
            metrics, metrics_from = stage_metrics(requests), "raw"
            sources = sorted(raw.glob(REQUESTS_GLOB))
        elif isinstance(entry.get("metrics"), dict) and isinstance(entry.get("requests"), dict):
            metrics, metrics_from, sources = entry, "load_results.json", [load.results_file]
        else:
            raise ReportInputError(
                f"{load.results_file}: stage {target} at {level} has neither raw request "
                "files nor stored metrics"
            )
        stages.append(
            LoadStage(
                load_label=load.label,
                target=target,
                concurrency=concurrency,
                dataset=str(plan.get("prompts", "?")),
                baseline_target=str(plan.get("baseline", "")),
                reliable=entry.get("reliable"),
                metrics=metrics,
                metrics_from=metrics_from,
                sources=list(sources),
                level=level,
                entry=entry,
                requests=requests,
            )
        )
    return stages, notes


def all_load_stages(loads: Sequence[LoadResult]) -> tuple[list[LoadStage], list[str]]:
    stages: list[LoadStage] = []
    notes: list[str] = []
    for load in loads:
        found, failed = load_stages(load)
        stages += found
        notes += failed
    return stages, notes
