"""MATH (Hendrycks et al., 2021) and MATH-500: competition problems; gold = LaTeX (the last
``\\boxed{}`` of the solution, or MATH-500's ``answer``)."""

from __future__ import annotations

from typing import Any

from hawkeye_bench.core.boxed import last_boxed_content
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.datasets.registry import DatasetSpec, HubSource, register_dataset


def level_number(level: Any) -> int | None:
    """``"Level 3"`` or ``3`` -> 3; anything unparseable (MATH has ``"Level ?"``) -> None."""
    text = str(level).strip().removeprefix("Level").strip()
    return int(text) if text.isdigit() else None


def _math_row(row: dict[str, Any], index: int) -> Problem:
    gold = last_boxed_content(row["solution"])
    if gold is None:
        raise ValueError("solution has no \\boxed{} answer")
    idx = row.get("idx", index)
    return Problem(
        id=f"math/{idx}",
        dataset="math",
        question=row["problem"],
        gold=gold,
        metadata={"level": level_number(row.get("level")), "subject": row.get("type")},
    )


def _math500_row(row: dict[str, Any], index: int) -> Problem:
    return Problem(
        id=row["unique_id"],
        dataset="math500",
        question=row["problem"],
        gold=str(row["answer"]).strip(),
        metadata={"level": level_number(row.get("level")), "subject": row.get("subject")},
    )


register_dataset(
    DatasetSpec(
        "math",
        "MATH test split (Hendrycks et al.), 5000 problems",
        _math_row,
        HubSource("DigitalLearningGmbH/MATH-lighteval", "test"),
        gold_format="latex",
    )
)
register_dataset(
    DatasetSpec(
        "math500",
        "MATH-500 (PRM800K test subset), 500 problems",
        _math500_row,
        HubSource("HuggingFaceH4/MATH-500", "test"),
        gold_format="latex",
    )
)
