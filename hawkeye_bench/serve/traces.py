"""Per-request trace files of ``hawkeye-bench serve --trace-dir DIR``.

Every server process appends one JSON line per request it ran to its own file,
``DIR/serve-traces-w<worker>-<pid>.jsonl`` (worker 0 for a single-process server), so
processes never share a file and a restarted server never appends to another's. Each line is
self-contained: the completion id, worker index and PID, whether it streamed, the outcome
(``ok``, ``upstream_error``, ``crashed``, ``client_disconnect``), wall-clock receive and finish
times, and the pipeline's trace (every stage's text, tokens and their source, timings,
attempts, error). ``read_serve_traces(DIR)`` reads all files of a folder as one list ordered by
finish time; ``cat DIR/serve-traces-*.jsonl`` is the same merge for other tools.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hawkeye_bench.core.jsonl import JsonlWriter, read_jsonl
from hawkeye_bench.core.trace import Trace

TRACE_FILE_GLOB = "serve-traces-*.jsonl"
Outcome = Literal["ok", "upstream_error", "crashed", "client_disconnect"]


@dataclass(frozen=True)
class ServeTraceLine:
    """One line of a trace file: a request one server process ran."""

    id: str
    worker: int
    pid: int
    stream: bool
    outcome: Outcome
    received_at: float
    finished_at: float
    trace: Trace | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "worker": self.worker,
            "pid": self.pid,
            "stream": self.stream,
            "outcome": self.outcome,
            "received_at": self.received_at,
            "finished_at": self.finished_at,
            "trace": None if self.trace is None else self.trace.to_dict(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServeTraceLine:
        trace = data.get("trace")
        return cls(
            id=data["id"],
            worker=data.get("worker", 0),
            pid=data["pid"],
            stream=data.get("stream", False),
            outcome=data["outcome"],
            received_at=data["received_at"],
            finished_at=data["finished_at"],
            trace=None if trace is None else Trace.from_dict(trace),
        )


def trace_file_name(worker: int, pid: int) -> str:
    return f"serve-traces-w{worker}-{pid}.jsonl"


class TraceLog:
    """One server process's trace file (created at the first request)."""

    def __init__(self, folder: Path | str, worker: int = 0) -> None:
        self.worker = worker
        self.pid = os.getpid()
        self.path = Path(folder) / trace_file_name(worker, self.pid)
        self._writer = JsonlWriter(self.path)

    def write(
        self,
        completion_id: str,
        *,
        stream: bool,
        outcome: Outcome,
        received_at: float,
        trace: Trace | None,
    ) -> None:
        line = ServeTraceLine(
            id=completion_id,
            worker=self.worker,
            pid=self.pid,
            stream=stream,
            outcome=outcome,
            received_at=received_at,
            finished_at=time.time(),
            trace=trace,
        )
        self._writer.write(line.to_json())

    def close(self) -> None:
        self._writer.close()


def read_serve_traces(folder: Path | str) -> list[ServeTraceLine]:
    """Every request of every server process that wrote to ``folder``, by finish time.

    A line torn by a killed process is dropped (it is the last of its file); any other bad line
    raises ``JsonlError`` naming the file and line.
    """
    paths = sorted(Path(folder).glob(TRACE_FILE_GLOB))
    lines = [ServeTraceLine.from_json(row) for path in paths for row in read_jsonl(path)]
    return sorted(lines, key=lambda line: line.finished_at)
