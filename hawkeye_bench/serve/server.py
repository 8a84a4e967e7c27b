"""An OpenAI-compatible HTTP server that answers every chat completion by running a pipeline.

``hawkeye-bench serve`` puts this in front of the upstream models, so any OpenAI client (the
SDK, lm-eval's ``local-chat-completions``, Locust) can drive Hawkeye and the single-model
baseline the same way. Routes: ``POST /v1/chat/completions`` (streamed or not),
``GET /v1/models`` (one model: the served name, by default the pipeline's name), ``GET /health``.

How a request maps onto the pipeline:

- The question is the text of the last ``user`` message; earlier messages are not sent (each
  stage's prompt comes from the preset's template, as in ``hawkeye-bench eval``).
- ``max_tokens`` (or ``max_completion_tokens``) and ``stop`` apply to the final stage (the
  responder; the single model for the baseline). ``temperature`` and ``top_p`` apply to every
  stage; ``seed`` is the pipeline's seed. What the request does not set, the preset sets.
- Per stage, the extra body field ``stage_params`` overrides those (``extra_body`` in the SDK)::

      "stage_params": {"reasoner": {"max_tokens": 256, "temperature": 0.0}}

  (keys: max_tokens, temperature, top_p, stop; roles: the pipeline's roles).
- ``n`` must be 1; other OpenAI fields (``model``, penalties, ``logprobs``, ...) are accepted
  and ignored; ``stream_options.continuous_usage_stats`` is ignored (no per-chunk usage).

What the client receives: every stage but the last streams as ``reasoning_content`` (the
reasoner's reasoning and content, in the order they arrive; ``\\n\\n`` is inserted where the
source switches), then the last stage streams its reasoning (if any) as ``reasoning_content``
and its content as ``content``. Deltas are forwarded the moment the upstream delivers them, one
chunk per upstream delta; a role-only chunk goes out first, before any upstream answers. A
non-streamed answer carries the same text (``message.reasoning_content``, ``message.content``),
put together once the pipeline is done: per stage, its reasoning, then its content (an upstream
that interleaves the two gets fewer separators than in the stream). ``finish_reason`` is the
last stage's.

Token accounting (never invented; a count an upstream did not give is ``null``):
``usage.completion_tokens`` = all stages, ``usage.prompt_tokens`` = all stages' prompts,
``usage.completion_tokens_details.reasoning_tokens`` = every token streamed as reasoning
(earlier stages' completion tokens plus the last stage's own reasoning tokens). The extra field
``x_hawkeye`` = ``{pipeline, token_source, approximate, stages: [...]}`` says where the counts
came from (``usage``, ``tokenize``, ``chunks`` = approximate, ``mixed``, or null) per stage. It
rides on the last chunk before ``[DONE]`` (the usage chunk when ``include_usage`` is asked) and
on the non-streamed body.

Failures: a stage that fails upstream (5xx, cut stream, timeout, after the client's retries) is
an OpenAI-style error (``{"error": {"message", "type", "param", "code"}}``): HTTP 502 (504 for a
timeout) for a non-streamed request, or a ``data: {"error": {...}}`` event that ends a stream
(no ``[DONE]``). An upstream that refuses the request itself (400, 413, 422, ... and 429) is
passed on with its status and type ``invalid_request_error`` (``upstream_error`` for 429); a
refusal that concerns the server's own upstream settings (401, 403, 404, 407: key, model name)
stays 502. The upstream call is retried while nothing of it has reached the client: a streamed
request until its first delta goes out, a non-streamed one until it is answered (its text is
only sent at the end). Error texts never carry an API key: every key read through
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
import json
import logging
import os
import re
import secrets
import socket
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hawkeye_bench.core.secrets import redact, remember_secret
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.core.writable import check_writable_folder
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.endpoints.pool import ClientPool
from hawkeye_bench.pipelines import Pipeline, get_pipeline
from hawkeye_bench.presets import STAGE2_INPUTS, Preset, load_preset
from hawkeye_bench.serve.client_auth import DEFAULT_CLIENT_KEY_ENV, OPEN_PATHS, bearer_matches
from hawkeye_bench.serve.traces import Outcome, TraceLog

logger = logging.getLogger(__name__)

#: Largest request body accepted by default (long few-shot prompts fit; aiohttp's default is
#: 1 MiB); ``PipelineServer(max_body_bytes=...)``, ``serve --max-body-mb``.
MAX_BODY_BYTES = 16 * 2**20
#: Seconds in-flight requests get to finish when the server stops (SIGTERM, Ctrl-C).
SHUTDOWN_TIMEOUT_S = 10.0
#: Pending connections the listening socket queues (load tests open hundreds at once).
BACKLOG = 1024

Channel = Literal["reasoning", "content"]


# -- request parsing --------------------------------------------------------------------------


class _ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: str
    text: str | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: str
    content: str | list[_ContentPart] | None = None


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    include_usage: bool = False


#: Largest token count a request may ask for (the int32 servers take; more is no request).
MAX_TOKENS_LIMIT = 2**31 - 1
#: Seeds are 64-bit integers, as OpenAI's and vLLM's.
SEED_RANGE = (-(2**63), 2**63 - 1)


class _StageParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None


class _ChatBody(BaseModel):
    """The OpenAI chat-completions fields the server reads; others are accepted and ignored."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)
    messages: list[_Message] = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    stream_options: _StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, ge=SEED_RANGE[0], le=SEED_RANGE[1])
    stop: str | list[str] | None = None
    n: int | None = None
    stage_params: dict[str, _StageParams] | None = None


class BadRequest(ValueError):
    """A request the server cannot run: answered with HTTP 400 and this message."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class ChatRequest:
    """A validated request: the question, how to stream, and the sampling per stage."""

    question: str
    stream: bool
    include_usage: bool
    seed: int | None
    stage_params: dict[str, dict[str, Any]] = field(default_factory=dict)


def _message_text(message: _Message) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return "".join(part.text or "" for part in parts if part.type == "text")


#: Pydantic names the member of a union that failed (``content.str``); the path drops it.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|list\[.*\]|dict\[.*\]|_[A-Za-z]+)$")


def _validation_message(error: ValidationError) -> tuple[str, str | None]:
    """A readable 400 message ("field.path: what is wrong") and the first offending field."""
    problems = error.errors(include_url=False)
    first = problems[0]
    if first["type"] == "json_invalid":
        return f"request body is not valid JSON: {first['msg']}", None
    if first["type"] == "model_type" and not first["loc"]:
        return "request body must be a JSON object", None
    by_path: dict[str, list[str]] = {}
    for problem in problems:
        parts = [str(p) for p in problem["loc"] if not _UNION_MEMBER.match(str(p))]
        messages = by_path.setdefault(".".join(parts) or "body", [])
        message = _problem_message(problem)
        if message not in messages:
            messages.append(message)
    described = [f"{path}: {' or '.join(msgs)}" for path, msgs in by_path.items()]
    return "invalid request: " + "; ".join(described), next(iter(by_path))


def _problem_message(problem: Any) -> str:
    """Pydantic's message, but NaN and Infinity are "not a number" (as on the command line),
    not a range violation."""
    if problem["type"] == "finite_number":
        value = problem["input"]
        shown = "NaN" if value != value else ("-Infinity" if value < 0 else "Infinity")
        return f"{shown} is not a number; expected a finite number"
    return str(problem["msg"])


def parse_chat_request(raw: bytes, roles: tuple[str, ...]) -> ChatRequest:
    """Validate a chat-completions body for a pipeline with ``roles`` (the last one answers).

    Raises BadRequest with a message naming the offending field.
    """
    if not raw.strip():
        raise BadRequest("request body is empty: expected a JSON object with 'messages'")
    try:
        body = _ChatBody.model_validate_json(raw)
    except ValidationError as exc:
        message, param = _validation_message(exc)
        raise BadRequest(message, param) from None
    if body.n not in (None, 1):
        raise BadRequest(f"n={body.n} is not supported: one choice per request", "n")
    users = [m for m in body.messages if m.role == "user"]
    if not users:
        raise BadRequest(
            "messages holds no 'user' message: the last one is the question", "messages"
        )
    question = _message_text(users[-1])
    if not question.strip():
        raise BadRequest("the last user message has no text", "messages")
    unknown = sorted(set(body.stage_params or {}) - set(roles))
    if unknown:
        raise BadRequest(
            f"stage_params names unknown stage(s) {unknown}; this pipeline's stages: "
            f"{', '.join(roles)}",
            "stage_params",
        )
    shared = {"temperature": body.temperature, "top_p": body.top_p}
    final = {
        "max_tokens": body.max_completion_tokens or body.max_tokens,
        "stop": body.stop,
    }
    stage_params: dict[str, dict[str, Any]] = {}
    for role in roles:
        params: dict[str, Any] = dict(shared)
        if role == roles[-1]:
            params.update(final)
        given = (body.stage_params or {}).get(role)
        if given is not None:
            params.update(given.model_dump(exclude_none=True))
        params = {k: v for k, v in params.items() if v is not None}
        if isinstance(params.get("stop"), str):
            params["stop"] = [params["stop"]]
        if params:
            stage_params[role] = params
    return ChatRequest(
        question=question,
        stream=body.stream,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        seed=body.seed,
        stage_params=stage_params,
    )


def preset_for_request(preset: Preset, stage_params: Mapping[str, Mapping[str, Any]]) -> Preset:
    """The preset with a request's per-stage sampling applied (the preset itself if none)."""
    if not stage_params:
        return preset
    stages = dict(preset.stages)
    for role, params in stage_params.items():
        overrides = dict(params)
        if "stop" in overrides:
            overrides["stop"] = tuple(overrides["stop"])
        stages[role] = replace(stages[role], **overrides)
    return replace(preset, stages=stages)


# -- what the client receives -----------------------------------------------------------------


class DeltaRouter:
    """Maps (stage role, upstream channel) to the channel the client sees, per the module doc.

    ``emit(channel, text)`` receives each routed piece; a ``\\n\\n`` separator is emitted on the
    reasoning channel where its source (stage or upstream channel) changes.
    """

    def __init__(self, final_role: AnswerRoles, emit: Any) -> None:
        self.final_role = final_role
        self.emit = emit
        self._reasoning_source: tuple[str, str] | None = None

    def __call__(self, role: str, channel: str, text: str) -> Any:
        out: Channel = (
            "content" if _answers(role, self.final_role) and channel == "content" else "reasoning"
        )
        if out == "reasoning":
            source = (role, channel)
            if source != self._reasoning_source:
                if self._reasoning_source is not None:
                    text = "\n\n" + text
                self._reasoning_source = source
        return self.emit(out, text)


def _sum_or_none(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


#: The roles whose text is the answer (a pipeline's ``answer_roles``: usually the last role).
AnswerRoles = tuple[str, ...]


def _answers(role: str, final_role: AnswerRoles) -> bool:
    return role in final_role


def _streamed_reasoning_tokens(stage: StageResult, final_role: AnswerRoles) -> int | None:
    if not _answers(stage.role, final_role):
        return stage.completion_tokens
    return stage.reasoning_tokens if stage.reasoning else 0


def token_report(trace: Trace, final_role: AnswerRoles) -> tuple[dict[str, Any], dict[str, Any]]:
    """(usage, x_hawkeye) for a finished trace; a count any stage lacks makes its total null."""
    stages = trace.stages
    prompt = _sum_or_none([s.prompt_tokens for s in stages])
    completion = _sum_or_none([s.completion_tokens for s in stages])
    reasoning = _sum_or_none([_streamed_reasoning_tokens(s, final_role) for s in stages])
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": None if prompt is None or completion is None else prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    sources = {s.token_source for s in stages}
    source = next(iter(sources)) if len(sources) == 1 else (None if None in sources else "mixed")
    x_hawkeye = {
        "pipeline": trace.pipeline,
        "token_source": source,
        "approximate": "chunks" in sources,
        "stage2_input": trace.stage2_input,
        "stages": [
            {
                "role": s.role,
                "model": s.model,
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": s.completion_tokens,
                "reasoning_tokens": s.reasoning_tokens,
                "token_source": s.token_source,
                "finish_reason": s.finish_reason,
                "ttft_s": s.ttft_s,
                "latency_s": s.latency_s,
                "attempts": s.attempts,
                "error_type": s.error_type,
            }
            for s in stages
        ],
    }
    return usage, x_hawkeye


def error_body(
    message: str, kind: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _failed_stage(trace: Trace) -> StageResult | None:
    return next((s for s in trace.stages if s.error), None)


#: Upstream refusals that concern the server's own settings for that upstream (its API key,
#: the model name), not the client's request: the client gets 502 for these.
UPSTREAM_SETTINGS_STATUSES = frozenset({401, 403, 404, 407})
_HTTP_ERROR = re.compile(r"http_(\d{3})")


def upstream_status(error_type: str | None) -> int:
    """The HTTP status the client gets for a stage that failed with ``error_type``."""
    if error_type in ("timeout", "http_408", "http_504"):
        return 504
    matched = _HTTP_ERROR.fullmatch(error_type or "")
    if matched:
        status = int(matched[1])
        if 400 <= status < 500 and status not in UPSTREAM_SETTINGS_STATUSES:
            return status  # the upstream refused the request itself: pass that on
    return 502


def upstream_error(trace: Trace) -> tuple[int, dict[str, Any]]:
    """HTTP status and OpenAI-style body for a pipeline run that failed upstream.

    The message is redacted: an upstream may echo the API key it was sent in its error body.
    """
    stage = _failed_stage(trace)
    if stage is None:
        return 500, error_body(redact(f"pipeline error: {trace.error}"), "server_error")
    status = upstream_status(stage.error_type)
    if 400 <= status < 500 and status != 429:
        kind, what = "invalid_request_error", "refused the request"
    else:
        kind, what = "upstream_error", f"failed after {stage.attempts} attempt(s)"
    message = f"upstream {stage.role} model {stage.model!r} {what}: {stage.error}"
    return status, error_body(redact(message), kind, stage.error_type)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


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


class _SseWriter:
    """Writes OpenAI chat-completion chunks; the per-delta path is one string concatenation."""

    def __init__(self, response: web.StreamResponse, completion_id: str, model: str) -> None:
        self.response = response
        self.head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        opening = _compact(self.head)[:-1] + ',"choices":[{"index":0,"delta":{'
        self._prefix = {
            "reasoning": f'data: {opening}"reasoning_content": '.encode(),
            "content": f'data: {opening}"content": '.encode(),
        }
        self._suffix = b'},"finish_reason":null}]}\n\n'

    async def delta(self, channel: str, text: str) -> None:
        await self.response.write(self._prefix[channel] + json.dumps(text).encode() + self._suffix)

    async def chunk(self, body: dict[str, Any]) -> None:
        await self.response.write(b"data: " + _compact({**self.head, **body}).encode() + b"\n\n")

    async def event(self, payload: bytes) -> None:
        await self.response.write(b"data: " + payload + b"\n\n")


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
        self.clients: dict[str, Any] = {}  # role -> the pool's client or replica set
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

    def _pipeline_for(self, preset: Preset, clients: Mapping[str, Any]) -> Pipeline:
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
            error_body(message, "invalid_request_error", "invalid_api_key"),
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _crash_body(self, pipeline: Pipeline) -> dict[str, Any]:
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
        return error_body("internal error", "server_error")

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
            body = error_body(str(exc), "invalid_request_error", param=exc.param)
            return web.json_response(body, status=400)
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
            body = error_body(message, "invalid_request_error", "request_too_large")
            return web.json_response(body, status=413)
        except web.RequestPayloadError as exc:  # e.g. Content-Encoding: gzip, but it is not
            self.stats.bad_requests += 1
            # Nothing more of this body can be read: aiohttp must not try again after the
            # answer (that logs a traceback), and the connection closes.
            request.content.feed_eof()
            cause = exc.__cause__ or exc
            why = " ".join(str(getattr(cause, "message", cause)).split())
            message = f"request body cannot be read: {why}"
            answer = web.json_response(error_body(message, "invalid_request_error"), status=400)
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
            return web.json_response(self._crash_body(pipeline), status=500)
        if not trace.ok:
            self.stats.upstream_errors += 1
            self._trace(completion_id, parsed, "upstream_error", received_at, trace)
            status, body = upstream_error(trace)
            logger.warning("request failed upstream: %s", body["error"]["message"])
            _, body["x_hawkeye"] = token_report(trace, self.final_role)
            return web.json_response(body, status=status)
        texts: dict[str, list[str]] = {"reasoning": [], "content": []}
        router = DeltaRouter(self.final_role, lambda channel, text: texts[channel].append(text))
        for stage in trace.stages:
            for channel, text in (("reasoning", stage.reasoning), ("content", stage.content)):
                if text:
                    router(stage.role, channel, text)
        usage, x_hawkeye = token_report(trace, self.final_role)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts["content"])}
        if texts["reasoning"]:
            message["reasoning_content"] = "".join(texts["reasoning"])
        self.stats.completed += 1
        self._trace(completion_id, parsed, "ok", received_at, trace)
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model_name,
                "choices": [{"index": 0, "message": message, "finish_reason": _finish(trace)}],
                "usage": usage,
                "x_hawkeye": x_hawkeye,
            }
        )

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
        writer = _SseWriter(response, completion_id, self.model_name)
        trace: Trace | None = None
        try:
            await response.prepare(request)
            role_delta = {"role": "assistant", "content": ""}
            await writer.chunk(
                {"choices": [{"index": 0, "delta": role_delta, "finish_reason": None}]}
            )
            router = _StageEndMarker(writer, DeltaRouter(self.final_role, writer.delta))
            try:
                trace = await pipeline.run(parsed.question, seed=parsed.seed, on_delta=router)
            except ConnectionError:
                raise
            except Exception:
                self.stats.upstream_errors += 1
                self._trace(completion_id, parsed, "crashed", received_at)
                await writer.event(json.dumps(self._crash_body(pipeline)).encode())
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
        self, response: web.StreamResponse, writer: _SseWriter, trace: Trace, parsed: ChatRequest
    ) -> None:
        """After the pipeline: the upstream error event, or the finish chunk, usage and [DONE]."""
        if not trace.ok:
            self.stats.upstream_errors += 1
            _, body = upstream_error(trace)
            logger.warning("stream failed upstream: %s", body["error"]["message"])
            await writer.event(json.dumps(body).encode())
            return
        usage, x_hawkeye = token_report(trace, self.final_role)
        finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": _finish(trace)}]}
        if parsed.include_usage:
            await writer.chunk(finish)
            await writer.chunk({"choices": [], "usage": usage, "x_hawkeye": x_hawkeye})
        else:
            await writer.chunk({**finish, "x_hawkeye": x_hawkeye})
        await writer.event(b"[DONE]")
        self.stats.completed += 1
        await response.write_eof()


class _StageEndMarker:
    """A stream's ``on_delta``: routes each delta, and a stage's first delta ends the stage
    before it: a chunk without choices carrying x_hawkeye.stage_end = that role goes out
    first, so a client can tell the CoT from a final stage that also reasons (both stream
    as reasoning)."""

    def __init__(self, writer: _SseWriter, route: DeltaRouter) -> None:
        self.writer = writer
        self.route = route
        self.streaming: str | None = None  # the role whose deltas are streaming

    async def __call__(self, role: str, channel: str, text: str) -> None:
        if self.streaming is not None and self.streaming != role:
            marker = {"stage_end": self.streaming}
            await self.writer.chunk({"choices": [], "x_hawkeye": marker})
        self.streaming = role
        await self.route(role, channel, text)


def _finish(trace: Trace) -> str | None:
    return trace.stages[-1].finish_reason if trace.stages else None


async def serve_forever(server: PipelineServer, stop: asyncio.Event, announce: Any = print) -> None:
    """Start ``server``, announce its base URL, serve until ``stop`` is set, then shut down."""
    async with server:
        announce(server.base_url)
        await stop.wait()
