"""A line of ``judgements.jsonl`` (``JudgeResult``) and a cached reply (``ChatReply``)
round-trip through their JSON."""

from __future__ import annotations

import json
from pathlib import Path

from hawkeye_bench.judging.client import ChatReply, Usage
from hawkeye_bench.judging.results import JudgeResult, ResultWriter, read_results


def _result() -> JudgeResult:
    return JudgeResult(
        judge="j1",
        model="m",
        task="pairwise",
        run="hawkeye",
        id="q0",
        sample=1,
        status="ok",
        against="baseline",
        order="BA",
        verdicts={"clarity": "A"},
        explanations={"clarity": "shorter"},
        usage={"prompt_tokens": 10, "completion_tokens": 5},
        cost_usd=0.001,
        latency_s=0.5,
        cache_key="abc",
        prompt_version="3",
    )


def test_a_judgement_round_trips_through_json() -> None:
    result = _result()
    assert JudgeResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_a_judgement_line_written_before_still_loads(tmp_path: Path) -> None:
    """A line without the fields added later (cache_key, prompt_version, answer_chars)."""
    old = {
        "judge": "j1",
        "model": "m",
        "task": "single",
        "run": "baseline",
        "id": "q0",
        "sample": 0,
        "status": "ok",
        "repeat": 0,
        "scores": {"clarity": 7},
    }
    path = tmp_path / "judgements.jsonl"
    path.write_text(json.dumps(old) + "\n")
    [result] = read_results(path).values()
    assert result.scores == {"clarity": 7} and result.cache_key == "" and result.ok
    writer = ResultWriter(tmp_path / "again.jsonl")
    writer.write(result)
    writer.close()
    assert list(read_results(tmp_path / "again.jsonl").values()) == [result]


def test_a_cached_reply_round_trips_through_json() -> None:
    reply = ChatReply(
        text='{"clarity": {"score": 7}}',
        finish_reason="stop",
        usage=Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=2),
        model="m",
        latency_s=0.25,
    )
    assert ChatReply.from_dict(json.loads(json.dumps(reply.to_dict()))) == reply
    assert ChatReply.from_dict({"text": None, "usage": None}) == ChatReply(text=None)
