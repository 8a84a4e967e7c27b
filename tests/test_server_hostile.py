"""The pipeline server against hostile input: every request field given every wrong JSON type,
huge numbers, NaN/Infinity, nested junk and bytes that are not UTF-8; and upstreams that answer
with chunks of the wrong shape, HTML, nothing, or a cut stream. Each is a clean OpenAI-style
error (400 for the request, 502 naming the upstream), never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from test_hostile_server import HOSTILE_CHAT_CHUNKS

from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.testing.scripted_server import Fault, ScriptedConfig, ScriptedServer

QUESTION = {"role": "user", "content": "What is 2+2?"}
#: A JSON value nested deeper than any parser's limit.
DEEP = json.loads("[" * 150 + "]" * 150)

#: A value of every JSON type, and the numbers and strings that break naive code.
JUNK: list[Any] = [
    None, True, False, 0, -1, 1, 0.5, -0.0, 2**31, 2**63, 10**40, -(10**40),
    float("nan"), float("inf"), float("-inf"), 1e308,
    "", "x", "NaN", "\u0000", "é\u202e", "x" * 100_000,
    [], [None], [[[]]], {}, {"a": {"b": [1, {"c": None}]}}, DEEP,
]  # fmt: skip


def _request_with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A valid request with the field at ``path`` set to ``value`` (the question as a list of
    content parts when ``path`` goes into one)."""
    question: Any = QUESTION["content"]
    if path[:4] == ("messages", 0, "content", 0):
        question = [{"type": "text", "text": question}]
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": question}],
        "stream_options": {"include_usage": True},
        "stage_params": {"single": {"max_tokens": 4}},
    }
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


#: Every field the server reads, at every depth.
FIELDS: list[tuple[str | int, ...]] = [
    ("messages",), ("messages", 0), ("messages", 0, "role"), ("messages", 0, "content"),
    ("messages", 0, "content", 0), ("messages", 0, "content", 0, "type"),
    ("messages", 0, "content", 0, "text"), ("model",), ("stream",), ("stream_options",),
    ("stream_options", "include_usage"), ("max_tokens",), ("max_completion_tokens",),
    ("temperature",), ("top_p",), ("seed",), ("stop",), ("n",), ("stage_params",),
    ("stage_params", "single"), ("stage_params", "single", "max_tokens"),
    ("stage_params", "single", "temperature"), ("stage_params", "single", "top_p"),
    ("stage_params", "single", "stop"), ("logprobs",), ("frequency_penalty",),
]  # fmt: skip


@dataclass
class Answer:
    case: str
    status: int
    body: Any


def _problems(answer: Answer, allowed: set[int]) -> list[str]:
    """What is wrong with one answer (empty when it is fine)."""
    if answer.status not in allowed:
        return [f"{answer.case}: HTTP {answer.status}: {str(answer.body)[:300]}"]
    if answer.status == 200:
        return []
    error = answer.body.get("error") if isinstance(answer.body, dict) else None
    if not (isinstance(error, dict) and isinstance(error.get("message"), str)):
        return [f"{answer.case}: not an OpenAI error body: {str(answer.body)[:300]}"]
    if "Traceback" in error["message"] or set(error) != {"message", "type", "param", "code"}:
        return [f"{answer.case}: {error}"]
    return []


def _assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback, and nothing logged with exception info, by the server or aiohttp."""
    noisy = [r.getMessage()[:200] for r in caplog.records if r.exc_info]
    assert noisy == []
    assert "Traceback" not in caplog.text


@pytest.fixture
def upstream() -> Iterator[str]:
    with ScriptedServer(ScriptedConfig(tokens=2)) as url:
        yield url


@pytest.fixture
async def server(upstream: str) -> AsyncIterator[PipelineServer]:
    ep = Endpoint(base_url=upstream, model="scripted-model", max_retries=0)
    async with PipelineServer("baseline", {"single": ep}) as running:
        yield running


async def _send(
    http: aiohttp.ClientSession,
    server: PipelineServer,
    case: str,
    data: bytes,
    headers: dict[str, str] | None = None,
) -> Answer:
    url = f"{server.base_url}/chat/completions"
    async with http.post(url, data=data, headers=headers or {}) as response:
        text = await response.text(errors="replace")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text  # a stream: events, checked elsewhere
    return Answer(case, response.status, parsed)


async def _send_all(
    http: aiohttp.ClientSession, server: PipelineServer, cases: list[tuple[str, bytes]]
) -> list[Answer]:
    answers: list[Answer] = []
    for start in range(0, len(cases), 16):  # a few at a time: a 2-core runner stays responsive
        batch = cases[start : start + 16]
        answers += await asyncio.gather(*(_send(http, server, c, d) for c, d in batch))
    return answers


@pytest.mark.timeout(600)
async def test_every_field_with_every_junk_value_is_a_200_or_a_clean_400(
    server: PipelineServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cases = [
        (f"{'.'.join(map(str, path))}={json.dumps(value)[:40]}",
         json.dumps(_request_with(path, value)).encode())
        for path in FIELDS
        for value in JUNK
    ]  # fmt: skip
    answers = await _send_all(http, server, cases)
    problems = [p for answer in answers for p in _problems(answer, {200, 400})]
    assert problems == []
    statuses = {a.status for a in answers}
    assert statuses == {200, 400}  # both happen: the sweep is not all refusals
    # a refusal names the field it refuses
    refused = [a for a in answers if a.status == 400]
    named = [a for a in refused if a.body["error"]["param"] or "body" in a.body["error"]["message"]]
    assert len(named) == len(refused), [a.case for a in refused if a not in named][:10]
    assert server.stats.in_flight == 0 and server.stats.upstream_errors == 0
    assert server.stats.bad_requests == len(refused)
    _assert_quiet(caplog)


RAW_BODIES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("whitespace", b" \n\t "),
    ("not utf-8", b"\xff\xfe\x00\x01"),
    ("latin-1 in a string", b'{"messages": [{"role": "user", "content": "caf\xe9"}]}'),
    ("lone surrogate", b'{"messages": [{"role": "user", "content": "\\ud800"}]}'),
    ("byte order mark", b'\xef\xbb\xbf{"messages": [{"role": "user", "content": "hi"}]}'),
    ("nul bytes", b"\x00" * 1000),
    ("truncated", b'{"messages": [{"role": "user", "content": "hi"'),
    ("trailing junk", b'{"messages": [{"role": "user", "content": "hi"}]} junk'),
    ("top-level null", b"null"),
    ("top-level number", b"12"),
    ("top-level string", b'"messages"'),
    ("top-level NaN", b"NaN"),
    ("deep arrays", b"[" * 100_000),
    ("deep objects", b'{"a":' * 50_000),
    ("deep inside messages", b'{"messages": [' + b"[" * 10_000 + b"]" * 10_000 + b"]}"),
    ("many keys", b"{" + b"".join(b'"k%d": 1, ' % i for i in range(50_000)) + b'"n": 1}'),
    ("duplicate key", b'{"messages": [{"role": "user", "content": "hi"}], "messages": 5}'),
    ("integer of 5000 digits",
     b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": ' + b"9" * 5000 + b"}"),
    ("float exponent 99999",
     b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1e99999}'),
    ("NaN temperature", b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'),
    ("Infinity top_p", b'{"messages": [{"role": "user", "content": "hi"}], "top_p": Infinity}'),
]  # fmt: skip


@pytest.mark.parametrize(("case", "raw"), RAW_BODIES, ids=[c for c, _ in RAW_BODIES])
async def test_raw_bodies_that_are_not_a_request_get_a_clean_400(
    server: PipelineServer,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    case: str,
    raw: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await _send(http, server, case, raw, {"Content-Type": "application/json"})
    assert _problems(answer, {400}) == []
    assert answer.body["error"]["type"] == "invalid_request_error"
    _assert_quiet(caplog)


async def test_a_body_whose_compression_is_broken_gets_a_clean_400(
    server: PipelineServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    answer = await _send(http, server, "bad gzip", b"\x1f\x8b not gzip at all", headers)
    assert _problems(answer, {400}) == []
    assert answer.body["error"]["message"] == (
        "request body cannot be read: Can not decode content-encoding: gzip"
    )
    _assert_quiet(caplog)
    assert server.stats.in_flight == 0 and server.stats.bad_requests == 1


@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"Content-Length: -5\r\n\r\n",
        b"Content-Length: 99999999999999999999999\r\n\r\n{}",
        b"Content-Encoding: no-such-coding\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["bad-chunk-size", "negative-length", "huge-length", "unknown-encoding"],
)
async def test_a_request_that_is_not_valid_http_is_a_400_and_one_log_line(
    server: PipelineServer, caplog: pytest.LogCaptureFixture, framing: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + framing)
    await writer.drain()
    head = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    await writer.wait_closed()
    assert head.split()[1] == b"400", head
    _assert_quiet(caplog)


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("temperature", "NaN", "NaN"),
        ("temperature", "Infinity", "Infinity"),
        ("top_p", "-Infinity", "-Infinity"),
        ("temperature", "1e400", "Infinity"),
    ],
)
async def test_nan_and_infinity_are_not_a_number(
    server: PipelineServer, http: aiohttp.ClientSession, field: str, value: str, shown: str
) -> None:
    raw = b'{"messages": [{"role": "user", "content": "hi"}], "%s": %s}' % (
        field.encode(),
        value.encode(),
    )
    answer = await _send(http, server, field, raw)
    assert answer.status == 400
    error = answer.body["error"]
    assert (
        error["message"]
        == f"invalid request: {field}: {shown} is not a number; expected a finite number"
    )
    assert error["param"] == field


# -- hostile upstreams ---------------------------------------------------------------------------

#: Upstream faults beyond the client's own sweep (tests/test_hostile_server.py): each must reach
#: the serve client as a clean 502 (an error event when streamed).
MORE_HOSTILE_CHUNKS = {
    "chunk null": "null",
    "error event a string": '{"error": "boom"}',
    "nested 100000 deep": "[" * 100_000 + "]" * 100_000,
    "a 3 MB line": '{"choices": [{"delta": {"content": "' + "a" * 3_000_000 + '"}}]}',
    "an integer of 5000 digits": '{"usage": {"completion_tokens": ' + "9" * 5000 + "}}",
}
HOSTILE_FAULTS: dict[str, Fault] = {
    **{name: Fault(kind="chunk", payload=p) for name, p in HOSTILE_CHAT_CHUNKS.items()},
    **{name: Fault(kind="chunk", payload=p) for name, p in MORE_HOSTILE_CHUNKS.items()},
    "chunk after a good one": Fault(kind="chunk", payload='{"choices": [7]}', after_chunks=1),
    "html page": Fault(kind="body", status=200, content_type="text/html",
                       payload="<html><body>Welcome to nginx!</body></html>"),
    "empty 200": Fault(kind="body", status=200, content_type="text/event-stream"),
    "json answer of the wrong shape": Fault(kind="body", status=200, payload='{"choices": 5}'),
    "json answer unparseable": Fault(kind="body", status=200, payload='{"choices": ['),
    "cut mid-stream": Fault(kind="cut", after_chunks=1),
    "malformed line": Fault(kind="malformed"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(HOSTILE_FAULTS))
async def test_a_hostile_upstream_is_a_clean_502(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.DEBUG)
    request = {"messages": [QUESTION]}
    with ScriptedServer(ScriptedConfig(tokens=3, faults=[HOSTILE_FAULTS[name]])) as url:
        ep = Endpoint(base_url=url, model="scripted-model", max_retries=0)
        async with PipelineServer("baseline", {"single": ep}) as server:
            answer = await _send(http, server, name, json.dumps(request).encode())
            async with http.post(
                f"{server.base_url}/chat/completions", json={**request, "stream": True}
            ) as response:
                assert response.status == 200  # the role chunk went out before the upstream
                events: list[Any] = [
                    "[DONE]" if line[5:].strip() == b"[DONE]" else json.loads(line[5:])
                    async for line in response.content
                    if line.startswith(b"data:")
                ]
    assert _problems(answer, {502}) == [], answer
    error = answer.body["error"]
    assert error["type"] == "upstream_error" and error["code"]
    assert error["message"].startswith("upstream single model 'scripted-model' failed")
    assert "[DONE]" not in events  # one error event ends the stream
    assert events[-1]["error"]["message"].startswith("upstream single model 'scripted-model'")
    assert server.stats.upstream_errors == 2 and server.stats.in_flight == 0
    _assert_quiet(caplog)


class _CrashingPipeline:
    """Stands in for a pipeline with a bug that every request hits."""

    name = "baseline"

    async def run(self, question: str, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the pipeline")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_pipeline_bug_logs_its_traceback_once_not_per_request(
    server: PipelineServer,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    stream: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(server, "_pipeline_for", lambda *a: _CrashingPipeline())
    for _ in range(3):
        async with http.post(
            f"{server.base_url}/chat/completions", json={"messages": [QUESTION], "stream": stream}
        ) as response:
            text = await response.text()
            assert response.status == (200 if stream else 500)
        assert '"internal error"' in text and "Traceback" not in text
    assert caplog.text.count("Traceback") == 1
    again = [r for r in caplog.records if "crashed again" in r.getMessage()]
    assert len(again) == 2 and "RuntimeError: a bug in the pipeline" in again[0].getMessage()
