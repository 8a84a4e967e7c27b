"""EndpointClient against the scripted server (exact behaviour) and the real local model."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp import web
from server_helpers import serve_routes

from hawkeye_bench.core.secrets import MissingApiKey
from hawkeye_bench.endpoints.client import Endpoint, EndpointClient, EndpointUnavailable
from hawkeye_bench.testing.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

USER = [{"role": "user", "content": "what is two plus two"}]
EPSILON_MS = 0.01  # a timer may fire a clock tick early


def client_for(url: str, **endpoint_options: object) -> EndpointClient:
    endpoint = Endpoint(base_url=url, model="scripted-model", name="test", **endpoint_options)  # type: ignore[arg-type]
    return EndpointClient(endpoint, backoff_base_s=0.01, backoff_max_s=0.05)


async def test_timing_fields_match_configured_ttft_and_gap() -> None:
    """Bounds from the script below and the caller's own clock above: how close the figures
    come to the script is benchmarks/bench_load_fidelity.py's measure, not a test's."""
    ttft, gap, n = 100.0, 20.0, 10
    config = ScriptedConfig(ttft_ms=ttft, gap_ms=gap, tokens=n)
    with ScriptedServer(config) as url:
        async with client_for(url) as client:
            before, started = time.time(), time.perf_counter()
            result = await client.chat(USER, role="single", max_tokens=64, temperature=0.0)
            wall_s, after = time.perf_counter() - started, time.time()
    assert result.ok, result.error
    assert result.content == " ".join(f"tok{i}" for i in range(n))
    assert result.finish_reason == "stop"
    assert before <= result.started_at <= after
    assert result.chunk_count == n
    # TTFT is the first token, not the immediate role chunk; the last token comes n - 1 gaps on
    assert result.ttft_s * 1000 >= ttft - EPSILON_MS
    assert result.latency_s * 1000 >= ttft + (n - 1) * gap - EPSILON_MS
    assert result.ttft_s < result.latency_s <= wall_s


async def test_token_source_usage_with_reasoning_tokens_and_request_record() -> None:
    config = ScriptedConfig(tokens=12, reasoning_tokens=5)
    with ScriptedServer(config) as url:
        async with client_for(url, extra_body={"top_k": 20}) as client:
            result = await client.chat(USER, role="reasoner", max_tokens=64, seed=7, stop=["\n\n"])
    assert result.token_source == "usage"
    assert (result.completion_tokens, result.reasoning_tokens, result.prompt_tokens) == (12, 5, 5)
    assert result.reasoning == "r0 r1 r2 r3 r4"
    assert result.content == "tok5 tok6 tok7 tok8 tok9 tok10 tok11"
    assert result.request == {
        "model": "scripted-model",
        "max_tokens": 64,
        "seed": 7,
        "stop": ["\n\n"],
        "top_k": 20,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_token_source_tokenize_subtracts_special_tokens() -> None:
    # No streaming usage (llama-cpp-python), a tokenize endpoint that prepends a BOS token.
    config = ScriptedConfig(tokens=9, reasoning_tokens=3, usage="never", tokenize_special_tokens=1)
    for vllm_style in (True, False):
        config.tokenize, config.extras_tokenize = vllm_style, not vllm_style
        server = ScriptedServer(config)
        with server as url:
            async with client_for(url) as client:
                first = await client.chat(USER, role="single", max_tokens=64)
                second = await client.complete("a b c", role="single", max_tokens=4)
            paths = server.stats()["by_path"]
        assert first.token_source == "tokenize"
        assert (first.completion_tokens, first.reasoning_tokens) == (9, 3)
        assert first.prompt_tokens is None  # nobody told us
        assert second.token_source == "tokenize"
        assert second.completion_tokens == 4
        assert second.finish_reason == "length"
        tokenize_path = "/tokenize" if vllm_style else "/extras/tokenize"
        # one probe (empty text), then reasoning + content, then the completion's text
        assert paths[tokenize_path] == 4


async def test_tokenize_that_times_out_is_retried_not_dropped_to_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # llama-cpp-python queues its tokenize endpoint behind every generation: a late answer
    config = ScriptedConfig(tokens=5, usage="never", tokenize=False)
    with ScriptedServer(config) as url:
        async with client_for(url) as client:
            real_count = client.tokens.count
            timeouts = [2]

            async def slow_then_answering(tokenizer, text, **options):  # type: ignore[no-untyped-def]
                if text and timeouts[0]:
                    timeouts[0] -= 1
                    raise TimeoutError("tokenize queued behind generations")
                return await real_count(tokenizer, text, **options)

            monkeypatch.setattr(client.tokens, "count", slow_then_answering)
            result = await client.chat(USER, role="single", max_tokens=64)
    assert timeouts == [0]
    assert (result.token_source, result.completion_tokens) == ("tokenize", 5)


async def test_token_source_chunks_when_nothing_else() -> None:
    config = ScriptedConfig(
        tokens=10, tokens_per_chunk=3, usage="never", tokenize=False, extras_tokenize=False
    )
    with ScriptedServer(config) as url:
        async with client_for(url) as client:
            result = await client.chat(USER, role="single", max_tokens=64)
    assert result.token_source == "chunks"
    assert result.completion_tokens == 4  # chunks, not tokens: flagged approximate
    assert result.chunk_count == 4
    assert result.prompt_tokens is None


async def test_stream_options_rejected_falls_back_and_is_remembered() -> None:
    config = ScriptedConfig(tokens=4, faults=[Fault(kind="reject_stream_options")])
    server = ScriptedServer(config)
    with server as url:
        async with client_for(url) as client:
            first = await client.chat(USER, role="single", max_tokens=64)
            second = await client.chat(USER, role="single", max_tokens=64)
        sent = [r["body"] for r in server.requests]
    assert first.ok and second.ok
    assert first.content == second.content == "tok0 tok1 tok2 tok3"
    assert ["stream_options" in body for body in sent] == [True, False, False]
    assert first.attempts == 2 and second.attempts == 1
    assert "stream_options" not in second.request
    assert first.token_source == "tokenize"  # no usage without stream_options here


async def test_retry_on_500_then_success() -> None:
    server = ScriptedServer(ScriptedConfig(tokens=3, faults=[Fault(kind="status", first_n=1)]))
    with server as url:
        async with client_for(url) as client:
            result = await client.chat(USER, role="single", max_tokens=64)
        assert server.stats()["requests"] == 2
    assert result.ok and result.content == "tok0 tok1 tok2"
    assert result.attempts == 2


async def test_persistent_500_becomes_error_record() -> None:
    server = ScriptedServer(ScriptedConfig(faults=[Fault(kind="status", status=503)]))
    with server as url:
        async with client_for(url, max_retries=2) as client:
            result = await client.chat(USER, role="responder", max_tokens=64)
        assert server.stats()["requests"] == 3
    assert not result.ok
    assert result.error_type == "http_503"
    assert "HTTP 503" in (result.error or "")
    assert result.attempts == 3
    assert result.completion_tokens is None and result.token_source is None


async def test_client_error_is_not_retried() -> None:
    server = ScriptedServer(ScriptedConfig(faults=[Fault(kind="status", status=404)]))
    with server as url:
        async with client_for(url) as client:
            result = await client.complete("x", role="single", max_tokens=8)
        assert server.stats()["requests"] == 1
    assert result.error_type == "http_404" and result.attempts == 1


async def test_429_honours_retry_after() -> None:
    fault = Fault(kind="status", status=429, first_n=1, retry_after_s=0.4)
    with ScriptedServer(ScriptedConfig(tokens=2, faults=[fault])) as url:
        async with client_for(url) as client:
            start = time.perf_counter()
            result = await client.chat(USER, role="single", max_tokens=64)
            elapsed = time.perf_counter() - start
    assert result.ok and result.attempts == 2
    assert elapsed >= 0.4  # waited Retry-After, not the 10 ms backoff
    assert elapsed < 10  # seconds, not read as a larger unit


async def test_stream_cut_is_retried_then_recorded() -> None:
    once = Fault(kind="cut", after_chunks=2, first_n=1)
    server = ScriptedServer(ScriptedConfig(tokens=5, faults=[once]))
    with server as url:
        async with client_for(url) as client:
            result = await client.chat(USER, role="single", max_tokens=64)
    assert result.ok and result.attempts == 2
    assert result.content == "tok0 tok1 tok2 tok3 tok4"  # the restart, not a splice

    always = Fault(kind="cut", after_chunks=2)
    server = ScriptedServer(ScriptedConfig(tokens=5, usage="never", faults=[always]))
    with server as url:
        async with client_for(url, max_retries=1) as client:
            result = await client.chat(USER, role="single", max_tokens=64)
        assert server.stats()["requests"] == 2
    assert result.error_type == "stream_cut"
    assert result.content == "tok0 tok1"  # what arrived before the cut, kept for debugging
    assert result.completion_tokens is None


async def test_hang_times_out_in_bounded_time() -> None:
    with ScriptedServer(ScriptedConfig(faults=[Fault(kind="hang")])) as url:
        async with client_for(url, timeout_s=0.3, max_retries=1) as client:
            start = time.perf_counter()
            result = await client.chat(USER, role="single", max_tokens=64)
            elapsed = time.perf_counter() - start
    assert result.error_type == "timeout"
    assert result.attempts == 2
    assert elapsed >= 2 * 0.3  # each attempt waited its timeout
    assert elapsed < 10  # and no longer: the server never answers


async def test_malformed_sse_is_retried_then_recorded() -> None:
    fault = Fault(kind="malformed", after_chunks=1)
    server = ScriptedServer(ScriptedConfig(tokens=4, faults=[fault]))
    with server as url:
        async with client_for(url) as client:
            result = await client.chat(USER, role="single", max_tokens=64)
        # nothing was handed on, so every attempt may be retried: 1 + max_retries requests
        assert server.stats()["requests"] == 4
    assert result.error_type == "malformed_sse"
    assert "unparseable SSE" in (result.error or "")
    assert result.content == "tok0"


async def test_malformed_sse_once_is_healed_by_a_retry() -> None:
    fault = Fault(kind="malformed", after_chunks=1, first_n=1)
    server = ScriptedServer(ScriptedConfig(tokens=4, faults=[fault]))
    with server as url:
        async with client_for(url) as client:
            result = await client.chat(USER, role="single", max_tokens=64)
    assert result.ok and result.attempts == 2
    assert result.content == "tok0 tok1 tok2 tok3"


async def test_inline_think_and_reasoning_alias() -> None:
    rule = ReplyRule(match="two", reasoning="two and two make four", content="4")
    with ScriptedServer(ScriptedConfig(rules=[rule], reasoning_mode="think")) as url:
        async with client_for(url) as client:
            inline = await client.chat(USER, role="reasoner", max_tokens=64)
    assert inline.reasoning == ""
    assert inline.content == "<think> two and two make four </think> 4"
    assert (inline.thinking, inline.answer) == ("two and two make four", "4")
    assert inline.completion_tokens == 8 and inline.reasoning_tokens is None

    config = ScriptedConfig(rules=[rule], reasoning_field="reasoning", ttft_ms=30, gap_ms=100)
    with ScriptedServer(config) as url:
        async with client_for(url) as client:
            split = await client.chat(USER, role="reasoner", max_tokens=64)
    assert (split.reasoning, split.content) == ("two and two make four", "4")
    assert (split.thinking, split.answer) == ("two and two make four", "4")
    assert split.reasoning_tokens == 5
    # the first reasoning token counts as first token: 30 ms, where the answer's starts at 530
    assert 30 - EPSILON_MS <= split.ttft_s * 1000 < 280


async def test_api_key_header_sent_but_never_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-7f3a9c"
    monkeypatch.setenv("HAWKEYE_TEST_KEY", secret)
    server = ScriptedServer(ScriptedConfig(tokens=2))
    with server as url:
        async with client_for(url, api_key_env="HAWKEYE_TEST_KEY") as client:
            result = await client.chat(USER, role="single", max_tokens=8)
        assert server.requests[0]["authorization"] == f"Bearer {secret}"
        async with client_for(url) as client:
            await client.chat(USER, role="single", max_tokens=8)
        assert server.requests[1]["authorization"] is None
    assert result.ok
    assert secret not in json.dumps(result.to_dict())
    endpoint = client_for(url, api_key_env="HAWKEYE_TEST_KEY").endpoint
    assert secret not in json.dumps(endpoint.to_dict())
    assert endpoint.to_dict()["api_key_env"] == "HAWKEYE_TEST_KEY"


async def test_missing_api_key_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAWKEYE_ABSENT_KEY", raising=False)
    endpoint = Endpoint(
        "http://127.0.0.1:9/v1", "m", api_key_env="HAWKEYE_ABSENT_KEY", name="judge-a"
    )
    with pytest.raises(MissingApiKey, match=r"'judge-a'.*HAWKEYE_ABSENT_KEY"):
        async with EndpointClient(endpoint):
            pass


async def test_check_raises_endpoint_unavailable_naming_endpoint(dead_base_url: str) -> None:
    with ScriptedServer(ScriptedConfig()) as url:
        async with client_for(url) as client:
            await client.check(role="reasoner")  # answers: no exception
    url = dead_base_url  # connection refused
    async with client_for(url, connect_timeout_s=1.0) as client:
        start = time.perf_counter()
        with pytest.raises(EndpointUnavailable) as info:
            await client.check(role="reasoner")
        assert time.perf_counter() - start < 10  # refused at once: no hang, no retry rounds
        failed = await client.chat(USER, role="single", max_tokens=8)
    message = str(info.value)
    assert "reasoner endpoint 'test'" in message and f"{url}/models" in message
    assert failed.error_type == "connection" and failed.attempts == 4


@pytest.mark.local_model
async def test_real_local_server_counts_exactly_with_its_own_vocabulary(local_server) -> None:
    endpoint = local_server.endpoint
    assert endpoint.tokenizer_path  # the embedded model's GGUF
    async with EndpointClient(endpoint) as client:
        await client.check(role="single")
        result = await client.chat(
            [{"role": "user", "content": "Say hello in five words."}],
            role="single",
            max_tokens=16,
            temperature=0.0,
        )
    assert result.ok, result.error
    assert result.content.strip()
    assert result.token_source == "tokenizer"  # llama-cpp-python streams no usage
    assert 0 < result.completion_tokens <= 16
    assert result.finish_reason in ("stop", "length")
    assert 0 < result.ttft_s <= result.latency_s
    # the same count as the server's own tokenizer gives for the same text
    served = Endpoint(base_url=endpoint.base_url, model=endpoint.model)
    async with EndpointClient(served) as client:
        tokenizer = await client.tokens.probe()
        assert tokenizer is not None and tokenizer.kind == "llama_cpp"
        assert await client.tokens.count(tokenizer, result.content) == result.completion_tokens


async def test_error_event_in_stream_is_retried_then_recorded() -> None:
    fault = Fault(kind="error_event", after_chunks=2)
    server = ScriptedServer(ScriptedConfig(tokens=5, faults=[fault]))
    with server as url:
        async with client_for(url) as client:
            result = await client.chat(USER, role="single", max_tokens=64)
        assert server.stats()["requests"] == 4
    assert result.error_type == "stream_error"
    assert "injected mid-stream error" in (result.error or "")
    assert result.content == "tok0 tok1"


async def test_error_event_after_forwarding_is_not_retried() -> None:
    fault = Fault(kind="error_event", after_chunks=2)
    server = ScriptedServer(ScriptedConfig(tokens=5, faults=[fault]))
    seen: list[str] = []
    with server as url:
        async with client_for(url) as client:
            result = await client.chat(
                USER, role="single", max_tokens=64, on_delta=lambda _, text: seen.append(text)
            )
        assert server.stats()["requests"] == 1  # a retry would restart text already passed on
    assert result.error_type == "stream_error"
    assert "".join(seen) == "tok0 tok1"


async def test_key_echoed_in_an_error_body_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("ECHO_KEY", secret)
    fault = Fault(kind="status", status=401)
    server = ScriptedServer(ScriptedConfig(tokens=2, faults=[fault], echo_auth_in_errors=True))
    with server as url:
        endpoint = Endpoint(base_url=url, model="m", api_key_env="ECHO_KEY", max_retries=0)
        async with EndpointClient(endpoint) as client:
            result = await client.chat(USER, role="single", max_tokens=8)
    assert result.error_type == "http_401"
    assert secret not in (result.error or "")
    assert "[redacted]" in (result.error or "")


async def test_server_that_ignores_stream_true() -> None:
    # One JSON body although we asked to stream: text and usage still count; timing is the
    # arrival of the whole body, so TTFT equals latency.
    config = ScriptedConfig(tokens=6, reasoning_tokens=2, ttft_ms=20, ignore_stream=True)
    with ScriptedServer(config) as url:
        async with client_for(url) as client:
            result = await client.chat(USER, role="single", max_tokens=64)
    assert result.ok, result.error
    assert (result.reasoning, result.content) == ("r0 r1", "tok2 tok3 tok4 tok5")
    assert (result.token_source, result.completion_tokens, result.reasoning_tokens) == (
        "usage",
        6,
        2,
    )
    assert result.ttft_s == result.latency_s >= 0.02
    assert result.chunk_count == 0


async def test_empty_stream_without_finish_reason_is_an_error_not_an_empty_answer() -> None:
    """A stream that says [DONE] having delivered nothing (no token, no finish_reason) was
    interrupted; accepting it would record an empty answer as a success."""

    async def empty_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(
            b'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}\n\n'
        )
        await response.write(b"data: [DONE]\n\n")
        return response

    async with serve_routes({"/v1/chat/completions": empty_stream}) as root:
        endpoint = Endpoint(base_url=f"{root}/v1", model="m", max_retries=1)
        async with EndpointClient(endpoint, backoff_base_s=0.01) as client:
            result = await client.chat(
                [{"role": "user", "content": "hi"}], role="single", max_tokens=4
            )
    assert result.error_type == "stream_cut"
    assert result.attempts == 2
    assert result.completion_tokens is None
