"""A line of the lm-eval traces sidecar (``lmeval/sidecar.SidecarLine``) through its JSON form."""

from __future__ import annotations

import json

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.lmeval.answer import PipelineAnswer
from hawkeye_bench.lmeval.sidecar import SidecarLine


def _record() -> Record:
    stage = StageResult(role="single", model="m", content="so \\boxed{4}", completion_tokens=5)
    trace = Trace(pipeline="baseline", stages=[stage], final_text="so \\boxed{4}")
    problem = Problem(id="gsm8k-0", dataset="gsm8k", question="2+2?", gold="4")
    return Record(problem=problem, sample=1, trace=trace, extracted="4", correct=True)


def test_a_sidecar_line_round_trips_through_json() -> None:
    line = SidecarLine(task="hawkeye_gsm8k", doc_id=0, repeat=1, record=_record())
    assert SidecarLine.from_json(json.loads(json.dumps(line.to_json()))) == line


def test_the_answer_writes_the_key_then_the_flat_record() -> None:
    answer = PipelineAnswer(_record(), task="hawkeye_gsm8k", doc_id=0, repeat=1)
    written = answer.sidecar_line()
    assert list(written)[:4] == ["task", "doc_id", "repeat", "id"]
    assert written["correct"] is True and written["trace"]["pipeline"] == "baseline"


def test_a_line_as_written_before_still_loads() -> None:
    old = {"task": "hawkeye_gsm8k", "doc_id": 3, "repeat": 0, **_record().to_dict()}
    line = SidecarLine.from_json(json.loads(json.dumps(old)))
    assert (line.task, line.doc_id, line.repeat) == ("hawkeye_gsm8k", 3, 0)
    assert line.record.to_dict() == _record().to_dict()
