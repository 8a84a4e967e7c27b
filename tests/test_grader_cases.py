"""Grader accuracy on 391 asserted (gold, prediction, verdict) cases from public graders' tests.

The cases are not tied to one dataset, so they go through the dataset-agnostic path (gold
format detected per string). Every case must be graded as asserted, the expected-false ones
included (a grader that says "equal" too easily fails here too), as the README promises.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hawkeye_bench.grading.workers import GENERIC, Grader


@pytest.fixture(scope="module")
def cases(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "grader_cases" / "cases.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    assert len(rows) == 391
    return rows


@pytest.fixture(scope="module")
def verdicts(cases: list[dict[str, Any]]) -> Iterator[list[bool]]:
    with Grader(workers=2, timeout_s=20) as grader:
        results = grader.grade_many([(c["prediction"], c["gold"], GENERIC) for c in cases])
    assert not [r.error for r in results if r.error], "no case may time out or crash"
    yield [r.correct for r in results]


def breakdown(cases: list[dict[str, Any]], right: list[bool], key) -> str:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, ok in zip(cases, right, strict=True):
        totals[key(case)][0] += ok
        totals[key(case)][1] += 1
    return "\n".join(
        f"  {name:<28} {hit:>4}/{n:<4} {hit / n:6.1%}" for name, (hit, n) in sorted(totals.items())
    )


def test_accuracy_on_public_grader_cases(cases: list[dict[str, Any]], verdicts: list[bool]) -> None:
    right = [v == c["expected"] for c, v in zip(cases, verdicts, strict=True)]
    accuracy = sum(right) / len(right)
    print(f"\naccuracy {sum(right)}/{len(right)} = {accuracy:.1%}")
    print("by kind:\n" + breakdown(cases, right, lambda c: c["kind"]))
    print("by source:\n" + breakdown(cases, right, lambda c: c["source"].split("@")[0]))
    misses = [
        (c["id"], c["gold"][:60], c["prediction"][-60:])
        for c, ok in zip(cases, right, strict=True)
        if not ok
    ]
    for miss in misses:
        print("  miss:", miss)
    assert not misses


def test_no_false_positives(cases: list[dict[str, Any]], verdicts: list[bool]) -> None:
    negatives = [(c, v) for c, v in zip(cases, verdicts, strict=True) if not c["expected"]]
    assert len(negatives) == 57
    false_positives = [c["id"] for c, v in negatives if v]
    assert not false_positives
