"""Load-result stages: one (target, load level) of a ``hawkeye-bench load`` folder.

Statistics are recomputed from the stage's raw request files with the load runner's own code
(:func:`hawkeye_bench.load.metrics.stage_metrics`) when the files are present; otherwise the
numbers stored in ``load_results.json`` are used, and the report names that file instead.
A raw file's torn last line (Locust killed mid-write) is dropped and noted; any other bad line
stops the report with an error naming the file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hawkeye_bench.load.locust_command import stage_level as stage_folder
from hawkeye_bench.load.metrics import scan_stage
from hawkeye_bench.load.records import REQUESTS_GLOB, RawRecordError, RequestRecord
from hawkeye_bench.load.results_json import LoadResults
from hawkeye_bench.load.stage_result import LoadStageResult, StageStatistics
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
    metrics: StageStatistics
    metrics_from: str  # "raw" or "load_results.json"
    sources: list[Path]
    level: LoadLevel  # what pairs it with the other targets' stages, and names it
    entry: LoadStageResult  # the stage as load_results.json stores it (open_loop, sweep_role, ...)
    #: from the raw files, read in one streaming pass (empty without them): the successful
    #: measured requests' E2E and TTFT (ms), and each later chunk's (output position, time per
    #: token ms) as :meth:`PositionGaps.arrays` gives them
    e2e_ttft_ms: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
    tbt_positions: tuple[np.ndarray, np.ndarray, np.ndarray] = (
        np.empty(0),
        np.empty(0),
        np.empty(0),
    )


class PositionGaps:
    """Per output position, the sum and count of the time per token (a chunk's gap divided by
    its tokens) of every later chunk of the successful measured requests, gathered record by
    record while the raw files are read: memory grows with the longest output, not with the
    number of chunks."""

    def __init__(self) -> None:
        self.sums = np.zeros(0)
        self.counts = np.zeros(0, dtype=np.int64)

    def __call__(self, record: RequestRecord) -> None:
        if not record.measured or record.error is not None or len(record.chunks) < 2:
            return
        times = np.array([c[0] for c in record.chunks], dtype=float)
        tokens = np.maximum(np.array([c[1] for c in record.chunks], dtype=float), 1)
        positions = np.cumsum(tokens)[1:].astype(np.int64)  # each later chunk's position
        if positions[-1] >= self.sums.size:
            size = int(positions[-1]) + 1
            self.sums = np.concatenate([self.sums, np.zeros(size - self.sums.size)])
            self.counts = np.concatenate(
                [self.counts, np.zeros(size - self.counts.size, dtype=np.int64)]
            )
        np.add.at(self.sums, positions, np.diff(times) / tokens[1:])
        np.add.at(self.counts, positions, 1)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(positions that occur, their summed time per token in ms, their chunk counts)."""
        present = np.nonzero(self.counts)[0]
        return present, self.sums[present], self.counts[present]


def _raw_dir(load: LoadResult, stage: LoadStageResult, level: LoadLevel) -> Path | None:
    """The stage's raw folder: as recorded if it exists, else the runner's layout under it."""
    candidates = []
    if stage.raw_dir:
        recorded = Path(stage.raw_dir)
        candidates.append(recorded if recorded.is_absolute() else load.path / recorded)
        candidates.append(recorded)
    rate = level.rate if level.is_open_loop else None
    folder = stage_folder(level.concurrency, rate, level.mode == TRACE)
    candidates.append(load.path / "raw" / stage.target / folder)
    return next((c for c in candidates if c.is_dir() and any(c.glob(REQUESTS_GLOB))), None)


def stored_results(load: LoadResult) -> LoadResults:
    """The folder's ``load_results.json``, or a ReportInputError naming what is missing."""
    entries = load.results.get("stages")
    if not isinstance(entries, list):
        raise ReportInputError(f"{load.results_file}: no 'stages' list (not a load result)")
    stages = []
    for number, entry in enumerate(entries, start=1):
        try:
            stages.append(LoadStageResult.from_json(entry))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportInputError(
                f"{load.results_file}: stage {number} lacks target/concurrency ({exc})"
            ) from exc
    try:
        results = LoadResults.from_json({**load.results, "stages": []})
    except ValueError as exc:  # core.json_form's JsonFormError: one line naming the field
        raise ReportInputError(f"{load.results_file}: {exc}") from None
    results.stages = stages
    return results


def _from_raw(
    load: LoadResult, entry: LoadStageResult, level: LoadLevel, raw: Path, notes: list[str]
) -> tuple[StageStatistics, tuple[np.ndarray, np.ndarray], PositionGaps]:
    """A stage's statistics recomputed from its raw files in one streaming pass, its E2E and
    TTFT samples and its per-position gaps; a torn last line is noted."""
    positions = PositionGaps()
    try:
        scan = scan_stage(raw, each=positions, keep_records=False)
    except RawRecordError as exc:  # names the file and line
        raise ReportInputError(str(exc)) from exc
    samples = scan.stats.samples
    if scan.torn:
        notes.append(
            f"{load.label}: {entry.target} at {level}: {scan.torn} torn last line(s) "
            f"dropped from the raw files in {raw} (Locust was killed while writing)"
        )
    e2e_ttft = (samples["e2e_ms"].array(), samples["ttft_ms"].array())
    return StageStatistics.from_json(scan.metrics), e2e_ttft, positions


def load_stages(load: LoadResult) -> tuple[list[LoadStage], list[str]]:
    """The stages that produced data, and a note for each that failed."""
    stored = stored_results(load)
    plan = stored.plan
    stages: list[LoadStage] = []
    notes: list[str] = []
    for entry in stored.stages:
        level = load_level(entry, plan)
        if entry.failed is not None:
            notes.append(f"{load.label}: {entry.target} at {level} failed: {entry.failed}")
            continue
        raw = _raw_dir(load, entry, level)
        positions = PositionGaps()
        e2e_ttft = (np.empty(0), np.empty(0))
        if raw is not None:
            metrics, e2e_ttft, positions = _from_raw(load, entry, level, raw, notes)
            metrics_from, sources = "raw", sorted(raw.glob(REQUESTS_GLOB))
        elif entry.statistics is not None:
            metrics, metrics_from, sources = (
                entry.statistics,
                "load_results.json",
                [load.results_file],
            )
        else:
            raise ReportInputError(
                f"{load.results_file}: stage {entry.target} at {level} has neither raw request "
                "files nor stored metrics"
            )
        stages.append(
            LoadStage(
                load_label=load.label,
                target=entry.target,
                concurrency=entry.concurrency,
                dataset=plan.prompts or "?",
                baseline_target=plan.baseline,
                reliable=entry.reliable,
                metrics=metrics,
                metrics_from=metrics_from,
                sources=list(sources),
                level=level,
                entry=entry,
                e2e_ttft_ms=e2e_ttft,
                tbt_positions=positions.arrays(),
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
