"""The run store: one folder per run with records.jsonl, manifest.json and summary.json.

records.jsonl is append-only and flushed after every line, so a run killed at any point loses
at most the items in flight; ``--resume`` reads it back and runs only what is missing.
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.folder_lock import FolderLock
from hawkeye_bench.core.jsonl import JsonlError, JsonlWriter, read_jsonl, rewrite_jsonl
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.writable import check_writable_folder
from hawkeye_bench.eval.manifest import Manifest, Writer
from hawkeye_bench.eval.summary_types import RunSummary

PayloadT = TypeVar("PayloadT")


class RunStoreError(HawkeyeError):
    """A run folder cannot be used as asked (exists, mismatched config, corrupt file)."""


class RunStore:
    RECORDS = "records.jsonl"
    MANIFEST = "manifest.json"
    SUMMARY = "summary.json"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer = JsonlWriter(self.records_path)
        #: torn last lines the last :meth:`load_records` dropped (0 or 1)
        self.torn_dropped = 0

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
        """Create the folder once :func:`check_writable_folder` proved a file can be written
        there (else OutputPathError: "cannot write the run folder ...")."""
        check_writable_folder(self.path, "run folder")
        self.path.mkdir(parents=True, exist_ok=True)

    def lock(self, command: str) -> FolderLock:
        """The run folder's one-writer lock (``with store.lock("eval"):``)."""
        return FolderLock(self.path, what="run folder", command=command)

    def load_records(self, *, repair: bool = False) -> list[Record]:
        """Read records back. A torn last line (a kill mid-write) is dropped, and with ``repair``
        cut from the file; a malformed line elsewhere is an error naming its line number."""
        if not self.records_path.is_file():
            return []
        try:
            read = read_jsonl(self.records_path, repair=repair)
        except JsonlError as exc:
            raise RunStoreError(f"{exc.path}:{exc.line}: malformed record: {exc.reason}") from exc
        self.torn_dropped = read.torn
        records: list[Record] = []
        for number, row in read.numbered():
            try:
                records.append(Record.from_dict(row))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                where = f"{self.records_path}:{number}"
                raise RunStoreError(f"{where}: malformed record: {exc}") from exc
        return records

    def rewrite_records(self, records: list[Record]) -> None:
        self.close()  # a later append opens the new file
        rewrite_jsonl(self.records_path, (record.to_dict() for record in records))

    def append(self, record: Record) -> None:
        self._writer.write(record.to_dict())

    def close(self) -> None:
        self._writer.close()

    def _write_json(self, path: Path, data: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        text = json.dumps(finite(data), indent=2, ensure_ascii=False, allow_nan=False)
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def write_manifest(self, manifest: Manifest) -> None:
        self._write_json(self.manifest_path, manifest.to_json())

    def read_manifest(self) -> Manifest | None:
        """The run's manifest; None when the folder has none."""
        return self._read_payload(self.manifest_path, Manifest.from_json)

    def write_summary(self, summary: RunSummary) -> None:
        self._write_json(self.summary_path, summary.to_json())

    def read_summary(self) -> RunSummary | None:
        """The run's summary; None when the folder has none (a run not finished)."""
        return self._read_payload(self.summary_path, RunSummary.from_json)

    def _read_payload(
        self, path: Path, from_json: Callable[[dict[str, Any]], PayloadT]
    ) -> PayloadT | None:
        """The typed payload in ``path``; None when there is no such file."""
        data = self._read_json(path)
        try:
            return None if data is None else from_json(data)
        except ValueError as exc:  # a part of the wrong type (core.json_form's JsonFormError)
            raise RunStoreError(f"{path}: {exc}") from None

    def _read_json(self, path: Path) -> dict[str, Any] | None:
        """The JSON object in ``path``; None when there is no such file."""
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError
            raise RunStoreError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise RunStoreError(f"{path}: expected a JSON object")
        return data


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None: strict JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def process_marker() -> Writer:
    """Who is writing a run now: recorded in the manifest while it runs."""
    return Writer.this_process()


def effective_status(manifest: Manifest) -> str | None:
    """The manifest's status, except that a run still marked ``running`` whose process is gone
    (killed with SIGKILL, machine rebooted) is ``interrupted``."""
    status = manifest.status
    writer = manifest.writer
    if status != "running" or writer is None or writer.host != socket.gethostname():
        return status
    if _process_alive(writer.pid):
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
