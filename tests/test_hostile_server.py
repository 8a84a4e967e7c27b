"""A hostile model server never crashes the client: every reply shape below (stream chunks of
the wrong shape, unusable or foreign-shaped logprobs, HTML pages, empty and cut streams, JSON
answers of the wrong shape, usage of the wrong type, 404s) ends as a typed ``error_type`` on the
StageResult, or is read correctly, and never as an exception. A replica that answers so is taken
out; eval and serve report such calls as errors, without a traceback."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cli_helpers import eval_args, read_json, read_jsonl, run_cli
from server_helpers import post, serve_routes

from hawkeye_bench.core.trace import StageResult
from hawkeye_bench.endpoints.client import (
    Endpoint,
    EndpointClient,
    EndpointUnavailable,
    TokenizeFailed,
)
from hawkeye_bench.endpoints.logprobs import MalformedLogprobs, parse_logprobs_block
from hawkeye_bench.endpoints.replicas import ReplicaSet
from hawkeye_bench.endpoints.retry import retry_after
from hawkeye_bench.endpoints.token_count import ServerTokenizer
from hawkeye_bench.pipelines.route import RoutePipeline, RouteSetupError
from hawkeye_bench.presets import load_preset
from hawkeye_bench.rewards import HawkeyeReward
from hawkeye_bench.routing import get_router
from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.testing.scripted_server import Fault, ScriptedConfig, ScriptedServer

MODEL = "scripted-model"
USER = [{"role": "user", "content": "what is two plus two"}]


def _chat_chunk(delta: Any) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})


def _text_chunk(logprobs: Any, text: str = " w") -> str:
    choice = {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": None}
    return json.dumps({"choices": [choice]})


def _block(tokens: Any, logprobs: Any, tops: Any = None) -> dict[str, Any]:
    return {"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": tops}


#: Chat stream chunks that are valid JSON (or not) of a shape no completion chunk has.
HOSTILE_CHAT_CHUNKS = {
    "choices a string": '{"choices": "nope"}',
    "choices an object": '{"choices": {"0": {}}}',
    "choice null": '{"choices": [null]}',
    "choice a number": '{"choices": [7]}',
    "delta a string": _chat_chunk("str"),
    "delta a list": _chat_chunk(["a"]),
    "content a number": _chat_chunk({"content": 5}),
    "content an object": _chat_chunk({"content": {"text": "a"}}),
    "reasoning_content a list": _chat_chunk({"reasoning_content": ["a"]}),
    "reasoning a number": _chat_chunk({"reasoning": 1.5}),
    "finish_reason a number": json.dumps(
        {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": 3}]}
    ),
    "chunk a list": "[1, 2]",
    "chunk a string": '"hello"',
    "unparseable": '{"choices": [{"delta": {"content": "x"',
    "nested past the recursion limit": "[" * 100_000 + "]" * 100_000,
}

#: Completion stream chunks whose logprobs cannot be read as confidence.
UNUSABLE_LOGPROBS = {
    "logprob null": _block([" w"], [None]),
    "logprob NaN": _block([" w"], [math.nan]),
    "logprob a string": _block([" w"], ["-0.1"]),
    "logprob positive": _block([" w"], [0.7]),
    "logprob true": _block([" w"], [True]),
    "token_logprobs missing": {"tokens": [" w"]},
    "token_logprobs shorter": _block([" w", " x"], [-0.1]),
    "top_logprobs longer": _block([" w"], [-0.1], [{" w": -0.1}, {" x": -0.2}]),
    "top_logprobs a string": _block([" w"], [-0.1], "nope"),
    "alternative a string": _block([" w"], [-0.1], [{" w": "x"}]),
    "alternative positive": _block([" w"], [-0.1], [{" w": 2.0}]),
    "alternative a triple": _block([" w"], [-0.1], [[[" w", -0.1, 0]]]),
    "token a number": _block([5], [-0.1]),
    "logprobs a list": [[" w", -0.1]],
    "logprobs a string": "nope",
    "logprobs without tokens": {"text_offset": [0]},
    "chat content entry a string": {"content": ["w"]},
}

#: Whole replies to a streamed request: (content type, body, error type, words in the error).
HOSTILE_BODIES = {
    "HTML page": ("text/html", "<html><title>Sign in</title></html>", "malformed_response", "HTML"),
    "empty event stream": ("text/event-stream", "", "stream_cut", "no SSE data line"),
    "plain text": ("text/plain", "upstream connect error", "stream_cut", "no SSE data line"),
    "empty JSON body": ("application/json", "", "malformed_response", "unparseable"),
    "JSON list": ("application/json", "[]", "malformed_response", "not an object"),
    "JSON without choices": ("application/json", '{"ok": true}', "malformed_response", "choice"),
    "JSON choices a string": (
        "application/json",
        '{"choices": "nope"}',
        "malformed_response",
        "'choices'",
    ),
    "JSON message a string": (
        "application/json",
        '{"choices": [{"message": "hi", "finish_reason": "stop"}]}',
        "malformed_response",
        "'message'",
    ),
    "SSE line over the read buffer": (
        "text/event-stream",
        "data: " + "x" * 3 * 2**20,  # over the reader's limit (twice read_bufsize)
        "malformed_sse",
        "unreadable SSE line",
    ),
    "JSON nested past the recursion limit": (
        "application/json",
        '{"choices": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "malformed_response",
        "unparseable JSON answer",
    ),
    "JSON error with 200": (
        "application/json",
        '{"error": {"message": "overloaded"}}',
        "malformed_response",
        "overloaded",
    ),
}


def _client(url: str, **options: Any) -> EndpointClient:
    endpoint = Endpoint(base_url=url, model=MODEL, **{"max_retries": 1, **options})
    return EndpointClient(endpoint, backoff_base_s=0.01, backoff_max_s=0.02)


async def _chat(config: ScriptedConfig, **options: Any) -> StageResult:
    with ScriptedServer(config) as url:
        async with _client(url, **options) as client:
            return await client.chat(USER, role="single", max_tokens=8)


async def _complete(config: ScriptedConfig) -> StageResult:
    with ScriptedServer(config) as url:
        async with _client(url) as client:
            return await client.complete(
                "say words", role="small", max_tokens=4, extra={"logprobs": 3}
            )


# -- the client ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", HOSTILE_CHAT_CHUNKS.values(), ids=list(HOSTILE_CHAT_CHUNKS))
async def test_a_hostile_chat_chunk_is_a_typed_error_retried_then_recorded(payload: str) -> None:
    fault = Fault(kind="chunk", payload=payload, after_chunks=1)
    with ScriptedServer(ScriptedConfig(tokens=4, faults=[fault])) as url:
        async with _client(url) as client:
            result = await client.chat(USER, role="single", max_tokens=8)
    assert result.error_type == "malformed_sse", result.error
    assert result.attempts == 2  # retried: nothing had been passed on
    assert result.error and "\n" not in result.error


async def test_a_hostile_chunk_once_is_healed_by_the_retry() -> None:
    fault = Fault(kind="chunk", payload='{"choices": [null]}', after_chunks=1, first_n=1)
    result = await _chat(ScriptedConfig(tokens=4, faults=[fault]))
    assert result.ok, result.error
    assert result.content == "tok0 tok1 tok2 tok3" and result.attempts == 2


async def test_a_hostile_chunk_after_text_was_passed_on_is_not_retried() -> None:
    fault = Fault(kind="chunk", payload=_chat_chunk({"content": 5}), after_chunks=2)
    seen: list[str] = []
    with ScriptedServer(ScriptedConfig(tokens=4, faults=[fault])) as url:
        async with _client(url) as client:
            result = await client.chat(
                USER, role="single", max_tokens=8, on_delta=lambda _, text: seen.append(text)
            )
    assert result.error_type == "malformed_sse" and result.attempts == 1
    assert "".join(seen) == result.content == "tok0 tok1"


@pytest.mark.parametrize("logprobs", UNUSABLE_LOGPROBS.values(), ids=list(UNUSABLE_LOGPROBS))
async def test_unusable_logprobs_are_a_typed_error_never_confidence(logprobs: Any) -> None:
    fault = Fault(kind="chunk", payload=_text_chunk(logprobs), after_chunks=0)
    result = await _complete(ScriptedConfig(tokens=4, faults=[fault]))
    assert result.error_type == "malformed_logprobs", result.error
    assert result.error and result.error.startswith("unusable logprobs:")


async def test_unusable_logprobs_in_a_whole_answer_are_a_typed_error() -> None:
    answer = {
        "choices": [{"text": " w", "logprobs": _block([" w"], [1.5]), "finish_reason": "stop"}]
    }
    fault = Fault(kind="body", status=200, payload=json.dumps(answer))
    result = await _complete(ScriptedConfig(faults=[fault]))
    assert result.error_type == "malformed_logprobs" and "positive" in (result.error or "")


@pytest.mark.parametrize("shape", ["map", "pairs", "objects", "chat block"])
async def test_both_top_logprobs_shapes_are_read(shape: str) -> None:
    tops: Any = {
        "map": [{" w": -0.1, " x": -2.5}],
        "pairs": [[[" w", -0.1], [" x", -2.5]]],
        "objects": [[{"token": " w", "logprob": -0.1}, {"token": " x", "logprob": -2.5}]],
    }.get(shape)
    block: Any = _block([" w"], [-0.1], tops)
    if shape == "chat block":
        alternatives = [{"token": " w", "logprob": -0.1}, {"token": " x", "logprob": -2.5}]
        block = {"content": [{"token": " w", "logprob": -0.1, "top_logprobs": alternatives}]}
    fault = Fault(kind="chunk", payload=_text_chunk(block), after_chunks=0)
    result = await _complete(ScriptedConfig(tokens=2, faults=[fault]))
    assert result.ok, result.error
    assert result.token_logprobs is not None
    first = result.token_logprobs[0]
    assert first == {"token": " w", "logprob": -0.1, "top_logprobs": {" w": -0.1, " x": -2.5}}
    assert len(result.token_logprobs) == 3  # the hostile-shaped chunk, then the server's two


def test_logprob_edge_values() -> None:
    # a rounding error above 0 is log p = 0; an alternative of -inf (p = 0) is dropped
    (token,) = parse_logprobs_block(_block(["a"], [1e-7], [{"a": 1e-7, "b": -math.inf}]))
    assert token == {"token": "a", "logprob": 0.0, "top_logprobs": {"a": 0.0}}
    assert parse_logprobs_block(None) == []
    for bad in ([-math.inf], [math.inf]):
        with pytest.raises(MalformedLogprobs):
            parse_logprobs_block(_block(["a"], bad))


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
async def test_a_hostile_whole_reply_is_a_named_typed_error(name: str) -> None:
    content_type, body, error_type, words = HOSTILE_BODIES[name]
    fault = Fault(kind="body", status=200, payload=body, content_type=content_type)
    result = await _chat(ScriptedConfig(faults=[fault]))
    assert result.error_type == error_type, result.error
    assert words in (result.error or ""), result.error
    assert "\n" not in (result.error or "") and len(result.error or "") < 600
    assert result.attempts == 2  # the server's fault: retried like a cut stream


async def test_a_cut_stream_and_a_404_are_typed_errors() -> None:
    cut = await _chat(ScriptedConfig(faults=[Fault(kind="cut", after_chunks=1)]))
    assert cut.error_type == "stream_cut"
    missing = Fault(kind="status", status=404)
    gone = await _chat(ScriptedConfig(faults=[missing]))
    assert gone.error_type == "http_404" and gone.attempts == 1


async def test_a_retry_after_of_nan_is_no_delay_given() -> None:
    # asyncio.sleep(nan) does not return at once: a NaN delay must never reach it
    for headers in ({"Retry-After": "nan"}, {"retry-after-ms": "NaN"}):
        assert retry_after(headers) is None
    assert retry_after({"Retry-After": "-3"}) == 0.0
    fault = Fault(kind="status", status=503, retry_after_s=math.nan)
    result = await _chat(ScriptedConfig(faults=[fault]))
    assert result.error_type == "http_503" and result.attempts == 2


async def test_usage_of_the_wrong_type_is_no_count_never_a_crash() -> None:
    # streamed: the last usage chunk has counts, but its details are of the wrong type
    usage = {"completion_tokens": 2, "prompt_tokens": "9", "completion_tokens_details": "x"}
    usage["prompt_tokens_details"] = [1]
    chunk = json.dumps({"choices": [], "usage": usage})
    fault = Fault(kind="chunk", payload=chunk, after_chunks=2)
    streamed = await _chat(ScriptedConfig(tokens=2, usage="never", faults=[fault]))
    assert streamed.ok, streamed.error
    assert (streamed.token_source, streamed.completion_tokens) == ("usage", 2)
    assert streamed.prompt_tokens is None and streamed.cached_prompt_tokens is None
    # whole: a usage whose counts are not counts is ignored; the tokens are counted otherwise
    answer = {
        "choices": [{"message": {"content": "hi there"}, "finish_reason": "stop"}],
        "usage": {"completion_tokens": "7", "prompt_tokens": -1},
    }
    fault = Fault(kind="body", status=200, payload=json.dumps(answer))
    whole = await _chat(ScriptedConfig(faults=[fault]))
    assert whole.ok and whole.content == "hi there"
    assert whole.token_source == "tokenize" and whole.completion_tokens == 2


# -- replicas -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="status", status=404),
        Fault(kind="body", status=200, payload="<html>hi</html>", content_type="text/html"),
        Fault(kind="body", status=200, payload='{"ok": true}'),
        Fault(kind="chunk", payload='{"choices": "nope"}', after_chunks=0),
    ],
    ids=["404", "HTML", "JSON not a completion", "hostile chunk"],
)
async def test_a_replica_answering_nonsense_is_taken_out_and_no_call_is_lost(
    fault: Fault,
) -> None:
    hostile = ScriptedServer(ScriptedConfig(tokens=2, faults=[fault]))
    healthy = ScriptedServer(ScriptedConfig(tokens=2))
    urls = [hostile.start(), healthy.start()]
    endpoint = Endpoint(base_url=urls[0], replica_urls=(urls[1],), model=MODEL, max_retries=1)
    try:
        async with ReplicaSet(endpoint, concurrency=4, cooldown_s=30) as replicas:
            await replicas.check()
            results = await asyncio.gather(
                *(replicas.chat(USER, role="single", max_tokens=4) for _ in range(40))
            )
            stats = replicas.stats()
    finally:
        hostile.stop()
        healthy.stop()
    assert [r.error for r in results if not r.ok] == []
    assert stats[0]["taken_out"] >= 1 and stats[0]["errors"] == stats[0]["calls"] >= 1
    assert stats[1]["errors"] == 0 and stats[1]["calls"] >= 40


def test_eval_loses_no_item_to_a_replica_answering_404(tmp_path: Path) -> None:
    """The field report: 38 of 40 items failed while a healthy replica was up."""
    missing = ScriptedServer(ScriptedConfig(tokens=2, faults=[Fault(kind="status", status=404)]))
    healthy = ScriptedServer(ScriptedConfig(tokens=2))
    urls = [missing.start(), healthy.start()]
    out = tmp_path / "run"
    try:
        args = eval_args(out, "--concurrency", "4", url=",".join(urls), model=MODEL, limit=40)
        result = run_cli(*args)
    finally:
        missing.stop()
        healthy.stop()
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == 40 and not [r for r in records if r["error"]]
    (replica_set,) = read_json(out / "manifest.json")["replicas"]
    gone, kept = replica_set["replicas"]
    assert gone["taken_out"] >= 1 and set(gone["error_types"]) == {"http_404"}
    assert kept["errors"] == 0


async def test_pre_flight_needs_every_replica_to_list_the_model() -> None:
    right = ScriptedServer(ScriptedConfig())
    other = ScriptedServer(ScriptedConfig(model="another-model"))
    urls = [right.start(), other.start()]
    try:
        endpoint = Endpoint(base_url=urls[0], replica_urls=(urls[1],), model=MODEL)
        async with ReplicaSet(endpoint, concurrency=2) as replicas:
            with pytest.raises(EndpointUnavailable) as caught:
                await replicas.check()
        # one endpoint alone is not held to it (servers that ignore the model name exist)
        async with _client(urls[1]) as client:
            await client.check()
    finally:
        right.stop()
        other.stop()
    message = str(caught.value)
    assert "1 of 2 replicas" in message and urls[1] in message
    assert f"does not serve model {MODEL!r} (it lists 'another-model')" in message


# -- pipelines, eval and serve ------------------------------------------------------------------


async def test_route_pipeline_ends_an_item_with_unusable_logprobs_never_routing_nothing() -> None:
    bad = _text_chunk(_block([" w"], [None]))
    small = ScriptedServer(ScriptedConfig(model="small", faults=[Fault("chunk", payload=bad)]))
    large = ScriptedServer(ScriptedConfig(model="large"))
    small.start()
    large.start()
    try:
        async with (
            EndpointClient(Endpoint(small.base_url, "small", max_retries=0)) as small_client,
            EndpointClient(Endpoint(large.base_url, "large", max_retries=0)) as large_client,
        ):
            clients = {"small": small_client, "large": large_client}
            trace = await RoutePipeline(load_preset("route"), clients).run("What?")
    finally:
        small.stop()
        large.stop()
    assert not trace.ok and trace.stages[-1].error_type == "malformed_logprobs"
    assert trace.final_text == "" and trace.extra["route"]["route_events"] == 0


@pytest.mark.parametrize("answer", ['{"tokens": "abc"}', '{"tokens": [1, "2"]}', "[1, 2]", "{"])
async def test_a_tokenize_endpoint_answering_no_token_ids_is_a_typed_failure(answer: str) -> None:
    async def tokenize(request: web.Request) -> web.Response:
        return web.Response(text=answer, content_type="application/json")

    async with serve_routes({"/tokenize": tokenize}) as root, _client(f"{root}/v1") as client:
        client.tokens.probed = True  # the endpoint as found by an earlier probe
        client.tokens.tokenizer = ServerTokenizer("vllm", f"{root}/tokenize", 0)
        with pytest.raises(TokenizeFailed):
            await client.token_ids("some text")


class _FlakyTokenizer:
    """A route client whose tokenize endpoint answers ``good`` times, then fails."""

    def __init__(self, good: int) -> None:
        self.good = good

    async def token_ids(self, text: str) -> list[int]:
        self.good -= 1
        if self.good < 0:
            raise TokenizeFailed("http://x/tokenize: ValueError: tokenize answered HTTP 500")
        return [1, 2, 3]

    async def complete(self, prompt: Any, **kwargs: Any) -> StageResult:
        raise AssertionError("no completion without a tokenized prompt")


async def test_route_token_prompts_with_a_failing_tokenizer_end_the_item_or_refuse_the_run() -> (
    None
):
    def pipeline(client: _FlakyTokenizer) -> RoutePipeline:
        clients: dict[str, Any] = {"small": client, "large": client}
        return RoutePipeline(load_preset("route"), clients, options={"prompt_mode": "tokens"})

    # the probe on both roles answers, the next call fails: the item ends with a typed error
    trace = await pipeline(_FlakyTokenizer(good=2)).run("What?")
    assert not trace.ok and trace.stages[-1].error_type == "tokenize_failed"
    assert "HTTP 500" in (trace.stages[-1].error or "")
    # failing from the start: the run is refused with a user error
    with pytest.raises(RouteSetupError, match="tokenize endpoint, and it fails"):
        await pipeline(_FlakyTokenizer(good=0)).run("What?")


def test_listed_alternatives_reach_the_router() -> None:
    (token,) = parse_logprobs_block(_block([" w"], [-1.2], [[[" w", -1.2], [" x", -1.3]]]))
    decision = get_router("top1").build(0.5, __import__("random").Random(0))(token)
    assert decision.flagged and decision.score == pytest.approx(math.exp(-1.2))


def test_eval_records_hostile_chunks_as_errors_without_a_traceback(tmp_path: Path) -> None:
    faults = [Fault(kind="chunk", payload='{"choices": [null]}', after_chunks=0)]
    with ScriptedServer(ScriptedConfig(tokens=3, faults=faults)) as url:
        result = run_cli(*eval_args(tmp_path / "run", "--max-retries", "0", url=url, model=MODEL))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1), result.stderr
    records = read_jsonl(tmp_path / "run" / "records.jsonl")
    assert len(records) == 3
    assert {s["error_type"] for r in records for s in r["trace"]["stages"]} == {"malformed_sse"}


def test_hawkeye_reward_scores_a_hostile_reply_as_none() -> None:
    hostile = Fault(kind="chunk", payload='{"choices": [{"delta": "str"}]}', match="Problem: odd")
    config = ScriptedConfig(tokens=2, faults=[hostile])
    with ScriptedServer(config) as url:
        reward = HawkeyeReward.upstream(
            {"base_url": url, "model": MODEL, "max_retries": 0}, concurrency=2
        )
        try:
            out = reward(
                prompts=["q"] * 2,
                completions=["a b c", "a b c"],
                question=["even", "odd"],
                answer=["so #### 18"] * 2,
            )
        finally:
            reward.close()
    assert out[0] is not None and out[1] is None
    assert reward.responder_failures == 1


async def test_serve_answers_a_hostile_upstream_with_an_error_not_a_500(
    http: aiohttp.ClientSession,
) -> None:
    faults = [Fault(kind="chunk", payload=_chat_chunk({"reasoning_content": ["a"]}))]
    with ScriptedServer(ScriptedConfig(tokens=3, faults=faults)) as url:
        upstream = Endpoint(base_url=url, model=MODEL, max_retries=0)
        async with PipelineServer("baseline", {"single": upstream}) as server:
            request = {"model": "baseline", "messages": [{"role": "user", "content": "q"}]}
            status, answer = await post(http, server, request)
    assert status == 502, answer
    assert answer["error"]["code"] == "malformed_sse"
