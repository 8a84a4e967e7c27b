"""The locustfile's hooks on Locust's events: resolve the workload at init, build this
process's :class:`~hawkeye_bench.load.locustfile_state.LoadState` at test start, close its output
at test stop, and end the measurement after ``--measure-for``."""

from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from hawkeye_bench.core.child_process import die_with_parent
from hawkeye_bench.load.arrivals import ArrivalSpec
from hawkeye_bench.load.cpu import CpuSampler
from hawkeye_bench.load.locustfile_distributed import (
    listen_as_master,
    listen_as_worker,
    process_slot,
)
from hawkeye_bench.load.locustfile_options import raw_dir
from hawkeye_bench.load.locustfile_state import PROCESS, STREAM_OPTION_LEVELS, LoadState, drain_then
from hawkeye_bench.load.locustfile_workload import resolve_workload
from hawkeye_bench.load.records import host_name
from hawkeye_bench.load.shipping import LocalRawSink, RawShipper, RawSink

logger = logging.getLogger("hawkeye_bench.load")

#: The process that imported the locustfile: Locust loads it before ``--processes`` forks the
#: workers, so in a forked worker this is the parent (the master) even if the master died since.
LOADED_BY_PID = os.getpid()


@events.init.add_listener
def on_init(environment: Environment, **_: Any) -> None:
    runner, options = environment.runner, environment.parsed_options
    if isinstance(runner, WorkerRunner):  # the workload comes from the master
        if os.getpid() != LOADED_BY_PID:  # forked by --processes: never outlive the master
            die_with_parent(parent=LOADED_BY_PID)
        listen_as_worker(runner)
        return
    if options is None:  # imported by a test Environment
        return
    if not environment.host:
        raise SystemExit("no --host given (the server's base URL, e.g. http://127.0.0.1:8000)")
    PROCESS.workload = workload = resolve_workload(options, environment.host)
    if isinstance(runner, MasterRunner):
        options.model = workload.model  # resolved once, here
        listen_as_master(runner)


@events.test_start.add_listener
def schedule_measurement_end(environment: Environment, **_: Any) -> None:
    """--measure-for: the master (or the only process) quits after warmup + measure-for."""
    options, runner = environment.parsed_options, environment.runner
    if options is None or options.measure_for <= 0:
        return
    if runner is None or isinstance(runner, WorkerRunner):
        return
    gevent.spawn_later(options.warmup + options.measure_for, drain_then, environment, runner.quit)


@events.test_start.add_listener
def on_test_start(environment: Environment, **_: Any) -> None:
    options, runner, workload = environment.parsed_options, environment.runner, PROCESS.workload
    if isinstance(runner, MasterRunner) or PROCESS.load is not None or workload is None:
        return
    # the workload is set from the command line's options, or the master's, so they are there
    assert options is not None
    host = host_name()
    sink: RawSink
    if isinstance(runner, WorkerRunner):
        PROCESS.last_shipper = sink = RawShipper(runner.send_message, host, os.getpid()).start()
    else:
        sink = LocalRawSink(raw_dir(options))
    index, count = process_slot(environment)
    state = LoadState(
        workload=workload,
        max_tokens=options.max_tokens,
        temperature=options.temperature,
        stage=options.stage,
        warmup_until=time.perf_counter() + options.warmup,
        stop_after=options.requests,
        max_failures=options.max_failures,
        raw=sink,
        cpu=CpuSampler(sink.cpu),
        host=host,
        prompt_order=itertools.count(index, count),
        stream_option_level=len(STREAM_OPTION_LEVELS) - 1 if options.no_stream_options else 0,
    )
    if options.rate > 0:  # this process's share of the rate, its own seeded stream
        state.arrivals = ArrivalSpec(
            options.rate, options.arrival, options.burstiness, options.seed
        )
    state.slot = (index, count)
    state.trace_speed = options.trace_speed
    PROCESS.load = state
    state.cpu.start()
    logger.info("raw records -> %s", getattr(sink, "path", "the master"))


@events.test_stop.add_listener
def on_test_stop(environment: Environment, **_: Any) -> None:
    state = PROCESS.load
    if state is not None:
        state.cpu.stop()
        state.raw.close()  # a worker's last batch, with its totals
        PROCESS.load = None
