"""Preload this module in a multiprocessing forkserver to make it die with the process that
started it: ``context.set_forkserver_preload([__name__, ...])``.

The forkserver itself exits only once every process it forked has exited (each one holds the
pipe whose end it waits for), so a forked worker stuck in a long computation keeps it, and
itself, alive for ever after the starting process is killed. With this guard the kernel kills
the forkserver with its starter, and a forked worker that calls
:func:`~hawkeye_bench.core.child_process.die_with_parent` (its parent is the forkserver) goes
next. Start the first forkserver process from a lasting thread
(:func:`~hawkeye_bench.core.child_process.from_lasting_thread`): the signal follows the thread
that started it. Imported anywhere else, the module does nothing.
"""

from __future__ import annotations

import signal
import sys
from multiprocessing import forkserver

from hawkeye_bench.core import child_process


def _imported_by_forkserver() -> bool:
    """Is this import running inside ``multiprocessing.forkserver.main`` (its preload)?"""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


if _imported_by_forkserver():
    child_process.die_with_parent(signal.SIGKILL)
