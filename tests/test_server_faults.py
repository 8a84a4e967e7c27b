"""The pipeline server under faults: retries before the first byte, upstream 4xx passed on,
oversized bodies, clients that hang up mid-body, and API keys echoed by an upstream."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest
from polling import DEADLINE_S, async_wait_until
from server_helpers import post

from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.testing.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

QUESTION = "What is 2+2?"
RULES = [
    ReplyRule(match="concise chain", reasoning="two plus two", content="is four"),
    ReplyRule(match="Using the reasoning above", content="The answer is 4"),
    ReplyRule(match="step by step", reasoning="add them", content="4 it is"),
]
KEY_ENV = "HAWKEYE_TEST_UPSTREAM_KEY"
KEY = "hwk-test-7f3a9c21d4e8b6"  # not a provider-shaped key: only the remembered value hides it


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "whatever", "messages": [{"role": "user", "content": QUESTION}], **fields}


def endpoint(url: str, **settings: Any) -> Endpoint:
    return Endpoint(base_url=url, model="scripted-model", **{"max_retries": 0, **settings})


async def stream_events(
    http: aiohttp.ClientSession, server: PipelineServer, payload: Any
) -> list[Any]:
    events: list[Any] = []
    async with http.post(f"{server.base_url}/chat/completions", json=payload) as response:
        assert response.status == 200
        async for line in response.content:
            if line.startswith(b"data:"):
                data = line[5:].strip()
                events.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return events


def assert_openai_error(answer: Any) -> dict[str, Any]:
    error = answer["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert "code" in error
    return error


# -- 1. a non-streamed request is retried while nothing has reached the client ----------------


@pytest.mark.parametrize("pipeline", ["baseline", "hawkeye"])
async def test_non_streamed_request_with_a_cut_upstream_stream_is_retried(
    http: aiohttp.ClientSession, pipeline: str
) -> None:
    # The first upstream stream is cut after one chunk: the client has seen nothing yet.
    config = ScriptedConfig(
        rules=list(RULES), faults=[Fault(kind="cut", after_chunks=1, first_n=1)]
    )
    roles = ("single",) if pipeline == "baseline" else ("reasoner", "responder")
    with ScriptedServer(config) as url:
        ep = endpoint(url, max_retries=1)
        async with PipelineServer(pipeline, {role: ep for role in roles}) as server:
            for client in server.clients.values():
                client.backoff_base_s = 0.01
            status, answer = await post(http, server, body())
    assert status == 200, answer
    message = answer["choices"][0]["message"]
    if pipeline == "baseline":
        assert message == {
            "role": "assistant",
            "content": "4 it is",
            "reasoning_content": "add them",
        }
    else:
        assert message["reasoning_content"] == "two plus two\n\nis four"
        assert message["content"] == "The answer is 4"
    assert answer["x_hawkeye"]["stages"][0]["attempts"] == 2
    assert answer["usage"]["completion_tokens"] == (5 if pipeline == "baseline" else 9)


# -- 2. upstream client errors keep their status -------------------------------------------------


@pytest.mark.parametrize(("upstream_status", "status"), [(400, 400), (413, 413), (500, 502)])
async def test_upstream_client_errors_keep_their_status(
    http: aiohttp.ClientSession, upstream_status: int, status: int
) -> None:
    config = ScriptedConfig(
        rules=list(RULES), faults=[Fault(kind="status", status=upstream_status, first_n=1)]
    )
    with ScriptedServer(config) as url:
        async with PipelineServer("baseline", {"single": endpoint(url)}) as server:
            got_status, answer = await post(http, server, body())
            assert got_status == status
            error = assert_openai_error(answer)
            assert error["code"] == f"http_{upstream_status}"
            expected_type = "invalid_request_error" if status < 500 else "upstream_error"
            assert error["type"] == expected_type
            assert f"HTTP {upstream_status}" in error["message"]
            ok_status, ok = await post(http, server, body())
            assert ok_status == 200 and ok["choices"][0]["message"]["content"] == "4 it is"


async def test_upstream_400_mid_pipeline_in_a_stream_is_an_error_event(
    http: aiohttp.ClientSession,
) -> None:
    fault = Fault(kind="status", status=400, match="Using the reasoning above", first_n=1)
    config = ScriptedConfig(rules=list(RULES), faults=[fault])
    with ScriptedServer(config) as url:
        ep = endpoint(url)
        async with PipelineServer("hawkeye", {"reasoner": ep, "responder": ep}) as server:
            events = await stream_events(http, server, body(stream=True))
    error = assert_openai_error(events[-1])
    assert error["code"] == "http_400" and error["type"] == "invalid_request_error"
    assert "[DONE]" not in events


# -- 3. request bodies that are too large ----------------------------------------------------------


async def test_body_over_the_configured_limit_gets_an_openai_413(
    http: aiohttp.ClientSession,
) -> None:
    config = ScriptedConfig(rules=list(RULES))
    with ScriptedServer(config) as url:
        server = PipelineServer("baseline", {"single": endpoint(url)}, max_body_bytes=4096)
        async with server:
            big = body(messages=[{"role": "user", "content": "x " * 4096}])
            status, answer = await post(http, server, big)
            assert status == 413
            error = assert_openai_error(answer)
            assert error["type"] == "invalid_request_error"
            assert "4096" in error["message"]
            status, answer = await post(http, server, body())
            assert status == 200 and answer["choices"][0]["message"]["content"] == "4 it is"
            assert server.stats.bad_requests == 1


async def test_body_over_the_default_limit_gets_an_openai_413(
    http: aiohttp.ClientSession,
) -> None:
    with ScriptedServer(ScriptedConfig(rules=list(RULES))) as url:
        async with PipelineServer("baseline", {"single": endpoint(url)}) as server:
            huge = body(messages=[{"role": "user", "content": "x" * (17 * 2**20)}])
            status, answer = await post(http, server, huge)
    assert status == 413
    assert assert_openai_error(answer)["type"] == "invalid_request_error"


def test_max_body_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        PipelineServer("baseline", {}, max_body_bytes=0)


async def test_ten_megabyte_body_is_never_a_502(http: aiohttp.ClientSession) -> None:
    # The scripted upstream accepts bodies up to aiohttp's default 1 MiB: the 10 MB prompt is
    # refused upstream, and that refusal is the client's answer (its own request is too large).
    with ScriptedServer(ScriptedConfig(rules=list(RULES))) as url:
        async with PipelineServer("baseline", {"single": endpoint(url)}) as server:
            question = "what is this? " + "word " * (2 * 10**6)
            payload = body(messages=[{"role": "user", "content": question}])
            assert len(json.dumps(payload)) > 10**7
            status, answer = await post(http, server, payload)
            assert status == 200 or 400 <= status < 500, (status, answer)
            if status != 200:
                error = assert_openai_error(answer)
                assert error["type"] == "invalid_request_error"
            ok_status, _ = await post(http, server, body())
            assert ok_status == 200


# -- 4. a client that hangs up mid-body ---------------------------------------------------------


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: 100000\r\n\r\n", b"Transfer-Encoding: chunked\r\n\r\n7d0\r\n"],
    ids=["content-length", "chunked"],
)
async def test_client_hanging_up_mid_body_is_quiet(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, framing: bytes
) -> None:
    # Earlier tests' event loops may leave garbage whose collection logs "Task was destroyed
    # but it is pending!" at any later moment: collect it now, so what is logged below is this
    # server's own.
    gc.collect()
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    with ScriptedServer(ScriptedConfig(rules=list(RULES))) as url:
        async with PipelineServer("baseline", {"single": endpoint(url)}) as server:
            reading = asyncio.Event()
            read_body = server._read_body

            async def read_body_seen(request: Any) -> Any:
                reading.set()
                return await read_body(request)

            server._read_body = read_body_seen  # type: ignore[method-assign]
            _reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(
                b"POST /v1/chat/completions HTTP/1.1\r\n"
                b"Host: localhost\r\nContent-Type: application/json\r\n"
                + framing
                + b'{"messages": ['
                + b" " * 1000
            )
            await writer.drain()
            await asyncio.wait_for(reading.wait(), DEADLINE_S)  # hang up mid-body, not before
            writer.close()
            await writer.wait_closed()
            assert await async_wait_until(lambda: server.stats.client_disconnects > 0)
            status, answer = await post(http, server, body())
            assert status == 200 and answer["choices"][0]["message"]["content"] == "4 it is"
            assert server.stats.in_flight == 0
            assert server.stats.client_disconnects == 1
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == [], [r.getMessage() for r in noisy]
    assert "Traceback" not in caplog.text


# -- 5. API keys echoed by an upstream -----------------------------------------------------------


class _EchoUpstream:
    """An upstream that lists a model, then answers every completion with ``status`` and an
    error body echoing the Authorization header it received (as some proxies do)."""

    def __init__(self, status: int, models_status: int = 200) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, code: int) -> None:
                auth = self.headers.get("Authorization", "")
                if code == 200:
                    payload: Any = {"object": "list", "data": [{"id": "scripted-model"}]}
                else:
                    payload = {"error": {"message": f"bad credentials: {auth!r}", "code": code}}
                raw = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._answer(owner.models_status)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(owner.status)

            def log_message(self, *args: Any) -> None:
                pass

        self.status, self.models_status = status, models_status
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return self.base_url

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def upstream_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(KEY_ENV, KEY)
    yield KEY


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("upstream_status", [400, 500])
async def test_api_key_echoed_by_the_upstream_is_never_logged_or_returned(
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    upstream_key: str,
    upstream_status: int,
    stream: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    with _EchoUpstream(upstream_status) as url:
        ep = endpoint(url, api_key_env=KEY_ENV)
        async with (
            PipelineServer("baseline", {"single": ep}) as server,
            http.post(f"{server.base_url}/chat/completions", json=body(stream=stream)) as response,
        ):
            text = await response.text()
    assert upstream_key not in text
    assert "bad credentials" in text and "[redacted]" in text  # the echo arrived, redacted
    assert upstream_key not in caplog.text
    assert "[redacted]" in caplog.text  # the failure was logged, redacted


def test_serve_names_an_unavailable_upstream_without_its_key(
    capsys: pytest.CaptureFixture[str], upstream_key: str
) -> None:
    from hawkeye_bench import cli

    with _EchoUpstream(500, models_status=401) as url:
        argv = ["serve", "--pipeline", "baseline", "--endpoint", url, "--model", "scripted-model"]
        assert cli.main([*argv, "--api-key-env", KEY_ENV, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "single endpoint" in err and "[redacted]" in err
    assert upstream_key not in err


class _LeakyPipeline:
    """Stands in for a pipeline whose stage error (or crash) quotes the key verbatim, as an
    endpoint client that does not redact would report it."""

    name = "baseline"

    def __init__(self, crash: bool) -> None:
        self.crash = crash

    async def run(self, question: str, **kwargs: Any) -> Trace:
        if self.crash:
            raise RuntimeError(f"client blew up with Authorization: Bearer {KEY}")
        stage = StageResult(role="single", model="scripted-model")
        stage.error, stage.error_type = f"HTTP 400: echoed Bearer {KEY}", "http_400"
        return Trace(pipeline="baseline", stages=[stage])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("crash", [False, True], ids=["stage-error", "crash"])
async def test_server_redacts_keys_in_errors_it_did_not_make(
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    upstream_key: str,
    crash: bool,
    stream: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    with ScriptedServer(ScriptedConfig(rules=list(RULES))) as url:
        ep = endpoint(url, api_key_env=KEY_ENV)  # the server reads (and remembers) the key
        async with PipelineServer("baseline", {"single": ep}) as server:
            monkeypatch.setattr(server, "_pipeline_for", lambda *a: _LeakyPipeline(crash))
            async with http.post(
                f"{server.base_url}/chat/completions", json=body(stream=stream)
            ) as response:
                text = await response.text()
    assert upstream_key not in text
    assert upstream_key not in caplog.text
    assert "[redacted]" in caplog.text
    if not crash:
        assert "echoed Bearer [redacted]" in text
