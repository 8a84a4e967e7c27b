"""Runs a pipeline over (problem, sample) items with bounded concurrency, grading and storing
each record the moment it is complete.

Each item runs its stages back to back inside one task, so stage 2 of a problem starts as soon
as its stage 1 ends: there is no batch barrier between stages.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import Trace
from hawkeye_bench.eval.analyses import analyse_record
from hawkeye_bench.grading.context import AnswerContext
from hawkeye_bench.pipelines import Pipeline


class GradeResult(Protocol):
    """What a record keeps of a grade (read-only, so a narrower field type also satisfies it)."""

    @property
    def extracted(self) -> str | None: ...
    @property
    def correct(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def answer_source(self) -> str | None: ...
    @property
    def ambiguous(self) -> str | None: ...


class AsyncGrader(Protocol):
    async def grade_async(
        self, text: str, gold: str, dataset: str, context: AnswerContext | None = None
    ) -> GradeResult: ...


@dataclass(frozen=True)
class WorkItem:
    problem: Problem
    sample: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem.id, self.sample)


def item_seed(base_seed: int, problem_id: str, sample: int) -> int:
    """A distinct, reproducible seed per (problem, repeat): repeats must not be identical."""
    digest = hashlib.sha256(f"{base_seed}:{problem_id}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def plan_items(
    problems: Sequence[Problem], samples: int, done: Iterable[tuple[str, int]] = ()
) -> list[WorkItem]:
    finished = set(done)
    return [
        WorkItem(problem, sample)
        for sample in range(samples)
        for problem in problems
        if (problem.id, sample) not in finished
    ]


async def grade_trace(grader: AsyncGrader, item: WorkItem, trace: Trace, seed: int) -> Record:
    record = Record(problem=item.problem, sample=item.sample, trace=trace, extra={"seed": seed})
    if trace.ok:
        grade = await grader.grade_async(
            graded_text(trace),
            item.problem.gold,
            item.problem.dataset,
            context=answer_context(item.problem, trace),
        )
        keep_grade(record, grade)
    return record


def answer_context(problem: Problem, trace: Trace) -> AnswerContext:
    """What the grader is told besides the text: the question, and whether the last call
    ended by itself."""
    last = trace.stages[-1] if trace.stages else None
    return AnswerContext(
        question=problem.question, stopped=last is not None and last.finish_reason == "stop"
    )


def keep_grade(record: Record, grade: GradeResult) -> None:
    """Copy a grade's verdict into its record (an ambiguous extraction is noted in extra)."""
    record.extracted, record.correct, record.grade_error = (
        grade.extracted,
        grade.correct,
        grade.error,
    )
    record.answer_source = grade.answer_source
    if grade.ambiguous is not None:  # no rule could tell which number is the answer
        record.extra["extraction_ambiguous"] = grade.ambiguous


def graded_text(trace: Trace) -> str:
    """What the grader reads: the final stage's whole completion when the trace's final text
    is that stage's answer (the grader removes the thinking itself, and can fall back on an
    answer boxed at the end of it when the summary after it was cut), else the final text."""
    last = trace.stages[-1] if trace.stages else None
    if last is not None and last.answer == trace.final_text:
        return last.completion
    return trace.final_text


async def run_item(
    pipeline: Pipeline, grader: AsyncGrader, item: WorkItem, *, base_seed: int
) -> Record:
    seed = item_seed(base_seed, item.problem.id, item.sample)
    trace = await pipeline.run(item.problem.question, seed=seed)
    return await grade_trace(grader, item, trace, seed)


async def run_items(
    pipeline: Pipeline,
    grader: AsyncGrader,
    items: Sequence[WorkItem],
    *,
    concurrency: int,
    base_seed: int = 0,
    on_record: Callable[[Record], None],
    monitor: Callable[[], None] | None = None,
    monitor_interval_s: float = 0.25,
) -> None:
    """Run every item, at most ``concurrency`` pipelines at once; ``on_record`` sees each
    finished record.

    Grading happens outside the concurrency slots (the grader bounds its own workers), so a
    slow answer to grade never keeps a model idle. Cancellation (Ctrl-C) stops the in-flight
    items; everything already passed to ``on_record`` is kept. An exception from
    ``on_record``, or from ``monitor`` (called every ``monitor_interval_s`` while items run,
    e.g. to notice a dead model server), stops the run at once and propagates.
    """
    run = _ItemRun(pipeline, grader, items, base_seed=base_seed, on_record=on_record)
    workers = max(1, min(concurrency, len(items)))
    with fewer_gc_pauses():
        await run.run(workers, monitor, monitor_interval_s)


#: Allocations between young-generation collections while items run (Python's default: 700).
GC_THRESHOLD_WHILE_RUNNING = 50_000


@contextlib.contextmanager
def fewer_gc_pauses() -> Iterator[None]:
    """Collect less often while items run: with hundreds of calls in flight, the default
    threshold collects hundreds of times a second, each pause delaying every stream (about a
    tenth of the event loop's time at concurrency 512). What exists before the run (modules,
    the dataset) is frozen out of the collections; both are undone afterwards."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], GC_THRESHOLD_WHILE_RUNNING), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class _ItemRun:
    """The state of one ``run_items`` call: the item queue, the grading tasks in flight and
    ``stopped``, which a failing ``on_record`` or monitor sets to its exception."""

    def __init__(
        self,
        pipeline: Pipeline,
        grader: AsyncGrader,
        items: Sequence[WorkItem],
        *,
        base_seed: int,
        on_record: Callable[[Record], None],
    ) -> None:
        self.pipeline = pipeline
        self.grader = grader
        self.base_seed = base_seed
        self.on_record = on_record
        self.queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        for item in items:
            self.queue.put_nowait(item)
        self.gradings: set[asyncio.Task[None]] = set()
        self.stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def stop(self, exc: BaseException) -> None:
        if not self.stopped.done():
            self.stopped.set_exception(exc)

    async def finish(self, item: WorkItem, trace: Trace, seed: int) -> None:
        try:
            record = await grade_trace(self.grader, item, trace, seed)
            record.extra.update(await analyse_record(self.pipeline, self.grader, record))
            self.on_record(record)
        except Exception as exc:
            self.stop(exc)

    async def worker(self) -> None:
        """Run queued items one after another; grade each in a task of its own."""
        while True:
            try:
                item = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            seed = item_seed(self.base_seed, item.problem.id, item.sample)
            trace = await self.pipeline.run(item.problem.question, seed=seed)
            task = asyncio.create_task(self.finish(item, trace, seed))
            self.gradings.add(task)
            task.add_done_callback(self.gradings.discard)

    async def watch(self, monitor: Callable[[], None], interval_s: float) -> None:
        try:
            while True:
                monitor()
                await asyncio.sleep(interval_s)
        except Exception as exc:
            self.stop(exc)

    async def all_items(self, workers: Sequence[asyncio.Task[None]]) -> None:
        await asyncio.gather(*workers)
        while self.gradings:
            await asyncio.gather(*list(self.gradings))

    async def run(
        self, n_workers: int, monitor: Callable[[], None] | None, monitor_interval_s: float
    ) -> None:
        """Run until every item is graded or ``stopped`` is set; cancel what is left either way."""
        workers = [asyncio.create_task(self.worker()) for _ in range(n_workers)]
        everything = asyncio.create_task(self.all_items(workers))
        watcher = (
            asyncio.create_task(self.watch(monitor, monitor_interval_s))
            if monitor is not None
            else None
        )
        try:
            await asyncio.wait({everything, self.stopped}, return_when=asyncio.FIRST_COMPLETED)
            if self.stopped.done():
                self.stopped.result()  # raises what on_record or the monitor raised
            await everything
        finally:
            pending = [everything, *workers, *self.gradings, *([watcher] if watcher else [])]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if not self.stopped.done():
                self.stopped.cancel()
