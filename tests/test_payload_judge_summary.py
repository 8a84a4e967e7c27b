"""``judge_summary.json`` (``judging/summary_file.py``) round-trips through its JSON form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hawkeye_bench.judging.markdown import render
from hawkeye_bench.judging.options import JudgeOptions
from hawkeye_bench.judging.pairwise import PairwiseSummary
from hawkeye_bench.judging.summary_file import (
    Comparison,
    Consistency,
    CriterionInfo,
    Interval,
    JudgeSummary,
    PairwiseEntry,
    RunFacts,
)

#: Files written by ``hawkeye-bench judge`` before the summary had a type (fake judges).
OLD_FILES = sorted((Path(__file__).parent / "data" / "judge_summary").glob("*.json"))


@pytest.mark.parametrize("path", OLD_FILES, ids=lambda p: p.stem)
def test_a_summary_written_before_loads_and_writes_the_same_bytes(path: Path) -> None:
    text = path.read_text()
    summary = JudgeSummary.from_json(json.loads(text))
    assert json.dumps(summary.to_json(), indent=2, ensure_ascii=False) == text
    assert summary.facts is not None and summary.facts.calls.sent > 0
    assert summary.comparisons and all(c.difference is not None for c in summary.comparisons)
    assert render(summary).startswith("## Judge ratings")


@pytest.mark.parametrize("path", OLD_FILES, ids=lambda p: p.stem)
def test_a_summary_round_trips(path: Path) -> None:
    summary = JudgeSummary.from_json(json.loads(path.read_text()))
    again = JudgeSummary.from_json(json.loads(json.dumps(summary.to_json())))
    assert again == summary


def test_the_sections_are_read_into_their_types() -> None:
    by_name = {p.stem: JudgeSummary.from_json(json.loads(p.read_text())) for p in OLD_FILES}
    pairwise = by_name["pairwise"]
    entry = next(iter(next(iter(pairwise.pairwise.values())).values()))
    assert isinstance(entry, PairwiseEntry) and entry.pairs > 0
    assert all(isinstance(s, PairwiseSummary) for s in entry.criteria.values())
    consistency = by_name["self_consistency"].self_consistency
    assert any(isinstance(s, Consistency) for by in consistency.values() for s in by.values())


def test_an_older_summary_without_later_fields_loads() -> None:
    """No relative improvement, no run facts, no skipped_errors: as the first version wrote."""
    data = {
        "baseline": "baseline",
        "runs": [{"label": "baseline", "records": "b/records.jsonl", "answers": 2}],
        "criteria": [{"name": "clarity", "version": 1, "scale": [1, 10]}],
        "comparisons": [
            {
                "candidate": "hawkeye",
                "baseline": "baseline",
                "criterion": "clarity",
                "judge": "panel",
                "n_questions": 2,
                "n_answers": 2,
                "mean_candidate": 7.0,
                "mean_baseline": 6.0,
                "difference": {
                    "estimate": 1.0,
                    "low": None,
                    "high": None,
                    "n": 2,
                    "method": "none",
                },
                "length_adjusted_difference": None,
            }
        ],
    }
    summary = JudgeSummary.from_json(data)
    assert summary.runs[0].skipped_errors == 0 and summary.facts is None
    assert summary.criteria == (CriterionInfo("clarity", 1, (1, 10)),)
    assert summary.comparisons[0].relative_improvement is None
    assert summary.comparisons[0].difference == Interval(1.0, None, None, 2, "none")


def test_the_parts_round_trip() -> None:
    interval = Interval(0.5, 0.1, 0.9, 12, "BCa")
    comparison = Comparison("c", "b", "clarity", "j", 3, 4, 6.5, 6.0, interval, None, interval)
    consistency = Consistency(n=4, exact_agreement=0.5, mean_abs_diff=0.75, alpha=None)
    pairs = PairwiseSummary(n=3, wins=1, losses=1, ties=1, flips=1, flip_rate=1 / 3)
    summary = JudgeSummary(
        baseline="b",
        comparisons=(comparison,),
        self_consistency={"j": {"clarity": consistency, "coherence": None}},
        pairwise={"c vs b": {"j": PairwiseEntry(3, 0, {"clarity": pairs})}},
        facts=RunFacts(panel="test", options=JudgeOptions(pairwise=True, limit=5)),
    )
    data = json.loads(json.dumps(summary.to_json()))
    assert data["comparisons"][0]["difference"] == {
        "estimate": 0.5,
        "low": 0.1,
        "high": 0.9,
        "n": 12,
        "method": "BCa",
    }
    assert data["panel"] == "test" and data["options"]["limit"] == 5
    assert JudgeSummary.from_json(data) == summary
