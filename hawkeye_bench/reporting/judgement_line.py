"""The keys of a ``judgements.jsonl`` line the report reads (the line is a
``hawkeye_bench.judging.results.JudgeResult``'s JSON form; the report takes it as written and
leaves out what it cannot use)."""

from __future__ import annotations

from typing import TypedDict


class JudgementLine(TypedDict, total=False):
    """One judge's verdict on one answer (``task`` ``single``) or one ordered pair."""

    judge: str
    model: str
    task: str
    run: str
    id: str
    sample: int
    #: 0 = the rating; 1.. = re-judgements for self-consistency
    repeat: int
    status: str
    #: criterion -> score; only when ``status`` is ``ok``
    scores: dict[str, float] | None
    verdicts: dict[str, str] | None
