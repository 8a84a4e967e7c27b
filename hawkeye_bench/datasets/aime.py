"""AIME 2024 and 2025 (I + II): 30 problems a year; gold = an integer 0-999."""

from __future__ import annotations

from typing import Any

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.datasets.registry import DatasetSpec, HubSource, register_dataset


def aime_gold(answer: Any) -> str:
    """AIME answers as a canonical integer string ("025" -> "25")."""
    return str(int(str(answer).strip()))


def _aime24_row(row: dict[str, Any], index: int) -> Problem:
    metadata = {"url": row["url"]} if row.get("url") else {}
    return Problem(
        id=f"aime24/{row['id']}",
        dataset="aime24",
        question=row["problem"],
        gold=aime_gold(row["answer"]),
        metadata=metadata,
    )


def _aime25_row(row: dict[str, Any], index: int) -> Problem:
    metadata: dict[str, Any] = {
        key: row[key] for key in ("competition", "problem_number", "problem_type") if key in row
    }
    return Problem(
        id=f"aime25/{row['problem_idx']}",
        dataset="aime25",
        question=row["problem"],
        gold=aime_gold(row["answer"]),
        metadata=metadata,
    )


register_dataset(
    DatasetSpec(
        "aime24",
        "AIME 2024 I+II, 30 problems",
        _aime24_row,
        HubSource("HuggingFaceH4/aime_2024", "train"),
        gold_format="number",
    )
)
register_dataset(
    DatasetSpec(
        "aime25",
        "AIME 2025 I+II, 30 problems",
        _aime25_row,
        HubSource("MathArena/aime_2025", "train"),
        gold_format="number",
    )
)
register_dataset(
    DatasetSpec(
        "aime", "AIME 2024 + 2025, 60 problems", parts=("aime24", "aime25"), gold_format="number"
    )
)
