"""A scripted OpenAI-compatible server: exact timing, deterministic text, injected faults.

Used by tests, benchmarks and ``hawkeye-bench load --calibrate``. Nothing here loads a model:
replies are whitespace-separated words (one word = one token), either scripted per request by a
regex rule or the filler ``tok0 tok1 ...``. Chunks are scheduled against absolute deadlines
(``start + ttft + i * gap``), so sleep overshoot never accumulates into drift.

Run it in-process (``with ScriptedServer(cfg) as base_url: ...``, a background thread with its
own event loop) or as a subprocess (``start_subprocess(cfg)``; pin it to a core with ``cpus``)::

    python -m hawkeye_bench.testing.scripted_server --port 0 --ttft-ms 100 --gap-ms 20 --tokens 50

which prints the bound base URL (``http://127.0.0.1:PORT/v1``) as the first line of stdout.
With ``--processes N`` (subprocess mode) N server processes accept on the one port
(``SO_REUSEPORT``; the kernel spreads connections over them) when one event loop cannot write
the chunks on time; ``/stats`` then sums the counters of all of them (shared memory).

State stays bounded however long it serves: counters per path, and a ring of the last
``request_log`` completion requests (body, Authorization header, ``X-Request-Id``); the full
log is opt-in (``request_log=-1``) for tests that need every request.

Every streamed chunk carries ``x_sent_at`` (``time.time()``) and ``x_sent_perf``
(``time.perf_counter()``; CLOCK_MONOTONIC on Linux, so comparable across processes on one host)
taken just before the chunk is written, for delivery-lag calibration.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, TypedDict

from aiohttp import web

from hawkeye_bench.core import child_process
from hawkeye_bench.core.openai_wire import (
    TokenizeAnswer,
    WireChoice,
    WireCompletion,
    WireMessage,
    WireUsage,
)
from hawkeye_bench.testing.scripted_logprobs import LogprobScript, logprobs_block, words_written

UsageMode = Literal["always", "requested", "never"]
ReasoningMode = Literal["field", "think"]
ReasoningField = Literal["reasoning_content", "reasoning"]


class StreamOptions(TypedDict, total=False):
    include_usage: bool
    continuous_usage_stats: bool


class RequestMessage(TypedDict, total=False):
    """A chat message of a request, as far as the server reads it (``content`` may be a list
    of parts, whose ``text`` counts)."""

    role: str
    content: str | list[dict[str, str]] | None


class CompletionRequest(TypedDict, total=False):
    """The keys of a completion request body the server reads (a client may send others)."""

    messages: list[RequestMessage]
    prompt: str | list[str]
    max_tokens: int
    max_completion_tokens: int
    logprobs: int | bool
    stream: bool
    stream_options: StreamOptions


class LoggedRequest(TypedDict):
    """One completion request as the server logged it, for tests to assert what was sent."""

    path: str
    body: dict[str, Any]  # the request body exactly as sent: any JSON object
    authorization: str | None
    request_id: str | None


class ServerStats(TypedDict):
    """``GET /stats``: completion requests received, requests by path, by server process."""

    requests: int
    by_path: dict[str, int]
    by_process: list[int]


FaultKind = Literal[
    "status", "cut", "malformed", "error_event", "hang", "reject_stream_options", "chunk", "body"
]
FAULT_KINDS: tuple[str, ...] = (
    "status",
    "cut",
    "malformed",
    "error_event",
    "hang",
    "reject_stream_options",
    "chunk",
    "body",
)
COMPLETION_PATHS = ("/v1/chat/completions", "/v1/completions")


@dataclass
class ReplyRule:
    """Scripted reply for requests whose last user message (or prompt) matches ``match``."""

    match: str
    content: str = ""
    reasoning: str = ""
    #: a completion prompt's words after the match are this reply's words already written: the
    #: reply resumes after them (a decoder continuing its own or another model's prefix)
    continues: bool = False
    #: reply positions (word indices) written with low confidence (see ``scripted_logprobs``)
    uncertain: list[int] = field(default_factory=list)


@dataclass
class Fault:
    """One injected fault.

    kind: ``status`` (answer with HTTP ``status``, ``Retry-After: retry_after_s`` if set),
    ``cut`` (drop the connection: no terminating chunk, no ``[DONE]``), ``malformed`` (send an
    unparseable ``data:`` line, then go on normally), ``error_event`` (send
    ``data: {"error": ...}`` and end the stream, as vLLM reports a mid-generation failure),
    ``hang`` (never answer; with ``after_chunks`` set, stall mid-stream instead),
    ``reject_stream_options`` (HTTP 400 whenever the body has ``stream_options``), ``chunk``
    (send ``data: <payload>``, then go on normally: a hostile chunk of any shape), ``body``
    (answer at once with HTTP ``status``, ``content_type`` and the raw ``payload``, streamed
    or not: an HTML page, an empty 200, a JSON answer of the wrong shape).
    Mid-stream kinds fire after ``after_chunks`` token chunks (None = before the first).

    Which requests: those whose last user message/prompt matches ``match`` (None = all
    completion requests), then the first ``first_n`` of them (0 = no limit), then a random
    ``fraction`` of those (1.0 = all; seeded by the server's ``seed``).
    """

    kind: FaultKind
    status: int = 500
    first_n: int = 0
    fraction: float = 1.0
    retry_after_s: float | None = None
    after_chunks: int | None = None
    match: str | None = None
    payload: str = ""  # ``chunk``: the data line's text; ``body``: the whole body
    content_type: str = "application/json"  # ``body`` only

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; valid: {', '.join(FAULT_KINDS)}")


@dataclass
class ScriptedConfig:
    """How the scripted server answers. Times in milliseconds."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port
    model: str = "scripted-model"
    ttft_ms: float = 0.0  # request received -> first token chunk
    gap_ms: float = 0.0  # between token chunks
    tokens: int = 16  # filler length (output tokens) when no rule matches
    tokens_per_chunk: int = 1
    role_chunk: bool = True  # send the role-only chunk immediately, before the first token
    usage: UsageMode = "requested"  # streaming usage: always / only with include_usage / never
    continuous_usage_stats: bool = True  # honour stream_options.continuous_usage_stats
    reasoning_tokens: int = 0  # filler: the first R tokens are reasoning
    reasoning_mode: ReasoningMode = "field"  # reasoning as a delta field or inline <think>
    reasoning_field: ReasoningField = "reasoning_content"  # or "reasoning"
    rules: list[ReplyRule] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    tokenize: bool = True  # vLLM-style POST /tokenize
    extras_tokenize: bool = True  # llama-cpp-python-style POST /extras/tokenize
    tokenize_special_tokens: int = 0  # tokens the tokenize endpoints add (a BOS), for tests
    ignore_stream: bool = False  # answer with one JSON body even when asked to stream
    echo_auth_in_errors: bool = False  # injected HTTP errors quote the Authorization header
    seed: int = 0
    #: per-token logprobs of /v1/completions replies asked with ``logprobs: N``
    logprobs: LogprobScript = field(default_factory=LogprobScript)
    #: completion requests kept (body, headers) for tests, the most recent first to go:
    #: a bounded ring; -1 keeps every request (memory grows with each), 0 none
    request_log: int = 1000
    processes: int = 1  # subprocess mode: server processes sharing the port (SO_REUSEPORT)

    def __post_init__(self) -> None:
        if not isinstance(self.logprobs, LogprobScript):
            self.logprobs = LogprobScript(**self.logprobs)
        self.rules = [r if isinstance(r, ReplyRule) else ReplyRule(**r) for r in self.rules]
        self.faults = [f if isinstance(f, Fault) else Fault(**f) for f in self.faults]
        if self.usage not in ("always", "requested", "never"):
            raise ValueError(f"usage must be always, requested or never, not {self.usage!r}")
        if self.reasoning_mode not in ("field", "think"):
            raise ValueError(f"reasoning_mode must be field or think, not {self.reasoning_mode!r}")
        if self.reasoning_field not in ("reasoning_content", "reasoning"):
            raise ValueError(
                f"reasoning_field must be reasoning_content or reasoning, "
                f"not {self.reasoning_field!r}"
            )
        if self.tokens_per_chunk < 1:
            raise ValueError("tokens_per_chunk must be >= 1")
        if self.request_log < -1:
            raise ValueError("request_log must be -1 (all), 0 (none) or a ring size")
        if self.processes < 1:
            raise ValueError("processes must be >= 1")
        if self.processes > 1 and any(f.first_n or f.fraction < 1.0 for f in self.faults):
            raise ValueError(
                "faults with first_n or fraction count per process: use processes=1 for them"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ScriptedConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ScriptedConfig fields {unknown}; valid: {sorted(known)}")
        return cls(**data)


@dataclass
class _Reply:
    """The words to emit and which of them are reasoning."""

    words: list[str]
    reasoning_count: int  # the first reasoning_count words go to the reasoning field
    finish_reason: str
    offset: int = 0  # reply position of words[0] (a continuing rule resumes mid-reply)
    uncertain: list[int] | None = None  # the rule's uncertain positions (None: the filler's)
    top_logprobs: int | None = None  # completion logprobs asked for (None: not asked)


def _word_count(text: str) -> int:
    return len(text.split())


#: the paths counted in ``/stats`` (every route that counts requests)
COUNTED_PATHS = (
    "/v1/models",
    "/health",
    *COMPLETION_PATHS,
    "/tokenize",
    "/extras/tokenize",
)


class RequestCounters:
    """Requests per path, for this process (the in-process server)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def add(self, path: str) -> None:
        self._counts[path] = self._counts.get(path, 0) + 1

    def by_path(self) -> dict[str, int]:
        return dict(self._counts)

    def by_process(self) -> list[int]:
        return [sum(self._counts.values())]

    def reset(self) -> None:
        self._counts.clear()


class SharedRequestCounters(RequestCounters):
    """Requests per path summed over the server processes: one shared-memory slot per
    (process, path), so every process answers ``/stats`` for all of them."""

    def __init__(self, processes: int) -> None:
        super().__init__()
        self.processes = processes
        self.index = 0  # this process's row; set in each server process
        context = multiprocessing.get_context("fork")
        self._slots = context.Array(ctypes.c_int64, processes * len(COUNTED_PATHS))

    def add(self, path: str) -> None:
        column = COUNTED_PATHS.index(path)
        with self._slots.get_lock():
            self._slots[self.index * len(COUNTED_PATHS) + column] += 1

    def _rows(self) -> list[list[int]]:
        width = len(COUNTED_PATHS)
        with self._slots.get_lock():
            flat = [int(self._slots[i]) for i in range(len(self._slots))]
        return [flat[i * width : (i + 1) * width] for i in range(self.processes)]

    def by_path(self) -> dict[str, int]:
        totals = [sum(column) for column in zip(*self._rows(), strict=True)]
        return {path: n for path, n in zip(COUNTED_PATHS, totals, strict=True) if n}

    def by_process(self) -> list[int]:
        return [sum(row) for row in self._rows()]

    def reset(self) -> None:
        with self._slots.get_lock():
            for i in range(len(self._slots)):
                self._slots[i] = 0


class _Handlers:
    """Request handlers plus the counters tests read (requests seen, per path)."""

    def __init__(self, config: ScriptedConfig, counters: RequestCounters | None = None) -> None:
        self.config = config
        self.rules = [(re.compile(r.match), r) for r in config.rules]
        self.faults = [(f, re.compile(f.match) if f.match else None) for f in config.faults]
        self.fault_seen = [0] * len(config.faults)
        self.random = random.Random(config.seed)
        self.counters = counters or RequestCounters()
        ring = None if config.request_log < 0 else config.request_log
        #: the most recent completion requests (all of them with request_log=-1)
        self.log: collections.deque[LoggedRequest] = collections.deque(maxlen=ring)
        self.stopping: asyncio.Event | None = None

    # -- bookkeeping -------------------------------------------------------------------------

    def stats(self) -> ServerStats:
        by_path = self.counters.by_path()
        completions = sum(by_path.get(p, 0) for p in COMPLETION_PATHS)
        return {
            "requests": completions,
            "by_path": by_path,
            "by_process": self.counters.by_process(),
        }

    def state_size(self) -> int:
        """Entries this server holds (counters, ring, fault counters): bounded unless the
        full request log was asked for."""
        return len(self.counters.by_path()) + len(self.log) + len(self.fault_seen)

    def reset(self) -> None:
        self.counters.reset()
        self.log.clear()
        self.fault_seen = [0] * len(self.faults)

    def _count(self, path: str) -> None:
        self.counters.add(path)

    def _pick_fault(self, text: str, body: CompletionRequest) -> Fault | None:
        """The first configured fault that applies to this request (advances its counter)."""
        for index, (fault, pattern) in enumerate(self.faults):
            if pattern is not None and not pattern.search(text):
                continue
            if fault.kind == "reject_stream_options":
                if "stream_options" in body:
                    return fault
                continue
            self.fault_seen[index] += 1
            if fault.first_n and self.fault_seen[index] > fault.first_n:
                continue
            if fault.fraction < 1.0 and self.random.random() >= fault.fraction:
                continue
            return fault
        return None

    def _reply(self, text: str, max_tokens: int | None, inline_reasoning: bool) -> _Reply:
        rule, found = next(
            ((r, m) for pattern, r in self.rules if (m := pattern.search(text))), (None, None)
        )
        offset = 0
        if rule is not None and found is not None:
            reasoning, content = rule.reasoning.split(), rule.content.split()
            if rule.continues:
                offset = min(words_written(text, found.end()), len(content))
                reasoning, content = [], content[offset:]
        else:
            n, r = self.config.tokens, min(self.config.reasoning_tokens, self.config.tokens)
            reasoning = [f"r{i}" for i in range(r)]
            content = [f"tok{i}" for i in range(r, n)]
        if inline_reasoning and reasoning:
            words, reasoning_count = ["<think>", *reasoning, "</think>", *content], 0
        else:
            words, reasoning_count = reasoning + content, len(reasoning)
        finish_reason = "stop"
        if max_tokens is not None and 0 <= max_tokens < len(words):
            words, finish_reason = words[:max_tokens], "length"
        uncertain = rule.uncertain if rule is not None else None
        return _Reply(words, min(reasoning_count, len(words)), finish_reason, offset, uncertain)

    # -- small endpoints ---------------------------------------------------------------------

    async def models(self, request: web.Request) -> web.Response:
        self._count(request.path)
        return web.json_response(
            {"object": "list", "data": [{"id": self.config.model, "object": "model"}]}
        )

    async def health(self, request: web.Request) -> web.Response:
        self._count(request.path)
        return web.json_response({"status": "ok"})

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def tokenize_vllm(self, request: web.Request) -> web.Response:
        self._count(request.path)
        body = await request.json()
        text = body.get("prompt")
        if not isinstance(text, str):
            return _error(400, "tokenize needs a string 'prompt'")
        n = _word_count(text) + self.config.tokenize_special_tokens
        answer: TokenizeAnswer = {"count": n, "tokens": list(range(n)), "max_model_len": 8192}
        return web.json_response(answer)

    async def tokenize_llama(self, request: web.Request) -> web.Response:
        self._count(request.path)
        body = await request.json()
        text = body.get("input")
        if not isinstance(text, str):
            return _error(400, "extras/tokenize needs a string 'input'")
        n = _word_count(text) + self.config.tokenize_special_tokens
        answer: TokenizeAnswer = {"tokens": list(range(n))}
        return web.json_response(answer)

    # -- completions -------------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=True)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=False)

    async def _complete(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        start = loop.time()
        self._count(request.path)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "body is not JSON")
        if chat:
            messages = body.get("messages") or []
            users = [m for m in messages if m.get("role") == "user"]
            text = _message_text(users[-1]) if users else ""
            prompt_tokens = sum(_word_count(_message_text(m)) for m in messages)
        else:
            prompt = body.get("prompt", "")
            text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
            prompt_tokens = _word_count(text)
        if self.log.maxlen != 0:
            self.log.append(
                {
                    "path": request.path,
                    "body": body,
                    "authorization": request.headers.get("Authorization"),
                    "request_id": request.headers.get("X-Request-Id"),
                }
            )
        fault = self._pick_fault(text, body)
        if fault is not None and fault.kind == "reject_stream_options":
            return _error(400, "stream_options is not supported by this server")
        if fault is not None and fault.kind == "status":
            headers = {}
            if fault.retry_after_s is not None:
                headers["Retry-After"] = f"{fault.retry_after_s:g}"
            message = f"injected HTTP {fault.status}"
            if self.config.echo_auth_in_errors:  # as some gateways do with a wrong key
                message += f"; key provided: {request.headers.get('Authorization')}"
            return _error(fault.status, message, headers)
        if fault is not None and fault.kind == "body":
            return web.Response(
                status=fault.status, body=fault.payload.encode(), content_type=fault.content_type
            )
        if fault is not None and fault.kind == "hang" and fault.after_chunks is None:
            await self._hang()
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        inline = (not chat) or self.config.reasoning_mode == "think"
        reply = self._reply(text, max_tokens, inline_reasoning=inline)
        if not chat and isinstance(body.get("logprobs"), int):
            reply.top_logprobs = body["logprobs"]
        if body.get("stream") and not self.config.ignore_stream:
            try:
                return await self._stream(request, body, reply, prompt_tokens, chat, start, fault)
            except ConnectionResetError:  # the client hung up mid-stream: nothing to answer
                return web.Response(status=499)
        return await self._whole(reply, prompt_tokens, chat, start)

    async def _hang(self) -> None:
        assert self.stopping is not None
        await self.stopping.wait()
        raise asyncio.CancelledError

    def _chunk_groups(self, reply: _Reply) -> list[tuple[str, str]]:
        """Split the reply into chunks of k words: (channel, text) with channel content/reasoning.

        A chunk never mixes channels; text carries a leading space except at the very start of
        its channel, so concatenating the deltas gives back the words joined by single spaces.
        """
        k = self.config.tokens_per_chunk
        groups: list[tuple[str, str]] = []
        for channel, words in (
            ("reasoning", reply.words[: reply.reasoning_count]),
            ("content", reply.words[reply.reasoning_count :]),
        ):
            for i in range(0, len(words), k):
                piece = " ".join(words[i : i + k])
                groups.append((channel, piece if i == 0 and not reply.offset else " " + piece))
        return groups

    async def _whole(
        self, reply: _Reply, prompt_tokens: int, chat: bool, start: float
    ) -> web.Response:
        """Non-streaming: answer when the last chunk would have been sent."""
        groups = self._chunk_groups(reply)
        cfg = self.config
        await _sleep_until(start + (cfg.ttft_ms + max(len(groups) - 1, 0) * cfg.gap_ms) / 1000)
        content = "".join(t for c, t in groups if c == "content")
        reasoning = "".join(t for c, t in groups if c == "reasoning")
        if chat:
            message: WireMessage = {"role": "assistant", "content": content}
            if reasoning:
                message.update(_message(cfg.reasoning_field, reasoning))
            choice: WireChoice = {"index": 0, "message": message}
        else:
            choice = {"index": 0, "text": content}
            self._add_logprobs(choice, reply, 0, len(reply.words))
        choice["finish_reason"] = reply.finish_reason
        payload: WireCompletion = {
            "id": "scripted",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": cfg.model,
            "choices": [choice],
        }
        if cfg.usage != "never":
            usage = ScriptedUsage(prompt_tokens, len(reply.words), reply.reasoning_count)
            payload["usage"] = usage.to_json()
        return web.json_response(payload)

    async def _stream(
        self,
        request: web.Request,
        body: CompletionRequest,
        reply: _Reply,
        prompt_tokens: int,
        chat: bool,
        start: float,
        fault: Fault | None,
    ) -> web.StreamResponse:
        cfg = self.config
        send_usage, continuous = self._stream_usage(body)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        stream = _Stream(
            request, response, chat, int(time.time()), cfg.model, prompt_tokens, continuous
        )
        if chat and cfg.role_chunk:
            role: WireChoice = {"index": 0, "delta": {"role": "assistant", "content": ""}}
            role["finish_reason"] = None
            await stream.write([role], self._usage_so_far(stream))
        groups = self._chunk_groups(reply)
        if not await self._stream_tokens(stream, groups, reply, start, fault):
            return response  # a mid-stream fault dropped the connection
        if not groups:  # nothing to say (max_tokens 0): still finish the choice
            await _sleep_until(start + cfg.ttft_ms / 1000)
            await stream.write([_stream_choice(chat, {}, reply.finish_reason)])
        if send_usage:
            usage = ScriptedUsage(prompt_tokens, stream.emitted, stream.reasoning_emitted)
            await stream.write([], usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _stream_usage(self, body: CompletionRequest) -> tuple[bool, bool]:
        """(usage chunk at the end, usage in every chunk) for this request's stream_options."""
        cfg = self.config
        options: StreamOptions = body.get("stream_options") or {}
        send_usage = cfg.usage == "always" or (
            cfg.usage == "requested" and bool(options.get("include_usage"))
        )
        continuous = send_usage and cfg.continuous_usage_stats
        continuous = continuous and bool(options.get("continuous_usage_stats"))
        return send_usage, continuous

    def _usage_so_far(self, stream: _Stream) -> ScriptedUsage | None:
        """The usage a chunk carries under continuous usage stats, else None."""
        if not stream.continuous:
            return None
        return ScriptedUsage(stream.prompt_tokens, stream.emitted, stream.reasoning_emitted)

    async def _stream_tokens(
        self,
        stream: _Stream,
        groups: list[tuple[str, str]],
        reply: _Reply,
        start: float,
        fault: Fault | None,
    ) -> bool:
        """Write the token chunks on their deadlines, with ``fault`` injected at its chunk;
        False when the fault dropped the connection."""
        cfg = self.config
        first_deadline = start + cfg.ttft_ms / 1000
        # Mid-stream faults fire after after_chunks token chunks (None = before the first).
        fault_at = None if fault is None else (fault.after_chunks or 0)
        for index in range(len(groups) + 1):
            if fault is not None and fault_at == index:
                await _sleep_until(first_deadline + index * cfg.gap_ms / 1000)
                if await self._midstream_fault(fault, stream.request, stream.response):
                    return False
            if index == len(groups):
                break
            channel, text = groups[index]
            await _sleep_until(first_deadline + index * cfg.gap_ms / 1000)
            written = stream.emitted
            stream.count(channel, len(text.split()))
            finish = reply.finish_reason if index == len(groups) - 1 else None
            delta: WireMessage = (
                _message(cfg.reasoning_field, text) if channel == "reasoning" else {"content": text}
            )
            choice = _stream_choice(stream.chat, delta, finish)
            if not stream.chat:
                self._add_logprobs(choice, reply, written, stream.emitted)
            await stream.write([choice], self._usage_so_far(stream))
        return True

    def _add_logprobs(self, choice: WireChoice, reply: _Reply, start: int, end: int) -> None:
        """Put the logprobs of reply words ``start:end`` into a completion choice, if asked."""
        if reply.top_logprobs is None:
            return
        before = " ".join(reply.words[:start])
        choice["logprobs"] = logprobs_block(
            self.config.logprobs,
            reply.words[start:end],
            reply.offset + start,
            reply.top_logprobs,
            reply.uncertain,
            len(before) + (1 if start else 0),
        )

    async def _midstream_fault(
        self, fault: Fault, request: web.Request, response: web.StreamResponse
    ) -> bool:
        """Inject a mid-stream fault; True when the connection is gone (stop writing)."""
        if fault.kind == "cut":
            if request.transport is not None:
                request.transport.abort()  # no terminating chunk, no [DONE]
            return True
        if fault.kind == "hang":
            await self._hang()
        if fault.kind == "malformed":
            await response.write(b'data: {"choices": [{"delta": {"content": "x"\n\n')
        if fault.kind == "chunk":
            await response.write(b"data: " + fault.payload.encode() + b"\n\n")
        if fault.kind == "error_event":
            error = {"error": {"message": "injected mid-stream error", "code": 500}}
            await response.write(b"data: " + json.dumps(error).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return True
        return False


@dataclass(frozen=True)
class ScriptedUsage:
    """The token counts a reply reports: one word is one token; ``reasoning`` of them are the
    reasoning channel's (``completion_tokens_details`` only when there are any)."""

    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int = 0

    def to_json(self) -> WireUsage:
        usage: WireUsage = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        if self.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return usage

    @classmethod
    def from_json(cls, data: WireUsage) -> ScriptedUsage:
        details = data.get("completion_tokens_details") or {}
        return cls(
            prompt_tokens=data["prompt_tokens"],
            completion_tokens=data["completion_tokens"],
            reasoning_tokens=details.get("reasoning_tokens", 0),
        )


@dataclass
class _Stream:
    """One streamed reply under way: where its chunks go, what they say, tokens sent so far."""

    request: web.Request
    response: web.StreamResponse
    chat: bool
    created: int
    model: str
    prompt_tokens: int
    continuous: bool  # usage in every chunk
    emitted: int = 0
    reasoning_emitted: int = 0

    def count(self, channel: str, tokens: int) -> None:
        self.emitted += tokens
        if channel == "reasoning":
            self.reasoning_emitted += tokens

    async def write(self, choices: list[WireChoice], usage: ScriptedUsage | None = None) -> None:
        """One ``data:`` line, stamped with the send time (wall clock and perf counter)."""
        chunk: WireCompletion = {
            "id": "scripted",
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage.to_json()
        chunk["x_sent_at"] = time.time()
        chunk["x_sent_perf"] = time.perf_counter()
        frame = b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
        await self.response.write(frame)


def _message(reasoning_field: ReasoningField, reasoning: str) -> WireMessage:
    """A chat message (or delta) holding ``reasoning`` in the configured field."""
    if reasoning_field == "reasoning":
        return {"reasoning": reasoning}
    return {"reasoning_content": reasoning}


def _stream_choice(chat: bool, delta: WireMessage, finish: str | None) -> WireChoice:
    """A streamed choice: ``delta`` for chat, its text for completions."""
    if chat:
        return {"index": 0, "delta": delta, "finish_reason": finish}
    text = "".join(v for v in delta.values() if isinstance(v, str))
    return {"index": 0, "text": text, "finish_reason": finish}


def _message_text(message: RequestMessage) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    payload = {"error": {"message": message, "type": "scripted_error", "code": status}}
    return web.json_response(payload, status=status, headers=headers)


async def _sleep_until(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


def build_app(
    config: ScriptedConfig, counters: RequestCounters | None = None
) -> tuple[web.Application, _Handlers]:
    handlers = _Handlers(config, counters)
    app = web.Application()
    app.router.add_get("/v1/models", handlers.models)
    app.router.add_get("/health", handlers.health)
    app.router.add_get("/stats", handlers.get_stats)
    app.router.add_post("/stats/reset", handlers.post_reset)
    app.router.add_post("/v1/chat/completions", handlers.chat)
    app.router.add_post("/v1/completions", handlers.completions)
    if config.tokenize:
        app.router.add_post("/tokenize", handlers.tokenize_vllm)
    if config.extras_tokenize:
        app.router.add_post("/extras/tokenize", handlers.tokenize_llama)

    async def on_startup(_: web.Application) -> None:
        handlers.stopping = asyncio.Event()

    async def on_shutdown(_: web.Application) -> None:
        if handlers.stopping is not None:
            handlers.stopping.set()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app, handlers


async def _start(
    config: ScriptedConfig, counters: RequestCounters | None = None
) -> tuple[web.AppRunner, str, _Handlers]:
    app, handlers = build_app(config, counters)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_port=config.processes > 1)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://{config.host}:{port}/v1", handlers


class ScriptedServer:
    """The scripted server in a background thread with its own event loop.

    ``with ScriptedServer(cfg) as base_url:`` yields ``http://127.0.0.1:PORT/v1``. While it runs,
    ``stats()`` gives the completion requests received and ``requests`` the logged bodies and
    Authorization headers (for asserting what a client sent).
    """

    def __init__(self, config: ScriptedConfig | None = None) -> None:
        self.config = config or ScriptedConfig()
        if self.config.processes > 1:
            raise ValueError("processes > 1 runs in subprocess mode: use start_subprocess()")
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: _Handlers | None = None
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    @property
    def requests(self) -> list[LoggedRequest]:
        """The last ``config.request_log`` completion requests, oldest first (all with -1)."""
        return list(self._handlers.log) if self._handlers else []

    def stats(self) -> ServerStats:
        if self._handlers is None:
            return {"requests": 0, "by_path": {}, "by_process": [0]}
        return self._handlers.stats()

    def state_size(self) -> int:
        """Entries the server holds (see :meth:`_Handlers.state_size`)."""
        return self._handlers.state_size() if self._handlers else 0

    def reset(self) -> None:
        """Forget counters, the request log and fault counters (first_n starts again)."""
        if self._handlers is not None and self._loop is not None:
            handlers = self._handlers

            async def reset() -> None:
                handlers.reset()

            asyncio.run_coroutine_threadsafe(reset(), self._loop).result(timeout=10)

    def start(self) -> str:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._runner, self.base_url, self._handlers = loop.run_until_complete(
                    _start(self.config)
                )
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="scripted-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.base_url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_subprocess(
    config: ScriptedConfig | None = None,
    *,
    cpus: set[int] | None = None,
    python: str = sys.executable,
    startup_timeout_s: float = 30.0,
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m hawkeye_bench.testing.scripted_server``; return (process, base_url).

    ``cpus`` pins the process (``os.sched_setaffinity``), so a calibration can keep server and
    client on different cores. The caller terminates the process; it is killed with the
    caller in any case (SIGKILL included), and so are the processes it forked.
    """
    config = config or ScriptedConfig()
    command = [
        python,
        "-m",
        "hawkeye_bench.testing.scripted_server",
        "--config-json",
        config.to_json(),
    ]

    def pin() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    process = child_process.popen(
        command, stdout=subprocess.PIPE, text=True, preexec_fn=pin if cpus is not None else None
    )
    stdout = process.stdout
    assert stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(startup_timeout_s)
    line = result[0].strip() if result else ""
    if not line.startswith("http"):
        process.kill()
        process.wait()
        raise RuntimeError(
            f"scripted server did not start within {startup_timeout_s}s "
            f"(exit code {process.returncode}, first line {line!r})"
        )
    return process, line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hawkeye_bench.testing.scripted_server",
        description="Scripted OpenAI-compatible server; prints its base URL as the first line.",
    )
    parser.add_argument("--config-json", help="a whole ScriptedConfig as JSON (flags override)")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--model")
    parser.add_argument("--ttft-ms", type=float)
    parser.add_argument("--gap-ms", type=float)
    parser.add_argument("--tokens", type=int)
    parser.add_argument("--tokens-per-chunk", type=int)
    parser.add_argument("--role-chunk", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--usage", choices=["always", "requested", "never"])
    parser.add_argument(
        "--continuous-usage-stats", action=argparse.BooleanOptionalAction, default=None
    )
    parser.add_argument("--reasoning-tokens", type=int)
    parser.add_argument("--reasoning-mode", choices=["field", "think"])
    parser.add_argument("--reasoning-field", choices=["reasoning_content", "reasoning"])
    parser.add_argument("--tokenize", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--extras-tokenize", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--ignore-stream", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--request-log", type=int, help="completion requests kept (a ring; -1 all, 0 none)"
    )
    parser.add_argument(
        "--processes", type=int, help="server processes on the one port (SO_REUSEPORT)"
    )
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="JSON",
        help='reply rule, e.g. \'{"match": "2\\\\+2", "content": "4"}\' (repeatable)',
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='fault, e.g. \'{"kind": "status", "status": 503, "first_n": 2}\' (repeatable)',
    )
    return parser


def config_from_args(args: argparse.Namespace) -> ScriptedConfig:
    config = ScriptedConfig.from_json(args.config_json) if args.config_json else ScriptedConfig()
    for f in fields(ScriptedConfig):
        value = getattr(args, f.name, None)
        if value is not None and f.name not in ("rules", "faults"):
            setattr(config, f.name, value)
    config.rules += [ReplyRule(**json.loads(r)) for r in args.rule]
    config.faults += [Fault(**json.loads(f)) for f in args.fault]
    config.__post_init__()
    return config


CHILD_START_TIMEOUT_S = 30.0


async def _serve_forever(
    config: ScriptedConfig, counters: RequestCounters | None = None, *, ready: int | None = None
) -> None:
    """Serve until killed. The first process prints the base URL; another one writes a byte to
    ``ready`` once it listens."""
    runner, base_url, _ = await _start(config, counters)
    if ready is None:
        print(base_url, flush=True)
    else:
        os.write(ready, b"1")
        os.close(ready)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _reserve_port(host: str) -> socket.socket:
    """A free port, held (bound with SO_REUSEPORT, not listening) until every server process
    has bound it too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((host, 0))
    return holder


def _fork_servers(config: ScriptedConfig, counters: SharedRequestCounters) -> None:
    """Start server processes 1..N-1 (this process is number 0); return once all listen."""
    parent = os.getpid()
    read_end, write_end = os.pipe()
    for index in range(1, config.processes):
        if os.fork() == 0:  # a child: serve, never return into the caller
            child_process.die_with_parent(signal.SIGKILL, parent)
            os.close(read_end)
            counters.index = index
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_serve_forever(config, counters, ready=write_end))
            os._exit(0)
    os.close(write_end)
    started = b""
    deadline = time.monotonic() + CHILD_START_TIMEOUT_S
    while len(started) < config.processes - 1 and time.monotonic() < deadline:
        chunk = os.read(read_end, config.processes)
        if not chunk:  # every child closed the pipe: some did not start
            break
        started += chunk
    os.close(read_end)
    if len(started) < config.processes - 1:
        raise RuntimeError(
            f"only {len(started) + 1} of {config.processes} server processes started"
        )


def main(argv: list[str] | None = None) -> int:
    config = config_from_args(build_parser().parse_args(argv))
    counters = None
    holder = None
    if config.processes > 1:
        if config.port == 0:
            holder = _reserve_port(config.host)
            config = replace(config, port=holder.getsockname()[1])
        counters = SharedRequestCounters(config.processes)
        _fork_servers(config, counters)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(_serve_with(config, counters, holder))
        finally:
            if holder is not None:
                holder.close()
    return 0


async def _serve_with(
    config: ScriptedConfig, counters: RequestCounters | None, holder: socket.socket | None
) -> None:
    """Process 0: release the reserved port once it listens too, then serve."""
    if holder is not None:
        asyncio.get_running_loop().call_later(1.0, holder.close)
    await _serve_forever(config, counters)


if __name__ == "__main__":
    sys.exit(main())
