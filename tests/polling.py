"""Waiting for a condition in tests: poll until it holds or a generous deadline passes.

A fixed sleep before asserting is a race on a slow machine; a deadline of many seconds only
costs time when the code under test is broken.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEADLINE_S = 30.0
INTERVAL_S = 0.02


def wait_until(
    condition: Callable[[], bool], timeout_s: float = DEADLINE_S, interval_s: float = INTERVAL_S
) -> bool:
    """True as soon as ``condition()`` holds; False if it still does not after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True


async def async_wait_until(
    condition: Callable[[], bool], timeout_s: float = DEADLINE_S, interval_s: float = INTERVAL_S
) -> bool:
    """:func:`wait_until` for a coroutine: the event loop keeps running between checks."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval_s)
    return True
