"""The run store: flushed appends, torn-line repair, clear errors on corruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.eval.store import RunStore, RunStoreError


def make_record(i: int, *, correct: bool = True) -> Record:
    stage = StageResult(role="single", model="m", content=f"\\boxed{{{i}}}", completion_tokens=3)
    problem = Problem(id=f"p{i}", dataset="gsm8k", question=f"q{i}", gold=str(i))
    trace = Trace(pipeline="baseline", stages=[stage], final_text=stage.answer)
    return Record(problem=problem, sample=0, trace=trace, extracted=str(i), correct=correct)


def test_records_round_trip_and_are_visible_before_close(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.append(make_record(1))
    store.append(make_record(2, correct=False))
    # flushed per line: a second reader sees both before the writer closes
    again = RunStore(tmp_path / "run").load_records()
    assert [r.to_dict() for r in again] == [
        make_record(1).to_dict(),
        make_record(2, correct=False).to_dict(),
    ]
    store.close()


def test_torn_last_line_is_dropped_and_repaired(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.append(make_record(1))
    store.close()
    with open(store.records_path, "a") as handle:
        handle.write('{"id": "p2", "sam')  # killed mid-write
    assert [r.problem.id for r in store.load_records()] == ["p1"]
    assert store.load_records(repair=True)[0].problem.id == "p1"
    assert store.records_path.read_text().endswith("\n")
    store.append(make_record(3))
    store.close()
    assert [r.problem.id for r in store.load_records()] == ["p1", "p3"]


def test_malformed_line_in_the_middle_names_the_line(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.append(make_record(1))
    store.close()
    with open(store.records_path, "a") as handle:
        handle.write("not json\n")
    store.append(make_record(2))
    store.close()
    with pytest.raises(RunStoreError, match=r"records.jsonl:2: malformed record"):
        store.load_records()
