"""`eval` when things go wrong: an endpoint that stops answering, a resume with other settings,
a run that never started, bad folders, files left in odd states by a kill."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from cli_helpers import CLI, eval_args, read_json, run_cli

from hawkeye_bench.core import child_process
from hawkeye_bench.core.child_process import describe_exit
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.eval.health import HealthWatch, ModelServerDied
from hawkeye_bench.eval.manifest import Manifest
from hawkeye_bench.eval.store import RunStore, effective_status, process_marker
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer, start_subprocess


def _record(number: int, endpoint: str, error_type: str | None = None) -> Record:
    stage = StageResult(role="single", model="m", endpoint=endpoint, error_type=error_type,
                        error="ClientConnectorError: refused" if error_type else None)  # fmt: skip
    problem = Problem(id=str(number), dataset="gsm8k", question="q", gold="1")
    return Record(problem=problem, sample=0, trace=Trace(pipeline="baseline", stages=[stage]))


def test_isolated_connection_failures_are_kept_and_a_streak_stops_the_run() -> None:
    watch = HealthWatch(max_consecutive=3)
    assert watch.admit(_record(1, "http://a")) == [_record(1, "http://a")]
    held = watch.admit(_record(2, "http://a", "connection"))
    assert held == []  # held back until we know whether the endpoint is gone
    released = watch.admit(_record(3, "http://a"))
    assert [r.problem.id for r in released] == ["3", "2"]  # an isolated failure is real
    watch.admit(_record(4, "http://a", "connection"))
    watch.admit(_record(5, "http://a", "connection"))
    try:
        watch.admit(_record(6, "http://a", "connection"))
    except Exception as exc:
        assert "endpoint http://a stopped answering after 2 items" in str(exc)
        assert "3 items in a row" in str(exc)
    else:
        raise AssertionError("a streak of 3 connection failures must stop the run")


def test_a_replica_answering_ends_the_hold_on_its_replica_set() -> None:
    """A call that found every replica down names the whole set; the next success names the
    one replica that answered, and that releases the set's held records and ends the streak."""
    watch = HealthWatch(max_consecutive=2)
    whole_set = "http://a, http://b"
    assert watch.admit(_record(1, whole_set, "connection")) == []
    released = watch.admit(_record(2, "http://b"))
    assert [r.problem.id for r in released] == ["2", "1"]
    assert watch.admit(_record(3, whole_set, "connection")) == []  # a new streak of one
    assert watch.release() == [_record(3, whole_set, "connection")]


class _DeadServer:
    name = "embedded model server (http://127.0.0.1:1/v1)"

    def exit_report(self) -> str:
        return describe_exit(-4) + ". Fix: rebuild"


def test_dead_managed_server_stops_the_run_before_any_record_is_written() -> None:
    watch = HealthWatch(servers=lambda: [_DeadServer()])
    try:
        watch.admit(_record(1, "http://a", "connection"))
    except ModelServerDied as exc:
        assert "signal SIGILL (4)" in str(exc) and "has died" in str(exc)
    else:
        raise AssertionError("a dead server must stop the run")
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-9) == "signal SIGKILL (9)"


def test_endpoint_that_stops_answering_stops_the_run_and_resume_finishes(
    tmp_path: Path, loopback_port: int
) -> None:
    out = tmp_path / "run"
    port = loopback_port  # held: refused while the server is down, free for its return
    server, url = start_subprocess(ScriptedConfig(tokens=3, ttft_ms=300, port=port))
    args = eval_args(out, "--concurrency", "2", "--max-retries", "1", url=url, limit=40)
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    store = RunStore(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(store.load_records()) < 4:
        time.sleep(0.05)
    server.kill()  # the server crashes: no graceful shutdown, connections refused from now on
    server.wait()
    started = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, stderr
    assert time.monotonic() - started < 30  # stops, rather than grinding through 36 more items
    assert "stopped answering after" in stderr and url in stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    kept = store.load_records()
    assert 4 <= len(kept) < 40
    assert not [r for r in kept if r.error]  # the outage's casualties are not written
    assert read_json(out / "manifest.json")["status"] == "stopped"
    with ScriptedServer(ScriptedConfig(tokens=3, port=port)):
        resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    records = store.load_records()
    assert len({r.key for r in records}) == len(records) == 40
    assert not [r for r in records if r.error]


def test_resume_with_another_model_or_endpoint_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    with ScriptedServer(ScriptedConfig(tokens=3)) as url:
        first = run_cli(*eval_args(out, url=url, limit=2))
        assert first.returncode == 0, first.stderr
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        other_model = run_cli(*eval_args(out, url=url, model="other", limit=2), "--resume")
        with ScriptedServer(ScriptedConfig(tokens=3)) as other_url:
            other_server = run_cli(*eval_args(out, url=other_url, limit=2), "--resume")
        other_tokens = run_cli(*eval_args(out, "--max-tokens", "7", url=url, limit=2), "--resume")
        after_refusals = {p.name: p.read_bytes() for p in out.iterdir()}
        same = run_cli(*eval_args(out, url=url, limit=2), "--resume")
    for refused, what in ((other_model, "'other'"), (other_server, other_url),
                          (other_tokens, "max_tokens: run has 2048, asked 7")):  # fmt: skip
        assert refused.returncode == 2, refused.stderr
        assert "cannot resume" in refused.stderr and what in refused.stderr
    assert after_refusals == before
    assert same.returncode == 0, same.stderr


def test_run_that_never_started_is_recorded_as_failed(tmp_path: Path) -> None:
    out = tmp_path / "x"
    result = run_cli(*eval_args(out, url="http://127.0.0.1:9/v1", limit=1))
    assert result.returncode == 2
    manifest = read_json(out / "manifest.json")
    assert manifest["status"] == "failed"
    assert "not available" in manifest["error"]


def test_html_endpoint_fails_the_preflight_check(tmp_path: Path) -> None:
    page = b"<html><body>Welcome to nginx</body></html>"
    server = child_process.popen(
        [sys.executable, "-c", _HTML_SERVER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        result = run_cli(*eval_args(tmp_path / "x", url=f"http://127.0.0.1:{port}", limit=1))
    finally:
        server.kill()
        server.wait()
    assert result.returncode == 2
    assert "text/html" in result.stderr and "/v1" in result.stderr
    assert page.decode()[:20] in result.stderr


_HTML_SERVER = """
import http.server, sys
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><body>Welcome to nginx</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Page)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def test_unusable_folders_are_one_line_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = run_cli(*eval_args(blocker / "run", url="http://127.0.0.1:9/v1"))
    assert unwritable.returncode == 2
    assert "cannot write the run folder" in unwritable.stderr
    missing = run_cli(*eval_args(tmp_path / "nothing", url="http://127.0.0.1:9/v1"), "--resume")
    assert missing.returncode == 2 and "holds no run" in missing.stderr
    assert not (tmp_path / "nothing").exists()  # a refused resume starts nothing
    baseline = run_cli(
        *eval_args(tmp_path / "r", url="http://127.0.0.1:9/v1"),
        "--baseline-run",
        str(tmp_path / "no-such-run"),
    )
    assert baseline.returncode == 2 and "--baseline-run" in baseline.stderr
    for result in (unwritable, missing, baseline):
        assert "Traceback" not in result.stderr


def test_append_after_a_complete_line_without_newline_starts_a_new_line(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.append(_record(1, "http://a"))
    store.close()
    text = store.records_path.read_text()
    store.records_path.write_text(text.rstrip("\n"))  # killed between the line and its newline
    resumed = RunStore(tmp_path)
    kept = resumed.load_records(repair=True)
    resumed.append(_record(2, "http://a"))
    resumed.close()
    assert [r.problem.id for r in kept] == ["1"]
    assert [r.problem.id for r in RunStore(tmp_path).load_records()] == ["1", "2"]


def test_summary_and_manifest_are_strict_json(tmp_path: Path) -> None:
    from hawkeye_bench.eval.summary import summarize

    store = RunStore(tmp_path)
    written = summarize([])  # no items: its interval is (nan, nan)
    written.end_to_end_s = {"mean": float("nan"), "max": float("inf")}
    store.write_summary(written)

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    summary = json.loads(store.summary_path.read_text(), parse_constant=refuse)
    assert summary["end_to_end_s"] == {"mean": None, "max": None}
    assert summary["accuracy"]["ci95"] == [None, None]


def test_a_killed_run_still_marked_running_is_shown_as_interrupted() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    mine = process_marker()
    assert effective_status(Manifest(status="running", writer=mine)) == "running"
    dead = Manifest(status="running", writer=replace(mine, pid=gone.pid))
    assert effective_status(dead) == "interrupted"
    assert effective_status(Manifest(status="complete")) == "complete"
