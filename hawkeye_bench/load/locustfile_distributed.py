"""The locustfile's distributed run: what the master and its workers tell each other.

The master sends the workload to every worker before the users start; a worker reports each
finished measured request (the master counts ``--requests`` and ``--max-failures`` over all
processes) and ships its raw records (:mod:`hawkeye_bench.load.shipping`). When the master
stops, for whatever reason, it asks every worker to stop its users and send the rest, and
waits for them; a worker that stops answering ends the stage at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from hawkeye_bench.load import NEXT_STAGE_EXIT_CODE
from hawkeye_bench.load.locustfile_options import raw_dir
from hawkeye_bench.load.locustfile_state import PROCESS, LoadState, drain_then, stop_reason
from hawkeye_bench.load.locustfile_workload import WorkloadMessage
from hawkeye_bench.load.shipping import FLUSH_MESSAGE, RAW_MESSAGE, RawBatch, RawCollector

logger = logging.getLogger("hawkeye_bench.load")

MEASURED_MESSAGE = "hawkeye_measured"  # worker -> master: one more measured request succeeded
FAILED_MESSAGE = "hawkeye_failed"  # worker -> master: one more measured request failed
WORKLOAD_MESSAGE = "hawkeye_workload"  # master -> worker, before the users start
FLUSH_WAIT_EXTRA_S = 30.0  # the master waits --stop-timeout plus this for the workers' records
WATCH_WORKERS_EVERY_S = 0.5  # the master looks for workers Locust marked missing


def listen_as_worker(runner: WorkerRunner) -> None:
    runner.register_message(WORKLOAD_MESSAGE, _on_workload_message)
    runner.register_message(FLUSH_MESSAGE, _on_flush_message, concurrent=True)


def listen_as_master(runner: MasterRunner) -> None:
    runner.register_message(MEASURED_MESSAGE, _on_measured_message)
    runner.register_message(FAILED_MESSAGE, _on_failed_message)
    runner.register_message(RAW_MESSAGE, _on_raw_message)


def process_slot(environment: Environment) -> tuple[int, int]:
    """(index, count) of this process among the load-generating processes."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return runner.worker_index, max(PROCESS.worker_count, runner.worker_index + 1)
    return 0, 1


@events.test_start.add_listener
def send_workload(environment: Environment, **_: Any) -> None:
    """Master: hand the workload to every worker (it arrives before their spawn message)."""
    runner, options, workload = environment.runner, environment.parsed_options, PROCESS.workload
    if not isinstance(runner, MasterRunner) or workload is None or options is None:
        return
    PROCESS.collector = collector = RawCollector(raw_dir(options))
    message = WorkloadMessage.of(
        workload,
        api_key_env=options.api_key_env,
        workers=max(len(runner.clients), options.expect_workers or 1),
        stages_left=options.stages_left,
    )
    runner.send_message(WORKLOAD_MESSAGE, message.to_json())
    gevent.spawn(_watch_workers, environment, runner, collector)


def _watch_workers(environment: Environment, runner: MasterRunner, collector: RawCollector) -> None:
    """Master: a worker that stops answering (Locust marks it missing after a few seconds
    without a heartbeat) ends the stage at once; it is named in ``transfers.json``, which makes
    the stage unreliable. Waiting for it would only run the stage on with fewer users."""
    while PROCESS.collector is collector:
        lost = [client.id for client in runner.clients.missing]
        if lost:
            names = [collector.lose(client_id) for client_id in lost]
            logger.error("lost worker(s) %s (no heartbeat): ending the stage", ", ".join(names))
            _quit_master(environment, runner)
            return
        gevent.sleep(WATCH_WORKERS_EVERY_S)


def _quit_master(environment: Environment, runner: MasterRunner) -> None:
    if not PROCESS.master_quitting:
        PROCESS.master_quitting = True
        gevent.spawn(drain_then, environment, runner.quit)


def _on_workload_message(environment: Environment, msg: Any, **_: Any) -> None:
    message = WorkloadMessage.from_json(msg.data)
    PROCESS.workload = message.workload()
    PROCESS.worker_count = message.workers
    environment.process_exit_code = NEXT_STAGE_EXIT_CODE if message.stages_left else 0


def _on_raw_message(environment: Environment, msg: Any, **_: Any) -> None:
    if PROCESS.collector is not None:
        PROCESS.collector.receive(RawBatch.from_json(msg.data), msg.node_id)


def _on_flush_message(environment: Environment, msg: Any, **_: Any) -> None:
    """Worker: the master is stopping; let the requests in flight finish (within
    --stop-timeout), stop, and send the remaining records (at test stop), or send the totals
    again."""
    runner = environment.runner
    assert runner is not None
    if PROCESS.load is not None:
        drain_then(environment, runner.stop)
    elif PROCESS.last_shipper is not None:
        PROCESS.last_shipper.close()


@events.test_stop.add_listener
def collect_worker_records(environment: Environment, **_: Any) -> None:
    """Master: ask every worker for the rest of its records, wait for them, close the files."""
    runner, collector = environment.runner, PROCESS.collector
    if not isinstance(runner, MasterRunner) or collector is None:
        return
    waiting = {client.id for client in runner.clients.all} - collector.finished_clients()
    for client_id in waiting:
        runner.send_message(FLUSH_MESSAGE, None, client_id)
    deadline = time.monotonic() + environment.stop_timeout + FLUSH_WAIT_EXTRA_S
    while waiting - collector.finished_clients() and time.monotonic() < deadline:
        for client in runner.clients.missing:  # lost while the others finish: wait no longer
            if client.id in waiting:
                waiting.discard(client.id)
                logger.error("lost worker %s while it sent its last records",
                             collector.lose(client.id))  # fmt: skip
        gevent.sleep(0.1)
    late = waiting - collector.finished_clients()
    if late:
        logger.error("no last raw batch from %d worker(s): %s", len(late), ", ".join(late))
    logger.info("raw records of %d worker process(es) -> %s", len(collector.transfers),
                collector.close())  # fmt: skip
    PROCESS.collector = None


def _on_measured_message(environment: Environment, msg: Any, **_: Any) -> None:
    PROCESS.master_ok += int(msg.data or 1)
    _master_check(environment)


def _on_failed_message(environment: Environment, msg: Any, **_: Any) -> None:
    PROCESS.master_failed += int(msg.data or 1)
    _master_check(environment)


def _master_check(environment: Environment) -> None:
    """Master: stop once the workers' measured requests reach --requests or --max-failures."""
    options, runner = environment.parsed_options, environment.runner
    assert options is not None and isinstance(runner, MasterRunner)  # from the command line
    reason = stop_reason(
        PROCESS.master_ok, PROCESS.master_failed, options.requests, options.max_failures
    )
    if reason and not PROCESS.master_quitting:
        logger.info("%s: stopping", reason)
        _quit_master(environment, runner)


def count_measured(environment: Environment, state: LoadState, ok: bool) -> None:
    """Count a finished measured request; only successes count toward --requests."""
    if ok:
        state.measured += 1
    else:
        state.failed += 1
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        # no data: the master counts each message as one request
        runner.send_message(MEASURED_MESSAGE if ok else FAILED_MESSAGE)
        return
    assert runner is not None  # a request is sent by a running user
    reason = stop_reason(state.measured, state.failed, state.stop_after, state.max_failures)
    if reason and not state.quitting:
        state.quitting = True
        logger.info("%s: stopping", reason)
        # quit from another greenlet: a user calling quit() kills itself first
        gevent.spawn(drain_then, environment, runner.quit)
