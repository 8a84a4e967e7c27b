"""Streaming a file of outputs: JSON Lines, or one JSON list, never read whole.

Both yield ``(line, value)`` pairs (1-based line; in a JSON list, the line where the item
starts) and feed every byte read to a sha256, so one pass gives the rows and the file's digest.
A JSON list is parsed item by item with ``json.JSONDecoder.raw_decode`` over a sliding buffer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

#: Bytes read at a time from a JSON list.
CHUNK = 1 << 20


class MalformedLine(ValueError):
    """A line (or list item) that is not JSON: its line number and why."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class FileValues:
    """The JSON values of one file, streamed; ``sha256``, ``size`` and ``bad_lines`` are
    complete once iteration ends. With ``skip_bad`` a malformed JSON Lines line is counted in
    ``bad_lines`` (line numbers kept) instead of raising :class:`MalformedLine`."""

    def __init__(self, path: Path, *, skip_bad: bool = False) -> None:
        self.path = path
        self.skip_bad = skip_bad
        self._digest = hashlib.sha256()
        self.size = 0
        self.bad_lines: list[int] = []
        self.layout = "jsonl"

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        with self.path.open("rb") as handle:
            first = _first_significant_byte(handle)
            if first == b"[":
                self.layout = "json list"
                yield from self._list(handle)
            else:
                yield from self._lines(handle)

    def _read(self, handle: IO[bytes], size: int = -1) -> bytes:
        data = handle.read(size)
        self._digest.update(data)
        self.size += len(data)
        return data

    def _lines(self, handle: IO[bytes]) -> Iterator[tuple[int, Any]]:
        for number, raw in enumerate(handle, start=1):
            self._digest.update(raw)
            self.size += len(raw)
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark some tools write
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError
                if self.skip_bad:
                    self.bad_lines.append(number)
                    continue
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise MalformedLine(number, f"malformed JSON: {reason}") from exc
            yield number, value

    def _list(self, handle: IO[bytes]) -> Iterator[tuple[int, Any]]:
        """Items of a top-level JSON list, decoded one at a time from a sliding buffer."""
        decoder = json.JSONDecoder()
        text = ""
        pos = 0  # where unparsed text starts in ``text``
        line = 1  # the line at ``pos``
        eof = False
        decode = _Utf8Stream()
        opened = False
        while True:
            start = _skip_separators(text, pos, allow_comma=opened)
            line += text.count("\n", pos, start)
            pos = start
            if pos < len(text) and not opened:
                if text[pos] != "[":
                    raise MalformedLine(line, "expected a JSON list")
                opened, pos = True, pos + 1
                continue
            if pos < len(text) and text[pos] == "]":
                rest = text[pos + 1 :] + (decode.finish() if eof else "")
                if rest.strip() or (not eof and self._read(handle).strip()):
                    raise MalformedLine(line, "text after the end of the JSON list")
                return
            try:
                if pos >= len(text):
                    raise ValueError("need more")
                value, end = decoder.raw_decode(text, pos)
                if end == len(text) and not eof:  # a number may go on in the next chunk
                    raise ValueError("need more")
            except ValueError as exc:
                if eof or _broken_before_end(exc, text):
                    reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "cut short"
                    where = line + text.count("\n", pos, getattr(exc, "pos", pos))
                    raise MalformedLine(where, f"malformed JSON list item: {reason}") from exc
                # at least double what is pending, so a huge item is parsed a few times only
                chunk = self._read(handle, max(CHUNK, len(text) - pos))
                eof = not chunk
                try:
                    text = text[pos:] + decode.feed(chunk) + (decode.finish() if eof else "")
                except UnicodeDecodeError as bad:
                    raise MalformedLine(line, f"not UTF-8 text: {bad.reason}") from bad
                pos = 0
                continue
            yield line, value
            line += text.count("\n", pos, end)
            pos = end


#: How far before the end of the buffer a decoding error may be a value cut by the chunk
#: boundary (a literal such as ``-Infinity`` or a number's digits) rather than bad JSON.
_CUT_MARGIN = 16


def _broken_before_end(exc: ValueError, text: str) -> bool:
    """Whether a decoding error lies well inside the buffer: the item is malformed, and
    reading on would not help (an unterminated string is reported where it starts)."""
    if not isinstance(exc, json.JSONDecodeError) or exc.msg.startswith("Unterminated string"):
        return False
    return exc.pos < len(text) - _CUT_MARGIN


def _first_significant_byte(handle: IO[bytes]) -> bytes:
    """The first byte that is not whitespace (or a UTF-8 byte-order mark); the handle is
    rewound."""
    head = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    handle.seek(0)
    return head[:1]


def _skip_separators(text: str, pos: int, *, allow_comma: bool) -> int:
    """``pos`` moved past whitespace (and, inside the list, the commas between items)."""
    size = len(text)
    while pos < size and (text[pos].isspace() or (allow_comma and text[pos] == ",")):
        pos += 1
    if pos == 0 and text.startswith("\ufeff"):
        return _skip_separators(text, 1, allow_comma=allow_comma)
    return pos


class _Utf8Stream:
    """Bytes to text across chunk boundaries (a character may be cut between two chunks)."""

    def __init__(self) -> None:
        import codecs

        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def finish(self) -> str:
        return self._decoder.decode(b"", final=True)
