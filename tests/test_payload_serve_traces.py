"""A ``serve --trace-dir`` line (``serve/traces.py``) round-trips through its JSON."""

from __future__ import annotations

import json
from pathlib import Path

from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.serve.traces import ServeTraceLine, TraceLog, read_serve_traces


def _line(trace: Trace | None) -> ServeTraceLine:
    return ServeTraceLine(
        id="chatcmpl-1",
        worker=2,
        pid=1234,
        stream=True,
        outcome="ok" if trace else "crashed",
        received_at=10.0,
        finished_at=12.5,
        trace=trace,
    )


def test_a_trace_line_round_trips_through_json() -> None:
    trace = Trace(pipeline="baseline", stages=[StageResult(role="single", model="m", content="4")])
    for line in (_line(trace), _line(None)):
        assert ServeTraceLine.from_json(json.loads(json.dumps(line.to_json()))) == line


def test_a_line_as_written_before_still_loads(tmp_path: Path) -> None:
    """The form TraceLog wrote before the line had a type."""
    old = {
        "id": "chatcmpl-9",
        "worker": 0,
        "pid": 77,
        "stream": False,
        "outcome": "client_disconnect",
        "received_at": 1.0,
        "finished_at": 2.0,
        "trace": None,
    }
    (tmp_path / "serve-traces-w0-77.jsonl").write_text(json.dumps(old) + "\n")
    [line] = read_serve_traces(tmp_path)
    assert line == ServeTraceLine("chatcmpl-9", 0, 77, False, "client_disconnect", 1.0, 2.0)
    assert line.to_json() == old


def test_trace_log_writes_lines_read_back_in_finish_order(tmp_path: Path) -> None:
    log = TraceLog(tmp_path, worker=1)
    trace = Trace(pipeline="baseline", stages=[StageResult(role="single", model="m")])
    log.write("a", stream=True, outcome="ok", received_at=1.0, trace=trace)
    log.write("b", stream=False, outcome="crashed", received_at=2.0, trace=None)
    log.close()
    lines = read_serve_traces(tmp_path)
    assert [(line.id, line.worker, line.outcome) for line in lines] == [
        ("a", 1, "ok"),
        ("b", 1, "crashed"),
    ]
    assert lines[0].trace == trace
