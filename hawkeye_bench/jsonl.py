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


def read_jsonl_tolerant(
    path: Path, *, error: type[Exception] = ValueError
) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSON Lines file whose writer may have been killed mid-line, and the
    number of torn last lines dropped (0 or 1).

    A torn line is the last line, without a trailing newline, that does not parse. Any other
    malformed line raises ``error`` with ``<path>:<line>`` in its message; blank lines are
    skipped.
    """
    lines = path.read_bytes().split(b"\n")
    rows: list[dict[str, Any]] = []
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError from a cut character
            if line_number == len(lines):  # only the last piece can lack its newline
                return rows, 1
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise error(f"{path}:{line_number}: malformed JSON: {message}") from exc
        if not isinstance(row, dict):
            raise error(f"{path}:{line_number}: expected a JSON object per line")
        rows.append(row)
    return rows, 0
