"""`hawkeye-bench serve` as users run it: flag errors, and a real subprocess in front of the real
embedded model (the scripted-server behaviour is covered in-process by test_server.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hawkeye_bench import cli
from hawkeye_bench.commands import serve
from hawkeye_bench.core import child_process
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.serve import embedded as local_module
from hawkeye_bench.serve.embedded import LOCAL_MODEL_NAME, LocalModelServer
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer

STARTUP_TIMEOUT_S = 120.0  # imports alone take seconds on a loaded 2-core machine


def _command() -> list[str]:
    script = Path(sys.executable).with_name("hawkeye-bench")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hawkeye_bench.cli"]


class ServeProcess:
    """``hawkeye-bench serve ... --port 0`` in a subprocess (``popen``: more of Popen's
    arguments); ``announced`` is its first line, ``base_url`` the URL it names. It is killed
    if the test session dies."""

    def __init__(self, *args: str, **popen: Any) -> None:
        self.process = child_process.popen(
            [*_command(), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen,
        )
        stdout = self.process.stdout
        assert stdout is not None
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(stdout.readline()))
        reader.start()
        reader.join(STARTUP_TIMEOUT_S)
        self.announced = first[0] if first else ""
        if " at http" not in self.announced:
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"serve did not start: {self.announced!r}\n{err}")
        self.base_url = self.announced.rsplit(" at ", 1)[1].strip()

    def stop(self) -> int:
        """SIGTERM (as a service manager would) and the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture
def serve_process() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


async def stream_request(base_url: str, payload: dict[str, Any]) -> list[Any]:
    events: list[Any] = []
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base_url}/chat/completions", json=payload) as response,
    ):
        assert response.status == 200, await response.text()
        async for line in response.content:
            if line.startswith(b"data:"):
                data = line[5:].strip()
                events.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return events


def deltas(events: list[Any]) -> list[tuple[str, str]]:
    out = []
    for event in events:
        if isinstance(event, dict) and event.get("choices"):
            for channel, text in event["choices"][0]["delta"].items():
                if channel in ("reasoning_content", "content") and text:
                    out.append((channel, text))
    return out


def run_serve(argv: list[str]) -> int:
    """`hawkeye-bench serve ARGV` in-process, as a user runs it (the CLI reports user errors)."""
    return cli.main(["serve", *argv])


def test_bad_flags_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_serve(["--pipeline", "nope"]) == 2
    assert "unknown pipeline 'nope'; valid: baseline, compress, hawkeye" in capsys.readouterr().err
    assert run_serve(["--reasoner-url", "http://x/v1", "--reasoner-model", "m"]) == 2
    assert "no endpoint for role(s) ['responder']" in capsys.readouterr().err


def test_unreachable_endpoint_is_named_before_serving(
    capsys: pytest.CaptureFixture[str], dead_base_url: str
) -> None:
    dead = dead_base_url
    args = ["--pipeline", "baseline", "--endpoint", dead, "--model", "m", "--port", "0"]
    assert run_serve(args) == 2
    err = capsys.readouterr().err
    assert "single endpoint" in err and dead in err


@pytest.mark.local_model
async def test_serve_hawkeye_end_to_end_on_the_embedded_model(
    local_server: LocalModelServer, serve_process: list[ServeProcess]
) -> None:
    served = ServeProcess(
        "--pipeline", "hawkeye", "--endpoint", local_server.base_url, "--model", LOCAL_MODEL_NAME,
        "--served-model-name", "hawkeye-smol",
    )  # fmt: skip
    serve_process.append(served)
    events = await stream_request(
        served.base_url,
        {
            "messages": [{"role": "user", "content": "What is 3 + 4?"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 16,
            "temperature": 0,
            "seed": 1,
            "stage_params": {"reasoner": {"max_tokens": 16}},
        },
    )
    assert served.stop() == 0
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[0]["model"] == "hawkeye-smol"
    assert events[-1] == "[DONE]", events[-1]
    channels = [channel for channel, _ in deltas(events)]
    assert "reasoning_content" in channels and "content" in channels
    first_content = channels.index("content")
    assert "reasoning_content" not in channels[first_content:]  # stage 1 first, then stage 2
    usage, report = events[-2]["usage"], events[-2]["x_hawkeye"]
    reasoner, responder = report["stages"]
    assert 0 < reasoner["completion_tokens"] <= 16
    assert 0 < responder["completion_tokens"] <= 16
    assert (
        usage["completion_tokens"] == reasoner["completion_tokens"] + responder["completion_tokens"]
    )
    assert usage["completion_tokens_details"]["reasoning_tokens"] == reasoner["completion_tokens"]
    # llama-cpp-python streams no usage: the counts come from its tokenize endpoint, and say so.
    assert report["token_source"] in ("usage", "tokenize")
    assert report["approximate"] is False


@pytest.mark.timeout(60)
def test_without_endpoints_the_embedded_model_serves_every_role(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], loopback_port: int
) -> None:
    """No endpoint flags: one embedded model server is started and used for both roles (a
    scripted server stands in for llama-cpp-python here; the real one is tested above)."""
    started: list[ScriptedServer] = []

    class StandIn:
        def __enter__(self) -> StandIn:
            started.append(ScriptedServer(ScriptedConfig(tokens=3)))
            self.base_url = started[-1].start()
            self.endpoint = Endpoint(base_url=self.base_url, model="scripted-model", name="local")
            return self

        def __exit__(self, *exc: object) -> None:
            started[-1].stop()

    monkeypatch.setattr(local_module, "LocalModelServer", StandIn)
    port = loopback_port
    answers: list[Any] = []

    def client() -> None:
        url = f"http://127.0.0.1:{port}"
        for _ in range(400):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1).close()
                break
            except OSError:
                threading.Event().wait(0.05)
        else:
            return  # never up: no SIGTERM, which would then hit pytest itself
        try:
            request = urllib.request.Request(
                f"{url}/v1/chat/completions",
                data=json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                answers.append(json.load(response))
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the server's handler stops it

    thread = threading.Thread(target=client)
    thread.start()
    assert run_serve(["--pipeline", "hawkeye", "--port", str(port)]) == 0
    thread.join()
    assert len(started) == 1
    assert [r["body"]["model"] for r in started[0].requests] == ["scripted-model"] * 2
    assert answers[0]["choices"][0]["message"]["content"] == "tok0 tok1 tok2"
    assert "embedded default model" in capsys.readouterr().err


def test_max_body_mb_reaches_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    servers: list[Any] = []
    monkeypatch.setattr(serve, "_run", servers.append)
    endpoint_args = [
        "--pipeline",
        "baseline",
        "--endpoint",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
    ]
    assert run_serve([*endpoint_args, "--max-body-mb", "0.5"]) == 0
    assert run_serve(endpoint_args) == 0
    assert [s.max_body_bytes for s in servers] == [2**19, 16 * 2**20]


@pytest.mark.parametrize("value", ["0", "-1", "lots", "inf"])
def test_bad_max_body_mb_is_named(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit):
        run_serve(["--max-body-mb", value])
    assert "--max-body-mb" in capsys.readouterr().err
