"""The run store: one folder per run with records.jsonl, manifest.json and summary.json.

records.jsonl is append-only and flushed after every line, so a run killed at any point loses
at most the items in flight; ``--resume`` reads it back and runs only what is missing.
"""

from __future__ import annotations

import json
import os
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
            self._handle = open(self.records_path, "a", encoding="utf-8")  # noqa: SIM115
        self._handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _write_json(self, path: Path, data: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
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
