"""The locustfile's user: one streamed ``/chat/completions`` request at a time, measured line by
line and written raw (:class:`~hawkeye_bench.load.records.RequestRecord`).

``FastHttpUser`` with ``stream=True`` is read one line at a time through
``resp._response.readline(b"\\n")`` (``iter_lines`` buffers 1024 bytes and smears the timing);
``time.perf_counter()`` right after each read. Locust's console shows one ``LLM E2E`` entry per
request (failures included) plus ``LLM TTFT`` and ``LLM TBT`` (the request's mean time per
token), never one event per token.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import gevent
from gevent import GreenletExit
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

from hawkeye_bench.core.secrets import redact
from hawkeye_bench.load.backoff import next_backoff
from hawkeye_bench.load.locustfile_distributed import count_measured
from hawkeye_bench.load.locustfile_open_loop import Due, wait_until_due
from hawkeye_bench.load.locustfile_state import PROCESS, STREAM_OPTION_LEVELS, LoadState
from hawkeye_bench.load.records import RequestRecord
from hawkeye_bench.load.stream import StreamMeter, clip_error
from hawkeye_bench.load.traces import filler_messages

logger = logging.getLogger("hawkeye_bench.load")

REJECTION_WORDS = ("stream_options", "continuous_usage_stats", "include_usage")
ERROR_BODY_CHARS = 300


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
        state = PROCESS.load
        if state is None or state.draining:  # test_start failed or the test is stopping
            gevent.sleep(0.1)
            return
        due = wait_until_due(state)
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
            state.raw.request(record)
            if record.measured:
                count_measured(self.environment, state, record.ok)
        finally:
            state.in_flight -= 1
        self.backoff_s = next_backoff(self.backoff_s, record.status is None)
        if self.backoff_s:  # outside the measured request: its latency is not touched
            state.drain_event.wait(self.backoff_s)  # a stopping test does not wait for it

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
            state.raw.request(record)
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
