"""GSM8K (Cobbe et al., 2021): grade-school word problems; gold = the number after ``####``."""

from __future__ import annotations

from typing import Any

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.datasets.registry import DatasetSpec, HubSource, register_dataset


def gsm8k_gold(answer: str) -> str:
    """The final number after the last ``####`` with commas, ``$`` and a trailing ``.`` removed."""
    if "####" not in answer:
        raise ValueError("GSM8K answer has no '####' marker")
    final = answer.rsplit("####", 1)[1].strip()
    return final.replace(",", "").replace("$", "").strip().rstrip(".").strip()


def _gsm8k_row(row: dict[str, Any], index: int) -> Problem:
    return Problem(
        id=f"gsm8k/{index}",
        dataset="gsm8k",
        question=row["question"],
        gold=gsm8k_gold(row["answer"]),
    )


register_dataset(
    DatasetSpec(
        "gsm8k",
        "GSM8K test split, 1319 problems",
        _gsm8k_row,
        HubSource("openai/gsm8k", "test", config="main"),
        gold_format="number",
    )
)
