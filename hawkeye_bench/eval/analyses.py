"""Per-item analyses that need the gold answer, added to a record's ``extra`` after grading.

- the pipeline's own (:meth:`Pipeline.analyse`; the compress pipeline's CoT leak check);
- **overthinking**, for every run, without any model call: the CoT (the ``cot_role`` stage's
  thinking, else its text; for a pipeline without a CoT role, the last stage's thinking) is cut
  at sentence and line boundaries, and its prefixes are graded in order with the same grader
  as the answer until one is right. ``share_after_first_correct`` is the share of the CoT's
  words after that point: how much of the CoT came after the answer was already there. At most
  ``MAX_PREFIXES`` prefixes are graded (evenly spaced over the boundaries, always including
  the whole text), so the first right point is found to that resolution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import Trace
from hawkeye_bench.pipelines import Pipeline, cot_role_of
from hawkeye_bench.pipelines.stage2_input import cot_for_stage2

#: Prefixes graded per item, at most.
MAX_PREFIXES = 8
#: Where a step ends: after a sentence's closing punctuation, or at a line break.
BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")


class _Grade(Protocol):
    @property
    def correct(self) -> bool: ...

    @property
    def extracted(self) -> str | None: ...


class _Grader(Protocol):
    async def grade_async(self, text: str, gold: str, dataset: str) -> Any: ...


def cot_text(trace: Trace) -> str:
    """The CoT whose overthinking is measured ('' when the trace has none)."""
    role = cot_role_of(trace.pipeline)
    if role is not None:
        stage = trace.stage(role)
        return cot_for_stage2(stage, "think-only") if stage is not None else ""
    return trace.stages[-1].thinking if trace.stages else ""


def prefix_ends(text: str, max_prefixes: int = MAX_PREFIXES) -> list[int]:
    """Character offsets where the graded prefixes end, in order: the step boundaries, thinned
    evenly to at most ``max_prefixes`` (the whole text is always the last)."""
    whole = len(text.rstrip())
    ends = sorted({m.start() for m in BOUNDARY.finditer(text) if 0 < m.start() < whole} | {whole})
    if len(ends) <= max_prefixes:
        return ends
    return [ends[(i + 1) * len(ends) // max_prefixes - 1] for i in range(max_prefixes)]


@dataclass
class Overthinking(JsonPayload):
    """``record.extra["overthinking"]``: how much of one CoT came after its answer was right.

    ``first_correct_at``: the words up to the first prefix graded right (None: none was);
    ``share_after_first_correct``: the share of the ``total`` words after it.
    """

    KEY: ClassVar[str] = "overthinking"

    total: int = 0
    max_prefixes: int = MAX_PREFIXES
    prefixes_graded: int = 0
    first_correct_at: int | None = None
    share_after_first_correct: float | None = None
    unit: str = "words"

    @classmethod
    def of_record(cls, record: Record) -> Overthinking | None:
        """The measure a record holds (None: not measured, e.g. a failed item)."""
        data = record.extra.get(cls.KEY)
        return cls.from_json(data) if data else None


async def overthinking(
    text: str, gold: str, dataset: str, grader: _Grader, *, max_prefixes: int = MAX_PREFIXES
) -> Overthinking | None:
    """The overthinking measure of one CoT (None for an empty one); counts in words."""
    if not text.strip():
        return None
    total = len(text.split())
    result = Overthinking(total=total, max_prefixes=max_prefixes)
    for end in prefix_ends(text, max_prefixes):
        result.prefixes_graded += 1
        grade: _Grade = await grader.grade_async(text[:end], gold, dataset)
        if grade.correct:
            at = len(text[:end].split())
            result.first_correct_at = at
            result.share_after_first_correct = (total - at) / total
            break
    return result


async def analyse_record(pipeline: Pipeline, grader: _Grader, record: Record) -> dict[str, Any]:
    """What is added to ``record.extra``: the pipeline's analyses and ``overthinking``."""
    trace = record.trace
    if not trace.ok:
        return {}
    problem = record.problem
    extra = dict(await pipeline.analyse(trace, problem.gold, problem.dataset, grader))
    measure = await overthinking(cot_text(trace), problem.gold, problem.dataset, grader)
    if measure is not None:
        extra[Overthinking.KEY] = measure.to_json()
    return extra
