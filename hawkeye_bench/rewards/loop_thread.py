"""A private event loop in a daemon thread: where a synchronous reward awaits its calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from hawkeye_bench.endpoints.pool import ClientPool

T = TypeVar("T")


class LoopThread:
    """A private event loop in a daemon thread, for the synchronous call, with the responder's
    client pool kept open on it between calls."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="hawkeye-reward", daemon=True
        )
        self.pool: ClientPool | None = None
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def shutdown(self) -> None:
        """Close the pool and stop the thread (also when the reward is dropped unclosed)."""
        pool, self.pool = self.pool, None
        if threading.current_thread() is self.thread:  # collected on its own loop: no waiting
            if pool is not None:
                self.loop.create_task(pool.close())
            self.loop.call_soon(self.loop.stop)
            return
        if pool is not None:
            self.run(pool.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
