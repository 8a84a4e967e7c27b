"""A hawkeye_* lm-eval document (``lmeval/docs.TaskDoc``) through its JSON form."""

from __future__ import annotations

import json

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.lmeval.docs import DOC_FIELDS, TaskDoc, doc_to_problem

PROBLEM = Problem(
    id="math-7",
    dataset="math",
    question="What is 1/2 + 1/4?",
    gold="\\frac{3}{4}",
    metadata={"subject": "Algebra", "level": 2, "unit": None},
)


def test_a_task_doc_round_trips_through_json() -> None:
    doc = TaskDoc.from_problem(PROBLEM, "Question: What is 1/2 + 1/4?")
    assert TaskDoc.from_json(json.loads(json.dumps(doc.to_json()))) == doc


def test_the_document_keeps_its_fields_and_gives_back_the_problem() -> None:
    written = TaskDoc.from_problem(PROBLEM, "prompt").to_json()
    assert tuple(written) == DOC_FIELDS
    assert (written["subject"], written["level"]) == ("Algebra", 2)
    assert written["metadata"] == json.dumps(PROBLEM.metadata, sort_keys=True)
    problem = doc_to_problem(written)
    assert problem == PROBLEM and problem is not None and problem.metadata == PROBLEM.metadata


def test_a_document_of_another_task_or_without_metadata() -> None:
    assert doc_to_problem({"question": "q", "answer": "a"}) is None
    old = {"id": 3, "dataset": "gsm8k", "question": "q", "gold": "4"}
    loaded = TaskDoc.from_json(old)
    assert loaded is not None and (loaded.id, loaded.metadata, loaded.prompt) == ("3", {}, "")
