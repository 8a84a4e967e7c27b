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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent import GreenletExit
from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from hawkeye_bench.core.jsonl import JsonlWriter
from hawkeye_bench.core.secrets import MissingApiKey, api_key_from_env, redact
from hawkeye_bench.datasets import DatasetError
from hawkeye_bench.load.cpu import CpuSampler
from hawkeye_bench.load.endpoint import EndpointError, chat_path, model_ids, models_url
from hawkeye_bench.load.prompts import Messages, PromptSourceError, load_prompts
from hawkeye_bench.load.records import RequestRecord, cpu_path, requests_path
from hawkeye_bench.load.stream import StreamMeter, clip_error

logger = logging.getLogger("hawkeye_bench.load")

MEASURED_MESSAGE = "hawkeye_measured"  # worker -> master: one more measured request succeeded
FAILED_MESSAGE = "hawkeye_failed"  # worker -> master: one more measured request failed
#: What is sent as ``stream_options``, richest first; on a 400 that names the option we step down.
STREAM_OPTION_LEVELS: tuple[dict[str, bool] | None, ...] = (
    {"include_usage": True, "continuous_usage_stats": True},
    {"include_usage": True},
    None,
)
REJECTION_WORDS = ("stream_options", "continuous_usage_stats", "include_usage")
ERROR_BODY_CHARS = 300


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


@dataclass
class Workload:
    """What every request of this process sends; resolved once at init, before the users start."""

    path: str
    model: str
    prompts: list[Messages]
    headers: dict[str, str]


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
    raw: JsonlWriter
    cpu: CpuSampler
    prompt_order: itertools.count[int]
    stream_option_level: int = 0
    measured: int = 0  # successful measured requests
    failed: int = 0  # failed measured requests
    seq: itertools.count[int] = field(default_factory=itertools.count)
    quitting: bool = False

    def body(self, messages: Messages) -> str:
        body: dict[str, Any] = {
            "model": self.workload.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "stream": True,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        options = STREAM_OPTION_LEVELS[self.stream_option_level]
        if options is not None:
            body["stream_options"] = options
        return json.dumps(body)


STATE: LoadState | None = None
_master_counts = {"ok": 0, "failed": 0}
_master_quitting = False


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
        processes = getattr(environment.parsed_options, "processes", None) or 0
        count = processes if processes > 0 else (os.cpu_count() or 1)
        return runner.worker_index, max(count, runner.worker_index + 1)
    return 0, 1


def resolve_workload(options: Any, host: str) -> Workload:
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Accept-Encoding": "identity",  # compressing proxies buffer SSE
    }
    if options.api_key_env:
        try:  # through secrets: redact() then knows the key in this process
            key = api_key_from_env(options.api_key_env, "--api-key-env")
        except MissingApiKey:
            raise SystemExit(
                f"--api-key-env {options.api_key_env}: that variable is not set"
            ) from None
        headers["Authorization"] = f"Bearer {key}"
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
    )


@events.init.add_listener
def on_init(environment: Environment, **_: Any) -> None:
    global WORKLOAD
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(MEASURED_MESSAGE, _on_measured_message)
        environment.runner.register_message(FAILED_MESSAGE, _on_failed_message)
    elif environment.parsed_options is not None:  # None when imported by a test Environment
        if not environment.host:
            raise SystemExit("no --host given (the server's base URL, e.g. http://127.0.0.1:8000)")
        WORKLOAD = resolve_workload(environment.parsed_options, environment.host)


def _on_measured_message(environment: Environment, msg: Any, **_: Any) -> None:
    _master_count(environment, "ok", int(msg.data or 1))


def _on_failed_message(environment: Environment, msg: Any, **_: Any) -> None:
    _master_count(environment, "failed", int(msg.data or 1))


def _master_count(environment: Environment, kind: str, n: int) -> None:
    global _master_quitting
    _master_counts[kind] += n
    options, runner = environment.parsed_options, environment.runner
    assert options is not None and runner is not None  # a master run from the command line
    counts = _master_counts
    reason = _stop_reason(counts["ok"], counts["failed"], options.requests, options.max_failures)
    if reason and not _master_quitting:
        _master_quitting = True
        logger.info("%s: stopping", reason)
        gevent.spawn(runner.quit)


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
    gevent.spawn_later(options.warmup + options.measure_for, runner.quit)


@events.test_start.add_listener
def on_test_start(environment: Environment, **_: Any) -> None:
    global STATE
    options = environment.parsed_options
    if isinstance(environment.runner, MasterRunner) or STATE is not None or WORKLOAD is None:
        return
    # WORKLOAD is set from the command line's options, so they are there
    assert options is not None
    raw_dir = Path(options.raw_dir or f"locust-raw-{time.strftime('%Y%m%d-%H%M%S')}")
    index, count = _process_slot(environment)
    STATE = LoadState(
        workload=WORKLOAD,
        max_tokens=options.max_tokens,
        temperature=options.temperature,
        stage=options.stage,
        warmup_until=time.perf_counter() + options.warmup,
        stop_after=options.requests,
        max_failures=options.max_failures,
        raw=JsonlWriter(requests_path(raw_dir)).open(),
        cpu=CpuSampler(cpu_path(raw_dir)),
        prompt_order=itertools.count(index, count),
        stream_option_level=len(STREAM_OPTION_LEVELS) - 1 if options.no_stream_options else 0,
    )
    STATE.cpu.start()
    logger.info("raw records -> %s", STATE.raw.path)


@events.test_stop.add_listener
def on_test_stop(environment: Environment, **_: Any) -> None:
    global STATE
    if STATE is not None:
        STATE.cpu.stop()
        STATE.raw.close()
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
        gevent.spawn(runner.quit)


def _rejects_stream_options(status: int | None, body: str) -> bool:
    return status == 400 and any(word in body for word in REJECTION_WORDS)


class ChatStreamUser(FastHttpUser):
    """One streamed ``/chat/completions`` request at a time, measured chunk by chunk."""

    wait_time = constant(0)
    network_timeout = 600.0  # per socket read: must exceed the slowest TTFT
    connection_timeout = 60.0
    max_retries = 0

    @task
    def chat_completion(self) -> None:
        state = STATE
        if state is None:  # test_start failed or the test is stopping
            gevent.sleep(0.1)
            return
        prompts = state.workload.prompts
        prompt_index = next(state.prompt_order) % len(prompts)
        while True:
            record = self._one_request(state, prompt_index)
            if record is not None:
                break
        state.raw.write(record.to_dict())
        if record.measured:
            _count_measured(self.environment, state, record.ok)

    def _one_request(self, state: LoadState, prompt_index: int) -> RequestRecord | None:
        """Send and measure one request; None when it must be resent with less stream_options."""
        level = state.stream_option_level
        payload = state.body(state.workload.prompts[prompt_index])
        record = RequestRecord(
            t_send_wall=time.time(),
            t_send_perf=0.0,
            pid=os.getpid(),
            seq=next(state.seq),
            stage=state.stage,
            prompt_index=prompt_index,
            stream_options=STREAM_OPTION_LEVELS[level] is not None,
        )
        t_send = time.perf_counter()
        record.t_send_perf = t_send
        record.warmup = t_send < state.warmup_until
        meter = StreamMeter(t_send)
        try:
            with self.client.request(
                "POST",
                state.workload.path,
                data=payload,
                headers=state.workload.headers,
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
                self._report(response, record)
        except (GreenletExit, StopUser):
            # the load generator stopped this user mid-stream (--stop-timeout ran out)
            record.fill_from(meter)
            record.incomplete = True
            state.raw.write(record.to_dict())
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
