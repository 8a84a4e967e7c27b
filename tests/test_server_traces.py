"""`serve --trace-dir`: a folder that cannot be written is refused before the server starts, and
a trace file that stops being writable while serving costs no request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from server_helpers import post

from hawkeye_bench import cli
from hawkeye_bench.core.writable import OutputPathError
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer

BODY = {"messages": [{"role": "user", "content": "hi"}]}
DEAD = "http://127.0.0.1:9/v1"  # nothing listens: had serve got that far, it would say so


@pytest.fixture
def upstream() -> Iterator[Endpoint]:
    with ScriptedServer(ScriptedConfig(tokens=2)) as url:
        yield Endpoint(base_url=url, model="scripted-model", max_retries=0)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_file_as_trace_dir_stops_serve_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    taken = tmp_path / "traces.jsonl"
    taken.write_text("not a folder\n")
    argv = ["serve", "--pipeline", "baseline", "--endpoint", DEAD, "--model", "m", "--port", "0"]
    assert cli.main([*argv, "--workers", workers, "--trace-dir", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot write the --trace-dir folder {taken}: it is a file" in err
    assert "127.0.0.1:9" not in err and "Traceback" not in err
    assert taken.read_text() == "not a folder\n"


async def test_the_server_refuses_a_trace_dir_it_cannot_write_before_it_binds(
    tmp_path: Path, upstream: Endpoint
) -> None:
    (tmp_path / "file").write_text("")
    server = PipelineServer("baseline", {"single": upstream}, trace_dir=tmp_path / "file" / "sub")
    with pytest.raises(OutputPathError, match="--trace-dir folder"):
        await server.start()
    assert server.clients == {} and server._runner is None


async def test_a_trace_file_that_cannot_be_written_costs_no_request(
    tmp_path: Path,
    upstream: Endpoint,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    traces = tmp_path / "traces"
    async with PipelineServer("baseline", {"single": upstream}, trace_dir=traces) as server:
        traces.write_text("")  # a file takes the folder's name while serving
        for _ in range(3):
            status, answer = await post(http, server, BODY)
            assert status == 200, answer
            assert answer["choices"][0]["message"]["content"] == "tok0 tok1"
    assert server.stats.trace_errors == 3 and server.stats.completed == 3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot write the trace file" in warnings[0].getMessage()
    assert "Traceback" not in caplog.text
