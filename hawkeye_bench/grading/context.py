"""What the grader may know about an answer besides its text and the gold (no sympy here: the
eval engine builds it for every item without importing the grading code)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnswerContext:
    """``question``: the problem as asked; a prose final sentence's numbers that the question
    also has are givens, not the answer. ``stopped``: the model ended the completion itself
    (finish reason ``stop``), so an unclosed ``<think>`` holds an answer rather than thinking
    cut by the token limit."""

    question: str | None = None
    stopped: bool = False
