"""The terms of Hawkeye's reward: its two variants (how lengths are measured and where the
reference and the gold are), the length penalty, the gold answer of a gold column, and the
batch's dataset columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hawkeye_bench.datasets.gsm8k import gsm8k_gold

VariantName = Literal["paper", "upstream"]
VARIANTS: tuple[VariantName, ...] = ("paper", "upstream")


@dataclass(frozen=True)
class Variant:
    """How one variant measures lengths and finds its reference and gold."""

    name: VariantName
    unit: Literal["tokens", "words"]
    reference_columns: tuple[str, ...]  # the first one present is used
    gold_columns: tuple[str, ...]
    floor_target: bool  # the target length is rounded down to a whole number


PAPER = Variant(
    "paper",
    "tokens",
    ("original_cot_tokens", "original_cot"),
    ("gold", "answer"),
    floor_target=False,
)
UPSTREAM = Variant("upstream", "words", ("answer",), ("answer", "gold"), floor_target=True)


def variant_spec(name: str) -> Variant:
    if name == "paper":
        return PAPER
    if name == "upstream":
        return UPSTREAM
    raise ValueError(f"unknown Hawkeye reward variant {name!r}; valid: {', '.join(VARIANTS)}")


def gold_answer(value: Any) -> str:
    """The answer in a gold column: GSM8K's rationale ``... #### 18`` gives ``18``."""
    text = str(value)
    return gsm8k_gold(text) if "####" in text else text.strip()


def length_penalty(
    size: float, reference: float, *, alpha: float, penalty: float, floor_target: bool = False
) -> float:
    """``λ·max(0, size − α·reference)²`` (target rounded down when ``floor_target``)."""
    target = alpha * reference
    if floor_target:
        target = float(int(target))
    return penalty * max(0.0, size - target) ** 2


def prompt_text(prompt: Any) -> str:
    """The question of a standard (string) or conversational (messages) prompt: the last user
    message."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    chosen = users[-1] if users else (prompt[-1] if prompt else {})
    return str(chosen.get("content") or "") if isinstance(chosen, dict) else str(chosen)


def column(columns: Mapping[str, Any], names: Sequence[str], n: int) -> list[Any] | None:
    for name in names:
        values = columns.get(name)
        if values is not None:
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
            return list(values)
    return None


def mean_of(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
