"""`hawkeye-bench serve --workers N`: N processes on one port, per-process trace files, a dead
worker named, shutdown that leaves no process behind, and the flag's range check."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from process_leaks import alive, gone_within
from test_server_cli import ServeProcess

from hawkeye_bench import cli
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.load.stream import StreamMeter
from hawkeye_bench.presets import load_preset
from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.serve.traces import read_serve_traces, trace_file_name
from hawkeye_bench.serve.workers import (
    ServerSpec,
    WorkerDied,
    WorkerGroup,
    bind_listening_socket,
)
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer

# The default preset's prompts tell the stages apart (see tests/test_server.py).
RULES = [
    ReplyRule(match="concise chain", reasoning="two plus two", content="is four"),
    ReplyRule(match="Using the reasoning above", content="The answer is 4"),
]


class Served(ServeProcess):
    """``hawkeye-bench serve --port 0 ARGS`` in its own session (its own process group, as a
    shell job would be); ``tree``: its PID and its children's once it announced its URL."""

    def __init__(self, *args: str) -> None:
        super().__init__(*args, start_new_session=True)
        self.tree = [self.process.pid, *(c.pid for c in self.children())]

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for the exit; (exit code, stderr)."""
        _, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, err


def _traces_of(folder: Path, count: int, timeout_s: float = 10) -> list[dict[str, Any]]:
    """The trace rows once ``count`` are there (a worker writes a request's line after its
    last byte is sent, so the client may be a moment ahead)."""
    deadline = time.monotonic() + timeout_s
    rows = read_serve_traces(folder)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = read_serve_traces(folder)
    return rows


@pytest.fixture
def upstream() -> Iterator[list[str]]:
    config = ScriptedConfig(ttft_ms=50, gap_ms=20, rules=RULES)
    with ScriptedServer(config) as url:
        yield ["--endpoint", url, "--model", "scripted-model", "--max-retries", "0"]


@pytest.fixture
def started() -> Iterator[list[Served]]:
    servers: list[Served] = []
    yield servers
    for served in servers:  # whatever a failed test left running
        for pid in alive(served.tree):
            os.kill(pid, signal.SIGKILL)
        served.process.wait()


def _two_workers(started: list[Served], pipeline: str, upstream: list[str], *more: str) -> Served:
    """``serve --pipeline PIPELINE --workers 2`` in front of ``upstream``, killed after the test
    whatever happens."""
    served = Served("--pipeline", pipeline, *upstream, "--workers", "2", *more)
    started.append(served)
    return served


def _finish_leaving_nothing(served: Served) -> tuple[int, str]:
    """Wait for the exit, check that no process it started is left; (exit code, stderr)."""
    code, err = served.finish()
    assert gone_within(served.tree, 10) == [], err
    return code, err


async def _stream(http: aiohttp.ClientSession, base_url: str) -> StreamMeter:
    """One streamed request on a fresh connection, read as the load generator reads it."""
    body = {"messages": [{"role": "user", "content": "What is 2+2?"}], "stream": True}
    meter = StreamMeter(time.perf_counter())
    async with http.post(f"{base_url}/chat/completions", json=body) as response:
        assert response.status == 200
        async for line in response.content:
            if meter.feed(line, time.perf_counter()):
                break
    return meter


async def _concurrent_streams(base_url: str, count: int) -> list[StreamMeter]:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        return await asyncio.gather(*(_stream(http, base_url) for _ in range(count)))


async def _get(base_url: str, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(base_url.removesuffix("/v1") + path) as r:
        assert r.status == 200
        return await r.json()


@pytest.mark.timeout(240)
async def test_two_workers_share_the_port_and_each_writes_its_traces(
    upstream: list[str], started: list[Served], tmp_path: Path
) -> None:
    traces = tmp_path / "traces"
    served = _two_workers(started, "hawkeye", upstream, "--trace-dir", str(traces))
    assert "with 2 workers at http://127.0.0.1:" in served.announced
    pids = {c.pid for c in served.children()}

    models = await _get(served.base_url, "/v1/models")
    assert [m["id"] for m in models["data"]] == ["hawkeye"]
    health = await _get(served.base_url, "/health")
    assert health["status"] == "ok" and health["pid"] in pids and health["worker"] in (0, 1)

    meters: list[StreamMeter] = []
    for _ in range(5):  # waves of concurrent requests, each on its own connection
        meters += await _concurrent_streams(served.base_url, 16)
        rows = read_serve_traces(traces)
        if len({row.pid for row in rows}) == 2:
            break
    assert all(m.error is None and m.done_ms is not None for m in meters)
    # the marker the load generator uses to end the CoT goes out from every worker
    assert {m.stage_end_role for m in meters} == {"reasoner"}

    rows = _traces_of(traces, len(meters))
    assert len(rows) == len(meters)
    assert {row.outcome for row in rows} == {"ok"}
    by_pid = {row.pid: row.worker for row in rows}
    assert len(by_pid) == 2 and set(by_pid) <= pids and sorted(by_pid.values()) == [0, 1]
    assert sorted(p.name for p in traces.iterdir()) == sorted(
        trace_file_name(worker, pid) for pid, worker in by_pid.items()
    )
    assert [s.role for s in rows[0].trace.stages] == ["reasoner", "responder"]
    assert [r.finished_at for r in rows] == sorted(r.finished_at for r in rows)

    served.process.send_signal(signal.SIGTERM)
    code, err = _finish_leaving_nothing(served)
    assert code == 0, err


@pytest.mark.timeout(240)
def test_a_killed_worker_is_named_and_stops_the_server(
    upstream: list[str], started: list[Served]
) -> None:
    served = _two_workers(started, "baseline", upstream)
    health = asyncio.run(_get(served.base_url, "/health"))
    victim = health["pid"]
    os.kill(victim, signal.SIGKILL)
    code, err = _finish_leaving_nothing(served)
    assert code == 3, err
    assert f"serve worker {health['worker']} (pid {victim}) died while serving" in err
    assert "signal SIGKILL (9)" in err
    assert err.count(f"pid {victim}") == 1  # named once, not again as a warning at shutdown


@pytest.mark.timeout(240)
def test_ctrl_c_stops_every_process_and_a_killed_parent_leaves_no_worker(
    upstream: list[str], started: list[Served]
) -> None:
    served = _two_workers(started, "baseline", upstream)
    os.killpg(served.process.pid, signal.SIGINT)  # Ctrl-C: the whole process group
    code, err = _finish_leaving_nothing(served)
    assert code == 0, err
    assert "Traceback" not in err

    orphaned = _two_workers(started, "baseline", upstream)
    workers = [c.pid for c in orphaned.children()]
    orphaned.process.kill()  # SIGKILL: no handler runs in the parent
    orphaned.process.wait()
    assert gone_within(workers, 20) == []


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "257"])
def test_bad_workers_values_are_named(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--workers", value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --workers" in err and "expected an integer from 1 to 256" in err


def test_workers_in_a_config_file_are_checked_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("workers: 0\n")
    assert cli.main(["serve", "--config", str(config)]) == 2
    assert "workers: '0' is out of range" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--port", "70000"], ["--n-ctx", "0"]])
def test_serve_local_flags_are_range_checked(
    capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve-local", *flag])
    assert exited.value.code == 2
    assert f"argument {flag[0]}: '{flag[1]}' is out of range" in capsys.readouterr().err


def test_an_unreachable_upstream_is_named_before_any_worker_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dead = ["--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--max-retries", "0"]
    before = psutil.Process().children(recursive=True)
    assert cli.main(["serve", "--pipeline", "baseline", *dead, "--workers", "2"]) == 2
    assert "127.0.0.1:9" in capsys.readouterr().err
    assert psutil.Process().children(recursive=True) == before


@pytest.mark.timeout(120)
def test_a_worker_that_cannot_start_raises_its_error_and_leaves_nothing_running() -> None:
    spec = ServerSpec("baseline", {}, load_preset("default"))  # no upstream for its role
    sock = bind_listening_socket("127.0.0.1", 0)
    group = WorkerGroup(spec, 1, sock)
    try:
        with pytest.raises(ValueError, match="needs endpoints for \\['single'\\]"):
            group.start()
        (worker,) = group.workers
        worker.process.join(30)
        assert worker.process.exitcode == 2
        pid = worker.process.pid
    finally:
        assert group.stop() == []  # it exited as a failed start does: nothing more to say
        sock.close()
    assert pid is not None and alive([pid]) == []


def test_a_taken_port_is_named_before_any_worker_starts(
    upstream: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = psutil.Process().children(recursive=True)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        argv = ["serve", "--pipeline", "baseline", *upstream, "--workers", "2", "--port", str(port)]
        assert cli.main(argv) == 2
    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err
    assert psutil.Process().children(recursive=True) == before


def test_a_dead_worker_is_an_outage() -> None:
    assert WorkerDied.exit_code == 3


async def test_one_process_writes_its_trace_file(tmp_path: Path) -> None:
    """The default (no --workers): the in-process server writes the same file, as worker 0."""
    with ScriptedServer(ScriptedConfig(tokens=3)) as url:
        upstream = Endpoint(base_url=url, model="scripted-model", max_retries=0)
        async with PipelineServer("baseline", {"single": upstream}, trace_dir=tmp_path) as server:
            health = await _get(server.base_url, "/health")
            await _concurrent_streams(server.base_url, 2)
            async with aiohttp.ClientSession() as http:
                body = {"messages": [{"role": "user", "content": "hi"}]}
                async with http.post(f"{server.base_url}/chat/completions", json=body) as r:
                    answer = await r.json()
    assert "pid" not in health and "worker" not in health  # as before --workers existed
    rows = read_serve_traces(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [trace_file_name(0, os.getpid())]
    assert [(r.worker, r.pid, r.stream) for r in rows] == [
        (0, os.getpid(), True),
        (0, os.getpid(), True),
        (0, os.getpid(), False),
    ]
    assert rows[-1].id == answer["id"]
    assert rows[-1].trace.stages[0].content == "tok0 tok1 tok2"


async def _refused_before(task: asyncio.Task[None], base_url: str) -> bool:
    """Whether a connection to ``base_url``'s port is refused before ``task`` ends."""
    address = urllib.parse.urlsplit(base_url)
    while not task.done():
        try:
            _, writer = await asyncio.open_connection(address.hostname, address.port)
        except ConnectionRefusedError:
            return True
        writer.close()
        await asyncio.sleep(0.1)
    return False


def _serving_worker(workers: list[psutil.Process], client_port: int) -> psutil.Process:
    """The worker holding the accepted end of the client's connection from ``client_port``."""
    for worker in workers:
        if any(c.raddr and c.raddr.port == client_port for c in worker.net_connections("tcp")):
            return worker
    raise AssertionError(f"no worker holds the connection from port {client_port}")


@pytest.mark.timeout(240)
async def test_a_dead_worker_lets_the_survivors_streams_drain(started: list[Served]) -> None:
    """One worker dies while the other streams: the server stops (exit 3) only after the
    survivor's stream ran to its end, within the grace period SIGTERM gives; meanwhile a new
    connection is refused at once (rather than queued for no one, then reset)."""
    slow = ScriptedConfig(ttft_ms=50, gap_ms=100, tokens=80)  # 8 s of streaming, < the grace
    with ScriptedServer(slow) as url:
        upstream = ["--endpoint", url, "--model", "scripted-model", "--max-retries", "0"]
        served = _two_workers(started, "baseline", upstream)
        workers = [c for c in served.children() if "resource_tracker" not in " ".join(c.cmdline())]
        assert len(workers) == 2, workers
        body = {"messages": [{"role": "user", "content": "count"}], "stream": True}
        connector = aiohttp.TCPConnector(force_close=True)
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.post(f"{served.base_url}/chat/completions", json=body) as response,
        ):
            assert response.status == 200
            meter = StreamMeter(time.perf_counter())
            lines = response.content.__aiter__()
            while not meter.chunks:  # the stream is under way
                meter.feed(await lines.__anext__(), time.perf_counter())
            client_port = response.connection.transport.get_extra_info("sockname")[1]
            survivor = _serving_worker(workers, client_port)
            (victim,) = [w for w in workers if w.pid != survivor.pid]
            victim.kill()

            async def drain() -> None:
                async for line in lines:
                    if meter.feed(line, time.perf_counter()):
                        break

            draining = asyncio.create_task(drain())
            refused = await _refused_before(draining, served.base_url)
            await draining
        code, err = await asyncio.to_thread(_finish_leaving_nothing, served)
    assert meter.error is None and meter.done_ms is not None, err
    assert sum(c.tokens for c in meter.chunks) == 80 and meter.finish_reason == "stop"
    assert refused, "new connections were still taken while the server was stopping"
    assert code == 3, err
    assert f"(pid {victim.pid}) died while serving" in err
