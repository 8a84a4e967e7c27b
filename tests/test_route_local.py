"""Logprobs through the endpoint client and the route pipeline on the real embedded model
(SmolLM2-135M via llama-cpp-python, which returns OpenAI-style top_logprobs), plus the client's
logprobs capture from whole and streamed scripted replies."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import read_json, read_jsonl, run_cli

from hawkeye_bench.core.trace import StageResult
from hawkeye_bench.endpoints.client import Endpoint, EndpointClient
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer


async def _complete(endpoint: Endpoint, prompt: str, **extra: Any) -> StageResult:
    async with EndpointClient(endpoint) as client:
        return await client.complete(
            prompt, role="small", max_tokens=6, temperature=0.0, extra=extra or None
        )


@pytest.mark.parametrize("ignore_stream", [False, True])
def test_client_returns_scripted_logprobs_streamed_and_whole(ignore_stream: bool) -> None:
    rule = ReplyRule(match="Q", content="one two three four", uncertain=[1])
    config = ScriptedConfig(rules=[rule], tokens_per_chunk=3, ignore_stream=ignore_stream)
    with ScriptedServer(config) as url:
        endpoint = Endpoint(url, "m", max_retries=0)
        result = asyncio.run(_complete(endpoint, "Q", logprobs=2))
        plain = asyncio.run(_complete(endpoint, "Q"))
    assert result.ok and result.content == "one two three four"
    assert result.token_logprobs is not None
    assert [t["token"] for t in result.token_logprobs] == ["one", " two", " three", " four"]
    assert [round(math.exp(t["logprob"] or 0), 6) for t in result.token_logprobs] == [
        0.9,
        0.4,
        0.9,
        0.9,
    ]
    second = result.token_logprobs[1]["top_logprobs"]
    assert list(second) == [" two", " ~alt1"]
    assert math.exp(second[" ~alt1"]) == pytest.approx(0.3)
    assert plain.token_logprobs is None  # not asked: None, not an empty list


@pytest.mark.local_model
def test_client_returns_the_real_models_logprobs(local_server: Any) -> None:
    result = asyncio.run(_complete(local_server.endpoint, "Question: 2+3=?\nAnswer:", logprobs=3))
    assert result.ok and result.token_logprobs
    assert "".join(t["token"] for t in result.token_logprobs) == result.content
    assert len(result.token_logprobs) == result.completion_tokens
    for token in result.token_logprobs:
        assert token["logprob"] is not None and token["logprob"] <= 0
        assert 1 <= len(token["top_logprobs"]) <= 4  # 3 asked, plus the sampled one
        assert max(token["top_logprobs"].values()) >= token["logprob"] - 1e-6


@pytest.mark.local_model
@pytest.mark.parametrize(
    ("task", "preset"), [("gsm8k", "route"), ("commonsenseqa", "route-commonsenseqa")]
)
def test_route_on_the_real_model_writes_complete_consistent_records(
    local_server: Any, tmp_path: Path, task: str, preset: str
) -> None:
    out = tmp_path / "run"
    args = ["eval", "--task", task, "--pipeline", "route", "--preset", preset, "--limit", "2"]
    args += ["--out", str(out), "--no-progress", "--endpoint", local_server.base_url]
    args += ["--model", local_server.endpoint.model, "--max-tokens", "24", "--concurrency", "1"]
    args += ["--router", "top1", "--threshold", "0.5", "--chunk-tokens", "6"]
    args += ["--small-params", "0.135", "--large-params", "0.135"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == 2
    for record in records:
        assert record["error"] is None and isinstance(record["correct"], bool)
        trace = record["trace"]
        info = trace["extra"]["route"]
        stages = trace["stages"]
        assert all(s["error"] is None for s in stages)
        small = [s for s in stages if s["role"] == "small"]
        large = [s for s in stages if s["role"] == "large"]
        assert (len(small), len(large)) == (info["small_calls"], info["large_calls"])
        assert info["route_events"] == len(info["events"]) == len(large)
        assert info["small_tokens"] == sum(s["completion_tokens"] for s in small)
        assert info["large_tokens"] == sum(s["completion_tokens"] for s in large)
        assert info["tokens"] == info["small_tokens"] + info["large_tokens"]
        assert 0 < info["tokens"] <= 24 + info["span"]
        assert info["routed_share"] == pytest.approx(info["large_tokens"] / info["tokens"])
        assert trace["final_text"] == "".join(s["content"] for s in stages).strip()
        assert all(s["token_source"] == "logprobs" for s in small)
        assert info["activated_params_per_token"] == pytest.approx(0.135)
        if large:  # llama-cpp-python streams no usage: the tokenizer counted the prefixes
            assert info["uploaded_context_tokens"] > 0
        assert info["calls_per_100_tokens"] == pytest.approx(
            100 * (len(small) + len(large)) / info["tokens"]
        )
        assert info["end_to_end_s"] >= info["small_s"] + info["large_s"]
    summary = read_json(out / "summary.json")
    assert summary["route"]["n"] == 2 and summary["route"]["router"] == "top1"
