"""The grader's verdict on one answer, shared by every way of grading (math, multiple choice)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

#: Which part of a completion the graded answer came from: ``final`` = the text after the think
#: block (or the whole text when there is none); ``think`` = the think block's final boxed answer,
#: taken because the text after ``</think>`` has no boxed answer (cut by the token limit);
#: ``unclosed_think`` = the final statement inside a ``<think>`` never closed, from a model that
#: stopped by itself (it echoed the ``<think>`` its prompt ended with, then answered).
AnswerSource = Literal["final", "think", "unclosed_think"]


@dataclass
class Grade:
    """The verdict on one answer. ``error`` is set when grading itself failed (e.g. timeout);
    ``ambiguous`` says why no rule could tell which number is the answer (graded wrong)."""

    extracted: str | None
    correct: bool
    error: str | None = None
    method: str | None = None  # "math-verify", "text", or None when nothing was compared
    answer_source: AnswerSource | None = None  # None when no answer was extracted
    ambiguous: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
