"""The pipeline server against the scripted upstream: streaming order, usage, faults, 400s."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from polling import async_wait_until
from server_helpers import post

from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.serve.chat_request import (
    BadRequest,
    StageSampling,
    parse_chat_request,
)
from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.testing.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

QUESTION = "What is 2+2?"
# The default preset's prompts tell the stages apart: the reasoner is asked for a "concise chain
# of thought", the responder gets "Using the reasoning above", the baseline "reason step by step".
REASONER_RULE = ReplyRule(match="concise chain", reasoning="two plus two", content="is four")
RESPONDER_RULE = ReplyRule(match="Using the reasoning above", content="The answer is 4")
SINGLE_RULE = ReplyRule(match="step by step", reasoning="add them", content="4 it is")
RULES = [REASONER_RULE, RESPONDER_RULE, SINGLE_RULE]


@dataclass
class Stream:
    """A streamed answer as the client saw it."""

    events: list[Any]  # parsed data payloads, "[DONE]" kept as a string
    arrivals: list[float]  # perf_counter per event

    @property
    def deltas(self) -> list[tuple[str, str]]:
        out = []
        for event in self.events:
            if isinstance(event, dict) and event.get("choices"):
                delta = event["choices"][0]["delta"]
                for channel in ("reasoning_content", "content"):
                    if delta.get(channel):
                        out.append((channel, delta[channel]))
        return out

    def text(self, channel: str) -> str:
        return "".join(t for c, t in self.deltas if c == channel)


async def read_stream(response: aiohttp.ClientResponse) -> Stream:
    stream = Stream([], [])
    async for line in response.content:
        if line.startswith(b"data:"):
            payload = line[5:].strip()
            stream.arrivals.append(time.perf_counter())
            stream.events.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return stream


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "whatever", "messages": [{"role": "user", "content": QUESTION}], **fields}


@pytest.fixture
def upstream_config() -> ScriptedConfig:
    return ScriptedConfig(rules=list(RULES))


@pytest.fixture
def upstream(upstream_config: ScriptedConfig) -> Iterator[ScriptedServer]:
    server = ScriptedServer(upstream_config)
    server.start()
    yield server
    server.stop()


def endpoint(url: str) -> Endpoint:
    return Endpoint(base_url=url, model="scripted-model", max_retries=0)


async def served(pipeline: str, upstream: ScriptedServer) -> PipelineServer:
    roles = ("single",) if pipeline == "baseline" else ("reasoner", "responder")
    server = PipelineServer(pipeline, {role: endpoint(upstream.base_url) for role in roles})
    await server.start()
    return server


@pytest.fixture
async def hawkeye(upstream: ScriptedServer) -> AsyncIterator[PipelineServer]:
    server = await served("hawkeye", upstream)
    yield server
    await server.stop()


@pytest.fixture
async def baseline(upstream: ScriptedServer) -> AsyncIterator[PipelineServer]:
    server = await served("baseline", upstream)
    yield server
    await server.stop()


async def stream(http: aiohttp.ClientSession, server: PipelineServer, payload: Any) -> Stream:
    async with http.post(f"{server.base_url}/chat/completions", json=payload) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        return await read_stream(response)


# -- streaming ----------------------------------------------------------------------------------


async def test_hawkeye_streams_stage1_as_reasoning_then_answer_with_usage(
    hawkeye: PipelineServer, http: aiohttp.ClientSession, upstream: ScriptedServer
) -> None:
    got = await stream(http, hawkeye, body(stream=True, stream_options={"include_usage": True}))
    first = got.events[0]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert first["model"] == "hawkeye" and first["object"] == "chat.completion.chunk"
    channels = [c for c, _ in got.deltas]
    assert channels == ["reasoning_content"] * 5 + ["content"] * 4  # all stage 1, then stage 2
    assert got.text("reasoning_content") == "two plus two\n\nis four"
    assert got.text("content") == "The answer is 4"
    assert got.events[-1] == "[DONE]"
    finish, usage_chunk = got.events[-3], got.events[-2]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    # Stage 1: 5 tokens (3 reasoning + 2 content), stage 2: 4; the scripted upstream counts words.
    assert usage["completion_tokens"] == 9
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 5
    prompts = [len(r["body"]["messages"][-1]["content"].split()) for r in upstream.requests]
    assert usage["prompt_tokens"] == sum(prompts)
    report = usage_chunk["x_hawkeye"]
    assert report["token_source"] == "usage" and report["approximate"] is False
    assert [s["role"] for s in report["stages"]] == ["reasoner", "responder"]
    assert [s["completion_tokens"] for s in report["stages"]] == [5, 4]
    # All chunks of one answer share one id.
    assert len({e["id"] for e in got.events if isinstance(e, dict)}) == 1


async def test_deltas_are_forwarded_as_the_upstream_generates_them(
    upstream_config: ScriptedConfig, http: aiohttp.ClientSession
) -> None:
    ttft, gap = 0.3, 0.1
    upstream_config.ttft_ms, upstream_config.gap_ms = ttft * 1000, gap * 1000
    with ScriptedServer(upstream_config) as url:
        async with PipelineServer("baseline", {"single": endpoint(url)}) as server:
            sent = time.perf_counter()
            got = await stream(http, server, body(stream=True))
    token_times = [
        t
        for e, t in zip(got.events, got.arrivals, strict=True)
        if isinstance(e, dict)
        and e.get("choices")
        and len(e["choices"][0]["delta"]) == 1
        and next(iter(e["choices"][0]["delta"].values()))
    ]
    # The role chunk goes out before the upstream writes its first token.
    assert got.arrivals[0] - sent < ttft
    assert len(token_times) == 5  # 5 words
    # Each word as the upstream writes it, not batched: most arrive before the next is written
    # (the upstream writes word i at ttft + i gaps after our send, never earlier).
    offsets = [t - sent for t in token_times]
    assert all(t >= ttft + i * gap for i, t in enumerate(offsets)), offsets
    assert sum(t < ttft + (i + 1) * gap for i, t in enumerate(offsets)) >= 3, offsets


async def test_without_include_usage_no_usage_chunk_but_token_report_on_last_chunk(
    hawkeye: PipelineServer, http: aiohttp.ClientSession
) -> None:
    got = await stream(http, hawkeye, body(stream=True))
    assert not any(isinstance(e, dict) and "usage" in e for e in got.events)
    last = got.events[-2]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert [s["completion_tokens"] for s in last["x_hawkeye"]["stages"]] == [5, 4]


async def test_non_streamed_answer_matches_the_stream(
    hawkeye: PipelineServer, http: aiohttp.ClientSession
) -> None:
    status, answer = await post(http, hawkeye, body())
    assert status == 200
    assert answer["object"] == "chat.completion"
    message = answer["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": "The answer is 4",
        "reasoning_content": "two plus two\n\nis four",
    }
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] == 9
    assert answer["usage"]["completion_tokens_details"] == {"reasoning_tokens": 5}
    streamed = await stream(http, hawkeye, body(stream=True))
    assert streamed.text("content") == message["content"]
    assert streamed.text("reasoning_content") == message["reasoning_content"]


# -- baseline and request parameters ------------------------------------------------------------


async def test_baseline_passes_one_model_through_with_its_own_usage(
    baseline: PipelineServer, http: aiohttp.ClientSession, upstream: ScriptedServer
) -> None:
    got = await stream(http, baseline, body(stream=True, stream_options={"include_usage": True}))
    assert got.deltas == [
        ("reasoning_content", "add"),
        ("reasoning_content", " them"),
        ("content", "4"),
        ("content", " it"),
        ("content", " is"),
    ]
    usage = got.events[-2]["usage"]
    assert usage["completion_tokens"] == 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 2  # the upstream's own count
    assert len(upstream.requests) == 1
    assert got.events[0]["model"] == "baseline"


async def test_request_params_map_onto_stages(
    hawkeye: PipelineServer, http: aiohttp.ClientSession, upstream: ScriptedServer
) -> None:
    payload = body(
        max_tokens=3,
        temperature=0.1,
        seed=11,
        stop="END",
        stage_params={"reasoner": {"max_tokens": 2, "top_p": 0.5}},
    )
    status, answer = await post(http, hawkeye, payload)
    assert status == 200, answer
    reasoner, responder = (r["body"] for r in upstream.requests)
    assert (reasoner["max_tokens"], reasoner["top_p"], reasoner["temperature"]) == (2, 0.5, 0.1)
    assert "stop" not in reasoner  # stop belongs to the final stage (the preset sets none)
    assert (responder["max_tokens"], responder["stop"], responder["temperature"]) == (
        3,
        ["END"],
        0.1,
    )
    assert reasoner["seed"] == responder["seed"] == 11
    assert answer["choices"][0]["message"]["content"] == "The answer is"
    assert answer["choices"][0]["finish_reason"] == "length"
    assert [s["finish_reason"] for s in answer["x_hawkeye"]["stages"]] == ["length", "length"]


async def test_without_request_params_the_preset_decides(
    hawkeye: PipelineServer, http: aiohttp.ClientSession, upstream: ScriptedServer
) -> None:
    await post(http, hawkeye, body())
    reasoner, responder = (r["body"] for r in upstream.requests)
    stages = hawkeye.preset.stages
    assert reasoner["max_tokens"] == stages["reasoner"].max_tokens
    assert responder["max_tokens"] == stages["responder"].max_tokens
    assert responder["temperature"] == stages["responder"].temperature


async def test_models_and_health(baseline: PipelineServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{baseline.base_url}/models") as response:
        models = await response.json()
    assert [m["id"] for m in models["data"]] == ["baseline"]
    await post(http, baseline, body())
    async with http.get(baseline.base_url.removesuffix("/v1") + "/health") as response:
        health = await response.json()
    assert health["status"] == "ok" and health["pipeline"] == "baseline"
    assert (health["completed"], health["in_flight"]) == (1, 0)


# -- token accounting when the upstream gives no usage ---------------------------------------


@pytest.mark.parametrize(
    ("tokenize", "source", "count"),
    [(True, "tokenize", 5), (False, "chunks", 5)],
)
async def test_token_source_is_reported_when_upstream_gives_no_usage(
    http: aiohttp.ClientSession, tokenize: bool, source: str, count: int
) -> None:
    config = ScriptedConfig(
        rules=list(RULES), usage="never", tokenize=tokenize, extras_tokenize=tokenize
    )
    with ScriptedServer(config) as url:
        async with PipelineServer("baseline", {"single": endpoint(url)}) as server:
            got = await stream(
                http, server, body(stream=True, stream_options={"include_usage": True})
            )
    last = got.events[-2]
    assert last["usage"]["completion_tokens"] == count
    assert last["usage"]["prompt_tokens"] is None  # nobody counted the prompt: not invented
    assert last["x_hawkeye"]["token_source"] == source
    assert last["x_hawkeye"]["approximate"] is (source == "chunks")


async def test_counts_nobody_gave_stay_null(http: aiohttp.ClientSession) -> None:
    # A non-streaming upstream without usage or tokenizer: there is nothing to count from.
    config = ScriptedConfig(
        rules=list(RULES), usage="never", tokenize=False, extras_tokenize=False, ignore_stream=True
    )
    with ScriptedServer(config) as url:
        async with PipelineServer("baseline", {"single": endpoint(url)}) as server:
            status, answer = await post(http, server, body())
    assert status == 200
    assert answer["choices"][0]["message"]["content"] == "4 it is"
    usage = answer["usage"]
    assert usage["completion_tokens"] is None and usage["total_tokens"] is None
    assert usage["completion_tokens_details"]["reasoning_tokens"] is None
    assert answer["x_hawkeye"]["token_source"] is None


# -- upstream failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault(kind="status", status=500, first_n=1), 502, "http_500"),
        (Fault(kind="status", status=429, first_n=1), 429, "http_429"),
        (Fault(kind="cut", after_chunks=1, first_n=1), 502, "stream_cut"),
    ],
)
async def test_upstream_failure_is_an_openai_error_and_the_next_request_succeeds(
    upstream_config: ScriptedConfig,
    http: aiohttp.ClientSession,
    fault: Fault,
    status: int,
    code: str,
) -> None:
    upstream_config.faults = [fault]
    with ScriptedServer(upstream_config) as url:
        async with PipelineServer("baseline", {"single": endpoint(url)}) as server:
            got_status, answer = await post(http, server, body())
            assert got_status == status
            error = answer["error"]
            assert error["type"] == "upstream_error" and error["code"] == code
            assert "single" in error["message"] and "scripted-model" in error["message"]
            ok_status, ok = await post(http, server, body())
            assert ok_status == 200
            assert ok["choices"][0]["message"]["content"] == "4 it is"


@pytest.mark.parametrize("kind", ["cut", "error_event"])
async def test_stream_cut_mid_way_ends_with_an_error_event_and_the_next_request_succeeds(
    upstream_config: ScriptedConfig, http: aiohttp.ClientSession, kind: str
) -> None:
    # The reasoner's stream breaks after 2 chunks; those 2 reached the client already.
    upstream_config.faults = [Fault(kind=kind, after_chunks=2, first_n=1)]  # type: ignore[arg-type]
    with ScriptedServer(upstream_config) as url:
        server = PipelineServer("hawkeye", {r: endpoint(url) for r in ("reasoner", "responder")})
        async with server:
            got = await stream(http, server, body(stream=True))
            assert got.deltas == [("reasoning_content", "two"), ("reasoning_content", " plus")]
            error = got.events[-1]["error"]
            assert error["type"] == "upstream_error"
            assert error["code"] == ("stream_cut" if kind == "cut" else "stream_error")
            assert "[DONE]" not in got.events
            again = await stream(http, server, body(stream=True))
            assert again.text("content") == "The answer is 4"
            assert again.events[-1] == "[DONE]"
            assert server.stats.upstream_errors == 1 and server.stats.completed == 1


async def test_cut_before_any_delta_is_retried_invisibly(
    upstream_config: ScriptedConfig, http: aiohttp.ClientSession
) -> None:
    upstream_config.faults = [Fault(kind="cut", after_chunks=0, first_n=1)]
    with ScriptedServer(upstream_config) as url:
        retrying = Endpoint(base_url=url, model="scripted-model", max_retries=1)
        async with PipelineServer("baseline", {"single": retrying}) as server:
            server.clients["single"].backoff_base_s = 0.01
            got = await stream(http, server, body(stream=True))
    assert got.text("content") == "4 it is"
    assert got.events[-2]["x_hawkeye"]["stages"][0]["attempts"] == 2


async def test_client_hanging_up_stops_the_upstream_and_the_server_goes_on(
    upstream_config: ScriptedConfig, http: aiohttp.ClientSession
) -> None:
    upstream_config.tokens, upstream_config.gap_ms = 200, 100.0  # filler: 20 s of tokens
    upstream_config.rules = []
    with ScriptedServer(upstream_config) as url:
        async with PipelineServer("baseline", {"single": endpoint(url)}) as server:
            async with http.post(
                f"{server.base_url}/chat/completions", json=body(stream=True)
            ) as response:
                await response.content.readline()  # the role chunk
                await response.content.readline()
            # noticed at once, not when the upstream's 20 s stream ends
            assert await async_wait_until(lambda: server.stats.client_disconnects > 0, 10)
            assert server.stats.client_disconnects == 1
            assert server.stats.in_flight == 0  # the pipeline stopped too
            status, answer = await post(http, server, body(max_tokens=3))
            assert status == 200 and answer["choices"][0]["message"]["content"] == "tok0 tok1 tok2"


# -- malformed requests --------------------------------------------------------------------------

ROLES = ("reasoner", "responder")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "body is empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "messages: Field required"),
        (b'{"messages": []}', "messages: List should have at least 1 item"),
        (b'{"messages": "hi"}', "messages: Input should be a valid array"),
        (b'{"messages": [{"content": "hi"}]}', "messages.0.role: Field required"),
        (b'{"messages": [{"role": "user", "content": 5}]}', "messages.0.content: Input should"),
        (b'{"messages": [{"role": "system", "content": "x"}]}', "no 'user' message"),
        (b'{"messages": [{"role": "user", "content": "  "}]}', "has no text"),
        (b'{"messages": [{"role": "user", "content": "q"}], "max_tokens": "9"}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "q"}], "max_tokens": 0}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "q"}], "stream": "yes"}', "stream"),
        (b'{"messages": [{"role": "user", "content": "q"}], "temperature": "hot"}', "temperature"),
        (b'{"messages": [{"role": "user", "content": "q"}], "n": 2}', "n=2 is not supported"),
        (
            b'{"messages": [{"role": "user", "content": "q"}], "stage_params": {"single": {}}}',
            "unknown stage(s) ['single']; this pipeline's stages: reasoner, responder",
        ),
        (
            b'{"messages": [{"role": "user", "content": "q"}], '
            b'"stage_params": {"reasoner": {"top_k": 5}}}',
            "stage_params.reasoner.top_k: Extra inputs are not permitted",
        ),
    ],
)
def test_malformed_requests_are_rejected_with_a_clear_message(raw: bytes, expected: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_chat_request(raw, ROLES)
    assert expected in str(caught.value)


def test_valid_request_parts_and_defaults() -> None:
    raw = json.dumps(
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "an answer"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "the "},
                        {"type": "text", "text": "question"},
                    ],
                },
            ],
            "max_completion_tokens": 7,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
            "logprobs": False,
        }
    ).encode()
    parsed = parse_chat_request(raw, ROLES)
    assert parsed.question == "the question"
    assert parsed.stream and parsed.include_usage
    assert parsed.stage_params == {
        "reasoner": StageSampling(temperature=0),
        "responder": StageSampling(temperature=0, max_tokens=7),
    }


async def test_malformed_request_gets_400_and_the_server_goes_on(
    baseline: PipelineServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{baseline.base_url}/chat/completions", data=b"{oops") as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error" and "not valid JSON" in error["message"]
    status, answer = await post(http, baseline, {"messages": [{"role": "user"}]})
    assert status == 400 and "no text" in answer["error"]["message"]
    status, answer = await post(http, baseline, body())
    assert status == 200
    assert baseline.stats.bad_requests == 2


async def test_unreachable_upstream_fails_at_start(dead_base_url: str) -> None:
    from hawkeye_bench.endpoints.client import EndpointUnavailable

    dead = Endpoint(base_url=dead_base_url, model="m", name="single")
    server = PipelineServer("baseline", {"single": dead})
    with pytest.raises(EndpointUnavailable, match="single endpoint"):
        await server.start()
    assert server.clients == {}


def test_bad_pipeline_and_stage2_input_are_named() -> None:
    with pytest.raises(
        ValueError, match="unknown pipeline 'nope'; valid: baseline, compress, hawkeye"
    ):
        PipelineServer("nope", {})
    with pytest.raises(ValueError, match="valid: full, think-only, answer-masked"):
        PipelineServer("hawkeye", {}, stage2_input="most")


def test_stage_params_override_the_shared_fields_per_stage() -> None:
    raw = json.dumps(
        {
            "messages": [{"role": "user", "content": "q"}],
            "max_tokens": 9,
            "stop": ["a", "b"],
            "top_p": 0.9,
            "stage_params": {
                "reasoner": {"stop": "r", "temperature": 1.5},
                "responder": {"stop": "x", "max_tokens": 3},
            },
        }
    ).encode()
    parsed = parse_chat_request(raw, ROLES)
    assert parsed.stage_params == {
        "reasoner": StageSampling(temperature=1.5, top_p=0.9, stop=("r",)),
        "responder": StageSampling(max_tokens=3, top_p=0.9, stop=("x",)),
    }
    assert parse_chat_request(b'{"messages": [{"role": "user", "content": "q"}]}', ROLES) == (
        parse_chat_request(
            b'{"messages": [{"role": "user", "content": "q"}], "stage_params": {}}', ROLES
        )
    )
