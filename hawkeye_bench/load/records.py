"""Raw load-test records on disk: one JSON line per request, one file per Locust process.

Locust's own statistics bucket percentiles and its CSV misses the last second, and with
``--processes`` or ``--master`` workers only ship histograms to the master. So the samples of
every load-generating process go to ``<raw_dir>/requests-<host>-<pid>.jsonl`` (and its CPU
samples to ``cpu-<host>-<pid>.jsonl``): written there by a single process, or by the master for
each worker (:mod:`hawkeye_bench.load.shipping`); the metrics merge the samples of all files,
never their averages.

A Locust process killed at the runner's deadline (SIGKILL) can leave its last line half
written: such a torn last line is dropped and counted; any other bad line is an error naming
the file and line.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.json_form import dump, load
from hawkeye_bench.core.jsonl import JsonlStream, read_jsonl
from hawkeye_bench.load.cpu import CpuSample
from hawkeye_bench.load.stream import StreamMeter

SCHEMA_VERSION = 3  # 2: cot_end_ms, cot_end_source; 3: open-loop due times, finished_ms, trace
REQUESTS_GLOB = "requests-*.jsonl"
CPU_GLOB = "cpu-*.jsonl"


class RawRecordError(HawkeyeError):
    """A raw record directory has no request files, or a line (named as file:line) that is not
    JSON or not a request record."""


@dataclass
class RequestRecord:
    """Everything measured for one request. Times are milliseconds after ``t_send``."""

    t_send_wall: float  # time.time() at send (for timelines)
    t_send_perf: float  # time.perf_counter() at send (same clock as the server's x_sent_perf)
    pid: int
    seq: int  # order of this request within its process
    stage: str = ""
    host: str = ""  # the load generator's host name ("" in files written before it was kept)
    prompt_index: int | None = None
    status: int | None = None  # HTTP status; None when no response arrived
    error: str | None = None
    incomplete: bool = False  # stopped by the load generator mid-stream, not a server fault
    warmup: bool = False  # sent before the warmup period ended: excluded from statistics
    stream_options: bool = True  # whether stream_options (usage) was sent
    tt_headers_ms: float | None = None
    tt_ack_ms: float | None = None
    ttft_ms: float | None = None
    ttft_reasoning_ms: float | None = None
    ttft_content_ms: float | None = None
    e2e_ms: float | None = None  # send -> last token-bearing chunk
    e2e_done_ms: float | None = None  # send -> data: [DONE]
    #: send -> end of the chain of thought: the last token before the server's stage_end marker
    #: ("stage_end"), else the last reasoning token ("last_reasoning"); see load.stream
    cot_end_ms: float | None = None
    cot_end_source: str | None = None
    output_tokens: int | None = None
    output_tokens_source: str | None = None  # "usage" or "chunks" (approximate)
    reasoning_tokens: int | None = None
    reasoning_tokens_source: str | None = None
    #: tokens of the chain of thought: up to the stage_end marker, else the reasoning tokens
    cot_tokens: int | None = None
    cot_tokens_source: str | None = None
    #: token chunks before the stage_end marker (None: no marker, or an older record)
    cot_chunks: int | None = None
    prompt_tokens: int | None = None
    chunk_tokens_source: str | None = None  # per-chunk counts: "usage" deltas or "chunks"
    finish_reason: str | None = None
    #: token-bearing chunks as [t_ms, tokens, channel("r"/"c")] or [..., lag_ms]
    chunks: list[list[Any]] = field(default_factory=list)
    #: send -> the request was done, whatever its outcome (how long it was in flight)
    finished_ms: float | None = None
    #: open loop (``--rate``): when the request was due, on both clocks; the send lag is
    #: t_send - t_scheduled; None in a closed-loop stage
    t_scheduled_wall: float | None = None
    t_scheduled_perf: float | None = None
    #: open loop: how long the due request waited for a free user (--max-concurrency), ms
    queued_ms: float | None = None
    #: trace replay: the row's lengths asked for, and whether ignore_eos was sent
    trace_input_tokens: int | None = None
    trace_output_tokens: int | None = None
    ignore_eos: bool | None = None
    schema: int = SCHEMA_VERSION

    @property
    def send_lag_ms(self) -> float | None:
        """Actual minus scheduled send time (open loop only)."""
        if self.t_scheduled_perf is None:
            return None
        return (self.t_send_perf - self.t_scheduled_perf) * 1e3

    @property
    def request_id(self) -> str:
        """Unique over a distributed run: sent as ``X-Request-Id``."""
        return f"{self.host}-{self.pid}-{self.seq}"

    @property
    def ok(self) -> bool:
        return self.error is None and not self.incomplete

    @property
    def measured(self) -> bool:
        """Counts in the statistics: after warmup and not cut by the load generator."""
        return not self.warmup and not self.incomplete

    def fill_from(self, meter: StreamMeter) -> None:
        """Copy the timings and token counts a :class:`StreamMeter` gathered."""
        self.tt_headers_ms = meter.tt_headers_ms
        self.tt_ack_ms = meter.tt_ack_ms
        self.ttft_ms = meter.first_ms()
        self.ttft_reasoning_ms = meter.first_ms("r")
        self.ttft_content_ms = meter.first_ms("c")
        self.e2e_ms = meter.last_token_ms()
        self.e2e_done_ms = meter.done_ms
        self.cot_end_ms, self.cot_end_source = meter.cot_end()
        self.output_tokens, self.output_tokens_source = meter.output_tokens()
        self.reasoning_tokens, self.reasoning_tokens_source = meter.reasoning_tokens()
        self.cot_tokens, self.cot_tokens_source = meter.cot_tokens()
        self.cot_chunks = meter.stage_end_chunks
        prompt = (meter.usage or {}).get("prompt_tokens")
        self.prompt_tokens = prompt if isinstance(prompt, int) else None
        self.chunk_tokens_source = "usage" if meter.continuous_usage else "chunks"
        self.finish_reason = meter.finish_reason
        self.chunks = [chunk.to_row() for chunk in meter.chunks]

    def to_dict(self) -> dict[str, Any]:
        """The record's JSON object (:func:`hawkeye_bench.core.json_form.dump`: several times
        faster than ``asdict``, which deep-copies the chunks)."""
        return dump(self)

    def to_json(self) -> str:
        """The record as its compact line in a raw file."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        """A record from its JSON object: keys it does not know are dropped; a missing required
        field or a value of the wrong type is a JsonFormError (a ValueError)."""
        return load(cls, data)


def host_name() -> str:
    """This machine's name as it appears in raw file names (safe characters only)."""
    return re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname()) or "host"


def process_label(host: str | None = None, pid: int | None = None) -> str:
    """``<host>-<pid>``: one load-generating process, unique over the machines of a run."""
    return f"{host or host_name()}-{pid or os.getpid()}"


def requests_path(raw_dir: Path, pid: int | None = None, host: str | None = None) -> Path:
    return raw_dir / f"requests-{process_label(host, pid)}.jsonl"


def cpu_path(raw_dir: Path, pid: int | None = None, host: str | None = None) -> Path:
    return raw_dir / f"cpu-{process_label(host, pid)}.jsonl"


@dataclass
class RawRequests:
    """The request records of every process in a raw folder, read one at a time (a folder may
    hold more than memory does); :attr:`torn` counts the torn last lines dropped once the
    iteration is done."""

    raw_dir: Path
    torn: int = 0

    def files(self) -> list[Path]:
        files = sorted(self.raw_dir.glob(REQUESTS_GLOB))
        if not files:
            raise RawRecordError(f"no {REQUESTS_GLOB} files in {self.raw_dir}")
        return files

    def __iter__(self) -> Iterator[RequestRecord]:
        self.torn = 0
        for path in self.files():
            stream = JsonlStream(path, error=RawRecordError)
            for number, data in stream.numbered():
                yield _request_record(path, number, data)
            self.torn += stream.torn


def by_send_time(records: list[RequestRecord]) -> None:
    """Sort ``records`` by send time: perf_counter is comparable between processes of one
    machine only, so the wall clock orders the records of several."""
    one_host = len({r.host for r in records}) <= 1
    records.sort(key=lambda r: r.t_send_perf if one_host else r.t_send_wall)


def load_requests(raw_dir: Path) -> tuple[list[RequestRecord], int]:
    """All request records of every process in ``raw_dir``, ordered by send time, and the number
    of torn last lines dropped."""
    raw = RawRequests(raw_dir)
    records = list(raw)
    by_send_time(records)
    return records, raw.torn


def _request_record(path: Path, line_number: int, data: dict[str, Any]) -> RequestRecord:
    try:
        if "t_send_perf" not in data:
            raise TypeError("no t_send_perf")
        return RequestRecord.from_dict(data)
    except (TypeError, ValueError) as exc:  # a missing field, or a value of the wrong type
        raise RawRecordError(f"{path}:{line_number}: not a request record ({exc})") from exc


def read_requests(raw_dir: Path) -> list[RequestRecord]:
    """All request records of every process in ``raw_dir``, ordered by send time."""
    return load_requests(raw_dir)[0]


def load_cpu_samples(raw_dir: Path) -> tuple[dict[str, list[CpuSample]], int]:
    """CPU samples per process (``<host>-<pid>``) and the number of torn last lines
    dropped."""
    samples: dict[str, list[CpuSample]] = {}
    torn = 0
    for path in sorted(raw_dir.glob(CPU_GLOB)):
        read = read_jsonl(path, error=RawRecordError)
        samples[path.stem.removeprefix("cpu-")] = [CpuSample.from_json(row) for row in read.rows]
        torn += read.torn
    return samples, torn


def read_cpu_samples(raw_dir: Path) -> dict[str, list[CpuSample]]:
    """CPU samples per process (``<host>-<pid>``)."""
    return load_cpu_samples(raw_dir)[0]
