"""The one JSON Lines layer: append a flushed line at a time, read back what a kill left behind,
rewrite atomically.

Every JSON Lines file the harness writes (run records, raw load records, judgements, the lm-eval
traces sidecar) is appended with :class:`JsonlWriter`, read with :func:`read_jsonl` and
rewritten with :func:`rewrite_jsonl`.

A writer killed mid-line leaves a *torn* last line: no trailing newline, and not JSON. The
reader drops it and counts it (``repair=True`` also cuts it from the file); any other bad line
raises :class:`JsonlError` naming ``<path>:<line>``. A complete last line whose newline was
never written is kept. A writer opened on a file ending without a newline first ends such a
complete line, or cuts a torn one, so that each line it appends stands alone.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hawkeye_bench.core.errors import HawkeyeError

_TAIL_BLOCK = 64 * 1024


class JsonlError(HawkeyeError, ValueError):
    """A line of a JSON Lines file that is not a JSON object; the message is
    ``<path>:<line>: <reason>``."""

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = Path(path)
        self.line = line
        self.reason = reason


@dataclass
class JsonlRead:
    """The rows of a JSON Lines file; iterating it yields the rows."""

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: the 1-based line number of each row (blank lines are skipped, so they can differ)
    line_numbers: list[int] = field(default_factory=list)
    #: torn last lines dropped: 0 or 1
    torn: int = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def numbered(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(line number, row)`` pairs, for errors about a row's content."""
        return zip(self.line_numbers, self.rows, strict=True)


def read_jsonl(
    path: Path | str,
    *,
    tolerate_torn_tail: bool = True,
    repair: bool = False,
    error: type[Exception] = JsonlError,
) -> JsonlRead:
    """Read the JSON objects of a JSON Lines file; blank lines are skipped.

    A torn last line (no trailing newline, not JSON) is dropped and counted in
    :attr:`JsonlRead.torn`, and with ``repair`` cut from the file; with
    ``tolerate_torn_tail=False`` it is an error like any other. Any other line that is not a
    JSON object raises ``error`` (a :class:`JsonlError` unless the caller names its own class)
    with ``<path>:<line>: `` at the start of its message.
    """
    stream = JsonlStream(Path(path), tolerate_torn_tail=tolerate_torn_tail, error=error)
    read = JsonlRead(stream.path)
    for number, row in stream.numbered(repair=repair):
        read.rows.append(row)
        read.line_numbers.append(number)
    read.torn = stream.torn
    return read


@dataclass
class JsonlStream:
    """:func:`read_jsonl` one row at a time, for files too large to hold: the same rules, and
    :attr:`torn` is known once :meth:`numbered` is exhausted."""

    path: Path
    tolerate_torn_tail: bool = True
    error: type[Exception] = JsonlError
    torn: int = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (row for _, row in self.numbered())

    def numbered(self, repair: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(line number, row)`` pairs; with ``repair`` a torn last line is cut from the file."""
        error, path = self.error, self.path
        offset = 0
        with path.open("rb") as handle:
            for number, piece in enumerate(handle, start=1):
                start, offset = offset, offset + len(piece)
                if not piece.strip():
                    continue
                try:
                    row = json.loads(piece.decode("utf-8"))
                except ValueError as exc:  # JSONDecodeError, or a cut character
                    if self.tolerate_torn_tail and not piece.endswith(b"\n"):  # the last line
                        if repair:
                            with path.open("r+b") as writable:
                                writable.truncate(start)
                        self.torn = 1
                        return
                    reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                    raise _bad_line(error, path, number, f"malformed JSON: {reason}") from exc
                if not isinstance(row, dict):
                    raise _bad_line(error, path, number, "expected a JSON object per line")
                yield number, row


class JsonlWriter:
    """Appends one JSON object per line to ``path``, flushed after each (``fsync`` too when
    asked), so a reader sees every line written and a kill loses at most the line in flight.

    The file and its parent folders are created when the writer opens: at :meth:`open` or
    ``with``, else at the first :meth:`write` (no empty file then). Writing after
    :meth:`close` opens the file again. Writes hold a lock, so threads may share one writer;
    there must be one writer per file.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        fsync: bool = False,
        default: Callable[[Any], Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.default = default  # as json.dumps' ``default``: for values JSON has no type for
        self.lines = 0  # lines written by this writer
        self.torn_dropped = 0  # torn last lines cut from the file on opening
        self._handle: IO[bytes] | None = None
        self._lock = threading.Lock()

    def open(self) -> JsonlWriter:
        with self._lock:
            self._open()
        return self

    def write(self, row: Mapping[str, Any]) -> None:
        line = _encode(row, self.default)
        with self._lock:
            handle = self._open()
            handle.write(line)
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
            self.lines += 1

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> JsonlWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> IO[bytes]:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_file() and self.path.stat().st_size > 0:
                self.torn_dropped += _end_last_line(self.path)
            self._handle = self.path.open("ab")
        return self._handle


def rewrite_jsonl(
    path: Path | str,
    rows: Iterable[Mapping[str, Any]],
    *,
    default: Callable[[Any], Any] | None = None,
) -> int:
    """Replace ``path`` with ``rows``, one per line, atomically: the rows go to a temporary
    file beside it, synced, then renamed over it; a crash leaves the old file or the new one.
    Returns the number of rows written. A :class:`JsonlWriter` open on ``path`` must be closed
    first (it would go on appending to the replaced file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    try:
        with tmp.open("wb") as handle:
            for row in rows:
                handle.write(_encode(row, default))
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _encode(row: Mapping[str, Any], default: Callable[[Any], Any] | None) -> bytes:
    """One line: compact JSON, non-ASCII kept as UTF-8 unless the text cannot be encoded (a lone
    surrogate), then escaped."""
    text = json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=default)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(row, separators=(",", ":"), default=default)
        return (text + "\n").encode("ascii")


def _end_last_line(path: Path) -> int:
    """Make ``path`` end with a newline before appending: end a complete last line, or cut a
    torn one. Returns the number of torn lines cut (0 or 1)."""
    with path.open("r+b") as handle:
        start, tail = _last_line(handle)
        if not tail:
            return 0
        try:
            json.loads(tail.decode("utf-8"))
        except ValueError:
            if tail.strip():  # torn by a kill mid-write: the reader would drop it anyway
                handle.truncate(start)
                return 1
        handle.seek(0, os.SEEK_END)
        handle.write(b"\n")  # a complete last line whose newline was never written
        return 0


def _last_line(handle: IO[bytes]) -> tuple[int, bytes]:
    """The offset and bytes of what follows the file's last newline (empty if it ends with one),
    read backwards in blocks so a large file is not read whole."""
    position = handle.seek(0, os.SEEK_END)
    blocks: list[bytes] = []
    while position > 0:
        step = min(_TAIL_BLOCK, position)
        position -= step
        handle.seek(position)
        block = handle.read(step)
        cut = block.rfind(b"\n")
        if cut >= 0:
            blocks.append(block[cut + 1 :])
            position += cut + 1
            break
        blocks.append(block)
    return position, b"".join(reversed(blocks))


def _bad_line(error: type[Exception], path: Path, line: int, reason: str) -> Exception:
    if issubclass(error, JsonlError):
        return error(path, line, reason)
    return error(f"{path}:{line}: {reason}")
