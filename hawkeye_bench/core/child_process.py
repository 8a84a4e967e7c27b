"""Child processes that never outlive the process that started them, SIGKILL included.

Every spawner of the harness (the embedded model server, ``serve --workers``, grader workers,
the Locust subprocess, the scripted server) goes through this module:

- :func:`popen` is ``subprocess.Popen`` for a command: the child gets a signal when its
  parent dies.
- :func:`die_with_parent` is for a Python child's own entry point (a ``multiprocessing``
  worker, a forked server process): called first thing, with the parent's PID when known.
- :func:`from_lasting_thread` runs a spawn on a thread that lives as long as the process.

On Linux the kernel delivers the signal (``prctl(PR_SET_PDEATHSIG)``), whatever the child is
doing, with two pitfalls handled here: the parent may die between the fork and the ``prctl``
(checked: the child then signals itself), and the signal fires when the *thread* that forked
dies, not the process (so spawns from a short-lived thread are moved to a lasting one). The
setting is not inherited across ``fork``: a grandchild needs its own call in its entry point.
Elsewhere a best effort: a daemon thread in a Python child polls its parent's PID (it needs the
GIL, so a child stuck in C code notices late); a non-Python command gets nothing, and its
parent's pipes closing is what tells it to stop.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = [
    "PARENT_POLL_S",
    "describe_exit",
    "die_with_parent",
    "from_lasting_thread",
    "popen",
]

T = TypeVar("T")

#: How often the portable fallback looks at the parent's PID.
PARENT_POLL_S = 0.5

_PR_SET_PDEATHSIG = 1
_prctl_function: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    try:  # resolved now: a forked child only calls it
        _prctl_function = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # no libc symbols visible: the fallback still holds
        _prctl_function = None


def _prctl(option: int, value: int) -> bool:
    """``prctl(option, value)``; False where it is unavailable or fails."""
    if _prctl_function is None:
        return False
    return int(_prctl_function(option, value, 0, 0, 0)) == 0


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Have this process receive ``sig`` when its parent dies.

    ``parent``: the PID the parent had when it started this process; if it is gone already,
    the signal is sent now. Without it, the current parent is taken (a parent that died before
    this call then goes unnoticed: pass it where it can be known).
    """
    parent = os.getppid() if parent is None else parent
    if not _prctl(_PR_SET_PDEATHSIG, int(sig)):
        _watch_parent(sig, parent)
    _check_parent(sig, parent)


def _check_parent(sig: int, parent: int) -> None:
    """Send ``sig`` now if ``parent`` died before the guard was set (this process has been
    re-parented)."""
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def _watch_parent(sig: int, parent: int) -> None:
    """The portable fallback: a daemon thread that signals this process once reparented."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os.kill(os.getpid(), sig)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def popen(
    command: list[str],
    *,
    parent_death_signal: int = signal.SIGKILL,
    preexec_fn: Callable[[], Any] | None = None,
    **kwargs: Any,
) -> subprocess.Popen[Any]:
    """``subprocess.Popen(command, **kwargs)`` whose process gets ``parent_death_signal`` when
    this process dies (Linux; see the module doc for elsewhere). ``preexec_fn`` still runs in
    the child, after the guard is set."""
    parent = os.getpid()

    def guard() -> None:  # in the forked child, before exec: no thread may start here
        _prctl(_PR_SET_PDEATHSIG, int(parent_death_signal))
        _check_parent(parent_death_signal, parent)
        if preexec_fn is not None:
            preexec_fn()

    return from_lasting_thread(lambda: subprocess.Popen(command, preexec_fn=guard, **kwargs))


def from_lasting_thread(start: Callable[[], T]) -> T:
    """``start()``, run on a thread that lives as long as this process: the calling thread
    if it is the main thread, else one daemon thread kept for spawning. A parent-death signal
    fires when the forking thread ends, so a child forked by a worker thread that exits
    (a thread pool's, a test's) would otherwise be killed with it."""
    current = threading.current_thread()
    if current is threading.main_thread() or current.name == _SPAWNER_NAME:
        return start()
    future: Future[T] = Future()
    _spawner().put((start, future))
    return future.result()


_SPAWNER_NAME = "hawkeye-spawner"
_Job = tuple[Callable[[], Any], "Future[Any]"]
_jobs: queue.SimpleQueue[_Job] | None = None
_jobs_pid = 0
_jobs_lock = threading.Lock()


def _spawner() -> queue.SimpleQueue[_Job]:
    """The spawning thread's queue (the thread starts on first use, and again after a fork:
    a forked child has no copy of its parent's threads)."""
    global _jobs, _jobs_pid
    with _jobs_lock:
        if _jobs is None or _jobs_pid != os.getpid():
            _jobs, _jobs_pid = queue.SimpleQueue(), os.getpid()
            threading.Thread(
                target=_run_jobs, args=(_jobs,), name=_SPAWNER_NAME, daemon=True
            ).start()
        return _jobs


def _run_jobs(jobs: queue.SimpleQueue[_Job]) -> None:
    while True:
        start, future = jobs.get()
        try:
            future.set_result(start())
        except BaseException as exc:  # handed to the caller, which re-raises it
            future.set_exception(exc)


def describe_exit(returncode: int) -> str:
    """``exit code 3`` or ``signal SIGILL (4)`` for a subprocess return code."""
    if returncode >= 0:
        return f"exit code {returncode}"
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "signal"
    return f"signal {name} ({number})"
