"""The second pass of an import: build the records in batches, count the tokens the file
lacks, grade on the grader's worker processes (overlapping the writing of the previous batch)
and append one flushed line per record."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tqdm import tqdm

from hawkeye_bench import pipelines
from hawkeye_bench.core.record import Record
from hawkeye_bench.eval.engine import answer_context, graded_text, keep_grade
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.importing.plan import ImportPlan
from hawkeye_bench.importing.provenance import build_record
from hawkeye_bench.importing.scan import Reading, Scan, file_of
from hawkeye_bench.importing.tokens import TextCounter, count_missing

#: Records built, counted and graded at a time.
BATCH = 512


def _grade(records: Sequence[Record], grader: Any) -> None:
    graded = [r for r in records if r.trace.ok]
    tasks = [
        (
            graded_text(r.trace),
            r.problem.gold,
            r.problem.dataset,
            answer_context(r.problem, r.trace),
        )
        for r in graded
    ]
    for record, grade in zip(graded, grader.grade_many(tasks), strict=True):
        keep_grade(record, grade)


class _BatchWriter:
    """Grades a batch on the grader's worker processes while the previous batch is written, so
    the grading and the writing of records overlap; records are written in file order, each
    once its batch is graded."""

    def __init__(
        self,
        grader: Any,
        counter: TextCounter | None,
        store: RunStore,
        on_written: Callable[[list[Record]], None],
    ) -> None:
        self.grader = grader
        self.counter = counter
        self.store = store
        self.on_written = on_written
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="import-grading")
        self._pending: tuple[list[Record], Future[None]] | None = None

    def submit(self, batch: list[Record]) -> None:
        count_missing([s for r in batch for s in r.trace.stages], self.counter)
        graded = self._executor.submit(_grade, batch, self.grader)
        self._write_pending()
        self._pending = (batch, graded)

    def _write_pending(self) -> None:
        if self._pending is None:
            return
        batch, graded = self._pending
        self._pending = None
        graded.result()
        for record in batch:
            self.store.append(record)
        self.on_written(batch)

    def finish(self) -> None:
        self._write_pending()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def write_records(
    plan: ImportPlan,
    found: Scan,
    pipeline: type[pipelines.Pipeline],
    store: RunStore,
    done: list[Record],
    counter: TextCounter | None,
) -> list[Record]:
    """The second pass: build, count, grade and append every record not already done."""
    from hawkeye_bench.grading.workers import Grader  # math-verify and sympy: slow to import

    finished = {r.key for r in done}
    reading = Reading(plan, found.files)
    records = list(done)
    bar = tqdm(
        total=found.usable,
        initial=len(done),
        desc=f"import {pipeline.name} on {plan.task}",
        unit="answer",
        disable=not plan.progress,
        file=sys.stderr,
    )

    def written(batch: list[Record]) -> None:
        records.extend(batch)
        bar.update(len(batch))

    matches = iter(found.matches)
    batch: list[Record] = []
    try:
        with Grader() as grader:
            writer = _BatchWriter(grader, counter, store, written)
            try:
                for row in reading.rows():
                    match = next(matches)
                    if match is None or (match.problem.id, match.sample) in finished:
                        continue
                    where = f"{file_of(reading, row)}:{row.line}"
                    batch.append(build_record(row, match, pipeline, where))
                    if len(batch) >= BATCH:
                        writer.submit(batch)
                        batch = []
                writer.submit(batch)
                writer.finish()
            finally:
                writer.close()
    finally:
        bar.close()
        store.close()
    return records
