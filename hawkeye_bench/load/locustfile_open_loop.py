"""The locustfile's open-loop driver (``--rate``, ``--trace``): requests sent when due.

The schedule starts once every user (the in-flight cap) is spawned; a free user takes the next
due time and sleeps until it, so a request waits for a user only when the cap is reached (its
``queued_ms``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
from locust import events

from hawkeye_bench.load.arrivals import Schedule, TraceSchedule, trace_rate
from hawkeye_bench.load.locustfile_state import PROCESS, LoadState
from hawkeye_bench.load.traces import TraceRow

SPIN_S = 0.0015  # the last stretch before a due time, waited by yielding
MAX_SPIN_SHARE = 0.3  # ... unless it would take more than this share of the process's time
SCHEDULE_WAIT_S = 30.0  # the longest a user waits for the spawning to complete


@dataclass(frozen=True)
class Due:
    """When an open-loop request was due (perf_counter) and how long it waited for a user."""

    perf: float
    queued_ms: float
    row: TraceRow | None = None  # trace replay: the row this request replays


@events.spawning_complete.add_listener
def start_schedule(**_: Any) -> None:
    """Open loop: the schedule starts once every user (the in-flight cap) is there, so the first
    due requests do not wait for users still being spawned (on a worker: once all are)."""
    state = PROCESS.load
    if state is not None and (state.arrivals is not None or state.workload.trace is not None):
        make_schedule(state)


def make_schedule(state: LoadState) -> Schedule | TraceSchedule:
    if state.schedule is None:
        index, count = state.slot
        now = time.perf_counter()
        if state.workload.trace is not None:
            trace = state.workload.trace
            state.schedule = TraceSchedule(trace, now, state.trace_speed, index, count)
            rate = (trace_rate(trace, state.trace_speed) or 0.0) / count
        else:
            assert state.arrivals is not None
            state.schedule = Schedule(state.arrivals, now, index, count)
            rate = state.arrivals.rate / count
        # yielding costs CPU: only while it takes a small share of this process's time
        state.spin_s = SPIN_S if rate * SPIN_S <= MAX_SPIN_SHARE else 0.0
        state.schedule_made.set()
    return state.schedule


def sleep_until(due: float, stop: gevent.event.Event, spin_s: float) -> None:
    """Sleep until ``due`` (perf_counter), or until ``stop`` is set.

    The event loop's timers wake on whole milliseconds (epoll waits in ms): requests due within
    the same millisecond would leave together and every send would be up to 1 ms late. So the
    timer wakes ``spin_s`` early and the rest is waited by yielding to the other greenlets (the
    streams being read go on) until the due time.
    """
    early = due - time.perf_counter() - spin_s
    if early > 0 and stop.wait(early):
        return
    while time.perf_counter() < due and not stop.is_set():
        gevent.sleep(0)


def wait_until_due(state: LoadState) -> Due | None:
    """Open loop: take the next due time (this user is free now) and sleep until it."""
    if state.arrivals is None and state.workload.trace is None:
        return None
    if state.schedule is None:  # spawning still under way
        state.schedule_made.wait(SCHEDULE_WAIT_S)
    schedule = make_schedule(state)
    row = None
    if isinstance(schedule, TraceSchedule):
        step = schedule.next()
        if step is None:  # this process's share of the trace is sent: idle until the end
            state.drain_event.wait()
            return None
        due, row = step
    else:
        due = schedule.next()
    taken = time.perf_counter()
    if due > taken:  # woken early when the test stops: a free user may hold a late slot
        sleep_until(due, state.drain_event, state.spin_s)
    # a due time already past when a user became free: it waited for the cap
    return Due(due, max(0.0, taken - due) * 1e3, row)
