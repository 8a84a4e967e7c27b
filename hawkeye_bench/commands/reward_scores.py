"""What `hawkeye-bench reward` computes per sample and writes: each reward's values
(:class:`Scores`), one line of ``rewards.jsonl`` per sample (:class:`RewardRow`), and how two
rewards disagree (:class:`Disagreement`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: the fixed keys of a rewards.jsonl line; every other key is a score column
ROW_KEYS = ("id", "sample", "completion_tokens")


@dataclass
class Scores:
    """Each reward's values, one per sample (None: not scored)."""

    values: dict[str, list[float | None]] = field(default_factory=dict)
    extra: dict[str, list[float | None]] = field(default_factory=dict)  # terms: EM
    responder_calls: int = 0
    responder_failures: int = 0

    def failed_calls(self, max_error_rate: float | None) -> str | None:
        """Why the responder's failures fail the command (all failed, or too many); or None."""
        calls, failed = self.responder_calls, self.responder_failures
        if not calls or not failed:
            return None
        if failed == calls:
            return f"every responder call failed ({failed}); no Hawkeye reward was computed"
        if max_error_rate is not None and failed / calls > max_error_rate:
            return (
                f"{failed} of {calls} responder calls failed ({failed / calls:.1%}, above "
                f"--max-error-rate {max_error_rate:.1%})"
            )
        return None

    def rows(
        self, ids: Sequence[str], samples: Sequence[int], tokens: Sequence[int | None]
    ) -> list[RewardRow]:
        """One row per sample: the extra columns (EM), then each reward's value."""
        columns = {**self.extra, **self.values}
        return [
            RewardRow(
                id=ids[i],
                sample=samples[i],
                completion_tokens=tokens[i],
                scores={name: values[i] for name, values in columns.items()},
            )
            for i in range(len(ids))
        ]


@dataclass
class RewardRow:
    """One line of ``rewards.jsonl``: a sample and its score columns (a reward's value, or a
    term such as ``hawkeye_em``), in the order they were computed."""

    id: str
    sample: int
    completion_tokens: int | None
    scores: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        head = {"id": self.id, "sample": self.sample, "completion_tokens": self.completion_tokens}
        return head | self.scores

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RewardRow:
        tokens = data.get("completion_tokens")
        return cls(
            id=str(data["id"]),
            sample=int(data.get("sample") or 0),
            completion_tokens=None if tokens is None else int(tokens),
            scores={
                k: None if v is None else float(v) for k, v in data.items() if k not in ROW_KEYS
            },
        )


@dataclass(frozen=True)
class Disagreement:
    """How two rewards disagree over the samples both scored."""

    samples: int  # scored by both
    sign_differs: float | None  # share of samples whose sign differs
    pairs: int  # pairs of samples compared
    pairs_within: str  # "problem" (samples of one problem) or "run" (all pairs)
    ranking_differs: float | None  # share of pairs ranked the other way


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def disagreement(
    a: Sequence[float | None], b: Sequence[float | None], groups: Sequence[str]
) -> Disagreement:
    """Share of samples whose sign differs; share of pairs ranked the other way (pairs of
    samples of one problem when any problem has several, else all pairs)."""
    both = [i for i in range(len(a)) if a[i] is not None and b[i] is not None]
    signs = sum(_sign(a[i]) != _sign(b[i]) for i in both)  # type: ignore[arg-type]
    per_problem = len({groups[i] for i in both}) < len(both)
    pairs = [
        (i, j)
        for i, j in itertools.combinations(both, 2)
        if not per_problem or groups[i] == groups[j]
    ]
    flipped = sum(
        _sign(a[i] - a[j]) * _sign(b[i] - b[j]) < 0  # type: ignore[operator]
        for i, j in pairs
    )
    return Disagreement(
        samples=len(both),
        sign_differs=signs / len(both) if both else None,
        pairs=len(pairs),
        pairs_within="problem" if per_problem else "run",
        ranking_differs=flipped / len(pairs) if pairs else None,
    )
