"""Stopping a run that cannot go on, and saying why.

Two ways a run loses its model mid-way, each named for what it is:

- a model server the harness started (the embedded model) exits: :class:`ModelServerDied`,
  with its exit code or signal, the end of its log and the fix;
- a user's endpoint stops answering after the pre-flight check: after ``max_consecutive``
  items in a row whose calls to it failed to connect, :class:`EndpointStoppedAnswering`.

Either way the run stops at once instead of turning the rest of the dataset into connection
errors. The records that failed because of the outage are not written (``--resume`` runs them
again); what finished before stays on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hawkeye_bench.core.errors import RunStopped
from hawkeye_bench.core.record import Record
from hawkeye_bench.endpoints.replicas import REPLICA_SEPARATOR

T = TypeVar("T")

#: Error types of a stage that mean "the server did not answer at all".
CONNECTION_ERRORS = frozenset({"connection"})


class ModelServerDied(RunStopped):
    """A model server process the harness started has exited."""


class EndpointStoppedAnswering(RunStopped):
    """A user endpoint answered the pre-flight check, then stopped answering."""


class ManagedServer(Protocol):
    """A model server process the harness started and owns."""

    @property
    def name(self) -> str: ...

    def exit_report(self) -> str | None:
        """None while the process runs; else what happened, its log tail and the fix."""
        ...


@dataclass
class HealthWatch:
    """Watches the model servers and the records of one run.

    ``admit(record)`` returns the records that may be written now. Records whose stages failed
    to connect are held back until the same endpoint answers again (then they are real,
    isolated failures and are written; for a replica set, any of its replicas) or the streak
    reaches ``max_consecutive`` (then they are casualties of an outage: dropped, and the run
    stops).
    """

    servers: Callable[[], Sequence[ManagedServer]] = tuple
    max_consecutive: int = 5
    finished: int = 0
    _held: dict[str, list[Record]] = field(default_factory=dict)

    def poll(self) -> None:
        """Raise ModelServerDied when a managed server has exited."""
        for server in self.servers():
            report = server.exit_report()
            if report is not None:
                raise ModelServerDied(f"the {server.name} has died: {report}")

    def admit(self, record: Record) -> list[Record]:
        self.poll()
        failed = _unreachable_endpoint(record)
        if failed is None:
            self.finished += 1
            ready = [record]
            answered = {stage.endpoint for stage in record.trace.stages if stage.endpoint}
            for key in [key for key in self._held if answered & _endpoints_of(key)]:
                ready.extend(self._held.pop(key))
            return ready
        held = self._held.setdefault(failed, [])
        held.append(record)
        if len(held) >= self.max_consecutive:
            raise EndpointStoppedAnswering(
                f"endpoint {failed} stopped answering after {self.finished} items: "
                f"{len(held)} items in a row could not connect to it "
                f"(last error: {_last_error(record)})"
            )
        return []

    def release(self) -> list[Record]:
        """The held records, at the end of a run that was not stopped."""
        held = [record for records in self._held.values() for record in records]
        self._held.clear()
        return held


def _unreachable_endpoint(record: Record) -> str | None:
    for stage in record.trace.stages:
        if stage.error_type in CONNECTION_ERRORS:
            return stage.endpoint or stage.role
    return None


def _endpoints_of(key: str) -> set[str]:
    """The endpoints a held key names: one URL, or a replica set's URLs (any of them answering
    ends the set's outage)."""
    return set(key.split(REPLICA_SEPARATOR))


def _last_error(record: Record) -> str:
    return next((s.error for s in record.trace.stages if s.error), "unknown")


async def gather_watched(
    awaitables: Sequence[Awaitable[T]], poll: Callable[[], None], *, interval_s: float = 0.25
) -> list[T]:
    """``asyncio.gather`` the awaitables while calling ``poll`` every ``interval_s``; an
    exception from either cancels the rest and propagates."""
    everything = asyncio.gather(*awaitables)

    async def watch() -> None:
        while True:
            poll()
            await asyncio.sleep(interval_s)

    watcher = asyncio.create_task(watch())
    try:
        either: set[asyncio.Future[Any]] = {everything, watcher}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if watcher.done():
            watcher.result()
        return list(await everything)
    finally:
        everything.cancel()
        watcher.cancel()
        await asyncio.gather(everything, watcher, return_exceptions=True)
