"""summary.json (eval.summary_types.RunSummary) through its JSON form, and the form written
before it was typed."""

from __future__ import annotations

import json
from pathlib import Path

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.cost.token_view import SummaryCost
from hawkeye_bench.endpoints.replica_report import ReplicaReport, ReplicaSetReport
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.eval.summary import summarize
from hawkeye_bench.eval.summary_types import RunSummary


def _record(pid: str, sample: int, tokens: int, correct: bool) -> Record:
    stages = [
        StageResult(role="reasoner", model="r", completion_tokens=tokens, token_source="usage",
                    started_at=100.0, ttft_s=0.1, latency_s=1.0),
        StageResult(role="responder", model="s", completion_tokens=10, token_source="chunks",
                    started_at=101.0, ttft_s=0.1, latency_s=1.0),
    ]  # fmt: skip
    problem = Problem(id=pid, dataset="gsm8k", question="q", gold="1")
    overthinking = {"total": 10, "first_correct_at": 5, "share_after_first_correct": 0.5}
    return Record(
        problem, sample, Trace("hawkeye", stages), correct=correct,
        extra={"overthinking": overthinking} if correct else {},
    )  # fmt: skip


def _baseline(pid: str) -> Record:
    single = StageResult(role="single", model="b", completion_tokens=400, token_source="usage",
                         started_at=100.0, latency_s=2.0)  # fmt: skip
    problem = Problem(id=pid, dataset="gsm8k", question="q", gold="1")
    return Record(problem, 0, Trace("baseline", [single]), correct=True)


def _summary() -> RunSummary:
    records = [_record(p, i, 100 * (i + 1), i % 2 == 0) for p in "ab" for i in range(2)]
    summary = summarize(
        records,
        baseline=[_baseline("a"), _baseline("b")],
        replicas=[
            ReplicaSetReport(
                ("reasoner",),
                (ReplicaReport("http://a/v1", calls=3), ReplicaReport("http://b/v1", calls=1)),
            )
        ],
        margin_pp=2.0,
    )
    summary.run, summary.pipeline, summary.task, summary.status = "runs/x", "hawkeye", "gsm8k", "ok"
    summary.cost = SummaryCost(prices="endpoint prices (manifest.json)", usd=1.0, problems=4)
    summary.import_ = {"rows": 4}
    summary.agreement = {"n": 4, "verdict_source": "score"}
    return summary


def test_run_summary_round_trips_through_json() -> None:
    summary = _summary()
    assert summary.accuracy.samples_per_problem == 2 and summary.vs_baseline is not None
    assert summary.overthinking is not None and summary.overthinking.n == 2
    assert RunSummary.from_json(json.loads(json.dumps(summary.to_json()))) == summary
    shares = [r["share_of_calls"] for r in summary.to_json()["replicas"][0]["replicas"]]
    assert shares == [0.75, 0.25]
    plain = summarize([_record("a", 0, 100, True)])
    assert plain.vs_baseline is None and plain.replicas is None
    assert RunSummary.from_json(json.loads(json.dumps(plain.to_json()))) == plain


def test_the_store_writes_and_reads_the_summary(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    assert store.read_summary() is None
    store.write_summary(_summary())
    assert store.read_summary() == _summary()


def test_a_summary_written_before_the_type_still_loads() -> None:
    old = {  # as summarize() wrote it as a dict, with a baseline that shared no problem
        "n": 1, "n_problems": 1,
        "accuracy": {"mean": 1.0, "ci95": [0.2, 1.0], "ci_method": "wilson", "correct": 1,
                     "n": 1, "n_graded": 1, "mean_excluding_errors": 1.0},
        "errors": {"count": 0, "share": 0.0, "by_type": {}},
        "grading_errors": 0, "ambiguous_extractions": 0, "approximate_token_counts": 0,
        "stages": {"single": {"calls": 1, "errors": 0, "completion_tokens": {"n": 1, "mean": 5},
                              "prompt_tokens": {}, "token_sources": {"usage": 1},
                              "truncated_share": 0.0, "ttft_s": {}, "latency_s": {}}},
        "tokens": {"cot_only": {"n": 0}, "full": {"n": 1, "mean": 5}},
        "end_to_end_s": {"n": 1, "mean": 1.0},
        "compression": {"n_problems": 0, "ratio_percent": None,
                        "note": "no problem answered by both"},
        "accuracy_vs_baseline": None,
        "run": "runs/x", "pipeline": "baseline", "task": "gsm8k", "status": "complete",
        "cost": {"usd": None, "not_priced": ["bad prices"], "prices": "endpoint prices"},
    }  # fmt: skip
    summary = RunSummary.from_json(old)
    assert summary.accuracy.ci95 == (0.2, 1.0) and summary.stages["single"].calls == 1
    assert summary.vs_baseline is not None and summary.vs_baseline.accuracy is None
    assert summary.vs_baseline.compression.note == "no problem answered by both"
    assert summary.cost is not None and summary.cost.not_priced == ["bad prices"]
    again = summary.to_json()
    for key, value in old.items():
        if key != "cost":  # the cost object now names every field (null where not priced)
            assert again[key] == value, key
    assert {k: v for k, v in again["cost"].items() if k in old["cost"]} == old["cost"]
