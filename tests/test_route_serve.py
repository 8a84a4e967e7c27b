"""`serve` runs the route pipeline: the routed text streams as content as it is decided (small
and large pieces alike), and the whole answer and its usage match the stream."""

from __future__ import annotations

import aiohttp
from server_helpers import post
from test_route import LARGE_REPLY, SMALL_REPLY, _config
from test_server import body, endpoint, read_stream

from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.testing.scripted_server import ScriptedServer


async def test_the_routed_text_streams_as_content_and_matches_the_whole_answer(
    http: aiohttp.ClientSession,
) -> None:
    small = ScriptedServer(_config("small", SMALL_REPLY, [2, 7]))
    large = ScriptedServer(_config("large", LARGE_REPLY, []))
    with small, large:
        endpoints = {"small": endpoint(small.base_url), "large": endpoint(large.base_url)}
        server = PipelineServer("route", endpoints, preset="route")
        await server.start()
        try:
            payload = body(stream=True, stream_options={"include_usage": True})
            async with http.post(f"{server.base_url}/chat/completions", json=payload) as response:
                assert response.status == 200
                got = await read_stream(response)
            status, whole = await post(http, server, body())
        finally:
            await server.stop()
    # default options (top1 < 0.5, chunks of 8): the large model writes words 2 and 7
    assert got.deltas == [
        ("content", "Janet has"),
        ("content", " 9"),
        ("content", " eggs so she makes"),
        ("content", " \\boxed{18}"),
    ]
    usage = got.events[-2]["usage"]
    assert usage["completion_tokens"] == 8
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert [s["role"] for s in usage_stages(got.events[-2])] == ["small", "large"] * 2
    assert status == 200
    message = whole["choices"][0]["message"]
    assert message["content"] == LARGE_REPLY and "reasoning_content" not in message
    assert whole["usage"]["completion_tokens"] == 8


def usage_stages(chunk: dict[str, object]) -> list[dict[str, object]]:
    report = chunk["x_hawkeye"]
    assert isinstance(report, dict)
    stages = report["stages"]
    assert isinstance(stages, list)
    return stages
