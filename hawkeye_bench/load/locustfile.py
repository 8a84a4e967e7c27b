"""Locustfile for streamed chat completions, for the stock ``locust`` command line.

    locust -f "$(hawkeye-bench load --print-locustfile)" --headless -u 100 -r 100 \\
        --run-time 10m --stop-timeout 120 --host http://127.0.0.1:8000 --csv out/c100 \\
        --prompts gsm8k --max-tokens 512 --requests 500 --raw-dir out/raw/c100

Each user sends one request at a time (``wait_time = constant(0)``), so users = concurrency.
Measurement: ``FastHttpUser`` with ``stream=True`` read one line at a time
through ``resp._response.readline(b"\\n")`` (``iter_lines`` buffers 1024 bytes and smears the
timing); ``time.perf_counter()`` right after each read; no OpenAI SDK, no asyncio. Every request
is written raw to ``<raw-dir>/requests-<pid>.jsonl`` (statistics come from those files, see
:mod:`hawkeye_bench.load.metrics`); Locust's console shows one ``LLM E2E`` entry per request
(failures included) plus ``LLM TTFT`` and ``LLM TBT`` (the request's mean time per token),
never one event per token.

Distributed (Locust's ``--processes N``, or ``--master`` with ``--worker --master-host H``
processes on other machines): the master resolves the workload (model, prompts) and sends it to
every worker before the users start, so a worker needs nothing but this file and the package
(its API key comes from its own environment). Workers ship their raw records to the master in
bounded batches (:mod:`hawkeye_bench.load.shipping`); when the master stops, for whatever reason,
it asks every worker to stop its users and send the rest, and waits for them. A worker forked by
``--processes`` dies with the process that forked it, even when that one is SIGKILLed. Each
request carries ``X-Request-Id: <host>-<pid>-<seq>``.

``--requests N`` counts successful measured requests only; ``--max-failures F`` stops the test
once F measured requests failed. Every error text is cleared of the API key (read through
:func:`hawkeye_bench.core.secrets.api_key_from_env`) before it is recorded, reported to Locust or
logged: an upstream may echo the key in an error body.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from gevent import GreenletExit
from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from hawkeye_bench.core.child_process import die_with_parent
from hawkeye_bench.core.secrets import MissingApiKey, api_key_from_env, redact
from hawkeye_bench.datasets import DatasetError
from hawkeye_bench.load import NEXT_STAGE_EXIT_CODE
from hawkeye_bench.load.arrivals import (
    ARRIVALS,
    ArrivalSpec,
    Schedule,
    TraceSchedule,
    trace_rate,
)
from hawkeye_bench.load.backoff import next_backoff
from hawkeye_bench.load.cpu import CpuSampler
from hawkeye_bench.load.endpoint import EndpointError, chat_path, model_ids, models_url
from hawkeye_bench.load.prompts import Messages, PromptSourceError, load_prompts
from hawkeye_bench.load.records import RequestRecord, host_name
from hawkeye_bench.load.shipping import (
    FLUSH_MESSAGE,
    RAW_MESSAGE,
    LocalRawSink,
    RawCollector,
    RawShipper,
    RawSink,
)
from hawkeye_bench.load.stream import StreamMeter, clip_error
from hawkeye_bench.load.traces import TraceError, TraceRow, filler_messages, read_trace

logger = logging.getLogger("hawkeye_bench.load")

MEASURED_MESSAGE = "hawkeye_measured"  # worker -> master: one more measured request succeeded
FAILED_MESSAGE = "hawkeye_failed"  # worker -> master: one more measured request failed
WORKLOAD_MESSAGE = "hawkeye_workload"  # master -> worker, before the users start
FLUSH_WAIT_EXTRA_S = 30.0  # the master waits --stop-timeout plus this for the workers' records
WATCH_WORKERS_EVERY_S = 0.5  # the master looks for workers Locust marked missing
SPIN_S = 0.0015  # open loop: the last stretch before a due time, waited by yielding
MAX_SPIN_SHARE = 0.3  # ... unless it would take more than this share of the process's time
SCHEDULE_WAIT_S = 30.0  # open loop: the longest a user waits for the spawning to complete
#: What is sent as ``stream_options``, richest first; on a 400 that names the option we step down.
STREAM_OPTION_LEVELS: tuple[dict[str, bool] | None, ...] = (
    {"include_usage": True, "continuous_usage_stats": True},
    {"include_usage": True},
    None,
)
REJECTION_WORDS = ("stream_options", "continuous_usage_stats", "include_usage")
ERROR_BODY_CHARS = 300
#: The process that imported this file: Locust loads it before ``--processes`` forks the workers,
#: so in a forked worker this is the parent (the master) even if the master died since.
LOADED_BY_PID = os.getpid()


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    group = parser.add_argument_group("hawkeye-bench streamed chat completions")
    group.add_argument(
        "--prompts",
        default="gsm8k",
        help='dataset name (gsm8k, math500, ...) or a .jsonl file of {"messages": [...]}',
    )
    group.add_argument("--data-dir", default=None, help="dataset mirror (else HAWKEYE_DATA_DIR)")
    group.add_argument("--prompt-limit", type=int, default=None, help="use the first N prompts")
    group.add_argument("--model", default="", help="model name (default: first of GET /v1/models)")
    group.add_argument("--max-tokens", type=int, default=512)
    group.add_argument("--temperature", type=float, default=None)
    group.add_argument(
        "--warmup", type=float, default=0.0, help="seconds; requests sent earlier are not measured"
    )
    group.add_argument(
        "--requests",
        type=int,
        default=0,
        help="quit after N measured requests succeeded (failed ones do not count); "
        "0 = until --run-time",
    )
    group.add_argument(
        "--max-failures",
        type=int,
        default=0,
        help="quit after N measured requests failed; 0 = no limit",
    )
    group.add_argument(
        "--measure-for",
        type=float,
        default=0.0,
        help="quit this many seconds after the warmup ends (unlike --run-time, which counts "
        "from process start-up); 0 = no limit",
    )
    group.add_argument(
        "--raw-dir", default="", help="raw per-request records (default: ./locust-raw-<time>)"
    )
    group.add_argument("--stage", default="", help="tag written into every raw record")
    group.add_argument(
        "--api-key-env", default="", help="name of the environment variable with the API key"
    )
    group.add_argument(
        "--no-stream-options", action="store_true", help="never send stream_options (usage)"
    )
    group.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="open loop: requests per second over all processes, sent when due whether or not "
        "earlier ones finished (users = the cap on requests in flight); 0 = closed loop",
    )
    group.add_argument("--arrival", choices=ARRIVALS, default="poisson")
    group.add_argument("--burstiness", type=float, default=1.0, help="gamma's shape (1: Poisson)")
    group.add_argument("--seed", type=int, default=0, help="seed of the arrival schedule")
    group.add_argument(
        "--trace",
        default="",
        help="replay a trace (Mooncake .jsonl or Azure .csv): arrivals, input and output lengths",
    )
    group.add_argument("--trace-speed", type=float, default=1.0, help="trace pace multiplier")
    group.add_argument(
        "--stages-left",
        type=int,
        default=0,
        help="master: stages after this one (their workers exit with code "
        f"{NEXT_STAGE_EXIT_CODE}, to be started again)",
    )


@dataclass
class Workload:
    """What every request of this process sends; resolved once at init, before the users start."""

    path: str
    model: str
    prompts: list[Messages]
    headers: dict[str, str]
    trace: list[TraceRow] | None = None  # --trace: the rows to replay (every process's)


WORKLOAD: Workload | None = None


@dataclass
class LoadState:
    """Per-process state: prompts, output files, counters. Built at test start."""

    workload: Workload
    max_tokens: int
    temperature: float | None
    stage: str
    warmup_until: float  # perf_counter
    stop_after: int
    max_failures: int
    raw: RawSink
    cpu: CpuSampler
    host: str
    prompt_order: itertools.count[int]
    stream_option_level: int = 0
    measured: int = 0  # successful measured requests
    failed: int = 0  # failed measured requests
    seq: itertools.count[int] = field(default_factory=itertools.count)
    quitting: bool = False
    #: no new request is sent: the test stops once the ones in flight are done
    draining: bool = False
    #: set with ``draining``: wakes the open-loop users waiting for a due time
    drain_event: gevent.event.Event = field(default_factory=gevent.event.Event)
    in_flight: int = 0
    ignore_eos: bool = True  # trace replay: sent until the server rejects it
    #: open loop (--rate): this process's arrival process; None: closed loop
    arrivals: ArrivalSpec | None = None
    trace_speed: float = 1.0  # --trace: the workload's rows, replayed at this pace
    slot: tuple[int, int] = (0, 1)  # (index, count) of this process among the load processes
    spin_s: float = 0.0  # the last stretch before a due time waited by yielding (see SPIN_S)
    #: when each request is due; made once every user is spawned (see :func:`start_schedule`)
    schedule: Schedule | TraceSchedule | None = None
    schedule_made: gevent.event.Event = field(default_factory=gevent.event.Event)

    def body(self, messages: Messages, row: TraceRow | None = None) -> str:
        body: dict[str, Any] = {
            "model": self.workload.model,
            "messages": messages,
            "max_tokens": self.max_tokens if row is None else row.output_tokens,
            "stream": True,
        }
        if row is not None and self.ignore_eos:  # the trace's output length, not an early stop
            body["ignore_eos"] = True
        if self.temperature is not None:
            body["temperature"] = self.temperature
        options = STREAM_OPTION_LEVELS[self.stream_option_level]
        if options is not None:
            body["stream_options"] = options
        return json.dumps(body)


@dataclass(frozen=True)
class Due:
    """When an open-loop request was due (perf_counter) and how long it waited for a user."""

    perf: float
    queued_ms: float
    row: TraceRow | None = None  # trace replay: the row this request replays


STATE: LoadState | None = None
_master_counts = {"ok": 0, "failed": 0}
_master_quitting = False
COLLECTOR: RawCollector | None = None  # master: the workers' raw records
LAST_SHIPPER: RawShipper | None = None  # worker: answers a late flush request again
WORKER_COUNT = 1  # worker: load-generating processes of the run (from the master)


def first_model_id(host: str, headers: dict[str, str]) -> str:
    try:
        ids = model_ids(host, headers)
    except EndpointError as exc:
        raise SystemExit(redact(f"--model not given and {exc}; pass --model")) from exc
    if not ids:
        raise SystemExit(f"--model not given and {models_url(host)} lists no model; pass --model")
    return ids[0]


def _process_slot(environment: Environment) -> tuple[int, int]:
    """(index, count) of this process among the load-generating processes."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return runner.worker_index, max(WORKER_COUNT, runner.worker_index + 1)
    return 0, 1


def request_headers(api_key_env: str) -> dict[str, str]:
    """The headers of every request; the API key is read from this process's environment."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Accept-Encoding": "identity",  # compressing proxies buffer SSE
    }
    if api_key_env:
        try:  # through secrets: redact() then knows the key in this process
            key = api_key_from_env(api_key_env, "--api-key-env")
        except MissingApiKey:
            raise SystemExit(f"--api-key-env {api_key_env}: that variable is not set") from None
        headers["Authorization"] = f"Bearer {key}"
    return headers


def resolve_workload(options: Any, host: str) -> Workload:
    headers = request_headers(options.api_key_env)
    trace = None
    if options.trace:
        try:
            trace = read_trace(Path(options.trace))
        except TraceError as exc:
            raise SystemExit(str(exc)) from exc
    try:
        prompts = load_prompts(
            options.prompts, data_dir=options.data_dir, limit=options.prompt_limit
        )
    except (PromptSourceError, DatasetError) as exc:
        raise SystemExit(f"--prompts: {exc}") from exc
    return Workload(
        path=chat_path(host),
        model=options.model or first_model_id(host, headers),
        prompts=prompts,
        headers=headers,
        trace=trace,
    )


@events.init.add_listener
def on_init(environment: Environment, **_: Any) -> None:
    global WORKLOAD
    runner, options = environment.runner, environment.parsed_options
    if isinstance(runner, WorkerRunner):  # the workload comes from the master
        if os.getpid() != LOADED_BY_PID:  # forked by --processes: never outlive the master
            die_with_parent(parent=LOADED_BY_PID)
        runner.register_message(WORKLOAD_MESSAGE, _on_workload_message)
        runner.register_message(FLUSH_MESSAGE, _on_flush_message, concurrent=True)
        return
    if options is None:  # imported by a test Environment
        return
    if not environment.host:
        raise SystemExit("no --host given (the server's base URL, e.g. http://127.0.0.1:8000)")
    WORKLOAD = resolve_workload(options, environment.host)
    if isinstance(runner, MasterRunner):
        options.model = WORKLOAD.model  # resolved once, here
        runner.register_message(MEASURED_MESSAGE, _on_measured_message)
        runner.register_message(FAILED_MESSAGE, _on_failed_message)
        runner.register_message(RAW_MESSAGE, _on_raw_message)


def _raw_dir(options: Any) -> Path:
    return Path(options.raw_dir or f"locust-raw-{time.strftime('%Y%m%d-%H%M%S')}")


@events.test_start.add_listener
def send_workload(environment: Environment, **_: Any) -> None:
    """Master: hand the workload to every worker (it arrives before their spawn message)."""
    global COLLECTOR
    runner, options = environment.runner, environment.parsed_options
    if not isinstance(runner, MasterRunner) or WORKLOAD is None or options is None:
        return
    COLLECTOR = RawCollector(_raw_dir(options))
    message = {
        "path": WORKLOAD.path,
        "model": WORKLOAD.model,
        "prompts": WORKLOAD.prompts,
        "trace": None if WORKLOAD.trace is None else [astuple(r) for r in WORKLOAD.trace],
        "api_key_env": options.api_key_env,  # the variable's name: each worker reads its own
        "workers": max(len(runner.clients), options.expect_workers or 1),
        "stages_left": options.stages_left,
    }
    runner.send_message(WORKLOAD_MESSAGE, message)
    gevent.spawn(_watch_workers, environment, runner, COLLECTOR)


def _watch_workers(environment: Environment, runner: MasterRunner, collector: RawCollector) -> None:
    """Master: a worker that stops answering (Locust marks it missing after a few seconds
    without a heartbeat) ends the stage at once; it is named in ``transfers.json``, which makes
    the stage unreliable. Waiting for it would only run the stage on with fewer users."""
    while COLLECTOR is collector:
        lost = [client.id for client in runner.clients.missing]
        if lost:
            names = [collector.lose(client_id) for client_id in lost]
            logger.error("lost worker(s) %s (no heartbeat): ending the stage", ", ".join(names))
            _quit_master(environment, runner)
            return
        gevent.sleep(WATCH_WORKERS_EVERY_S)


def _quit_master(environment: Environment, runner: MasterRunner) -> None:
    global _master_quitting
    if not _master_quitting:
        _master_quitting = True
        gevent.spawn(_drain_then, environment, runner.quit)


def _on_workload_message(environment: Environment, msg: Any, **_: Any) -> None:
    global WORKLOAD, WORKER_COUNT
    data = msg.data
    WORKLOAD = Workload(
        path=data["path"],
        model=data["model"],
        prompts=data["prompts"],
        headers=request_headers(data["api_key_env"]),
        trace=None if data.get("trace") is None else [TraceRow(*row) for row in data["trace"]],
    )
    WORKER_COUNT = int(data["workers"])
    environment.process_exit_code = NEXT_STAGE_EXIT_CODE if data["stages_left"] else 0


def _on_raw_message(environment: Environment, msg: Any, **_: Any) -> None:
    if COLLECTOR is not None:
        COLLECTOR.receive(msg.data, msg.node_id)


def _on_flush_message(environment: Environment, msg: Any, **_: Any) -> None:
    """Worker: the master is stopping; let the requests in flight finish (within
    --stop-timeout), stop, and send the remaining records (:func:`on_test_stop`), or send the
    totals again."""
    runner = environment.runner
    assert runner is not None
    if STATE is not None:
        _drain_then(environment, runner.stop)
    elif LAST_SHIPPER is not None:
        LAST_SHIPPER.close()


def _drain_then(environment: Environment, stop: Any) -> None:
    """Send no new request, wait (up to --stop-timeout) for those in flight, then ``stop()``.

    Locust's own stop blocks its process for a while (it inspects the call stack, ~0.1 s):
    streams still being read then would take that as latency.
    """
    state = STATE
    if state is not None:
        state.draining = True
        state.drain_event.set()
        deadline = time.monotonic() + (environment.stop_timeout or 0.0)
        while state.in_flight and time.monotonic() < deadline:
            gevent.sleep(0.01)
    stop()


@events.test_stop.add_listener
def collect_worker_records(environment: Environment, **_: Any) -> None:
    """Master: ask every worker for the rest of its records, wait for them, close the files."""
    global COLLECTOR
    runner, collector = environment.runner, COLLECTOR
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
    COLLECTOR = None


def _on_measured_message(environment: Environment, msg: Any, **_: Any) -> None:
    _master_count(environment, "ok", int(msg.data or 1))


def _on_failed_message(environment: Environment, msg: Any, **_: Any) -> None:
    _master_count(environment, "failed", int(msg.data or 1))


def _master_count(environment: Environment, kind: str, n: int) -> None:
    _master_counts[kind] += n
    options, runner = environment.parsed_options, environment.runner
    assert options is not None and isinstance(runner, MasterRunner)  # from the command line
    counts = _master_counts
    reason = _stop_reason(counts["ok"], counts["failed"], options.requests, options.max_failures)
    if reason and not _master_quitting:
        logger.info("%s: stopping", reason)
        _quit_master(environment, runner)


def _stop_reason(ok: int, failed: int, stop_after: int, max_failures: int) -> str | None:
    """Why the test should stop now (None: go on)."""
    if stop_after and ok >= stop_after:
        return f"{ok} measured requests succeeded"
    if max_failures and failed >= max_failures:
        return f"{failed} measured requests failed (--max-failures {max_failures})"
    return None


@events.test_start.add_listener
def schedule_measurement_end(environment: Environment, **_: Any) -> None:
    """--measure-for: the master (or the only process) quits after warmup + measure-for."""
    options, runner = environment.parsed_options, environment.runner
    if options is None or options.measure_for <= 0:
        return
    if runner is None or isinstance(runner, WorkerRunner):
        return
    gevent.spawn_later(options.warmup + options.measure_for, _drain_then, environment, runner.quit)


@events.test_start.add_listener
def on_test_start(environment: Environment, **_: Any) -> None:
    global STATE, LAST_SHIPPER
    options, runner = environment.parsed_options, environment.runner
    if isinstance(runner, MasterRunner) or STATE is not None or WORKLOAD is None:
        return
    # WORKLOAD is set from the command line's options, or the master's, so they are there
    assert options is not None
    host = host_name()
    sink: RawSink
    if isinstance(runner, WorkerRunner):
        LAST_SHIPPER = sink = RawShipper(runner.send_message, host, os.getpid()).start()
    else:
        sink = LocalRawSink(_raw_dir(options))
    index, count = _process_slot(environment)
    STATE = LoadState(
        workload=WORKLOAD,
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
        STATE.arrivals = ArrivalSpec(
            options.rate, options.arrival, options.burstiness, options.seed
        )
    STATE.slot = (index, count)
    STATE.trace_speed = options.trace_speed
    STATE.cpu.start()
    logger.info("raw records -> %s", getattr(sink, "path", "the master"))


@events.spawning_complete.add_listener
def start_schedule(**_: Any) -> None:
    """Open loop: the schedule starts once every user (the in-flight cap) is there, so the first
    due requests do not wait for users still being spawned (on a worker: once all are)."""
    if STATE is not None and (STATE.arrivals is not None or STATE.workload.trace is not None):
        _make_schedule(STATE)


def _make_schedule(state: LoadState) -> Schedule | TraceSchedule:
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


@events.test_stop.add_listener
def on_test_stop(environment: Environment, **_: Any) -> None:
    global STATE
    if STATE is not None:
        STATE.cpu.stop()
        STATE.raw.close()  # a worker's last batch, with its totals
        STATE = None


def _count_measured(environment: Environment, state: LoadState, ok: bool) -> None:
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
    reason = _stop_reason(state.measured, state.failed, state.stop_after, state.max_failures)
    if reason and not state.quitting:
        state.quitting = True
        logger.info("%s: stopping", reason)
        # quit from another greenlet: a user calling quit() kills itself first
        gevent.spawn(_drain_then, environment, runner.quit)


def _sleep_until(due: float, stop: gevent.event.Event, spin_s: float) -> None:
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


def _rejects_stream_options(status: int | None, body: str) -> bool:
    return status == 400 and any(word in body for word in REJECTION_WORDS)


class ChatStreamUser(FastHttpUser):
    """One streamed ``/chat/completions`` request at a time, measured chunk by chunk."""

    wait_time = constant(0)
    network_timeout = 600.0  # per socket read: must exceed the slowest TTFT
    connection_timeout = 60.0
    max_retries = 0
    backoff_s = 0.0  # this user's pause after a request that got no response (0: none)

    @task
    def chat_completion(self) -> None:
        state = STATE
        if state is None or state.draining:  # test_start failed or the test is stopping
            gevent.sleep(0.1)
            return
        due = self._wait_until_due(state)
        if state.draining:
            return
        if due is not None and due.row is not None:
            prompt_index = -1  # a trace row's filler prompt
        else:
            prompt_index = next(state.prompt_order) % len(state.workload.prompts)
        state.in_flight += 1
        try:
            while True:
                record = self._one_request(state, prompt_index, due)
                if record is not None:
                    break
            state.raw.request(record.to_dict())
            if record.measured:
                _count_measured(self.environment, state, record.ok)
        finally:
            state.in_flight -= 1
        self.backoff_s = next_backoff(self.backoff_s, record.status is None)
        if self.backoff_s:  # outside the measured request: its latency is not touched
            state.drain_event.wait(self.backoff_s)  # a stopping test does not wait for it

    @staticmethod
    def _wait_until_due(state: LoadState) -> Due | None:
        """Open loop: take the next due time (this user is free now) and sleep until it."""
        if state.arrivals is None and state.workload.trace is None:
            return None
        if state.schedule is None:  # spawning still under way
            state.schedule_made.wait(SCHEDULE_WAIT_S)
        schedule = _make_schedule(state)
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
            _sleep_until(due, state.drain_event, state.spin_s)
        # a due time already past when a user became free: it waited for the cap
        return Due(due, max(0.0, taken - due) * 1e3, row)

    def _one_request(
        self, state: LoadState, prompt_index: int, due: Due | None = None
    ) -> RequestRecord | None:
        """Send and measure one request; None when it must be resent with less stream_options."""
        level = state.stream_option_level
        row = due.row if due is not None else None
        if row is None:
            payload = state.body(state.workload.prompts[prompt_index])
        else:
            payload = state.body(filler_messages(row.input_tokens), row)
        record = RequestRecord(
            t_send_wall=time.time(),
            t_send_perf=0.0,
            pid=os.getpid(),
            seq=next(state.seq),
            stage=state.stage,
            host=state.host,
            prompt_index=prompt_index,
            stream_options=STREAM_OPTION_LEVELS[level] is not None,
        )
        t_send = time.perf_counter()
        record.t_send_perf = t_send
        if due is not None:
            record.t_scheduled_perf = due.perf
            record.t_scheduled_wall = record.t_send_wall - (t_send - due.perf)
            record.queued_ms = due.queued_ms
        if row is not None:
            record.trace_input_tokens = row.input_tokens
            record.trace_output_tokens = row.output_tokens
            record.ignore_eos = state.ignore_eos
            record.prompt_index = None
        record.warmup = t_send < state.warmup_until
        meter = StreamMeter(t_send)
        try:
            with self.client.request(
                "POST",
                state.workload.path,
                data=payload,
                headers={**state.workload.headers, "X-Request-Id": record.request_id},
                name="E2E",
                stream=True,
                catch_response=True,
            ) as response:
                t_headers = time.perf_counter()
                record.status = response.status_code or None  # 0: no response (refused, ...)
                if record.status is not None:
                    meter.headers(t_headers)
                if response.status_code != 200:
                    body = _error_body(response)
                    if _rejects_stream_options(record.status, body) and level + 1 < len(
                        STREAM_OPTION_LEVELS
                    ):
                        state.stream_option_level = max(state.stream_option_level, level + 1)
                        logger.warning("server rejected stream_options (%s): resending", body)
                        response.request_meta["name"] = "stream_options rejected (resent)"
                        response.success()
                        return None
                    if record.ignore_eos and record.status == 400 and "ignore_eos" in body:
                        state.ignore_eos = False  # stated in the records (ignore_eos false)
                        logger.warning("server rejected ignore_eos (%s): resending", body)
                        response.request_meta["name"] = "ignore_eos rejected (resent)"
                        response.success()
                        return None
                    record.error = f"HTTP {record.status}: {body}" if record.status else body
                else:
                    self.read_stream(response, meter)
                    if meter.error is not None:
                        record.error = meter.error
                    elif meter.done_ms is None:
                        record.error = "stream ended without data: [DONE]"
                if record.error is not None:  # already cleared of the key; this is the last net
                    record.error = redact(record.error)
                record.fill_from(meter)
                record.finished_ms = (time.perf_counter() - t_send) * 1e3
                self._report(response, record)
        except (GreenletExit, StopUser):
            # the load generator stopped this user mid-stream (--stop-timeout ran out)
            record.fill_from(meter)
            record.finished_ms = (time.perf_counter() - t_send) * 1e3
            record.incomplete = True
            state.raw.request(record.to_dict())
            raise
        return record

    def read_stream(self, response: Any, meter: StreamMeter) -> None:
        """Read SSE lines one by one, timestamping each right after the read returns.

        ``readline(b"\\n")`` returns as soon as one line is buffered (the default separator is
        ``\\r\\n``, which SSE lines do not end with: it would wait for the whole body). Stream
        faults (connection cut, timeout, bad chunked encoding) become ``meter.error``.
        """
        raw = response._response
        try:
            while True:
                line = raw.readline(b"\n")
                t_recv = time.perf_counter()
                if not line:
                    return
                if meter.feed(line, t_recv):
                    break
            while raw.readline(b"\n"):  # drain the tail so the connection can be reused
                pass
        except Exception as exc:
            meter.error = clip_error(f"stream error: {type(exc).__name__}: {exc}")

    def _report(self, response: Any, record: RequestRecord) -> None:
        """Turn the auto POST entry into E2E and add TTFT/TBT entries to the console."""
        meta = response.request_meta
        meta["request_type"] = "LLM"
        meta["response_time"] = record.e2e_ms or (time.perf_counter() - record.t_send_perf) * 1e3
        meta["response_length"] = record.output_tokens or 0
        if record.error is not None:
            response.failure(record.error)
            return
        response.success()
        fire = self.environment.events.request.fire
        if record.ttft_ms is not None:
            fire(
                request_type="LLM",
                name="TTFT",
                response_time=record.ttft_ms,
                response_length=0,
                exception=None,
                context={},
            )
        if record.e2e_ms is not None and record.ttft_ms is not None and record.output_tokens:
            first_chunk_tokens = record.chunks[0][1] if record.chunks else 1
            tokens_after_first = record.output_tokens - first_chunk_tokens
            if tokens_after_first > 0:
                fire(
                    request_type="LLM",
                    name="TBT",
                    response_time=(record.e2e_ms - record.ttft_ms) / tokens_after_first,
                    response_length=0,
                    exception=None,
                    context={},
                )


def _error_body(response: Any) -> str:
    """The response's error body on one line, without the API key, shortened."""
    try:
        text = response.text or ""
    except Exception as exc:  # a body that cannot be read is itself the error
        text = f"<unreadable body: {type(exc).__name__}: {exc}>"
    if not text and getattr(response, "error", None) is not None:
        text = str(response.error)
    return clip_error(" ".join(text.split()), ERROR_BODY_CHARS)
