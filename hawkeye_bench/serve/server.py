"""An OpenAI-compatible HTTP server that answers every chat completion by running a pipeline.

``hawkeye-bench serve`` puts this in front of the upstream models, so any OpenAI client (the
SDK, lm-eval's ``local-chat-completions``, Locust) can drive Hawkeye and the single-model
baseline the same way. Routes: ``POST /v1/chat/completions`` (streamed or not),
``GET /v1/models`` (one model: the served name, by default the pipeline's name), ``GET /health``.

How a request maps onto the pipeline is ``serve/chat_request.py``'s (the question, the
sampling per stage); what the client receives (the text's channels, the token report
``x_hawkeye``, the error bodies) is ``serve/replies.py``'s; how a streamed answer goes out is
``serve/streaming.py``'s. The token report rides on the last chunk before ``[DONE]`` (the usage
chunk when ``include_usage`` is asked) and on the non-streamed body.

Failures: a stage that fails upstream (5xx, cut stream, timeout, after the client's retries) is
an OpenAI-style error: HTTP 502 (504 for a timeout; an upstream's refusal of the request itself
passed on) for a non-streamed request, or a ``data: {"error": {...}}`` event that ends a stream
(no ``[DONE]``). The upstream call is retried while nothing of it has reached the client: a
streamed request until its first delta goes out, a non-streamed one until it is answered (its
text is only sent at the end). Error texts never carry an API key: every key read through
``api_key_from_env`` is redacted from what is logged or returned (upstreams may echo it).

A malformed request gets HTTP 400 naming the field (a wrong JSON type anywhere, NaN or
Infinity: "not a number", a token count or seed out of range, bytes that are not UTF-8, a body
whose ``Content-Encoding`` does not decode); a body over ``max_body_bytes`` (16 MiB by default)
gets HTTP 413; both are OpenAI-style JSON. A request that is not valid HTTP (bad chunk framing)
gets aiohttp's own 400 and one log line, no traceback. A client that hangs up mid-body or
mid-stream is logged at debug level only, and a hang-up mid-stream stops the upstream call. The
server stays up through all of it. A pipeline that raises (a bug) gets a 500 ``internal error``;
its traceback is logged once per place it is raised from, one line each time after that.

Client key: with ``client_key`` set (``serve`` reads it from ``$HAWKEYE_SERVE_KEY`` or the
variable ``--client-key-env`` names), every request but ``GET /health`` must send
``Authorization: Bearer <key>``; any other gets an OpenAI-style 401 (code
``invalid_api_key``) before its body is read, and nothing reaches an upstream.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from hawkeye_bench.core.secrets import redact, remember_secret
from hawkeye_bench.core.trace import Trace
from hawkeye_bench.core.writable import check_writable_folder
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.endpoints.pool import ClientPool, PoolClient
from hawkeye_bench.pipelines import Pipeline, get_pipeline
from hawkeye_bench.presets import STAGE2_INPUTS, Preset, load_preset
from hawkeye_bench.serve.chat_request import (
    BadRequest,
    ChatRequest,
    parse_chat_request,
    preset_for_request,
)
from hawkeye_bench.serve.client_auth import DEFAULT_CLIENT_KEY_ENV, OPEN_PATHS, bearer_matches
from hawkeye_bench.serve.replies import (
    AnswerRoles,
    ApiError,
    Completion,
    DeltaRouter,
    finish_reason,
    token_report,
    upstream_error,
)
from hawkeye_bench.serve.streaming import SseWriter, StageEndMarker
from hawkeye_bench.serve.traces import Outcome, TraceLog

logger = logging.getLogger(__name__)

#: Largest request body accepted by default (long few-shot prompts fit; aiohttp's default is
#: 1 MiB); ``PipelineServer(max_body_bytes=...)``, ``serve --max-body-mb``.
MAX_BODY_BYTES = 16 * 2**20
#: Seconds in-flight requests get to finish when the server stops (SIGTERM, Ctrl-C).
SHUTDOWN_TIMEOUT_S = 10.0
#: Pending connections the listening socket queues (load tests open hundreds at once).
BACKLOG = 1024


class _HttpErrorLog(logging.LoggerAdapter):
    """aiohttp's server log, where a request that is not valid HTTP (bad chunk framing, a
    Content-Length that is no number, an unknown Content-Encoding) is one line at INFO: aiohttp
    answers it 400 itself, and the client's mistake is no traceback in the server's log."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kw: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            why = " ".join(str(exc_info.message).split())
            self.logger.info(f"{msg}: HTTP {exc_info.code}: {why}", *args, **kw)
        else:
            self.logger.exception(msg, *args, exc_info=exc_info, **kw)


@dataclass
class ServerStats:
    """Counters shown by ``GET /health``."""

    in_flight: int = 0
    completed: int = 0
    upstream_errors: int = 0
    bad_requests: int = 0  # 400 and 413
    unauthorized: int = 0  # 401: no client key, or a wrong one
    trace_errors: int = 0  # trace lines that could not be written (--trace-dir)
    client_disconnects: int = 0  # mid-body or mid-stream


# -- the server -------------------------------------------------------------------------------


class PipelineServer:
    """Serves one pipeline: ``async with PipelineServer("hawkeye", endpoints) as server: ...``.

    ``endpoints`` maps each role of the pipeline to its upstream. A :class:`ClientPool` (one
    EndpointClient per distinct upstream setting, connections unbounded: the server's own
    clients set the load) lives as long as the server; each upstream is checked at start.
    ``port=0`` binds a free port; ``base_url`` tells which. ``max_body_bytes``: the largest
    request body accepted (larger ones get an OpenAI-style 413).

    Run as one of ``serve --workers N`` (``serve/workers.py``): ``sock`` is the listening socket
    the workers share (``host``/``port`` are then its address), ``worker`` this process's index
    (shown by ``/health`` with its PID). ``trace_dir``: append one line per request to this
    process's trace file there (``serve/traces.py``). ``options``: the pipeline's run options
    (``serve --keep 0.3``), as ``eval`` passes them. ``client_key``: every request but
    ``/health`` must send ``Authorization: Bearer <client_key>`` (``serve/client_auth.py``);
    ``client_key_env`` only names where it came from, for the 401's message.
    """

    def __init__(
        self,
        pipeline: str,
        endpoints: Mapping[str, Endpoint],
        *,
        preset: Preset | str = "default",
        stage2_input: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        served_model_name: str | None = None,
        check_endpoints: bool = True,
        max_body_bytes: int = MAX_BODY_BYTES,
        sock: socket.socket | None = None,
        worker: int | None = None,
        trace_dir: Path | str | None = None,
        options: Mapping[str, Any] | None = None,
        client_key: str | None = None,
        client_key_env: str = DEFAULT_CLIENT_KEY_ENV,
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, not {max_body_bytes}")
        self.max_body_bytes = max_body_bytes
        self.pipeline_cls: type[Pipeline] = get_pipeline(pipeline)
        self.options = dict(options or {})
        self.pipeline_cls.check_options(self.options)
        self.preset = load_preset(preset) if isinstance(preset, str) else preset
        self.stage2_input = stage2_input
        self.endpoints = dict(endpoints)
        self.host = host
        self.port = port
        self.model_name = served_model_name or self.pipeline_cls.name
        self.check_endpoints = check_endpoints
        self.sock = sock
        self.worker = worker
        self.trace_dir = None if trace_dir is None else Path(trace_dir)
        self._trace_log: TraceLog | None = None
        remember_secret(client_key)  # a worker process starts with nothing remembered
        self._client_key = client_key
        self._crash_sites: set[tuple[Any, ...]] = set()  # where a logged traceback came from
        self.client_key_env = client_key_env
        self.roles = self.pipeline_cls.roles
        self.final_role: AnswerRoles = self.pipeline_cls.answer_roles
        self.stats = ServerStats()
        self.clients: dict[str, PoolClient] = {}  # role -> the pool's client or replica set
        self._pool: ClientPool | None = None
        self._runner: web.AppRunner | None = None
        # Fail now rather than on the first request.
        for role in self.roles:
            self.preset.stage(role)
        if stage2_input is not None and stage2_input not in STAGE2_INPUTS:
            raise ValueError(
                f"unknown stage-2 input {stage2_input!r}; valid: {', '.join(STAGE2_INPUTS)}"
            )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _pipeline_for(self, preset: Preset, clients: Mapping[str, PoolClient]) -> Pipeline:
        return self.pipeline_cls(
            preset, clients, stage2_input=self.stage2_input, options=self.options
        )

    def upstreams(self) -> dict[str, Endpoint]:
        """The upstream of each role of the pipeline (ValueError naming the roles without)."""
        missing = [role for role in self.roles if role not in self.endpoints]
        if missing:
            raise ValueError(f"pipeline {self.pipeline_cls.name!r} needs endpoints for {missing}")
        return {role: self.endpoints[role] for role in self.roles}

    async def start(self) -> str:
        upstreams = self.upstreams()
        if self.trace_dir is not None:  # else every request would fail on its trace line
            check_writable_folder(self.trace_dir, "--trace-dir folder")
        try:
            self._pool = ClientPool(upstreams, concurrency=None)
            self.clients = dict(await self._pool.open())
            if self.check_endpoints:
                await self._pool.check()
            middlewares = [] if self._client_key is None else [self._require_client_key]
            app = web.Application(client_max_size=self.max_body_bytes, middlewares=middlewares)
            app.router.add_post("/v1/chat/completions", self.chat_completions)
            app.router.add_get("/v1/models", self.models)
            app.router.add_get("/health", self.health)
            # In-flight streams get SHUTDOWN_TIMEOUT_S to finish when the server stops.
            self._runner = web.AppRunner(
                app,
                access_log=None,
                handle_signals=False,
                shutdown_timeout=SHUTDOWN_TIMEOUT_S,
                logger=_HttpErrorLog(logging.getLogger("aiohttp.server")),
            )
            await self._runner.setup()
            site: web.BaseSite
            if self.sock is not None:
                site = web.SockSite(self._runner, self.sock, backlog=BACKLOG)
            else:
                site = web.TCPSite(self._runner, self.host, self.port, backlog=BACKLOG)
            await site.start()
            if self.trace_dir is not None:
                self._trace_log = TraceLog(self.trace_dir, self.worker or 0)
        except BaseException:
            await self.stop()
            raise
        self.port = int(self._runner.addresses[0][1])
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        pool, self._pool = self._pool, None
        self.clients = {}
        if pool is not None:
            await pool.close()
        if self._trace_log is not None:
            self._trace_log.close()

    async def __aenter__(self) -> PipelineServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def requires_client_key(self) -> bool:
        return self._client_key is not None

    @web.middleware
    async def _require_client_key(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Answer 401 to a request without the client key (before its body is read)."""
        if request.path in OPEN_PATHS or self._client_key is None:
            return await handler(request)
        authorization = request.headers.get("Authorization")
        if bearer_matches(authorization, self._client_key):
            return await handler(request)
        self.stats.unauthorized += 1
        if authorization is None:
            message = (
                "this server needs a client key: send 'Authorization: Bearer <key>' with the "
                f"key the server reads from {self.client_key_env}"
            )
        else:
            message = "the client key in the Authorization header is not this server's"
        return web.json_response(
            ApiError(message, "invalid_request_error", "invalid_api_key").to_json(),
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _crash_error(self, pipeline: Pipeline) -> ApiError:
        """Log the exception a pipeline run raised (a bug), redacted, and return the client's
        body. Its traceback is logged the first time it is raised at that place, one line after
        that: a bug every request hits must not bury the log in tracebacks."""
        exc = sys.exc_info()[1]
        frames = traceback.extract_tb(exc.__traceback__) if exc is not None else []
        site = (type(exc).__name__, *((frames[-1].filename, frames[-1].lineno) if frames else ()))
        if site in self._crash_sites:
            logger.error("pipeline %s crashed again where its traceback above shows: %s",
                         pipeline.name, redact(f"{type(exc).__name__}: {exc}"))  # fmt: skip
        else:
            self._crash_sites.add(site)
            logger.error("pipeline %s crashed:\n%s", pipeline.name, redact(traceback.format_exc()))
        return ApiError("internal error", "server_error")

    # -- small routes ----------------------------------------------------------------------

    async def models(self, request: web.Request) -> web.Response:
        model = {
            "id": self.model_name,
            "object": "model",
            "created": 0,
            "owned_by": "hawkeye-bench",
        }
        return web.json_response({"object": "list", "data": [model]})

    async def health(self, request: web.Request) -> web.Response:
        process = {} if self.worker is None else {"worker": self.worker, "pid": os.getpid()}
        return web.json_response(
            {
                "status": "ok",
                "pipeline": self.pipeline_cls.name,
                "preset": self.preset.name,
                **process,
                **vars(self.stats),
            }
        )

    def _trace(
        self,
        completion_id: str,
        parsed: ChatRequest,
        outcome: Outcome,
        received_at: float,
        trace: Trace | None = None,
    ) -> None:
        if self._trace_log is None:
            return
        try:
            self._trace_log.write(
                completion_id,
                stream=parsed.stream,
                outcome=outcome,
                received_at=received_at,
                trace=trace,
            )
        except OSError as exc:  # the disk filled up, the folder went away: answer anyway
            self.stats.trace_errors += 1
            log = logger.warning if self.stats.trace_errors == 1 else logger.debug
            log("cannot write the trace file %s (requests are still answered): %s",
                self._trace_log.path, exc)  # fmt: skip

    # -- chat completions ------------------------------------------------------------------

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        received_at = time.time()
        raw = await self._read_body(request)
        if isinstance(raw, web.StreamResponse):
            return raw
        try:
            parsed = parse_chat_request(raw, self.roles)
        except BadRequest as exc:
            self.stats.bad_requests += 1
            error = ApiError(str(exc), "invalid_request_error", param=exc.param)
            return web.json_response(error.to_json(), status=400)
        pipeline = self._pipeline_for(
            preset_for_request(self.preset, parsed.stage_params), self.clients
        )
        completion_id = f"chatcmpl-{secrets.token_hex(12)}"
        self.stats.in_flight += 1
        try:
            if parsed.stream:
                return await self._stream(request, pipeline, parsed, completion_id, received_at)
            return await self._whole(pipeline, parsed, completion_id, received_at)
        finally:
            self.stats.in_flight -= 1

    async def _read_body(self, request: web.Request) -> bytes | web.StreamResponse:
        """The request body, or the response for a body too large or cut by the client."""
        limit = self.max_body_bytes
        try:
            if request.content_length is not None and request.content_length > limit:
                raise web.HTTPRequestEntityTooLarge(
                    max_size=limit, actual_size=request.content_length
                )
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.stats.bad_requests += 1
            message = (
                f"request body is larger than this server's limit of {limit} bytes "
                f"({limit / 2**20:g} MiB; hawkeye-bench serve --max-body-mb raises it)"
            )
            error = ApiError(message, "invalid_request_error", "request_too_large")
            return web.json_response(error.to_json(), status=413)
        except web.RequestPayloadError as exc:  # e.g. Content-Encoding: gzip, but it is not
            self.stats.bad_requests += 1
            # Nothing more of this body can be read: aiohttp must not try again after the
            # answer (that logs a traceback), and the connection closes.
            request.content.feed_eof()
            cause = exc.__cause__ or exc
            why = " ".join(str(getattr(cause, "message", cause)).split())
            message = f"request body cannot be read: {why}"
            error = ApiError(message, "invalid_request_error")
            answer = web.json_response(error.to_json(), status=400)
            answer.force_close()
            return answer
        except ConnectionError as exc:  # aiohttp: ConnectionResetError('Connection lost')
            self.stats.client_disconnects += 1
            logger.debug("client hung up while sending its request: %s", exc)
            return web.Response(status=499)

    async def _whole(
        self, pipeline: Pipeline, parsed: ChatRequest, completion_id: str, received_at: float
    ) -> web.Response:
        # No on_delta: nothing reaches the client before the end, so the upstream calls stay
        # retryable (the endpoint client stops retrying once a delta has been handed over).
        try:
            trace = await pipeline.run(parsed.question, seed=parsed.seed)
        except Exception:
            self.stats.upstream_errors += 1
            self._trace(completion_id, parsed, "crashed", received_at)
            return web.json_response(self._crash_error(pipeline).to_json(), status=500)
        if not trace.ok:
            self.stats.upstream_errors += 1
            self._trace(completion_id, parsed, "upstream_error", received_at, trace)
            status, error = upstream_error(trace)
            logger.warning("request failed upstream: %s", error.message)
            _, report = token_report(trace, self.final_role)
            return web.json_response(
                {**error.to_json(), "x_hawkeye": report.to_json()}, status=status
            )
        self.stats.completed += 1
        self._trace(completion_id, parsed, "ok", received_at, trace)
        completion = Completion.of(trace, completion_id, self.model_name, self.final_role)
        return web.json_response(completion.to_json())

    async def _stream(
        self,
        request: web.Request,
        pipeline: Pipeline,
        parsed: ChatRequest,
        completion_id: str,
        received_at: float,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # proxies must not buffer the stream
            }
        )
        writer = SseWriter(response, completion_id, self.model_name)
        trace: Trace | None = None
        try:
            await response.prepare(request)
            await writer.role()
            router = StageEndMarker(writer, DeltaRouter(self.final_role, writer.delta))
            try:
                trace = await pipeline.run(parsed.question, seed=parsed.seed, on_delta=router)
            except ConnectionError:
                raise
            except Exception:
                self.stats.upstream_errors += 1
                self._trace(completion_id, parsed, "crashed", received_at)
                await writer.error(self._crash_error(pipeline))
                return response
            await self._end_stream(response, writer, trace, parsed)
            outcome: Outcome = "ok" if trace.ok else "upstream_error"
            self._trace(completion_id, parsed, outcome, received_at, trace)
        except ConnectionError:
            # The client hung up: the exception left the upstream call, which closed its
            # connection, so the upstream stops generating too.
            self.stats.client_disconnects += 1
            self._trace(completion_id, parsed, "client_disconnect", received_at, trace)
        return response

    async def _end_stream(
        self, response: web.StreamResponse, writer: SseWriter, trace: Trace, parsed: ChatRequest
    ) -> None:
        """After the pipeline: the upstream error event, or the finish chunk, usage and [DONE]."""
        if not trace.ok:
            self.stats.upstream_errors += 1
            _, error = upstream_error(trace)
            logger.warning("stream failed upstream: %s", error.message)
            await writer.error(error)
            return
        usage, report = token_report(trace, self.final_role)
        await writer.finish(finish_reason(trace), usage, report, include_usage=parsed.include_usage)
        self.stats.completed += 1
        await response.write_eof()


async def serve_forever(server: PipelineServer, stop: asyncio.Event, announce: Any = print) -> None:
    """Start ``server``, announce its base URL, serve until ``stop`` is set, then shut down."""
    async with server:
        announce(server.base_url)
        await stop.wait()
