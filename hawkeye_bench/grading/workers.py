"""Hang-proof grading: math-verify in reusable worker processes with a per-answer deadline.

math-verify's own timeouts use ``signal.alarm``, which only works in the main thread and cannot
stop sympy inside C code. So :mod:`hawkeye_bench.grading.equivalence` runs with those timeouts
off, and :class:`Grader` bounds wall-clock time instead: each answer goes to an idle worker
process over a pipe; a worker that misses the deadline (``\\boxed{9^{9^{9^{9}}}}``) is killed
and replaced, and the answer is graded ``correct=False, error="timeout"``. Workers are reused,
and forked from a forkserver that has already imported sympy and math-verify, so a replacement
starts in milliseconds rather than the second or two a fresh interpreter needs.

Use :func:`grade` (blocking, safe in any thread, e.g. lm-eval's ``process_results``), ``await
grader.grade_async(...)`` from asyncio, or ``grader.grade_many(...)`` for batches.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Any, Concatenate, ParamSpec

from hawkeye_bench.core import child_process
from hawkeye_bench.grading.context import AnswerContext
from hawkeye_bench.grading.equivalence import grade_unbounded
from hawkeye_bench.grading.grade import Grade
from hawkeye_bench.grading.memo import SHARED_MEMO, GradeMemo

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "GENERIC",
    "AnswerContext",
    "Grade",
    "Grader",
    "close_default_grader",
    "default_grader",
    "grade",
    "grade_many",
    "is_equivalent",
]

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_LIMIT_MB = 2048
#: Kind for answers not tied to a dataset: the gold's format is detected per string.
GENERIC = "generic"

GradeTask = tuple[str, str, str | None, AnswerContext | None]


def _worker_main(conn: Connection, memory_limit_mb: int | None) -> None:
    """Worker loop: receive (text, gold, dataset, context), send back a Grade, until the pipe
    closes."""
    # The pipe closing ends an idle worker; a dead parent (the forkserver, killed with the
    # grading process: see core/forkserver_guard.py) kills a busy one too, even in C code.
    child_process.die_with_parent(signal.SIGKILL)
    if memory_limit_mb:
        try:
            import resource

            limit = memory_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):  # not on this platform: deadline still holds
            pass
    while True:
        try:
            text, gold, dataset, context = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = grade_unbounded(text, gold, dataset, context)
        except MemoryError:
            result = Grade(extracted=None, correct=False, error="memory")
        except Exception as exc:  # a grading bug must not kill the worker or the run
            result = Grade(extracted=None, correct=False, error=f"{type(exc).__name__}: {exc}")
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


def _context() -> ForkServerContext | SpawnContext:
    """forkserver (preloaded with the grading code) where available, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(
            ["hawkeye_bench.core.forkserver_guard", "hawkeye_bench.grading.equivalence"]
        )
        return context
    return multiprocessing.get_context("spawn")


class _Worker:
    """One grading process and the parent's end of its pipe."""

    def __init__(self, context: ForkServerContext | SpawnContext, memory_limit_mb: int | None):
        parent_end, child_end = context.Pipe()
        self.process = context.Process(
            target=_worker_main,
            args=(child_end, memory_limit_mb),
            name="hawkeye-grader",
            daemon=True,
        )
        # The first start also starts the forkserver, which must die with this process.
        child_process.from_lasting_thread(self.process.start)
        child_end.close()
        self.conn = parent_end

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        self.conn.close()  # the worker's recv() sees EOF and returns
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.kill()


#: the arguments of the Grader method :func:`_on_grader_threads` wraps
P = ParamSpec("P")


def _on_grader_threads(
    method: Callable[Concatenate[Grader, P], Grade],
) -> Callable[Concatenate[Grader, P], Coroutine[Any, Any, Grade]]:
    """``method`` (a blocking Grader method) as a coroutine that runs it on the grader's
    threads, so the event loop is not blocked; it takes the same arguments."""

    async def without_blocking(grader: Grader, *args: P.args, **kwargs: P.kwargs) -> Grade:
        call = functools.partial(method, grader, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(grader._thread_pool(), call)

    without_blocking.__doc__ = f":meth:`{method.__name__}` without blocking the event loop."
    return without_blocking


class Grader:
    """A pool of grading worker processes with a per-answer wall-clock deadline.

    Thread-safe: any number of threads (or asyncio tasks via :meth:`grade_async`) may call it;
    at most ``workers`` answers are graded at once, the rest wait for a free worker. The wait
    for a free worker does not count against ``timeout_s``. Successful grades are remembered in
    ``memo`` (the process-wide one unless given; None: none), so a text graded again is free.
    """

    def __init__(
        self,
        workers: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
        memo: GradeMemo | None = SHARED_MEMO,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.workers = workers or min(4, os.cpu_count() or 1)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.restarts = 0  # workers killed (deadline missed or crashed)
        self.memo = memo
        self._context = _context()
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(self.workers)
        self._lock = threading.Lock()
        self._all: set[_Worker] = set()
        self._closed = False
        self._threads: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop all workers. Grading after close raises RuntimeError."""
        with self._lock:
            self._closed = True
            workers, self._all = list(self._all), set()
            threads, self._threads = self._threads, None
        for worker in workers:
            worker.stop()
        if threads is not None:
            threads.shutdown(wait=False)

    def warm_up(self) -> None:
        """Start every worker now (otherwise they start on first use)."""
        started = [self._checkout() for _ in range(self.workers)]
        for worker in started:
            self._checkin(worker)

    @property
    def alive_workers(self) -> int:
        with self._lock:
            return sum(1 for w in self._all if w.process.is_alive())

    # ------------------------------------------------------------------ worker bookkeeping

    def _checkout(self) -> _Worker:
        self._slots.acquire()
        try:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                pass
            with self._lock:
                if self._closed:
                    raise RuntimeError("Grader is closed")
                worker = _Worker(self._context, self.memory_limit_mb)
                self._all.add(worker)
                return worker
        except BaseException:
            self._slots.release()
            raise

    def _checkin(self, worker: _Worker) -> None:
        self._idle.put(worker)
        self._slots.release()

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
            self.restarts += 1
        worker.kill()
        self._slots.release()  # the next checkout starts a replacement

    # ------------------------------------------------------------------ grading

    def grade(
        self,
        text: str,
        gold: str,
        dataset: str | None = GENERIC,
        context: AnswerContext | None = None,
    ) -> Grade:
        """Grade one completion against its gold answer; never takes much over ``timeout_s``.

        ``context`` (the question, whether the model stopped by itself) helps read prose
        answers; see :class:`~hawkeye_bench.grading.context.AnswerContext`.
        """
        if self._closed:
            raise RuntimeError("Grader is closed")
        dataset = None if dataset == GENERIC else dataset
        key = self.memo.key(text, gold, dataset, context) if self.memo is not None else b""
        remembered = self.memo.get(key) if self.memo is not None else None
        if remembered is not None:
            return remembered
        worker = self._checkout()
        try:
            worker.conn.send((text, gold, dataset, context))
            if not worker.conn.poll(self.timeout_s):
                self._discard(worker)
                return Grade(extracted=None, correct=False, error="timeout")
            result: Grade = worker.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as exc:
            code = worker.process.exitcode
            self._discard(worker)
            return Grade(extracted=None, correct=False, error=f"worker died ({code}): {exc}")
        except BaseException:
            self._discard(worker)  # e.g. KeyboardInterrupt mid-task: the worker is busy
            raise
        self._checkin(worker)
        if self.memo is not None:
            self.memo.put(key, result)
        return result

    def _thread_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="grader")
            return self._threads

    grade_async = _on_grader_threads(grade)

    def grade_many(self, tasks: Iterable[Sequence[Any]]) -> list[Grade]:
        """Grade ``(text, gold, dataset)`` triples, or ``(text, gold, dataset, context)``
        quadruples, on all workers; results in input order."""
        items = [tuple(task) for task in tasks]
        return list(self._thread_pool().map(lambda task: self.grade(*task), items))

    def is_equivalent(self, prediction: str, gold: str) -> bool:
        """Dataset-agnostic equivalence (gold format detected per string), time-bounded."""
        return self.grade(prediction, gold, GENERIC).correct


_default: Grader | None = None
_default_lock = threading.Lock()


def default_grader() -> Grader:
    """The process-wide Grader used by the module-level functions (created on first use)."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = Grader()
            atexit.register(_default.close)
        return _default


def close_default_grader() -> None:
    """Stop the default grader's workers now rather than at exit (a new one starts on next
    use)."""
    with _default_lock:
        grader = _default
    if grader is not None:
        grader.close()


def grade(
    text: str, gold: str, dataset: str | None = GENERIC, context: AnswerContext | None = None
) -> Grade:
    """Grade one completion (thinking stripped) against ``gold``, bounded by the deadline.

    ``dataset`` selects how ``gold`` is written (``gsm8k``/``aime*``: a number; ``math``/
    ``math500``: LaTeX without ``$``); any other value detects it per string. ``context``:
    the question and whether the model stopped by itself (:class:`AnswerContext`).
    """
    return default_grader().grade(text, gold, dataset, context)


def grade_many(tasks: Iterable[Sequence[Any]]) -> list[Grade]:
    """Grade ``(text, gold, dataset)`` triples in parallel on the default grader."""
    return default_grader().grade_many(tasks)


def is_equivalent(prediction: str, gold: str) -> bool:
    """Is ``prediction``'s final answer equal to ``gold``? Dataset-agnostic, time-bounded."""
    return default_grader().is_equivalent(prediction, gold)
