"""Runs a pipeline over (problem, sample) items with bounded concurrency, grading and storing
each record the moment it is complete.

Each item runs its stages back to back inside one task, so stage 2 of a problem starts as soon
as its stage 1 ends: there is no batch barrier between stages.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import Trace
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


class AsyncGrader(Protocol):
    async def grade_async(self, text: str, gold: str, dataset: str) -> GradeResult: ...


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
        text = graded_text(trace)
        grade = await grader.grade_async(text, item.problem.gold, item.problem.dataset)
        record.extracted, record.correct, record.grade_error = (
            grade.extracted,
            grade.correct,
            grade.error,
        )
        record.answer_source = grade.answer_source
    return record


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
    queue: asyncio.Queue[WorkItem] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    gradings: set[asyncio.Task[None]] = set()

    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[None] = loop.create_future()  # set by a failing on_record/monitor

    def stop(exc: BaseException) -> None:
        if not stopped.done():
            stopped.set_exception(exc)

    async def finish(item: WorkItem, trace: Trace, seed: int) -> None:
        try:
            on_record(await grade_trace(grader, item, trace, seed))
        except Exception as exc:
            stop(exc)

    async def worker() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            seed = item_seed(base_seed, item.problem.id, item.sample)
            trace = await pipeline.run(item.problem.question, seed=seed)
            task = asyncio.create_task(finish(item, trace, seed))
            gradings.add(task)
            task.add_done_callback(gradings.discard)

    async def watch() -> None:
        assert monitor is not None
        try:
            while True:
                monitor()
                await asyncio.sleep(monitor_interval_s)
        except Exception as exc:
            stop(exc)

    async def all_items() -> None:
        await asyncio.gather(*workers)
        while gradings:
            await asyncio.gather(*list(gradings))

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(concurrency, len(items))))]
    everything = asyncio.create_task(all_items())
    watcher = asyncio.create_task(watch()) if monitor is not None else None
    try:
        await asyncio.wait({everything, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stopped.done():
            stopped.result()  # raises what on_record or the monitor raised
        await everything
    finally:
        pending = [everything, *workers, *gradings, *([watcher] if watcher else [])]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if not stopped.done():
            stopped.cancel()
