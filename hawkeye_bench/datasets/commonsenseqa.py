"""CommonsenseQA (Talmor et al., 2019): five-choice commonsense questions; gold = the letter
with its choice text (``(A) bank``), graded by the letter or the choice text the model commits
to (gold format ``choice``)."""

from __future__ import annotations

from typing import Any

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.datasets.registry import DatasetSpec, HubSource, register_dataset


def commonsenseqa_question(row: dict[str, Any]) -> str:
    """The question with its lettered choices, one per line (``A. bank``)."""
    choices = row["choices"]
    lines = [
        f"{label}. {text}" for label, text in zip(choices["label"], choices["text"], strict=True)
    ]
    return "Question: " + row["question"].strip() + "\nChoices:\n" + "\n".join(lines)


def _commonsenseqa_row(row: dict[str, Any], index: int) -> Problem:
    choices = row["choices"]
    letter = row["answerKey"]
    text = dict(zip(choices["label"], choices["text"], strict=True))[letter]
    return Problem(
        id=f"commonsenseqa/{row.get('id') or index}",
        dataset="commonsenseqa",
        question=commonsenseqa_question(row),
        gold=f"({letter}) {text}",
        metadata={"choices": dict(zip(choices["label"], choices["text"], strict=True))},
    )


register_dataset(
    DatasetSpec(
        "commonsenseqa",
        "CommonsenseQA, five-choice questions (local mirror: 1197 labelled; hub: validation)",
        _commonsenseqa_row,
        HubSource("tau/commonsense_qa", "validation"),
        gold_format="choice",
    )
)
