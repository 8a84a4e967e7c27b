"""The judge's request parts (``judging/request_body.py``) and a cached reply
(``ChatReply.to_dict``) keep their JSON forms."""

from __future__ import annotations

import json

import pytest

from hawkeye_bench.cost.pricing import Usage
from hawkeye_bench.judging.client import ChatReply, request_params
from hawkeye_bench.judging.config import Criterion, JudgeSpec
from hawkeye_bench.judging.prompts import AnswerView, score_schema, single_messages
from hawkeye_bench.judging.summary_file import ExampleRequest, JudgeSummary, RunFacts

CRITERIA = (
    Criterion.model_validate({"name": "clarity", "rubric": "r", "scale": {"min": 1, "max": 10}}),
)


def _spec(structured: str) -> JudgeSpec:
    return JudgeSpec.model_validate(
        {
            "name": "j",
            "provider": "p",
            "base_url": "http://x/v1",
            "model": "m",
            "api_key_env": None,
            "capabilities": {"structured_output": structured, "seed": True},
        }
    )


@pytest.mark.parametrize("structured", ["json_schema", "json_object_schema", "prompt"])
def test_an_example_request_round_trips_with_its_key_order(structured: str) -> None:
    schema = score_schema(CRITERIA, explanation_max_chars=50)
    request = ExampleRequest(
        base_url="http://x/v1",
        model="m",
        api_key_env=None,
        messages=single_messages(CRITERIA, AnswerView(question="q", answer="a")),
        params=request_params(_spec(structured), schema),
    )
    summary = JudgeSummary(facts=RunFacts(panel="p", example_requests={"j": request}))
    text = json.dumps(summary.to_json())
    again = JudgeSummary.from_json(json.loads(text))
    assert again == summary
    assert json.dumps(again.to_json()) == text  # the same keys, in the same order
    assert list(request.params) == list(json.loads(text)["example_requests"]["j"]["params"])


def test_a_request_as_written_before_loads() -> None:
    old = {
        "panel": "p",
        "example_requests": {
            "j": {
                "base_url": "http://x/v1",
                "model": "m",
                "api_key_env": None,
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                "params": {
                    "temperature": 0.0,
                    "max_tokens": 1024,
                    "seed": 0,
                    "response_format": {
                        "type": "json_object",
                        "schema": {"type": "object", "properties": {}, "required": []},
                    },
                },
            }
        },
    }
    summary = JudgeSummary.from_json(old)
    assert summary.facts is not None
    request = summary.facts.example_requests["j"]
    assert request.messages[1] == {"role": "user", "content": "u"}
    assert request.params["response_format"]["schema"]["type"] == "object"
    assert summary.to_json()["example_requests"] == old["example_requests"]


def test_a_cached_reply_round_trips() -> None:
    reply = ChatReply(
        text='{"clarity": {"explanation": "e", "score": 7}}',
        finish_reason="stop",
        usage=Usage(prompt_tokens=10, completion_tokens=5),
        model="m",
        latency_s=0.5,
    )
    data = json.loads(json.dumps(reply.to_dict()))
    assert ChatReply.from_dict(data) == reply
    assert list(data) == [
        "text",
        "finish_reason",
        "refusal",
        "usage",
        "model",
        "system_fingerprint",
        "latency_s",
    ]


def test_a_cached_reply_as_written_before_loads_and_a_damaged_one_is_a_type_error() -> None:
    old = {
        "text": "t",
        "finish_reason": "length",
        "refusal": None,
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "cached_tokens": None,
            "reasoning_tokens": None,
        },
        "model": "m",
        "system_fingerprint": "fp",
        "latency_s": 1.25,
    }
    reply = ChatReply.from_dict(json.loads(json.dumps(old)))
    assert reply.usage == Usage(prompt_tokens=3, completion_tokens=4)
    assert reply.to_dict() == old
    for damaged in ({"text": "t", "surprise": 1}, {"finish_reason": "stop"}, ["t"]):
        with pytest.raises(TypeError):
            ChatReply.from_dict(damaged)  # type: ignore[arg-type]
