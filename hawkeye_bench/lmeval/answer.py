"""The text the hawkeye lm-eval model returns, carrying its whole Record to process_results.

lm-eval keeps only strings between the model and a task's ``process_results``; a ``str``
subclass with attributes survives ``take_first`` and identity ``custom`` filters (not ``regex``
ones) and lm-eval's sqlite ``--use_cache`` pickles it whole.
"""

from __future__ import annotations

from typing import Any

from hawkeye_bench.core.record import Record
from hawkeye_bench.lmeval.sidecar import SidecarLine


class PipelineAnswer(str):
    """The graded text (``trace.final_text``) plus where it came from.

    ``record`` holds the trace (every stage's text, tokens with their source, timings, errors)
    and the verdict of the shared grader; ``task``/``doc_id``/``repeat`` key it in the sidecar.
    """

    record: Record
    task: str | None
    doc_id: int | None
    repeat: int

    def __new__(
        cls, record: Record, *, task: str | None, doc_id: int | None, repeat: int
    ) -> PipelineAnswer:
        answer = super().__new__(cls, record.trace.final_text)
        answer.record = record
        answer.task = task
        answer.doc_id = doc_id
        answer.repeat = repeat
        return answer

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.record, self.task, self.doc_id, self.repeat))

    @property
    def failed(self) -> bool:
        return self.record.error is not None

    def sidecar_line(self) -> dict[str, Any]:
        """One line of the traces sidecar: the key, then the full record."""
        line = SidecarLine(self.task, self.doc_id, self.repeat, self.record)
        return line.to_json()


def _rebuild(record: Record, task: str | None, doc_id: int | None, repeat: int) -> PipelineAnswer:
    return PipelineAnswer(record, task=task, doc_id=doc_id, repeat=repeat)
