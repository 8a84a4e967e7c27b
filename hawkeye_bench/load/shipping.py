"""Where a load-generating process puts its raw samples: its own files, or the master's.

A single Locust process writes ``requests-<host>-<pid>.jsonl`` and ``cpu-<host>-<pid>.jsonl``
itself (:class:`LocalRawSink`). A worker of a distributed run (``--processes`` on one machine,
``--worker`` on others) ships them to the master over Locust's own connection instead
(:class:`RawShipper`: custom messages of at most :data:`BATCH_RECORDS` records or
:data:`BATCH_CHUNKS` chunk rows, sent when full and every :data:`BATCH_INTERVAL_S` seconds),
and the master writes one pair of files per worker (:class:`RawCollector`), so the files of
every machine end up in one folder with nothing shared between the machines but the Locust
port. Each batch is numbered and the last one says how many
records were sent in all; the master writes what arrived against what was sent to
``transfers.json``, and a worker whose records did not all arrive makes the stage unreliable.

This module does not import Locust: the worker hands in its ``send_message``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from pydantic import computed_field

from hawkeye_bench.core.json_form import JsonPayload, dump
from hawkeye_bench.core.jsonl import JsonlWriter
from hawkeye_bench.load.cpu import CpuSample
from hawkeye_bench.load.records import RequestRecord, cpu_path, process_label, requests_path

RAW_MESSAGE = "hawkeye_raw"  # worker -> master: a batch of raw records and CPU samples
FLUSH_MESSAGE = "hawkeye_flush"  # master -> worker: stop your users and send the rest
BATCH_RECORDS = 200  # request records per message
BATCH_CHUNKS = 20_000  # chunk rows per message (~25 bytes each): long replies fill it first
BATCH_INTERVAL_S = 1.0
TRANSFERS_FILE = "transfers.json"

Send = Callable[[str, dict[str, Any]], None]


@dataclass
class RawBatch(JsonPayload):
    """Worker -> master (:data:`RAW_MESSAGE`): one numbered batch of a worker's raw samples.

    ``requests`` are request records already in their JSON form (what the worker's own file
    would hold), written by the master as they came.
    """

    host: str
    pid: int
    batch: int  # numbered from 0 per worker: a gap is a lost batch
    requests: list[dict[str, Any]] = field(default_factory=list)
    cpu: list[CpuSample] = field(default_factory=list)
    final: bool = False  # the last batch: it carries the totals
    sent_requests: int = 0  # records sent so far, this batch included
    sent_cpu: int = 0

    def to_json(self) -> dict[str, Any]:
        """The batch's JSON; its records go as they are (already JSON: not walked again on the
        worker's hot path)."""
        return dump(replace(self, requests=[])) | {"requests": self.requests}


class RawSink(Protocol):
    """Where one process's request records and CPU samples go."""

    def request(self, record: RequestRecord) -> None: ...

    def cpu(self, sample: CpuSample) -> None: ...

    def close(self) -> None: ...


class LocalRawSink:
    """This process's own files in ``raw_dir`` (a single-process run, or a benchmark client)."""

    def __init__(self, raw_dir: Path) -> None:
        self.requests = JsonlWriter(requests_path(raw_dir)).open()
        self.cpu_samples = JsonlWriter(cpu_path(raw_dir))
        self.path = self.requests.path

    def request(self, record: RequestRecord) -> None:
        self.requests.write(record.to_dict())

    def cpu(self, sample: CpuSample) -> None:
        self.cpu_samples.write(sample.to_json())

    def close(self) -> None:
        self.requests.close()
        self.cpu_samples.close()


class RawShipper:
    """A worker's records, sent to the master in numbered, bounded batches."""

    def __init__(
        self,
        send: Send,
        host: str,
        pid: int,
        *,
        batch_records: int = BATCH_RECORDS,
        batch_chunks: int = BATCH_CHUNKS,
        interval_s: float = BATCH_INTERVAL_S,
    ) -> None:
        self.send = send
        self.host = host
        self.pid = pid
        self.batch_records = batch_records
        self.batch_chunks = batch_chunks
        self._chunks = 0  # chunk rows buffered
        self.interval_s = interval_s
        self.batches = 0
        self.sent_requests = 0
        self.sent_cpu = 0
        self.finished = False
        self._requests: list[dict[str, Any]] = []
        self._cpu: list[CpuSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RawShipper:
        """Send what is buffered every ``interval_s`` (a greenlet under Locust)."""
        self._thread = threading.Thread(target=self._run, name="raw-shipper", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record.to_dict())
            self._chunks += len(record.chunks)
            full = len(self._requests) >= self.batch_records or self._chunks >= self.batch_chunks
        if full:
            self.flush()

    def cpu(self, sample: CpuSample) -> None:
        with self._lock:
            self._cpu.append(sample)

    def flush(self, final: bool = False) -> None:
        """Send the buffered records (also an empty final batch: it carries the totals)."""
        with self._lock:
            requests, self._requests = self._requests, []
            cpu, self._cpu = self._cpu, []
            self._chunks = 0
            if not (requests or cpu or final):
                return
            self.sent_requests += len(requests)
            self.sent_cpu += len(cpu)
            batch = RawBatch(
                host=self.host,
                pid=self.pid,
                batch=self.batches,
                requests=requests,
                cpu=cpu,
                final=final,
                sent_requests=self.sent_requests,
                sent_cpu=self.sent_cpu,
            )
            self.batches += 1
            self.finished = self.finished or final
        self.send(RAW_MESSAGE, batch.to_json())

    def close(self) -> None:
        """Stop the timer and send the rest with the totals; again if asked again (the master
        may ask after the last batch left)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush(final=True)


@dataclass
class Transfer(JsonPayload):
    """What the master received from one worker process."""

    source: str  # <host>-<pid>
    client_id: str = ""  # Locust's worker id
    batches: int = 0
    next_batch: int = 0
    missing_batches: int = 0
    received_requests: int = 0
    received_cpu: int = 0
    sent_requests: int | None = None  # the worker's total, from its final batch
    sent_cpu: int | None = None
    final: bool = False
    #: the master lost the worker mid-stage (no heartbeat): the stage was ended early
    lost: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def complete(self) -> bool:
        """Written with the row; derived again, not read, when read back."""
        return (
            not self.lost
            and self.final
            and not self.missing_batches
            and self.received_requests == self.sent_requests
            and self.received_cpu == self.sent_cpu
        )


class RawCollector:
    """The master's side: one ``requests-``/``cpu-`` file pair per worker process in
    ``raw_dir``, and ``transfers.json`` saying whether each arrived whole."""

    def __init__(self, raw_dir: Path) -> None:
        self.raw_dir = raw_dir
        self.transfers: dict[str, Transfer] = {}
        self._writers: dict[str, tuple[JsonlWriter, JsonlWriter]] = {}

    def receive(self, batch: RawBatch, client_id: str = "") -> None:
        pid = batch.pid
        source = process_label(batch.host, pid)
        transfer = self.transfers.setdefault(source, Transfer(source, client_id))
        if source not in self._writers:
            self._writers[source] = (
                JsonlWriter(requests_path(self.raw_dir, pid, batch.host)),
                JsonlWriter(cpu_path(self.raw_dir, pid, batch.host)),
            )
        requests, cpu = self._writers[source]
        number = batch.batch
        if number > transfer.next_batch:
            transfer.missing_batches += number - transfer.next_batch
        transfer.next_batch = max(transfer.next_batch, number + 1)
        transfer.batches += 1
        for row in batch.requests:
            requests.write(row)
        for sample in batch.cpu:
            cpu.write(sample.to_json())
        transfer.received_requests += len(batch.requests)
        transfer.received_cpu += len(batch.cpu)
        if batch.final:
            transfer.final = True
            transfer.sent_requests = batch.sent_requests
            transfer.sent_cpu = batch.sent_cpu

    def finished_clients(self) -> set[str]:
        return {t.client_id for t in self.transfers.values() if t.final}

    def lose(self, client_id: str) -> str:
        """Mark the worker ``client_id`` lost; its name (``<host>-<pid>`` once a batch came)."""
        for transfer in self.transfers.values():
            if transfer.client_id == client_id:
                transfer.lost = True
                return transfer.source
        self.transfers[client_id] = Transfer(client_id, client_id, lost=True)
        return client_id

    def close(self) -> Path:
        for requests, cpu in self._writers.values():
            requests.close()
            cpu.close()
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        path = self.raw_dir / TRANSFERS_FILE
        rows = [t.to_json() for t in self.transfers.values()]
        path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        return path


def transfer_problems(raw_dir: Path) -> list[str]:
    """Why the workers' records in ``raw_dir`` are not whole (none for a single process)."""
    path = raw_dir / TRANSFERS_FILE
    if not path.is_file():
        return []
    problems = []
    for row in json.loads(path.read_text(encoding="utf-8")):
        transfer = Transfer.from_json(row)
        if transfer.complete:
            continue
        if transfer.lost:
            problems.append(
                f"worker {transfer.source} was lost mid-stage (no heartbeat; received "
                f"{transfer.received_requests} records): the stage was ended early and the "
                "worker's requests in flight and not yet shipped are missing"
            )
        elif not transfer.final:
            problems.append(
                f"worker {transfer.source} never sent its last raw batch (received "
                f"{transfer.received_requests} records): its records are incomplete"
            )
        else:
            problems.append(
                f"worker {transfer.source}: received {transfer.received_requests} of "
                f"{transfer.sent_requests} raw records, {transfer.received_cpu} of "
                f"{transfer.sent_cpu} CPU samples ({transfer.missing_batches} batches missing)"
            )
    return problems
