"""A graded result for one (problem, sample): the unit written to ``records.jsonl``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.trace import Trace


@dataclass
class Record:
    """One line of ``records.jsonl``.

    ``correct`` is None when the item failed (server error after retries): a failure is counted
    as an error, and as wrong in accuracy, but it is never given an extracted answer.
    """

    problem: Problem
    sample: int  # repeat index, 0..k-1
    trace: Trace
    extracted: str | None = None
    correct: bool | None = None
    grade_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: where the graded answer was found: "final" (after any thinking) or "think" (boxed at the
    #: end of a think block whose summary was cut); None when nothing was extracted
    answer_source: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem.id, self.sample)

    @property
    def error(self) -> str | None:
        return self.trace.error

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.problem.id,
            "sample": self.sample,
            "dataset": self.problem.dataset,
            "question": self.problem.question,
            "gold": self.problem.gold,
            "metadata": self.problem.metadata,
            "pipeline": self.trace.pipeline,
            "final_text": self.trace.final_text,
            "extracted": self.extracted,
            "answer_source": self.answer_source,
            "correct": self.correct,
            "grade_error": self.grade_error,
            "error": self.error,
            "trace": self.trace.to_dict(),
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        problem = Problem(
            id=data["id"],
            dataset=data["dataset"],
            question=data["question"],
            gold=data["gold"],
            metadata=data.get("metadata", {}),
        )
        return cls(
            problem=problem,
            sample=data["sample"],
            trace=Trace.from_dict(data["trace"]),
            extracted=data.get("extracted"),
            correct=data.get("correct"),
            grade_error=data.get("grade_error"),
            extra=data.get("extra", {}),
            answer_source=data.get("answer_source"),
        )
