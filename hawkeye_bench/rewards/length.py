"""Length and format rewards: Kimi k1.5 length reward, cosine-scaled, DAPO soft overlong,
think-format. All in TRL's calling convention (:mod:`hawkeye_bench.rewards.base`)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from hawkeye_bench.rewards.base import (
    LengthUnit,
    Reward,
    RewardBatch,
    completion_parts,
    correctness,
    finite_number,
    lengths,
)


def _length(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
    return value


def _group_key(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, default=str)


class _Graded(Reward):
    """A reward that needs each completion's correctness (gold answers from a dataset column)."""

    def __init__(self, gold_column: str = "gold", dataset_column: str = "dataset") -> None:
        self.gold_column = gold_column
        self.dataset_column = dataset_column

    def _correct(self, completions: Sequence[Any], columns: dict[str, Any]) -> list[bool | None]:
        return correctness(
            completions, columns.get(self.gold_column), columns.get(self.dataset_column)
        )


class KimiLengthReward(_Graded):
    """Kimi k1.5: within each group of completions of one prompt, ``λ = 0.5 − (len − min) /
    (max − min)``; a correct completion gets λ, a wrong one ``min(0, λ)``; a group whose
    lengths are all equal gets 0. Ungraded completions get None."""

    __name__ = "kimi_length_reward"

    def __init__(self, unit: LengthUnit = "tokens", **columns: str) -> None:
        super().__init__(**columns)
        self.unit: LengthUnit = unit

    def score(self, batch: RewardBatch) -> list[float | None]:
        prompts, completions, completion_ids, columns = batch.unpack()
        sizes = lengths(completions, completion_ids, self.unit)
        correct = self._correct(completions, columns)
        groups: dict[str, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(_group_key(prompt), []).append(i)
        rewards: list[float | None] = [None] * len(completions)
        for members in groups.values():
            low, high = min(sizes[i] for i in members), max(sizes[i] for i in members)
            for i in members:
                if correct[i] is None:
                    continue
                lam = 0.0 if high == low else 0.5 - (sizes[i] - low) / (high - low)
                rewards[i] = lam if correct[i] else min(0.0, lam)
        return rewards


class CosineScaledReward(_Graded):
    """``v_lo + ½(v_hi − v_lo)(1 + cos(π · min(1, len / max_length)))``: a short correct
    completion earns up to ``max_value_correct``, a short wrong one is punished down to
    ``min_value_wrong``; both tend to the other end as the length reaches ``max_length``."""

    __name__ = "cosine_scaled_reward"

    def __init__(
        self,
        max_length: int,
        *,
        min_value_wrong: float = -1.0,
        max_value_wrong: float = -0.5,
        min_value_correct: float = 0.5,
        max_value_correct: float = 1.0,
        unit: LengthUnit = "tokens",
        **columns: str,
    ) -> None:
        super().__init__(**columns)
        self.max_length = _length("max_length", max_length)
        self.correct_values = (
            finite_number("min_value_correct", min_value_correct),
            finite_number("max_value_correct", max_value_correct),
        )
        self.wrong_values = (
            finite_number("max_value_wrong", max_value_wrong),
            finite_number("min_value_wrong", min_value_wrong),
        )
        self.unit: LengthUnit = unit

    def score(self, batch: RewardBatch) -> list[float | None]:
        _prompts, completions, completion_ids, columns = batch.unpack()
        sizes = lengths(completions, completion_ids, self.unit)
        rewards: list[float | None] = []
        for size, ok in zip(sizes, self._correct(completions, columns), strict=True):
            if ok is None:
                rewards.append(None)
                continue
            low, high = self.correct_values if ok else self.wrong_values
            progress = min(1.0, size / self.max_length)
            rewards.append(low + 0.5 * (high - low) * (1 + math.cos(math.pi * progress)))
        return rewards


class SoftOverlongPunishment(Reward):
    """DAPO: 0 up to ``max_length − cache``, then ``((max_length − cache) − len) / cache``
    falling linearly to −1 at ``max_length``, and −1 beyond."""

    __name__ = "soft_overlong_punishment"

    def __init__(self, max_length: int, cache: int, unit: LengthUnit = "tokens") -> None:
        self.max_length, self.cache = _length("max_length", max_length), _length("cache", cache)
        if cache > max_length:
            raise ValueError(f"cache ({cache}) must be at most max_length ({max_length})")
        self.unit: LengthUnit = unit

    def score(self, batch: RewardBatch) -> list[float | None]:
        _prompts, completions, completion_ids, _columns = batch.unpack()
        free = self.max_length - self.cache
        rewards: list[float | None] = []
        for size in lengths(completions, completion_ids, self.unit):
            if size <= free:
                rewards.append(0.0)
            elif size <= self.max_length:
                rewards.append((free - size) / self.cache)
            else:
                rewards.append(-1.0)
        return rewards


THINK_FORMAT = re.compile(r"^\s*<think>.*?</think>\s*\S.*$", re.DOTALL)


class ThinkFormatReward(Reward):
    """1.0 when the completion is one ``<think>...</think>`` block followed by an answer (or,
    conversational, a chain of thought the server returned apart and an answer with no
    ``<think>``)."""

    __name__ = "think_format_reward"

    def score(self, batch: RewardBatch) -> list[float | None]:
        _prompts, completions, _completion_ids, _columns = batch.unpack()
        return [1.0 if _think_format(c) else 0.0 for c in completions]


def _think_format(completion: Any) -> bool:
    reasoning, content = completion_parts(completion)
    if reasoning:
        return bool(content.strip()) and "<think>" not in content
    return bool(THINK_FORMAT.match(content)) and content.count("<think>") == 1
