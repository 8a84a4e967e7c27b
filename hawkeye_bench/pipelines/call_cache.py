"""A cache of finished model calls on disk (``call_cache.jsonl`` in a run or sweep folder).

A call is known by everything that changes its answer: the role, the endpoint's server and
model, the rendered prompt, the sampling and the seed. A finished, error-free call is appended
as one line the moment it ends, so a rerun, a resumed run or a sweep over more shares never
sends it again. Identical calls in flight at once are made once: the second waits for the
first. One process writes a cache file at a time.

Besides model calls (:meth:`CallCache.get_or_call`, a ``StageResult``), a line may hold any
finished step as a JSON object (:meth:`CallCache.get_or_compute`): the compress pipeline keeps
each compression there, so every responder of a sweep reads the same compressed CoT.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast

from hawkeye_bench.core.jsonl import JsonlWriter, read_jsonl
from hawkeye_bench.core.trace import StageResult, StageResultJson
from hawkeye_bench.pipelines.compress_facts import CompressionJson

CACHE_FILE = "call_cache.jsonl"

#: What a cache line's ``result`` holds: a model call, or a compression.
CachedResult = StageResultJson | CompressionJson


def call_key(fields: Mapping[str, Any]) -> str:
    """A stable key for a call described by JSON-serialisable ``fields``."""
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CallCache:
    """``await cache.get_or_call(key, call)`` -> (result, whether it came from the cache)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / CACHE_FILE
        self._entries: dict[str, CachedResult] = {}
        if self.path.is_file():
            for row in read_jsonl(self.path, repair=True):
                self._entries[str(row["key"])] = row["result"].copy()
        self._writer = JsonlWriter(self.path)
        self._locks: dict[str, asyncio.Lock] = {}
        self.hits = 0
        self.calls = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get_or_call(
        self, key: str, call: Callable[[], Awaitable[StageResult]]
    ) -> tuple[StageResult, bool]:
        async def compute() -> tuple[CachedResult, bool]:
            result = await call()
            return result.to_dict(), result.ok

        row, hit = await self.get_or_compute(key, compute)
        # a key is a model call's or a compression's, never both: its row is a call's
        return StageResult.from_dict(cast(StageResultJson, row)), hit

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[tuple[CachedResult, bool]]]
    ) -> tuple[CachedResult, bool]:
        """The stored object for ``key``, else ``compute()``'s, stored when it says it is
        finished (an error is not: the next run tries again)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._entries.get(key)
            if cached is not None:
                self.hits += 1
                return cached.copy(), True
            self.calls += 1
            row, finished = await compute()
            if finished:
                self._entries[key] = row
                self._writer.write({"key": key, "role": row.get("role"), "result": row})
            return row, False

    def close(self) -> None:
        self._writer.close()
