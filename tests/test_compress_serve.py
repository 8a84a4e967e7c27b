"""`hawkeye-bench serve --pipeline compress` in a subprocess in front of a scripted upstream
(one word = one token): the writer's CoT and the compressed CoT stream as reasoning, the
responder's answer as content, and the trace records the compression."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_server_cli import ServeProcess, deltas, serve_process, stream_request

from hawkeye_bench import cli
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer

__all__ = ["serve_process"]  # the fixture, used by name below

QUESTION = "Janet has 16 eggs, eats 3 and bakes with 4; she sells the rest at $2. How much?"
COT = "She has 16 - 3 - 4 = 9 eggs left. She makes 9 * 2 = 18 dollars. Done."  # 20 words
SHORT = "16 - 3 - 4 = 9, 9 * 2 = 18."  # 12 words
ANSWER = "So \\boxed{18}"


async def test_serve_compress_streams_the_cot_then_the_answer(
    serve_process: list[ServeProcess], tmp_path: Path
) -> None:
    config = ScriptedConfig(
        rules=[
            ReplyRule(match="showing every intermediate calculation", content=COT),
            ReplyRule(match="Shorten the reasoning below", content=SHORT),
            ReplyRule(match="Using the reasoning above", content=ANSWER),
        ]
    )
    server = ScriptedServer(config)
    upstream = server.start()
    try:
        served = ServeProcess(
            "--pipeline", "compress", "--keep", "0.5", "--endpoint", upstream,
            "--model", "m", "--trace-dir", str(tmp_path),
        )  # fmt: skip
        serve_process.append(served)
        events = await stream_request(
            served.base_url,
            {
                "model": "compress",
                "stream": True,
                "messages": [{"role": "user", "content": QUESTION}],
            },
        )
        assert served.stop() == 0
    finally:
        server.stop()
    prompts = [r["body"]["messages"][-1]["content"] for r in server.requests if "body" in r]
    assert sum("at most 10 tokens (about 50% of its length)" in p for p in prompts) == 1
    pieces = deltas(events)
    channels = [channel for channel, _ in pieces]
    # every reasoning chunk comes before the first content chunk
    assert channels == sorted(channels, key=lambda c: c != "reasoning_content")
    reasoning = "".join(t for c, t in pieces if c == "reasoning_content")
    content = "".join(t for c, t in pieces if c == "content")
    assert reasoning.split()[: len(COT.split())] == COT.split()
    assert " ".join(reasoning.split()).endswith(SHORT)
    assert content.strip() == ANSWER
    assert events[-1] == "[DONE]"
    (trace_file,) = tmp_path.glob("serve-traces-*.jsonl")
    (line,) = [json.loads(x) for x in trace_file.read_text().splitlines() if x.strip()]
    trace = line["trace"]
    assert [s["role"] for s in trace["stages"]] == ["writer", "compressor", "responder"]
    info = trace["extra"]["compress"]
    assert info["method"] == "llm" and info["requested_keep"] == 0.5
    assert (info["original_tokens"], info["compressed_tokens"]) == (20, 12)
    assert info["achieved_keep"] == 0.6 and info["token_source"] == "tokenize"
    assert info["compressed"] == SHORT and info["refused"] is False
    assert info["cache_hits"] == []  # the server keeps no call cache


def test_serve_refuses_an_option_the_pipeline_does_not_take(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(
        ["serve", "--pipeline", "baseline", "--keep", "0.3", "--endpoint", "http://127.0.0.1:9/v1"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "takes no option keep" in err, err
