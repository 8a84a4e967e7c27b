"""The traces sidecar: one JSON line per generation, written the moment it finishes.

lm-eval logs only ``str(response)``; full traces (both stages' texts, token counts with their
source, timings, errors) go here, keyed by (task, doc_id, repeat). Lines are appended and
flushed, so an interrupted run keeps everything that finished.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import IO, Any

#: File name pattern for a sidecar placed in a folder.
SIDECAR_NAME = "traces_{stamp}.jsonl"


def sidecar_path(target: str | Path) -> Path:
    """``target`` itself when it names a .jsonl file, else a time-stamped file inside it."""
    target = Path(target)
    if target.suffix == ".jsonl":
        return target
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    return target / SIDECAR_NAME.format(stamp=stamp)


class TraceSidecar:
    """Appends JSON lines to one file, opened on first write (no empty files)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        self._handle: IO[str] | None = None
        self._lock = threading.Lock()

    def write(self, line: dict[str, Any]) -> None:
        text = json.dumps(line, ensure_ascii=False, default=str)
        with self._lock:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("a", encoding="utf-8")
            self._handle.write(text + "\n")
            self._handle.flush()
            self.lines += 1

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
