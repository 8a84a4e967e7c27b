"""The JSON forms StageResultJson, TraceJson (core/trace.py), StageMetricsJson (load/metrics.py)
and InputEntryJson (reporting/model.py) describe: each round-trips through JSON, and the form
older versions wrote still loads."""

from __future__ import annotations

import json

from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.load.metrics import stage_metrics
from hawkeye_bench.reporting.model import InputEntry


def _stage() -> StageResult:
    return StageResult(
        role="writer",
        model="m",
        endpoint="http://x/v1",
        content="<think>a</think>42",
        prompt_tokens=3,
        completion_tokens=5,
        token_source="usage",
        finish_reason="stop",
        ttft_s=0.1,
        latency_s=0.5,
        request={"temperature": 0.6, "logprobs": 2},
        token_logprobs=[{"token": "4", "logprob": -0.1, "top_logprobs": {"4": -0.1}}],
        choice_fields={"hidden": [[1.0]]},
    )


def test_stage_result_round_trip() -> None:
    stage = _stage()
    assert StageResult.from_dict(json.loads(json.dumps(stage.to_dict()))) == stage


def test_trace_round_trip_with_and_without_extra() -> None:
    for extra in ({}, {"compress": {"method": "llm"}}):
        trace = Trace("hawkeye", [_stage()], final_text="42", stage2_input="full", extra=extra)
        data = json.loads(json.dumps(trace.to_dict()))
        assert ("extra" in data) == bool(extra)
        assert Trace.from_dict(data) == trace


def test_old_stage_result_form_loads() -> None:
    """An older file lacks the newer fields; a newer one may add keys this version ignores."""
    old = {"role": "writer", "model": "m", "content": "x", "error": None, "a_later_key": 1}
    stage = StageResult.from_dict(json.loads(json.dumps(old)))
    assert stage == StageResult(role="writer", model="m", content="x")
    old_trace = {"pipeline": "baseline", "stages": [old], "final_text": "x"}
    trace = Trace.from_dict(json.loads(json.dumps(old_trace)))
    assert trace.stages == [stage] and trace.stage2_input is None and trace.extra == {}


def test_stage_metrics_of_nothing_is_json() -> None:
    metrics = stage_metrics([])
    data = json.loads(json.dumps(metrics))
    assert data == metrics
    assert data["requests"]["measured"] == 0 and "goodput" not in data
    assert data["throughput"] == {
        "window_s": None,
        "requests_per_s": None,
        "output_tokens_per_s": None,
    }


def test_input_entry_round_trip() -> None:
    entry = InputEntry("eval run", "runs/a", {"task": "aime", "limit": 3, "x": None}, ["a.json"])
    data = json.loads(json.dumps(entry.to_json()))
    assert data == {
        "kind": "eval run",
        "folder": "runs/a",
        "details": {"task": "aime", "limit": 3, "x": None},
        "files": ["a.json"],
    }
    assert InputEntry.from_json(data) == entry
