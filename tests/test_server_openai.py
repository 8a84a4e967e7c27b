"""The official openai SDK (AsyncOpenAI with base_url) consumes the pipeline server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.testing.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

RULES = [
    ReplyRule(match="concise chain", reasoning="two plus two", content="is four"),
    ReplyRule(match="Using the reasoning above", content="The answer is 4"),
]
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture
def upstream() -> Iterator[ScriptedServer]:
    # The first request about "cutting" has its stream cut after one chunk.
    fault = Fault(kind="cut", after_chunks=1, match="cut me", first_n=1)
    server = ScriptedServer(ScriptedConfig(rules=RULES, faults=[fault]))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def sdk(upstream: ScriptedServer) -> AsyncIterator[openai.AsyncOpenAI]:
    ep = Endpoint(base_url=upstream.base_url, model="scripted-model", max_retries=0)
    async with PipelineServer("hawkeye", {"reasoner": ep, "responder": ep}) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        yield client
        await client.close()


async def test_sdk_streams_reasoning_then_content_with_usage(
    sdk: openai.AsyncOpenAI, upstream: ScriptedServer
) -> None:
    stream = await sdk.chat.completions.create(
        model="hawkeye",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=16,
        extra_body={"stage_params": {"reasoner": {"max_tokens": 32}}},
    )
    order: list[str] = []
    reasoning, content, usage, report = [], [], None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
            report = (chunk.model_extra or {}).get("x_hawkeye")
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            if extra.get("reasoning_content"):
                reasoning.append(extra["reasoning_content"])
                order.append("reasoning")
            if choice.delta.content:
                content.append(choice.delta.content)
                order.append("content")
    assert "".join(reasoning) == "two plus two\n\nis four"
    assert "".join(content) == "The answer is 4"
    assert order == sorted(order, key=lambda c: c == "content")  # no reasoning after content
    assert usage is not None
    assert (usage.completion_tokens, usage.completion_tokens_details.reasoning_tokens) == (9, 5)
    assert report is not None and report["token_source"] == "usage"
    bodies = [r["body"] for r in upstream.requests]
    assert [b["max_tokens"] for b in bodies] == [32, 16]


async def test_sdk_reads_a_whole_answer_and_lists_the_model(sdk: openai.AsyncOpenAI) -> None:
    models = await sdk.models.list()
    assert [m.id for m in models.data] == ["hawkeye"]
    answer = await sdk.chat.completions.create(model="hawkeye", messages=MESSAGES)  # type: ignore[arg-type]
    message = answer.choices[0].message
    assert message.content == "The answer is 4"
    assert (message.model_extra or {}).get("reasoning_content") == "two plus two\n\nis four"
    assert answer.usage is not None and answer.usage.completion_tokens == 9


async def test_sdk_sees_an_upstream_cut_as_an_api_error_then_recovers(
    sdk: openai.AsyncOpenAI, upstream: ScriptedServer
) -> None:
    cut_me = [{"role": "user", "content": "cut me: what is 2+2?"}]
    stream = await sdk.chat.completions.create(
        model="hawkeye",
        messages=cut_me,  # type: ignore[arg-type]
        stream=True,
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError, match=r"upstream reasoner model .* failed") as cut:
        async for chunk in stream:
            for choice in chunk.choices:
                seen.append((choice.delta.model_extra or {}).get("reasoning_content") or "")
    assert cut.value.code == "stream_cut"
    assert "".join(seen) == "two"  # what the upstream sent before the cut
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk.chat.completions.create(
            model="hawkeye", messages=[{"role": "system", "content": "x"}]
        )  # type: ignore[list-item]
    assert caught.value.status_code == 400
    answer = await sdk.chat.completions.create(model="hawkeye", messages=cut_me)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "The answer is 4"
