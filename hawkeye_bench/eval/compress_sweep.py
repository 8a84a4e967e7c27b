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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawkeye_bench.core.record import Record
from hawkeye_bench.eval import sweep_folder
from hawkeye_bench.eval.manifest import Manifest
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.eval.sweep_folder import ACCURACY_COLUMNS, accuracy_cells, write_table

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


@dataclass(frozen=True)
class SweepRun:
    method: str
    keep: float
    #: the responder's folder name (its model name, made safe for a path); "" in a sweep
    #: folder written before sweeps had several responders
    responder: str = ""
    #: the writer's folder name; "" in a sweep with one writer (its runs are not nested)
    writer: str = ""

    @property
    def folder(self) -> str:
        name = f"{self.method}-keep{self.keep:g}"
        return "/".join(part for part in (self.writer, self.responder, name) if part)


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
) -> dict[str, Any]:
    """One table row: a run's accuracy and compression facts."""
    infos = [r.trace.extra.get("compress", {}) for r in records]
    achieved = [i["achieved_keep"] for i in infos if i.get("achieved_keep") is not None]
    kept_achieved = _mean(achieved)
    overthinking = [
        o["share_after_first_correct"]
        for r in records
        if (o := r.extra.get("overthinking")) and o.get("share_after_first_correct") is not None
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
        "cot_leaks": sum(1 for r in records if r.extra.get("cot_leaks_answer")),
        "refused": sum(1 for i in infos if i.get("refused")),
        "longer_than_original": sum(1 for i in infos if i.get("longer_than_original")),
        "truncated": sum(1 for i in infos if any((i.get("truncated") or {}).values())),
        "overthinking_share": _mean(overthinking),
    }


def responder_label(manifest: Manifest | None, run: SweepRun) -> str:
    """The responder's model name as the run's manifest records it, else its folder name."""
    return role_label(manifest, "responder", run.responder)


def role_label(manifest: Manifest | None, role: str, folder: str = "") -> str:
    """A role's model name as the run's manifest records it, else its folder name."""
    return (manifest.model_of(role) if manifest else None) or folder or role


def collect(root: Path, runs: Sequence[SweepRun]) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    """The table rows and the per-item achieved-share rows of a sweep folder."""
    rows: list[dict[str, Any]] = []
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
            info = record.trace.extra.get("compress", {})
            items.append(
                [
                    writer,
                    responder,
                    run.method,
                    record.problem.id,
                    record.sample,
                    run.keep,
                    info.get("achieved_keep"),
                    info.get("original_tokens"),
                    info.get("compressed_tokens"),
                    info.get("token_source"),
                    record.correct,
                ]
            )
    return rows, items


def write_tables(root: Path, rows: Sequence[dict[str, Any]], items: Sequence[list[Any]]) -> str:
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


def write_sweep_file(root: Path, runs: Sequence[SweepRun], settings: dict[str, Any]) -> None:
    listed = [
        {
            "writer": r.writer,
            "responder": r.responder,
            "method": r.method,
            "keep": r.keep,
            "folder": f"runs/{r.folder}",
        }
        for r in runs
    ]
    sweep_folder.write_sweep_file(
        root / SWEEP_FILE, "hawkeye-bench-compress-sweep", listed, settings
    )


def read_sweep_file(root: Path) -> dict[str, Any]:
    """A sweep folder's sweep.json (empty when there is none)."""
    return sweep_folder.read_sweep_file(root / SWEEP_FILE)


def sweep_run_from(entry: Mapping[str, Any]) -> SweepRun:
    """A run as sweep.json lists it (KeyError, TypeError or ValueError when it cannot be)."""
    keep = entry["keep"]
    if isinstance(keep, bool) or not isinstance(keep, int | float):
        raise ValueError(f"keep must be a number, not {keep!r}")
    return SweepRun(
        str(entry["method"]),
        float(keep),
        str(entry.get("responder") or ""),
        str(entry.get("writer") or ""),
    )


def read_sweep_runs(root: Path) -> list[SweepRun]:
    """The runs a sweep folder's sweep.json lists (empty when there is none)."""
    return sweep_folder.read_sweep_runs(root / SWEEP_FILE, sweep_run_from)
