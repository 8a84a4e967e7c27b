"""The traces sidecar: one JSON line per generation, written the moment it finishes.

lm-eval logs only ``str(response)``; full traces (both stages' texts, token counts with their
source, timings, errors) go here, keyed by (task, doc_id, repeat). Lines are appended and
flushed, so an interrupted run keeps everything that finished.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawkeye_bench.core.jsonl import JsonlWriter
from hawkeye_bench.core.record import Record

#: File name pattern for a sidecar placed in a folder.
SIDECAR_NAME = "traces_{stamp}.jsonl"


def sidecar_path(target: str | Path) -> Path:
    """``target`` itself when it names a .jsonl file, else a time-stamped file inside it."""
    target = Path(target)
    if target.suffix == ".jsonl":
        return target
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    return target / SIDECAR_NAME.format(stamp=stamp)


class TraceSidecar(JsonlWriter):
    """Appends JSON lines to one file, opened on first write (no empty files); values JSON has
    no type for are written as their ``str``. Threads may share it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, default=str)


@dataclass
class SidecarLine:
    """One line of the sidecar: the generation's key (lm-eval task, document id, repeat),
    then its full record, flat (a sidecar line is also read as a Record)."""

    task: str | None
    doc_id: int | None
    repeat: int
    record: Record

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "doc_id": self.doc_id,
            "repeat": self.repeat,
            **self.record.to_dict(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SidecarLine:
        return cls(
            task=data.get("task"),
            doc_id=data.get("doc_id"),
            repeat=int(data.get("repeat") or 0),
            record=Record.from_dict(dict(data)),
        )
