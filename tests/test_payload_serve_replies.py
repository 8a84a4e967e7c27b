"""The pipeline server's reply payloads (``serve/replies.py``) round-trip through their JSON."""

from __future__ import annotations

import json
from typing import Any

from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.serve.replies import (
    ApiError,
    Completion,
    StageTokens,
    TokenReport,
    Usage,
    token_report,
    upstream_error,
)


def _trace() -> Trace:
    return Trace(
        pipeline="hawkeye",
        stage2_input="think-only",
        stages=[
            StageResult(
                role="reasoner",
                model="small",
                reasoning="think",
                content="more",
                prompt_tokens=5,
                completion_tokens=7,
                token_source="usage",
                finish_reason="stop",
                ttft_s=0.1,
                latency_s=0.5,
            ),
            StageResult(
                role="responder",
                model="large",
                content="42",
                prompt_tokens=9,
                completion_tokens=2,
                reasoning_tokens=0,
                token_source="usage",
                finish_reason="stop",
                attempts=2,
            ),
        ],
    )


def _round_trip(payload: Any) -> Any:
    return type(payload).from_json(json.loads(json.dumps(payload.to_json())))


def test_completion_round_trips_through_json() -> None:
    completion = Completion.of(_trace(), "chatcmpl-1", "hawkeye", ("responder",))
    assert completion.content == "42" and completion.reasoning == "think\n\nmore"
    assert _round_trip(completion) == completion
    assert _round_trip(completion.usage) == completion.usage
    assert _round_trip(completion.report) == completion.report
    assert completion.report.stages == tuple(StageTokens.of(s) for s in _trace().stages)
    assert (completion.report.stages[1].attempts, completion.report.stages[1].model) == (2, "large")


def test_usage_totals_and_nulls() -> None:
    usage, report = token_report(_trace(), ("responder",))
    assert usage.to_json() == {
        "prompt_tokens": 14,
        "completion_tokens": 9,
        "total_tokens": 23,
        "completion_tokens_details": {"reasoning_tokens": 7},
    }
    assert report.token_source == "usage" and not report.approximate
    unknown = Usage(prompt_tokens=None, completion_tokens=3, reasoning_tokens=None)
    assert unknown.to_json()["total_tokens"] is None
    assert _round_trip(unknown) == unknown


def test_api_error_round_trips_and_keeps_the_openai_form() -> None:
    trace = _trace()
    trace.stages[1].error, trace.stages[1].error_type = "HTTP 413", "http_413"
    status, error = upstream_error(trace)
    assert status == 413
    assert error.to_json() == {
        "error": {
            "message": "upstream responder model 'large' refused the request: HTTP 413",
            "type": "invalid_request_error",
            "param": None,
            "code": "http_413",
        }
    }
    assert _round_trip(error) == error


def test_the_json_the_server_wrote_before_still_loads() -> None:
    """A body as the server wrote it before these types existed."""
    old: dict[str, Any] = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "hawkeye",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "42"},
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": None,
            "completion_tokens": 3,
            "total_tokens": None,
            "completion_tokens_details": {"reasoning_tokens": None},
        },
        "x_hawkeye": {
            "pipeline": "single",
            "token_source": None,
            "approximate": False,
            "stage2_input": None,
            "stages": [
                {
                    "role": "single",
                    "model": "m",
                    "prompt_tokens": None,
                    "completion_tokens": 3,
                    "reasoning_tokens": None,
                    "token_source": None,
                    "finish_reason": "length",
                    "ttft_s": None,
                    "latency_s": 0.2,
                    "attempts": 1,
                    "error_type": None,
                }
            ],
        },
    }
    completion = Completion.from_json(old)
    assert completion.reasoning is None and completion.finish_reason == "length"
    assert completion.report.stages == (
        StageTokens(role="single", model="m", completion_tokens=3, finish_reason="length",
                    latency_s=0.2),
    )  # fmt: skip
    assert completion.to_json() == old
    assert TokenReport.from_json({"pipeline": "single"}).stages == ()
    assert ApiError.from_json({"error": {"message": "m", "type": "t"}}) == ApiError("m", "t")
