"""What every reward shares: TRL's calling convention, completion texts, lengths, correctness.

A reward is called with keyword arguments only: ``prompts``, ``completions``,
``completion_ids``, the dataset's columns and anything else the trainer passes (taken by
``**kwargs``), and returns one ``float | None`` per completion (None: no reward for that
sample). Completions are strings (standard format) or lists of messages (conversational
format: the first message's ``content``, after its chain of thought when the server returned
that apart, in ``reasoning_content`` or ``thinking``). A sample whose gold is missing (None,
NaN, blank) gets None, not 0.0. Rewards are plain classes with a ``__name__`` so that
they pickle into spawned worker processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hawkeye_bench.grading.workers import grade_many

LengthUnit = Literal["tokens", "words", "chars"]


def finite_number(name: str, value: Any, *, minimum: float | None = None) -> float:
    """``value`` as a float, or a ValueError naming ``name`` when it is not a finite number (at
    least ``minimum``): a bad setting fails where it is given, not deep inside a training run."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, not {value!r}")
    return float(value)


#: Message keys that hold a conversational completion's chain of thought, apart from its content
#: (vLLM and DeepSeek ``reasoning_content``, chat templates' ``thinking``, newer servers'
#: ``reasoning``).
REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")


def completion_parts(completion: Any) -> tuple[str, str]:
    """(chain of thought kept apart from the content, content) of one completion; a standard
    (string) completion has everything in its content."""
    if isinstance(completion, str):
        return "", completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[0], dict):
        message = completion[0]
        reasoning = next((str(message[k]) for k in REASONING_KEYS if message.get(k)), "")
        return reasoning, str(message.get("content") or "")
    raise TypeError(f"a completion is a string or a list of messages, not {completion!r}")


def completion_text(completion: Any) -> str:
    """The text of one completion, standard (a string) or conversational (messages): a chain
    of thought in ``reasoning_content`` (or ``thinking``) comes first, then the content."""
    return "\n\n".join(part for part in completion_parts(completion) if part)


def missing_gold(value: Any) -> bool:
    """No gold for this sample: None, NaN (a pandas gap) or a blank string."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def lengths(
    completions: Sequence[Any], completion_ids: Sequence[Sequence[int]] | None, unit: LengthUnit
) -> list[int]:
    """Each completion's length: token ids (``completion_ids``), whitespace words or chars."""
    if unit == "tokens":
        if completion_ids is None:
            raise ValueError("length in tokens needs completion_ids (TRL passes them)")
        return [len(ids) for ids in completion_ids]
    texts = [completion_text(c) for c in completions]
    return [len(t.split()) for t in texts] if unit == "words" else [len(t) for t in texts]


def correctness(
    completions: Sequence[Any], golds: Sequence[Any] | None, dataset: Sequence[Any] | str | None
) -> list[bool | None]:
    """Each completion graded against its gold answer (None: grading failed or no gold for
    that sample, so TRL skips it rather than reading a missing gold as a wrong answer)."""
    if golds is None:
        raise ValueError("this reward needs the gold answers: a dataset column (gold_column)")
    datasets = [dataset] * len(golds) if dataset is None or isinstance(dataset, str) else dataset
    rows = list(zip(completions, golds, datasets, strict=True))
    graded = [i for i, (_c, g, _d) in enumerate(rows) if not missing_gold(g)]
    tasks = [(completion_text(rows[i][0]), str(rows[i][1]), rows[i][2]) for i in graded]
    out: list[bool | None] = [None] * len(rows)
    for i, grade in zip(graded, grade_many(tasks) if tasks else [], strict=True):
        out[i] = None if grade.error else grade.correct
    return out


@dataclass(frozen=True)
class RewardBatch:
    """One call as TRL makes it: prompts, completions, their token ids, the dataset columns."""

    prompts: list[Any]
    completions: Sequence[Any]
    completion_ids: Sequence[Sequence[int]] | None
    columns: dict[str, Any]

    @classmethod
    def of(
        cls,
        reward: str,
        prompts: Sequence[Any] | None,
        completions: Sequence[Any] | None,
        completion_ids: Sequence[Sequence[int]] | None,
        columns: dict[str, Any],
    ) -> RewardBatch:
        if completions is None:
            raise TypeError(f"{reward}: called without completions")
        return cls(list(prompts or [None] * len(completions)), completions, completion_ids, columns)

    def unpack(
        self,
    ) -> tuple[list[Any], Sequence[Any], Sequence[Sequence[int]] | None, dict[str, Any]]:
        return self.prompts, self.completions, self.completion_ids, self.columns


class Reward:
    """Base class: a ``__name__`` (TRL logs each reward under it) and the keyword call."""

    __name__ = "reward"

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        return self.score(
            RewardBatch.of(self.__name__, prompts, completions, completion_ids, kwargs)
        )

    def score(self, batch: RewardBatch) -> list[float | None]:
        _prompts, _completions, _completion_ids, _columns = batch.unpack()
        raise NotImplementedError
