"""The run store: one folder per run with records.jsonl, manifest.json and summary.json.

records.jsonl is append-only and flushed after every line, so a run killed at any point loses
at most the items in flight; ``--resume`` reads it back and runs only what is missing.
"""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path
from typing import IO, Any

from hawkeye_bench.record import Record


class RunStoreError(RuntimeError):
    """A run folder cannot be used as asked (exists, mismatched config, corrupt file)."""


class RunStore:
    RECORDS = "records.jsonl"
    MANIFEST = "manifest.json"
    SUMMARY = "summary.json"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._handle: IO[str] | None = None

    @property
    def records_path(self) -> Path:
        return self.path / self.RECORDS

    @property
    def manifest_path(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def summary_path(self) -> Path:
        return self.path / self.SUMMARY

    def has_records(self) -> bool:
        return self.records_path.is_file() and self.records_path.stat().st_size > 0

    def is_run(self) -> bool:
        """Whether the folder holds a run (a manifest or records), finished or not."""
        return self.manifest_path.is_file() or self.has_records()

    def ensure_writable(self) -> None:
        """Create the folder and prove a file can be written there, or raise RunStoreError."""
        probe = self.path / ".write-test"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise RunStoreError(
                f"cannot write the run folder {self.path}: {exc.strerror or exc}"
            ) from exc

    def load_records(self, *, repair: bool = False) -> list[Record]:
        """Read records back. A torn last line (a kill mid-write) is dropped, and with ``repair``
        cut from the file; a malformed line elsewhere is an error naming its line number."""
        if not self.records_path.is_file():
            return []
        raw = self.records_path.read_bytes()
        lines = raw.split(b"\n")
        records: list[Record] = []
        good_bytes = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                good_bytes += len(line) + 1
                continue
            try:
                records.append(Record.from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                if number == len(lines):  # the last line has no newline: torn by a kill
                    if repair:
                        with open(self.records_path, "r+b") as handle:
                            handle.truncate(good_bytes)
                    break
                where = f"{self.records_path}:{number}"
                raise RunStoreError(f"{where}: malformed record: {exc}") from exc
            good_bytes += len(line) + 1
        return records

    def rewrite_records(self, records: list[Record]) -> None:
        tmp = self.records_path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        os.replace(tmp, self.records_path)

    def append(self, record: Record) -> None:
        if self._handle is None:
            self.path.mkdir(parents=True, exist_ok=True)
            needs_newline = _ends_without_newline(self.records_path)
            self._handle = open(self.records_path, "a", encoding="utf-8")  # noqa: SIM115
            if needs_newline:  # a complete last line whose newline was never written
                self._handle.write("\n")
        self._handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _write_json(self, path: Path, data: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        text = json.dumps(finite(data), indent=2, ensure_ascii=False, allow_nan=False)
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self._write_json(self.manifest_path, manifest)

    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.is_file():
            return None
        return dict(json.loads(self.manifest_path.read_text(encoding="utf-8")))

    def write_summary(self, summary: dict[str, Any]) -> None:
        self._write_json(self.summary_path, summary)

    def read_summary(self) -> dict[str, Any] | None:
        if not self.summary_path.is_file():
            return None
        return dict(json.loads(self.summary_path.read_text(encoding="utf-8")))


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None: strict JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def process_marker() -> dict[str, Any]:
    """Who is writing a run now: recorded in the manifest while it runs."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def effective_status(manifest: dict[str, Any]) -> str | None:
    """The manifest's status, except that a run still marked ``running`` whose process is gone
    (killed with SIGKILL, machine rebooted) is ``interrupted``."""
    status = manifest.get("status")
    writer = manifest.get("writer") or {}
    if status != "running" or writer.get("host") != socket.gethostname():
        return status
    pid = writer.get("pid")
    if isinstance(pid, int) and _process_alive(pid):
        return status
    return "interrupted"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ends_without_newline(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"
