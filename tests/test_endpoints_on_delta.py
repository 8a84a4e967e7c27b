"""EndpointClient's live ``on_delta`` callback: order, timing, no retry once text was forwarded."""

from __future__ import annotations

import asyncio
import time

import pytest

from hawkeye_bench.endpoints.client import Endpoint, EndpointClient
from hawkeye_bench.testing.scripted_server import Fault, ScriptedConfig, ScriptedServer

USER = [{"role": "user", "content": "what is two plus two"}]


def client_for(url: str, **endpoint_options: object) -> EndpointClient:
    endpoint = Endpoint(base_url=url, model="scripted-model", name="test", **endpoint_options)  # type: ignore[arg-type]
    return EndpointClient(endpoint, backoff_base_s=0.01, backoff_max_s=0.05)


async def test_deltas_arrive_in_order_while_the_stream_is_read() -> None:
    config = ScriptedConfig(tokens=6, reasoning_tokens=2, gap_ms=100.0)
    seen: list[tuple[str, str, float]] = []

    def on_delta(channel: str, text: str) -> None:
        seen.append((channel, text, time.perf_counter()))

    with ScriptedServer(config) as url:
        async with client_for(url) as client:
            result = await client.chat(USER, role="single", max_tokens=64, on_delta=on_delta)
            done = time.perf_counter()
    assert result.ok, result.error
    assert [(c, t) for c, t, _ in seen] == [
        ("reasoning", "r0"),
        ("reasoning", " r1"),
        ("content", "tok2"),
        ("content", " tok3"),
        ("content", " tok4"),
        ("content", " tok5"),
    ]
    assert "".join(t for c, t, _ in seen if c == "content") == result.content
    assert "".join(t for c, t, _ in seen if c == "reasoning") == result.reasoning
    # Live: the first delta came 5 gaps (500 ms) before the call returned, not at the end.
    assert done - seen[0][2] > 0.1


async def test_async_callback_is_awaited_and_completions_api_forwards_text() -> None:
    got: list[tuple[str, str]] = []

    async def on_delta(channel: str, text: str) -> None:
        await asyncio.sleep(0)
        got.append((channel, text))

    with ScriptedServer(ScriptedConfig(tokens=3)) as url:
        async with client_for(url) as client:
            result = await client.complete("2+2=", role="single", max_tokens=8, on_delta=on_delta)
    assert result.ok, result.error
    assert got == [("content", "tok0"), ("content", " tok1"), ("content", " tok2")]


async def test_non_streamed_answer_is_forwarded_once() -> None:
    got: list[tuple[str, str]] = []
    config = ScriptedConfig(tokens=4, reasoning_tokens=1, ignore_stream=True)
    with ScriptedServer(config) as url:
        async with client_for(url) as client:
            result = await client.chat(
                USER, role="single", max_tokens=8, on_delta=lambda c, t: got.append((c, t))
            )
    assert result.ok, result.error
    assert got == [("reasoning", "r0"), ("content", "tok1 tok2 tok3")]


async def test_cut_after_forwarding_is_not_retried() -> None:
    config = ScriptedConfig(tokens=8, faults=[Fault(kind="cut", after_chunks=3, first_n=1)])
    got: list[str] = []
    with ScriptedServer(config) as server_url:
        async with client_for(server_url) as client:
            result = await client.chat(
                USER, role="single", max_tokens=64, on_delta=lambda c, t: got.append(t)
            )
    assert result.error_type == "stream_cut"
    assert result.attempts == 1  # the fault was first_n=1: a retry would have succeeded
    assert "".join(got) == "tok0 tok1 tok2" == result.content


async def test_cut_without_callback_is_still_retried() -> None:
    config = ScriptedConfig(tokens=8, faults=[Fault(kind="cut", after_chunks=3, first_n=1)])
    with ScriptedServer(config) as url:
        async with client_for(url) as client:
            result = await client.chat(USER, role="single", max_tokens=64)
    assert result.ok, result.error
    assert result.attempts == 2


async def test_failure_before_any_delta_is_retried_with_callback() -> None:
    config = ScriptedConfig(tokens=3, faults=[Fault(kind="status", status=503, first_n=1)])
    got: list[str] = []
    with ScriptedServer(config) as url:
        async with client_for(url) as client:
            result = await client.chat(
                USER, role="single", max_tokens=8, on_delta=lambda c, t: got.append(t)
            )
    assert result.ok, result.error
    assert result.attempts == 2
    assert "".join(got) == "tok0 tok1 tok2"


async def test_callback_exception_propagates_and_is_not_retried() -> None:
    class ClientGone(ConnectionResetError):
        pass

    def on_delta(channel: str, text: str) -> None:
        raise ClientGone("downstream closed")

    server = ScriptedServer(ScriptedConfig(tokens=5))
    with server as url:
        async with client_for(url) as client:
            with pytest.raises(ClientGone, match="downstream closed"):
                await client.chat(USER, role="single", max_tokens=8, on_delta=on_delta)
        # One request: a ConnectionResetError from the callback is not an upstream cut.
        assert server.stats()["requests"] == 1
