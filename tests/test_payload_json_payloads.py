"""Payloads that became core.json_form JsonPayloads round-trip through JSON, and the JSON the
hand-written methods wrote before still loads and writes back the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hawkeye_bench.core.json_form import JsonFormError
from hawkeye_bench.cost.token_view import SummaryCost
from hawkeye_bench.eval.analyses import Overthinking
from hawkeye_bench.eval.manifest import RoleEndpoint
from hawkeye_bench.eval.store import RunStore, RunStoreError
from hawkeye_bench.eval.summary_types import (
    ErrorSummary,
    OverthinkingSummary,
    StageSummary,
    TokenSummary,
)
from hawkeye_bench.eval.sweep_folder import SweepModel
from hawkeye_bench.importing.import_summary import TokenCounts
from hawkeye_bench.importing.matching import Skip, Tally
from hawkeye_bench.importing.scan import FileFacts
from hawkeye_bench.load.plan import PlanDescription, Target
from hawkeye_bench.load.records import RequestRecord
from hawkeye_bench.load.stage_result import Goodput, StageStatistics
from hawkeye_bench.load.sweep import SweepSummary
from hawkeye_bench.pipelines.compress_facts import AnswerLeaks
from hawkeye_bench.reporting.inputs import JudgeOutput, LoadResult, ReportInputError
from hawkeye_bench.reporting.load_inputs import stored_results
from hawkeye_bench.routing.calibrate import Calibration
from hawkeye_bench.routing.facts import RouteEvent


def through_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(
    "payload",
    [
        Skip("o.jsonl", 3, "unmatched", "no problem has id 'x'"),
        Tally(2, ["o.jsonl:1: a", "o.jsonl:2: b"]),
        FileFacts("/d/o.jsonl", "o.jsonl", "generic", "jsonl", "ab" * 32, 120),
        TokenCounts({"usage": 3}, 0),
        TokenCounts({"missing": 1}, 1, {"kind": "gguf", "where": "m"}, "1 of 1 ..."),
        SweepModel("small-a", "small-a", "http://a"),
        SweepModel("big"),
        SweepModel("small-a", "small-a", ["http://a1", "http://a2"]),
        SweepSummary(3, [1.5, 3.0], {"a": 1.0}, {"a": 3.5}, None, {"a": None}),
        PlanDescription([Target("a", "http://a")], "a", [1, 4], processes_by_concurrency={4: 2}),
        StageStatistics(goodput=Goodput({"e2e_ms": 500.0}, 3, 4, 0.75)),
        StageStatistics(),
        ErrorSummary(2, 0.5, {"timeout": 2}),
        StageSummary(4, 1, {"mean": 10.5, "n": 3}, {"mean": 7}, {"usage": 3}, 0.25, {}, {"p50": 1}),
        TokenSummary({"mean": 3.5}, {"mean": 9, "max": None}),
        OverthinkingSummary(3, 2, {"mean": 0.4}),
        Overthinking(120, 4, 4, 30, 0.75),
        RoleEndpoint("big", "http://a/v1"),
        AnswerLeaks(True, "18", False),
        AnswerLeaks(False),
        RouteEvent(3, " the", -0.5, None, " a", 1),
        Calibration("entropy", 0.25, 0.6, 0.24, 2, 100, [(0.5, 0.3), (0.6, 0.24)]),
        SummaryCost("endpoint prices", 4, 3, 1.0, 250.0, 0.33, ["x"], ["y"]),
    ],
    ids=lambda payload: type(payload).__name__,
)
def test_a_payload_round_trips_through_json(payload: Any) -> None:
    assert type(payload).from_json(through_json(payload.to_json())) == payload


def test_the_forms_the_hand_written_methods_wrote_still_load_and_write_back() -> None:
    written: list[tuple[Any, dict[str, Any]]] = [
        (Skip, {"file": "o.jsonl", "line": 3, "reason": "duplicate", "detail": "id 'x' again"}),
        (Tally, {"count": 0, "first": []}),
        (TokenCounts, {"sources": {"usage": 2}, "missing": 0}),
        (SweepModel, {"folder": "big", "model": None, "url": None}),
        (SweepModel, {"folder": "s", "model": "s", "url": ["http://a1", "http://a2"]}),
        (ErrorSummary, {"count": 0, "share": 0.0, "by_type": {}}),
        (StageSummary, {"calls": 2, "errors": 0, "completion_tokens": {"mean": 5, "p90": 6.5},
                        "prompt_tokens": {}, "token_sources": {"usage": 2},
                        "truncated_share": None, "ttft_s": {}, "latency_s": {"mean": 0.5}}),
        (TokenSummary, {"cot_only": {}, "full": {"mean": 12}}),
        (OverthinkingSummary, {"n": 1, "n_right_before_end": 0, "share_after_first_correct": {}}),
        (Overthinking, {"total": 20, "max_prefixes": 4, "prefixes_graded": 4,
                        "first_correct_at": None, "share_after_first_correct": None,
                        "unit": "words"}),
        (RoleEndpoint, {"model": "m", "base_url": ""}),
        (AnswerLeaks, {"cot_leaks_answer": True, "cot_extracted": "18"}),
        (Calibration, {"router": "entropy", "target_share": 0.25, "threshold": 0.6,
                       "flagged_share": 0.24, "problems": 2, "tokens": 100,
                       "steps": [[0.5, 0.3]]}),
        (SummaryCost, {"prices": "endpoint prices", "problems": None, "correct": None,
                       "usd": None, "usd_per_1k_problems": None, "usd_per_correct": None,
                       "not_priced": ["no price for m"], "assumptions": []}),
        (FileFacts, {"path": "/p", "name": "p", "format": "generic", "layout": "json list",
                     "sha256": "00", "bytes": 9}),
    ]  # fmt: skip
    for cls, data in written:
        assert cls.from_json(data).to_json() == data
        assert list(cls.from_json(data).to_json()) == list(data)  # the keys' order too


def test_a_statistics_without_goodput_leaves_it_out() -> None:
    assert "goodput" not in StageStatistics().to_json()
    assert StageStatistics.from_json(StageStatistics().to_json()).goodput is None


def test_a_request_record_line_round_trips_and_a_bad_value_is_refused() -> None:
    record = RequestRecord(1.5, 2.25, 7, 0, stage="s", status=200, chunks=[[1.0, 2, "r"]])
    assert RequestRecord.from_dict(json.loads(record.to_json())) == record
    assert RequestRecord.from_dict({**record.to_dict(), "added_later": 1}) == record
    with pytest.raises(JsonFormError, match="status"):
        RequestRecord.from_dict({**record.to_dict(), "status": "teapot"})


def test_a_load_result_whose_plan_is_malformed_is_one_report_error(tmp_path: Path) -> None:
    bad = LoadResult(tmp_path, {"stages": [], "plan": {"concurrencies": "many"}})
    with pytest.raises(ReportInputError, match=r"load_results\.json: not a LoadResults: ") as e:
        stored_results(bad)
    assert "plan.concurrencies" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("manifest.json", '{"config": {"roles": {"reasoner": {"model": ["m"]}}}}', "model"),
        ("summary.json", '{"errors": {"count": "many"}}', "count"),
    ],
)
def test_a_run_file_with_a_part_of_the_wrong_type_is_one_store_error(
    tmp_path: Path, name: str, text: str, field: str
) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    store = RunStore(tmp_path)
    read = store.read_manifest if name == "manifest.json" else store.read_summary
    with pytest.raises(RunStoreError, match=rf"{name}: not a \w+: ") as caught:
        read()
    assert field in str(caught.value) and "\n" not in str(caught.value)


def test_a_judge_summary_with_a_part_of_the_wrong_type_is_one_report_error(
    tmp_path: Path,
) -> None:
    judge = JudgeOutput(tmp_path, {"runs": "not a list"}, [])
    with pytest.raises(ReportInputError, match=r"judge_summary\.json: not a JudgeSummary: runs"):
        _ = judge.judge_summary
