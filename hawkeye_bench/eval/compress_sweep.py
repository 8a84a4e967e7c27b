"""A compression sweep: one compress run per (writer, responder, method, kept share) in one
folder, sharing one call cache, plus the anchors (no CoT, the full CoT) per writer and
responder, and its table.

Layout of a sweep folder::

    sweep.json                 what was asked (writers, responders, methods, shares) and the runs
    call_cache.jsonl           every finished model call (writer, compressor, responder) and
                               every compression
    runs/<responder>/<method>-keep<k>/   (one writer)
    runs/<writer>/<responder>/<method>-keep<k>/   (several writers)
                               an ordinary eval run folder each
    compress_table.md / .csv   accuracy (95% Wilson interval) against kept share and
                               compression rate (1 - kept share), requested and achieved
    achieved.csv               per item: requested and achieved kept share

Each writer's call of a problem has the same prompt and seed in every run, so the cache makes
it once per writer and problem; each compression (keyed by the writer's CoT) is made once per
writer and share and read by every responder; every other finished call is made once too,
whatever is rerun.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from hawkeye_bench.core.record import Record
from hawkeye_bench.eval.analyses import Overthinking
from hawkeye_bench.eval.manifest import Manifest
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.eval.sweep_folder import (
    ACCURACY_COLUMNS,
    AccuracyCells,
    SweepFile,
    accuracy_cells,
    write_table,
)
from hawkeye_bench.pipelines.compress_facts import AnswerLeaks, CompressFacts

SWEEP_FILE = "sweep.json"
DEFAULT_KEEPS = (1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1)
DEFAULT_METHODS = ("llm", "truncate", "random")
#: The anchors every sweep runs: no CoT at all, and the writer's CoT unchanged.
ANCHORS = (("none", 0.0), ("full", 1.0))
TABLE_COLUMNS = (
    "writer",
    "responder",
    "method",
    "kept_requested",
    "compression_requested",
    "kept_achieved",
    "compression_achieved",
    *ACCURACY_COLUMNS,
    "cot_leaks",
    "refused",
    "longer_than_original",
    "truncated",
    "overthinking_share",
)


class CompressRunCells(TypedDict):
    """The cells of a compress table's row that name the run and its kept shares."""

    writer: str
    responder: str
    method: str
    kept_requested: float
    compression_requested: float
    #: the mean over the items that have one (None: none has)
    kept_achieved: float | None
    compression_achieved: float | None


class CompressCounts(TypedDict):
    """The cells of a compress table's row that count what happened to the items."""

    #: items whose writer's CoT already states the gold answer
    cot_leaks: int
    refused: int
    longer_than_original: int
    #: items with a stage cut at its token limit
    truncated: int
    overthinking_share: float | None


class CompressRow(CompressRunCells, AccuracyCells, CompressCounts):
    """One row of the sweep's table: a run's accuracy and compression facts (the order of
    :data:`TABLE_COLUMNS`)."""


class SweepRunJson(TypedDict):
    """A run as sweep.json lists it."""

    writer: str
    responder: str
    method: str
    keep: float
    folder: str


@dataclass(frozen=True)
class SweepRun:
    """One run of the sweep: a method at a kept share, for one responder and writer."""

    method: str
    keep: float
    #: the responder's folder name (its model name, made safe for a path); "" in a sweep
    #: folder written before sweeps had several responders
    responder: str = ""
    #: the writer's folder name; "" in a sweep with one writer (its runs are not nested)
    writer: str = ""
    #: the run's folder as the sweep file lists it, relative to the sweep folder ("": the
    #: usual ``runs/<folder>``); not part of the run's identity
    listed_folder: str = field(default="", compare=False, repr=False)

    @property
    def folder(self) -> str:
        name = f"{self.method}-keep{self.keep:g}"
        return "/".join(part for part in (self.writer, self.responder, name) if part)

    @property
    def path_in_sweep(self) -> str:
        """Where the run's folder is, relative to the sweep folder."""
        return self.listed_folder or f"runs/{self.folder}"

    def to_json(self) -> SweepRunJson:
        return {
            "writer": self.writer,
            "responder": self.responder,
            "method": self.method,
            "keep": self.keep,
            "folder": f"runs/{self.folder}",
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepRun:
        """A run as sweep.json lists it (KeyError, TypeError or ValueError when it cannot be);
        an older file's run has no responder or writer."""
        keep = data["keep"]
        if isinstance(keep, bool) or not isinstance(keep, int | float):
            raise ValueError(f"keep must be a number, not {keep!r}")
        return cls(
            str(data["method"]),
            float(keep),
            str(data.get("responder") or ""),
            str(data.get("writer") or ""),
            str(data.get("folder") or ""),
        )


class CompressSweepFile(SweepFile[SweepRun]):
    """A compress sweep's ``sweep.json``."""

    KIND = "hawkeye-bench-compress-sweep"
    NAME = SWEEP_FILE
    RUN = SweepRun


def sweep_runs(
    methods: Sequence[str],
    keeps: Sequence[float],
    responders: Sequence[str] = ("",),
    writers: Sequence[str] = ("",),
) -> list[SweepRun]:
    """Per writer, then per responder in order: the anchors first (their writer calls fill the
    cache), then every method at every share. A writer's first responder's runs make its
    compressions."""
    pairs = list(ANCHORS) + [(m, k) for m in methods for k in keeps if (m, k) not in ANCHORS]
    runs = [SweepRun(m, k, r, w) for w in writers for r in responders for m, k in pairs]
    return list(dict.fromkeys(runs))


def folder_name(model: str) -> str:
    """A model name as one path component (``Qwen/Qwen2.5-0.5B`` -> ``Qwen--Qwen2.5-0.5B``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", model.replace("/", "--")).strip("-.")
    return safe or "responder"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def run_row(
    records: Sequence[Record], run: SweepRun, responder: str, writer: str = ""
) -> CompressRow:
    """One table row: a run's accuracy and compression facts."""
    infos = [info for r in records if (info := CompressFacts.of(r.trace)) is not None]
    achieved = [i.achieved_keep for i in infos if i.achieved_keep is not None]
    kept_achieved = _mean(achieved)
    overthinking = [
        o.share_after_first_correct
        for r in records
        if (o := Overthinking.of_record(r)) and o.share_after_first_correct is not None
    ]
    return {
        "writer": writer,
        "responder": responder,
        "method": run.method,
        "kept_requested": run.keep,
        "compression_requested": 1.0 - run.keep,
        "kept_achieved": kept_achieved,
        "compression_achieved": None if kept_achieved is None else 1.0 - kept_achieved,
        **accuracy_cells(records),
        "cot_leaks": sum(
            1 for r in records if (leaks := AnswerLeaks.of_record(r)) and leaks.cot_leaks_answer
        ),
        "refused": sum(1 for i in infos if i.refused),
        "longer_than_original": sum(1 for i in infos if i.longer_than_original),
        "truncated": sum(1 for i in infos if any(i.truncated.values())),
        "overthinking_share": _mean(overthinking),
    }


def responder_label(manifest: Manifest | None, run: SweepRun) -> str:
    """The responder's model name as the run's manifest records it, else its folder name."""
    return role_label(manifest, "responder", run.responder)


def role_label(manifest: Manifest | None, role: str, folder: str = "") -> str:
    """A role's model name as the run's manifest records it, else its folder name."""
    return (manifest.model_of(role) if manifest else None) or folder or role


def collect(root: Path, runs: Sequence[SweepRun]) -> tuple[list[CompressRow], list[list[Any]]]:
    """The table rows and the per-item achieved-share rows of a sweep folder."""
    rows: list[CompressRow] = []
    items: list[list[Any]] = []
    for run in runs:
        store = RunStore(root / "runs" / run.folder)
        records = store.load_records()
        if not records:
            continue
        manifest = store.read_manifest()
        responder = responder_label(manifest, run)
        writer = role_label(manifest, "writer", run.writer)
        rows.append(run_row(records, run, responder, writer))
        for record in records:
            info = CompressFacts.of(record.trace) or CompressFacts()
            items.append(
                [
                    writer,
                    responder,
                    run.method,
                    record.problem.id,
                    record.sample,
                    run.keep,
                    info.achieved_keep,
                    info.original_tokens,
                    info.compressed_tokens,
                    info.token_source,
                    record.correct,
                ]
            )
    return rows, items


def write_tables(root: Path, rows: Sequence[CompressRow], items: Sequence[list[Any]]) -> str:
    """Write compress_table.md/.csv and achieved.csv; return the markdown."""
    heading = [
        "# Compression sweep",
        "",
        "Accuracy of the responder answering from the writer's CoT compressed to a kept share. "
        "kept = compressed tokens / original tokens; compression = 1 - kept (the paper's axis). "
        "Achieved shares are counted by the responder's tokenizer; 95% Wilson intervals. "
        "Anchors: method none (no CoT) and full (the CoT unchanged).",
    ]
    markdown = write_table(root, "compress_table", heading, TABLE_COLUMNS, rows)
    with (root / "achieved.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "writer",
                "responder",
                "method",
                "id",
                "sample",
                "kept_requested",
                "kept_achieved",
                "original_tokens",
                "compressed_tokens",
                "token_source",
                "correct",
            ]
        )
        writer.writerows(items)
    return markdown


#: Write a sweep folder's sweep.json (its runs and what was asked); read it back (None when
#: there is none), or only its runs (none when there is none).
write_sweep_file = CompressSweepFile.write_runs
read_sweep_file = CompressSweepFile.read
read_sweep_runs = CompressSweepFile.read_runs
