"""A scripted OpenAI-compatible server: exact timing, deterministic text, injected faults.

Used by tests, benchmarks and ``hawkeye-bench load --calibrate``. Nothing here loads a model:
replies are whitespace-separated words (one word = one token), either scripted per request by a
regex rule or the filler ``tok0 tok1 ...``. Chunks are scheduled against absolute deadlines
(``start + ttft + i * gap``), so sleep overshoot never accumulates into drift.

Run it in-process (``with ScriptedServer(cfg) as base_url: ...``, a background thread with its
own event loop) or as a subprocess (``start_subprocess(cfg)``; pin it to a core with ``cpus``)::

    python -m hawkeye_bench.testing.scripted_server --port 0 --ttft-ms 100 --gap-ms 20 --tokens 50

which prints the bound base URL (``http://127.0.0.1:PORT/v1``) as the first line of stdout.

Every streamed chunk carries ``x_sent_at`` (``time.time()``) and ``x_sent_perf``
(``time.perf_counter()``; CLOCK_MONOTONIC on Linux, so comparable across processes on one host)
taken just before the chunk is written, for delivery-lag calibration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from aiohttp import web

UsageMode = Literal["always", "requested", "never"]
ReasoningMode = Literal["field", "think"]
FaultKind = Literal["status", "cut", "malformed", "error_event", "hang", "reject_stream_options"]
FAULT_KINDS: tuple[str, ...] = (
    "status",
    "cut",
    "malformed",
    "error_event",
    "hang",
    "reject_stream_options",
)
COMPLETION_PATHS = ("/v1/chat/completions", "/v1/completions")


@dataclass
class ReplyRule:
    """Scripted reply for requests whose last user message (or prompt) matches ``match``."""

    match: str
    content: str = ""
    reasoning: str = ""


@dataclass
class Fault:
    """One injected fault.

    kind: ``status`` (answer with HTTP ``status``, ``Retry-After: retry_after_s`` if set),
    ``cut`` (drop the connection: no terminating chunk, no ``[DONE]``), ``malformed`` (send an
    unparseable ``data:`` line, then go on normally), ``error_event`` (send
    ``data: {"error": ...}`` and end the stream, as vLLM reports a mid-generation failure),
    ``hang`` (never answer; with ``after_chunks`` set, stall mid-stream instead),
    ``reject_stream_options`` (HTTP 400 whenever the body has ``stream_options``).
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
    reasoning_field: str = "reasoning_content"  # or "reasoning"
    rules: list[ReplyRule] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    tokenize: bool = True  # vLLM-style POST /tokenize
    extras_tokenize: bool = True  # llama-cpp-python-style POST /extras/tokenize
    tokenize_special_tokens: int = 0  # tokens the tokenize endpoints add (a BOS), for tests
    ignore_stream: bool = False  # answer with one JSON body even when asked to stream
    echo_auth_in_errors: bool = False  # injected HTTP errors quote the Authorization header
    seed: int = 0

    def __post_init__(self) -> None:
        self.rules = [r if isinstance(r, ReplyRule) else ReplyRule(**r) for r in self.rules]
        self.faults = [f if isinstance(f, Fault) else Fault(**f) for f in self.faults]
        if self.usage not in ("always", "requested", "never"):
            raise ValueError(f"usage must be always, requested or never, not {self.usage!r}")
        if self.reasoning_mode not in ("field", "think"):
            raise ValueError(f"reasoning_mode must be field or think, not {self.reasoning_mode!r}")
        if self.tokens_per_chunk < 1:
            raise ValueError("tokens_per_chunk must be >= 1")

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


def _word_count(text: str) -> int:
    return len(text.split())


class _Handlers:
    """Request handlers plus the counters tests read (requests seen, per path)."""

    def __init__(self, config: ScriptedConfig) -> None:
        self.config = config
        self.rules = [(re.compile(r.match), r) for r in config.rules]
        self.faults = [(f, re.compile(f.match) if f.match else None) for f in config.faults]
        self.fault_seen = [0] * len(config.faults)
        self.random = random.Random(config.seed)
        self.counts: dict[str, int] = {}
        self.log: list[dict[str, Any]] = []  # one entry per completion request
        self.stopping: asyncio.Event | None = None

    # -- bookkeeping -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        completions = sum(self.counts.get(p, 0) for p in COMPLETION_PATHS)
        return {"requests": completions, "by_path": dict(self.counts)}

    def reset(self) -> None:
        self.counts.clear()
        self.log.clear()
        self.fault_seen = [0] * len(self.faults)

    def _count(self, path: str) -> None:
        self.counts[path] = self.counts.get(path, 0) + 1

    def _pick_fault(self, text: str, body: dict[str, Any]) -> Fault | None:
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
        rule = next((r for pattern, r in self.rules if pattern.search(text)), None)
        if rule is not None:
            reasoning, content = rule.reasoning.split(), rule.content.split()
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
        return _Reply(words, min(reasoning_count, len(words)), finish_reason)

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
        return web.json_response({"count": n, "tokens": list(range(n)), "max_model_len": 8192})

    async def tokenize_llama(self, request: web.Request) -> web.Response:
        self._count(request.path)
        body = await request.json()
        text = body.get("input")
        if not isinstance(text, str):
            return _error(400, "extras/tokenize needs a string 'input'")
        n = _word_count(text) + self.config.tokenize_special_tokens
        return web.json_response({"tokens": list(range(n))})

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
        self.log.append(
            {
                "path": request.path,
                "body": body,
                "authorization": request.headers.get("Authorization"),
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
        if fault is not None and fault.kind == "hang" and fault.after_chunks is None:
            await self._hang()
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        inline = (not chat) or self.config.reasoning_mode == "think"
        reply = self._reply(text, max_tokens, inline_reasoning=inline)
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

    def _usage(self, prompt_tokens: int, completion: int, reasoning: int) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }
        if reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return usage

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
                groups.append((channel, piece if i == 0 else " " + piece))
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
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if reasoning:
                message[cfg.reasoning_field] = reasoning
            choice: dict[str, Any] = {"index": 0, "message": message}
        else:
            choice = {"index": 0, "text": content}
        choice["finish_reason"] = reply.finish_reason
        payload: dict[str, Any] = {
            "id": "scripted",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": cfg.model,
            "choices": [choice],
        }
        if cfg.usage != "never":
            payload["usage"] = self._usage(prompt_tokens, len(reply.words), reply.reasoning_count)
        return web.json_response(payload)

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
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
            role = {"index": 0, "delta": {"role": "assistant", "content": ""}}
            role["finish_reason"] = None
            await stream.write([role], self._usage_so_far(stream))
        groups = self._chunk_groups(reply)
        if not await self._stream_tokens(stream, groups, reply, start, fault):
            return response  # a mid-stream fault dropped the connection
        if not groups:  # nothing to say (max_tokens 0): still finish the choice
            await _sleep_until(start + cfg.ttft_ms / 1000)
            await stream.write([_stream_choice(chat, {}, reply.finish_reason)])
        if send_usage:
            usage = self._usage(prompt_tokens, stream.emitted, stream.reasoning_emitted)
            await stream.write([], usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _stream_usage(self, body: dict[str, Any]) -> tuple[bool, bool]:
        """(usage chunk at the end, usage in every chunk) for this request's stream_options."""
        cfg = self.config
        options = body.get("stream_options") or {}
        send_usage = cfg.usage == "always" or (
            cfg.usage == "requested" and bool(options.get("include_usage"))
        )
        continuous = send_usage and cfg.continuous_usage_stats
        continuous = continuous and bool(options.get("continuous_usage_stats"))
        return send_usage, continuous

    def _usage_so_far(self, stream: _Stream) -> dict[str, Any] | None:
        """The usage a chunk carries under continuous usage stats, else None."""
        if not stream.continuous:
            return None
        return self._usage(stream.prompt_tokens, stream.emitted, stream.reasoning_emitted)

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
            stream.count(channel, len(text.split()))
            finish = reply.finish_reason if index == len(groups) - 1 else None
            field_name = cfg.reasoning_field if channel == "reasoning" else "content"
            choice = _stream_choice(stream.chat, {field_name: text}, finish)
            await stream.write([choice], self._usage_so_far(stream))
        return True

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
        if fault.kind == "error_event":
            error = {"error": {"message": "injected mid-stream error", "code": 500}}
            await response.write(b"data: " + json.dumps(error).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            return True
        return False


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

    async def write(
        self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None
    ) -> None:
        """One ``data:`` line, stamped with the send time (wall clock and perf counter)."""
        chunk: dict[str, Any] = {
            "id": "scripted",
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        chunk["x_sent_at"] = time.time()
        chunk["x_sent_perf"] = time.perf_counter()
        frame = b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
        await self.response.write(frame)


def _stream_choice(chat: bool, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    """A streamed choice: ``delta`` for chat, its text for completions."""
    if chat:
        return {"index": 0, "delta": delta, "finish_reason": finish}
    return {"index": 0, "text": "".join(delta.values()), "finish_reason": finish}


def _message_text(message: dict[str, Any]) -> str:
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


def build_app(config: ScriptedConfig) -> tuple[web.Application, _Handlers]:
    handlers = _Handlers(config)
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


async def _start(config: ScriptedConfig) -> tuple[web.AppRunner, str, _Handlers]:
    app, handlers = build_app(config)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
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
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: _Handlers | None = None
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self._handlers.log) if self._handlers else []

    def stats(self) -> dict[str, Any]:
        return self._handlers.stats() if self._handlers else {"requests": 0, "by_path": {}}

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
    client on different cores. The caller terminates the process.
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

    process = subprocess.Popen(
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


async def _serve_forever(config: ScriptedConfig) -> None:
    runner, base_url, _ = await _start(config)
    print(base_url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    config = config_from_args(build_parser().parse_args(argv))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
