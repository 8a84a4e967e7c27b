"""Reading JSON Lines files with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read_jsonl(path: Path, *, error: type[Exception] = ValueError) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON Lines file; blank lines are skipped. A malformed line
    raises ``error`` with ``<path>:<line>`` in its message."""
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{path}:{line_number}: malformed JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise error(f"{path}:{line_number}: expected a JSON object per line")
            yield row
