"""The traces sidecar: one JSON line per generation, written the moment it finishes.

lm-eval logs only ``str(response)``; full traces (both stages' texts, token counts with their
source, timings, errors) go here, keyed by (task, doc_id, repeat). Lines are appended and
flushed, so an interrupted run keeps everything that finished.
"""

from __future__ import annotations

import time
from pathlib import Path

from hawkeye_bench.core.jsonl import JsonlWriter

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
