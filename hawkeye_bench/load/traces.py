"""Request traces for ``load --trace``: arrival times and input/output lengths to replay.

Two shapes are read. Mooncake-style JSONL (``.jsonl``): one object per line with
``timestamp`` (milliseconds since the trace's start), ``input_length`` and ``output_length``
(tokens); other keys (``hash_ids``) are ignored. Azure LLM inference trace CSV (``.csv``):
``TIMESTAMP`` (``2023-11-16 18:17:03.9799600``, no zone), ``ContextTokens`` and
``GeneratedTokens``. Arrivals are kept relative to the first row. Every row is checked before
any request: timestamps present, not negative and sorted, lengths whole numbers (input >= 1,
output >= 1), at least one row; each problem is one line naming the file and row.

A trace carries no prompt text: each request gets filler words, one word per asked input token
(:func:`filler_messages`); the server's own count of the prompt's tokens (usage) is recorded
beside the asked length, so the difference (a chat template's tokens, words of several tokens)
is measured, not assumed. Traces whose arrivals sit on a coarse grid (Mooncake's conversation
trace: a ~3 s grid) are replayed as they are; :func:`distinct_arrival_share` says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai.types.chat import ChatCompletionMessageParam

from hawkeye_bench.core.errors import HawkeyeError

MOONCAKE_FIELDS = ("timestamp", "input_length", "output_length")
AZURE_FIELDS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
FILLER_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and")


class TraceError(HawkeyeError):
    """A trace file that cannot be replayed (named with its row)."""


@dataclass(frozen=True)
class TraceRow:
    """One request of a trace: when it arrives (seconds after the first) and its lengths."""

    at_s: float
    input_tokens: int
    output_tokens: int


def read_trace(path: Path) -> list[TraceRow]:
    """The rows of a Mooncake JSONL or Azure CSV trace, checked (TraceError otherwise)."""
    if not path.is_file():
        raise TraceError(f"--trace {path}: no such file")
    if path.suffix == ".jsonl":
        raw = _mooncake_rows(path)
    elif path.suffix == ".csv":
        raw = _azure_rows(path)
    else:
        raise TraceError(f"--trace {path}: expected a .jsonl (Mooncake) or .csv (Azure) file")
    if not raw:
        raise TraceError(f"--trace {path}: no rows")
    rows: list[TraceRow] = []
    first = raw[0][1]
    for where, at, input_tokens, output_tokens in raw:
        at_s = at - first
        if at < 0:
            raise TraceError(f"{path}:{where}: negative timestamp {at:g}")
        if rows and at_s < rows[-1].at_s:
            raise TraceError(f"{path}:{where}: timestamp earlier than the row before (unsorted)")
        rows.append(TraceRow(at_s, input_tokens, output_tokens))
    return rows


def _length(path: Path, where: int, name: str, value: Any) -> int:
    """A token length: a whole number >= 1 (``7`` or ``7.0``, not ``7.5``, ``"7"`` or none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TraceError(f"{path}:{where}: {name} {value!r} is not a whole number of tokens")
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise TraceError(f"{path}:{where}: {name} {value!r} is not a whole number of tokens >= 1")
    return int(value)


def _mooncake_rows(path: Path) -> list[tuple[int, float, int, int]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TraceError(f"{path}:{line_number}: not JSON ({exc.msg})") from None
            if not isinstance(data, dict):
                raise TraceError(f"{path}:{line_number}: not a JSON object")
            missing = [k for k in MOONCAKE_FIELDS if data.get(k) is None]
            if missing:
                raise TraceError(f"{path}:{line_number}: missing {', '.join(missing)}")
            stamp = data["timestamp"]
            if isinstance(stamp, bool) or not isinstance(stamp, int | float):
                raise TraceError(f"{path}:{line_number}: timestamp {stamp!r} is not a number")
            if not math.isfinite(stamp):
                raise TraceError(f"{path}:{line_number}: timestamp {stamp!r} is not finite")
            rows.append(
                (
                    line_number,
                    float(stamp) / 1000.0,  # milliseconds since the start
                    _length(path, line_number, "input_length", data["input_length"]),
                    _length(path, line_number, "output_length", data["output_length"]),
                )
            )
    return rows


def _azure_rows(path: Path) -> list[tuple[int, float, int, int]]:
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [k for k in AZURE_FIELDS if k not in (reader.fieldnames or [])]
        if missing:
            raise TraceError(f"{path}: no column {', '.join(missing)} (an Azure trace CSV)")
        for line_number, row in enumerate(reader, start=2):
            stamp = (row["TIMESTAMP"] or "").strip()
            if not stamp:
                raise TraceError(f"{path}:{line_number}: missing TIMESTAMP")
            rows.append(
                (
                    line_number,
                    _azure_seconds(path, line_number, stamp),
                    _length(path, line_number, "ContextTokens", _number(row["ContextTokens"])),
                    _length(path, line_number, "GeneratedTokens", _number(row["GeneratedTokens"])),
                )
            )
    return rows


def _number(text: str | None) -> Any:
    try:
        return float(text) if text is not None and text.strip() else None
    except ValueError:
        return text


def _azure_seconds(path: Path, line_number: int, stamp: str) -> float:
    """``2023-11-16 18:17:03.9799600`` -> POSIX seconds (as UTC: only differences matter)."""
    day, _, fraction = stamp.partition(".")
    try:
        whole = dt.datetime.strptime(day, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
        parts = float(f"0.{fraction}") if fraction else 0.0
    except ValueError:
        raise TraceError(f"{path}:{line_number}: TIMESTAMP {stamp!r} is not a time") from None
    return whole.timestamp() + parts


def distinct_arrival_share(rows: list[TraceRow]) -> float:
    """Distinct arrival times per row: well below 1 for a trace on a coarse time grid."""
    return len({row.at_s for row in rows}) / len(rows) if rows else 0.0


def filler_messages(input_tokens: int) -> list[ChatCompletionMessageParam]:
    """A user message of ``input_tokens`` filler words (about one token each)."""
    words = (FILLER_WORDS[i % len(FILLER_WORDS)] for i in range(input_tokens))
    return [{"role": "user", "content": " ".join(words)}]
