"""The scripted server itself: wire format, timing, scripted text, faults, subprocess mode."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import aiohttp
import pytest

from hawkeye_bench.testing.scripted_server import (
    Fault,
    ReplyRule,
    ScriptedConfig,
    ScriptedServer,
    build_parser,
    config_from_args,
    start_subprocess,
)

USER = [{"role": "user", "content": "what is two plus two"}]


async def sse(url: str, body: dict[str, Any]) -> tuple[int, list[tuple[float, Any]]]:
    """POST a streaming request; return status and (seconds since send, parsed data) per line."""
    events: list[tuple[float, Any]] = []
    async with aiohttp.ClientSession() as session:
        sent = time.perf_counter()
        async with session.post(url, json={"stream": True, **body}) as response:
            if response.status != 200:
                return response.status, [(0.0, await response.json())]
            async for line in response.content:
                now = time.perf_counter() - sent
                if line.startswith(b"data: "):
                    payload = line[6:].strip()
                    events.append((now, "[DONE]" if payload == b"[DONE]" else json.loads(payload)))
    return 200, events


def deltas(events: list[tuple[float, Any]]) -> list[dict[str, Any]]:
    return [e["choices"][0]["delta"] for _, e in events if e != "[DONE]" and e["choices"]]


async def test_stream_wire_format_chunks_usage_and_done() -> None:
    config = ScriptedConfig(tokens=7, tokens_per_chunk=3)
    with ScriptedServer(config) as url:
        status, events = await sse(
            f"{url}/chat/completions",
            {"messages": USER, "stream_options": {"include_usage": True}},
        )
    assert status == 200
    assert events[-1][1] == "[DONE]"
    assert deltas(events) == [
        {"role": "assistant", "content": ""},
        {"content": "tok0 tok1 tok2"},
        {"content": " tok3 tok4 tok5"},
        {"content": " tok6"},
    ]
    usage_chunk = events[-2][1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    assert events[-3][1]["choices"][0]["finish_reason"] == "stop"
    assert all(isinstance(e["x_sent_at"], float) for _, e in events[:-1])


@pytest.mark.parametrize(
    ("mode", "stream_options", "has_usage"),
    [
        ("requested", None, False),
        ("requested", {"include_usage": True}, True),
        ("always", None, True),
        ("never", {"include_usage": True}, False),
    ],
)
async def test_usage_modes(mode: str, stream_options: dict | None, has_usage: bool) -> None:
    body: dict[str, Any] = {"messages": USER}
    if stream_options:
        body["stream_options"] = stream_options
    with ScriptedServer(ScriptedConfig(tokens=3, usage=mode)) as url:  # type: ignore[arg-type]
        _, events = await sse(f"{url}/chat/completions", body)
    assert any("usage" in e for _, e in events if e != "[DONE]") == has_usage


async def test_continuous_usage_is_cumulative_per_chunk() -> None:
    with ScriptedServer(ScriptedConfig(tokens=4, tokens_per_chunk=2, role_chunk=False)) as url:
        _, events = await sse(
            f"{url}/chat/completions",
            {
                "messages": USER,
                "stream_options": {"include_usage": True, "continuous_usage_stats": True},
            },
        )
    counts = [e["usage"]["completion_tokens"] for _, e in events if e != "[DONE]"]
    assert counts == [2, 4, 4]  # two token chunks, then the final usage chunk


async def test_max_tokens_caps_output_with_finish_length() -> None:
    with ScriptedServer(ScriptedConfig(tokens=10)) as url:
        _, events = await sse(
            f"{url}/completions",
            {"prompt": "a b", "max_tokens": 4, "stream_options": {"include_usage": True}},
        )
    texts = [e["choices"][0]["text"] for _, e in events if e != "[DONE]" and e["choices"]]
    assert "".join(texts) == "tok0 tok1 tok2 tok3"
    assert events[-3][1]["choices"][0]["finish_reason"] == "length"
    assert events[-2][1]["usage"]["completion_tokens"] == 4
    assert events[-2][1]["usage"]["prompt_tokens"] == 2


async def test_rules_and_reasoning_field_and_inline_think() -> None:
    rule = ReplyRule(match=r"two plus two", content="The answer is 4", reasoning="2 + 2 = 4")
    with ScriptedServer(ScriptedConfig(rules=[rule], reasoning_field="reasoning")) as url:
        _, events = await sse(f"{url}/chat/completions", {"messages": USER})
    got = deltas(events)[1:]
    assert "".join(d.get("reasoning", "") for d in got) == "2 + 2 = 4"
    assert "".join(d.get("content", "") for d in got) == "The answer is 4"
    with ScriptedServer(ScriptedConfig(rules=[rule], reasoning_mode="think")) as url:
        _, events = await sse(f"{url}/chat/completions", {"messages": USER})
    content = "".join(d.get("content", "") for d in deltas(events))
    assert content == "<think> 2 + 2 = 4 </think> The answer is 4"


async def test_chunks_follow_absolute_deadlines() -> None:
    """No chunk is written before its deadline; a server that fell behind (its event loop
    blocked for three gaps) writes the overdue chunks at once rather than shifting the rest.
    Sleeping one gap after each write instead would never leave a gap shorter than ``gap``."""
    ttft, gap, n = 300.0, 100.0, 8
    server = ScriptedServer(ScriptedConfig(ttft_ms=ttft, gap_ms=gap, tokens=n))
    events: list[dict[str, Any]] = []
    with server as url:
        assert server._loop is not None
        async with aiohttp.ClientSession() as session:
            sent = time.perf_counter()
            body = {"messages": USER, "stream": True}
            async with session.post(f"{url}/chat/completions", json=body) as response:
                async for line in response.content:
                    if not line.startswith(b"data: {"):
                        continue
                    events.append(json.loads(line[6:]))
                    if len(events) == 2:  # the first token: block the server for 3 gaps
                        server._loop.call_soon_threadsafe(time.sleep, 3 * gap / 1000)
    written = [(e["x_sent_perf"] - sent) * 1000 for e in events if e["choices"]]
    assert len(written) == n + 1  # the role chunk, then one chunk per token
    assert written[0] < ttft  # the role chunk comes at once, before the first deadline
    for i, t in enumerate(written[1:]):
        assert t >= ttft + i * gap - 0.01, (i, t)  # never early
    token_gaps = [b - a for a, b in itertools.pairwise(written[1:])]
    assert sum(g < gap / 2 for g in token_gaps) >= 2, token_gaps  # caught up after the block


async def test_status_fault_first_n_with_retry_after_and_stats() -> None:
    fault = Fault(kind="status", status=429, first_n=2, retry_after_s=1.5)
    server = ScriptedServer(ScriptedConfig(tokens=2, faults=[fault]))
    statuses = []
    with server as url:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.post(f"{url}/chat/completions", json={"messages": USER}) as r:
                    statuses.append((r.status, r.headers.get("Retry-After")))
            async with session.get(f"{server.root_url}/stats") as r:
                stats = await r.json()
        assert server.stats()["requests"] == 3
        server.reset()
        assert server.stats()["requests"] == 0
    assert statuses == [(429, "1.5"), (429, "1.5"), (200, None)]
    assert stats["requests"] == 3


async def test_per_request_faults_by_match() -> None:
    faults = [
        Fault(kind="cut", after_chunks=2, match="cut me"),
        Fault(kind="malformed", after_chunks=1, match="garble"),
        Fault(kind="reject_stream_options", match="strict"),
    ]
    with ScriptedServer(ScriptedConfig(tokens=5, faults=faults)) as url:
        status, events = await sse(f"{url}/chat/completions", {"messages": USER})
        assert status == 200 and events[-1][1] == "[DONE]"  # unmatched: untouched
        with pytest.raises(aiohttp.ClientPayloadError):
            await sse(
                f"{url}/chat/completions", {"messages": [{"role": "user", "content": "cut me"}]}
            )
        with pytest.raises(json.JSONDecodeError):
            await sse(
                f"{url}/chat/completions", {"messages": [{"role": "user", "content": "garble"}]}
            )
        strict = {"messages": [{"role": "user", "content": "strict"}]}
        status, body = await sse(f"{url}/chat/completions", {**strict, "stream_options": {}})
        assert status == 400 and "stream_options" in body[0][1]["error"]["message"]
        status, _ = await sse(f"{url}/chat/completions", strict)
        assert status == 200


async def test_hang_never_answers() -> None:
    with ScriptedServer(ScriptedConfig(faults=[Fault(kind="hang")])) as url:
        timeout = aiohttp.ClientTimeout(total=0.3)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with pytest.raises(TimeoutError):
                await session.post(f"{url}/chat/completions", json={"messages": USER})


async def test_tokenize_endpoints_and_switching_them_off() -> None:
    with ScriptedServer(ScriptedConfig(tokenize_special_tokens=1)) as url:
        root = url.removesuffix("/v1")
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{root}/tokenize", json={"model": "m", "prompt": "a b c"}
            ) as r:
                assert (await r.json())["count"] == 4
            async with session.post(f"{root}/extras/tokenize", json={"input": "a b"}) as r:
                assert len((await r.json())["tokens"]) == 3
    with ScriptedServer(ScriptedConfig(tokenize=False, extras_tokenize=False)) as url:
        root = url.removesuffix("/v1")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{root}/tokenize", json={"prompt": "a"}) as r:
                assert r.status == 404
            async with session.post(f"{root}/extras/tokenize", json={"input": "a"}) as r:
                assert r.status == 404


def test_cli_flags_override_config_json() -> None:
    base = ScriptedConfig(ttft_ms=5, faults=[Fault(kind="hang", match="x")])
    args = build_parser().parse_args(
        [
            "--config-json",
            base.to_json(),
            "--gap-ms",
            "7",
            "--no-role-chunk",
            "--rule",
            '{"match": "hi", "content": "hello"}',
        ]
    )
    config = config_from_args(args)
    assert (config.ttft_ms, config.gap_ms, config.role_chunk) == (5, 7, False)
    assert config.faults == [Fault(kind="hang", match="x")]
    assert config.rules == [ReplyRule(match="hi", content="hello")]
    with pytest.raises(ValueError, match="unknown fault kind 'boom'"):
        Fault(kind="boom")  # type: ignore[arg-type]


async def test_subprocess_prints_url_and_serves() -> None:
    process, url = start_subprocess(ScriptedConfig(tokens=3, model="sub-model"))
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        async with aiohttp.ClientSession() as session, session.get(f"{url}/models") as r:
            assert (await r.json())["data"][0]["id"] == "sub-model"
        _, events = await sse(f"{url}/chat/completions", {"messages": USER})
        assert "".join(d.get("content", "") for d in deltas(events)) == "tok0 tok1 tok2"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _post_many(url: str, n: int, *, new_connections: bool = False) -> None:
    connector = aiohttp.TCPConnector(force_close=new_connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(n):
            headers = {"X-Request-Id": f"r{i}"}
            body = {"messages": USER}
            async with session.post(f"{url}/chat/completions", json=body, headers=headers) as r:
                await r.read()


async def test_state_stays_bounded_with_a_ring_of_recent_requests() -> None:
    server = ScriptedServer(ScriptedConfig(tokens=2, request_log=5))
    with server as url:
        await _post_many(url, 20)
        size_after_20 = server.state_size()
        await _post_many(url, 60)
        assert server.state_size() == size_after_20  # counters and ring: no growth
        assert server.stats()["requests"] == 80  # the counters still count every request
        assert [r["request_id"] for r in server.requests] == [f"r{i}" for i in range(55, 60)]
    with ScriptedServer(ScriptedConfig(tokens=2, request_log=0)) as url:
        await _post_many(url, 3)


async def test_full_request_log_is_opt_in() -> None:
    server = ScriptedServer(ScriptedConfig(tokens=2, request_log=-1))
    with server as url:
        await _post_many(url, 1200)  # beyond the default ring of 1000
        assert len(server.requests) == 1200
    assert server.requests[0]["request_id"] == "r0"
    assert len(server.requests) == server.stats()["requests"]


async def test_processes_share_one_port_and_sum_their_stats() -> None:
    process, url = start_subprocess(ScriptedConfig(tokens=2, processes=2))
    try:
        await _post_many(url, 40, new_connections=True)  # the kernel spreads connections
        stats_url = f"{url.removesuffix('/v1')}/stats"
        async with aiohttp.ClientSession() as session, session.get(stats_url) as r:
            stats = await r.json()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert stats["requests"] == 40
    assert len(stats["by_process"]) == 2 and all(n > 0 for n in stats["by_process"])
    assert sum(stats["by_process"]) == 40
    with pytest.raises(ValueError, match="count per process"):
        ScriptedConfig(processes=2, faults=[Fault(kind="status", first_n=1)])
    with pytest.raises(ValueError, match="subprocess mode"):
        ScriptedServer(ScriptedConfig(processes=2))
