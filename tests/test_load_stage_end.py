"""The "CoT only" time ends at the end of stage 1, even when the responder also thinks.

The pipeline server marks the end of a stage with a chunk carrying ``x_hawkeye.stage_end``;
the meter ends the CoT at the last token before that marker, and falls back (flagged) to the
last reasoning token when a server sends no marker.
"""

from __future__ import annotations

import time

import aiohttp
import pytest

from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.load.metrics import reasoning_end_ms, stage_metrics
from hawkeye_bench.load.records import RequestRecord
from hawkeye_bench.load.stream import REASONING, StreamMeter
from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer

# The default preset's prompts tell the stages apart (see tests/test_server.py).
REASONER = ReplyRule(match="concise chain", reasoning="two plus two", content="is four")
THINKING_RESPONDER = ReplyRule(
    match="Using the reasoning above", reasoning="let me check", content="The answer is 4"
)


def approx(ms: float) -> object:
    return pytest.approx(ms, abs=1e-4)  # chunk rows keep 4 decimals of a millisecond


async def measure(base_url: str) -> RequestRecord:
    """One streamed request, timed line by line as the locustfile does."""
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "What is 2+2?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with aiohttp.ClientSession() as http:
        t_send = time.perf_counter()
        meter = StreamMeter(t_send)
        async with http.post(f"{base_url}/chat/completions", json=body) as response:
            assert response.status == 200
            async for line in response.content:
                if meter.feed(line, time.perf_counter()):
                    break
    assert meter.error is None and meter.done_ms is not None
    record = RequestRecord(t_send_wall=time.time(), t_send_perf=t_send, pid=1, seq=0)
    record.fill_from(meter)
    return record


async def test_cot_ends_at_stage_one_not_at_the_responders_reasoning() -> None:
    config = ScriptedConfig(ttft_ms=40, gap_ms=10, rules=[REASONER, THINKING_RESPONDER])
    with ScriptedServer(config) as url:
        upstream = Endpoint(base_url=url, model="scripted-model", max_retries=0)
        endpoints = {"reasoner": upstream, "responder": upstream}
        async with PipelineServer("hawkeye", endpoints) as server:
            record = await measure(server.base_url)
    reasoning = [c[0] for c in record.chunks if c[2] == REASONING]
    # stage 1: 3 reasoning + 2 content words, all streamed as reasoning; then the responder's
    # own 3 reasoning words, also streamed as reasoning
    assert len(reasoning) == 8
    assert record.cot_end_source == "stage_end"
    assert record.cot_end_ms == approx(reasoning[4])
    # before the responder's first token (its TTFT later)
    assert reasoning_end_ms(record) == record.cot_end_ms <= reasoning[5]
    stats = stage_metrics([record])
    assert stats["metrics"]["reasoning_end_ms"]["mean"] == record.cot_end_ms
    assert stats["cot_end_sources"] == {"stage_end": 1}


async def test_without_a_marker_the_last_reasoning_token_is_used_and_flagged() -> None:
    with ScriptedServer(ScriptedConfig(tokens=6, reasoning_tokens=3)) as url:
        record = await measure(url)
    reasoning = [c[0] for c in record.chunks if c[2] == REASONING]
    assert len(reasoning) == 3
    assert record.cot_end_source == "last_reasoning"
    assert reasoning_end_ms(record) == record.cot_end_ms == approx(reasoning[-1])
    assert stage_metrics([record])["cot_end_sources"] == {"last_reasoning": 1}
    # records written before the marker existed: the same fallback
    old = RequestRecord.from_dict({**record.__dict__, "cot_end_ms": None, "cot_end_source": None})
    assert reasoning_end_ms(old) == reasoning[-1]  # from the stored chunk rows
    assert stage_metrics([old])["cot_end_sources"] == {"last_reasoning": 1}


async def test_cot_only_tokens_and_tbt_are_stage_one_alone() -> None:
    """Every reply has 10 reasoning + 20 content tokens: stage 1 writes 30, all streamed as
    reasoning, and the thinking responder streams 10 more as reasoning. CoT-only = 30."""
    config = ScriptedConfig(tokens=30, reasoning_tokens=10, ttft_ms=5, gap_ms=1)
    with ScriptedServer(config) as url:
        upstream = Endpoint(base_url=url, model="scripted-model", max_retries=0)
        endpoints = {"reasoner": upstream, "responder": upstream}
        async with PipelineServer("hawkeye", endpoints) as server:
            record = await measure(server.base_url)
    assert record.reasoning_tokens == 40  # every token streamed as reasoning
    assert (record.cot_tokens, record.cot_tokens_source) == (30, "usage")
    assert record.cot_chunks == 30
    stats = stage_metrics([record])["metrics"]
    assert stats["cot_tokens"]["mean"] == 30
    assert stats["cot_tbt_ms"]["n"] == 29  # the gaps within stage 1 only
    assert stats["tbt_ms"]["n"] == 59
    # a record without the marker's counts (written before them): the reasoning tokens
    old = RequestRecord.from_dict({**record.__dict__, "cot_tokens": None, "cot_chunks": None})
    assert stage_metrics([old])["metrics"]["cot_tokens"]["mean"] == 40


def test_load_table_has_the_cot_only_row() -> None:
    """load_table.md shows a reasoning target's CoT-only view beside its Full row."""
    from report_fixtures import _request

    from hawkeye_bench.load.plan import PlanDescription
    from hawkeye_bench.load.results import build_results, render_markdown
    from hawkeye_bench.load.stage_result import LoadStageResult

    stages = []
    for target in ("baseline", "hawkeye"):
        records = [_request(s, target, 1) for s in range(4)]
        for record in records:
            if target == "hawkeye":
                record.cot_end_ms, record.cot_end_source = record.chunks[2][0], "stage_end"
                record.cot_tokens, record.cot_chunks = 3, 3
        stage = {"target": target, "url": "u", "concurrency": 1, "stage": f"{target}/c1"}
        stage.update(stage_metrics(records))
        stage.update(reliable=True, unreliable_reasons=[], cpu={"max_percent": 1.0})
        stages.append(stage)
    plan = {
        "targets": [{"name": t, "url": "u"} for t in ("baseline", "hawkeye")],
        "baseline": "baseline", "concurrencies": [1], "requests_per_stage": 4, "duration_s": 0,
        "prompts": "gsm8k", "model": "m", "max_tokens": 64, "warmup_s": 0.0,
    }  # fmt: skip
    typed = [LoadStageResult.from_json(s) for s in stages]
    markdown = render_markdown(build_results(PlanDescription.from_json(plan), typed))
    row = next(line for line in markdown.splitlines() if "| hawkeye (CoT only) |" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[6] == "3.0"  # Tokens: stage 1's
    assert cells[4] != "–" and cells[8].endswith("×")  # time to the CoT end, its speedup
    assert not any("(CoT only)" in line and "baseline" in line for line in markdown.splitlines())
