"""Async streaming client for OpenAI-compatible servers, returning a StageResult per call.

Built on aiohttp rather than the openai SDK: the SDK costs several times more CPU per streamed
chunk and would distort timings under load. Timestamps are taken with
``time.perf_counter()`` as each SSE line arrives, before it is parsed.

Calls never raise for request failures. Retryable failures (429, 408, 409, 5xx, connection
errors, timeouts, streams cut mid-way, malformed SSE lines, error events inside a stream) are
retried with exponential backoff and jitter, honouring ``Retry-After``; when retries run out, or
for a failure that retrying cannot fix (other 4xx), the StageResult carries ``error`` and
``error_type``, with every known API key redacted from the error text.

Live deltas: ``on_delta(channel, text)`` (channel ``"reasoning"`` or ``"content"``) is called
for each non-empty delta as it is read, and awaited when it returns an awaitable. Deltas already
handed to the caller cannot be taken back, so once an attempt has forwarded one, a failure of
that attempt is not retried (a retry would restart the text): the result carries the error.
Exceptions raised by ``on_delta`` itself are the caller's: they propagate out of the call
unchanged and are never taken for an upstream failure.

Token counts: the server's ``usage`` (``stream_options.
include_usage`` is requested; dropped for good on an endpoint that rejects it), else the
model's own tokenizer in-process when the endpoint names one (``tokenizer_path``), else the
server's tokenize endpoint applied to the generated text (retried like a model call), else the
number of token-bearing chunks, flagged by ``token_source``. A count nobody gave stays None.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import aiohttp

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.secrets import api_key_from_env, redact
from hawkeye_bench.core.trace import StageResult, TokenSource
from hawkeye_bench.endpoints.logprobs import parse_logprobs_block

#: Statuses worth retrying besides 5xx (as the openai SDK does).
RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: A Retry-After longer than this is not waited for: the call fails with the 429/503 instead.
MAX_RETRY_AFTER_S = 120.0
#: How many characters of an error body go into StageResult.error.
ERROR_BODY_CHARS = 300


#: Called with (channel, text) for each streamed delta; channel is "reasoning" or "content".
OnDelta = Callable[[str, str], Awaitable[None] | None]


class EndpointUnavailable(HawkeyeError):
    """An endpoint did not answer ``GET /models`` (raised before a run starts)."""


@dataclass
class Endpoint:
    """Where a model is served. ``base_url`` ends in ``/v1`` (e.g. ``http://host:8000/v1``).

    The API key is never stored: ``api_key_env`` names the environment variable holding it.
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 3600.0  # whole request, stream included
    connect_timeout_s: float = 10.0
    max_retries: int = 3
    extra_body: dict[str, Any] = field(default_factory=dict)  # merged into every request body
    #: A GGUF file whose vocabulary is this model's tokenizer: counts tokens in-process, exactly,
    #: when the server streams no usage (set for the embedded model).
    tokenizer_path: str | None = None
    #: What this endpoint costs (token prices and/or GPU time, see ``cost/prices.py``); recorded
    #: in the manifest, never part of the connection (roles differing only in prices share one).
    prices: dict[str, Any] | None = None
    name: str = ""
    #: Further base URLs serving the same model (replicas): requests go to the least busy of
    #: ``base_url`` and these (``endpoints/replicas.py``).
    replica_urls: tuple[str, ...] = ()
    #: At most this many requests in flight per base URL (None: only the run's concurrency).
    max_in_flight: int | None = None

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every base URL of this endpoint: ``base_url`` first, then the replicas."""
        return (self.base_url, *self.replica_urls)

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def root_url(self) -> str:
        """The server root, where vLLM/SGLang/llama-cpp put their tokenize endpoints."""
        url = self.base_url.rstrip("/")
        return url.removesuffix("/v1")

    def api_key(self) -> str | None:
        """The key from ``api_key_env``, read now; None when no variable is configured."""
        if not self.api_key_env:
            return None
        return api_key_from_env(self.api_key_env, f"endpoint {self.label!r} ({self.base_url})")

    def to_dict(self) -> dict[str, Any]:
        """JSON form for manifests: the variable's name, never its value."""
        return asdict(self)


@dataclass
class _Read:
    """What one streamed (or whole) response delivered."""

    started_at: float
    sent: float  # perf_counter at send
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    first_token: float | None = None
    last_token: float | None = None
    token_chunks: int = 0
    reasoning_chunks: int = 0
    streamed: bool = True
    on_delta: OnDelta | None = None
    forwarded: bool = False  # a delta of this attempt reached on_delta
    logprobs: list[Any] | None = None  # completion logprobs blocks, when the reply had any


class _DeltaCallbackFailed(Exception):
    """Carries an exception raised by the caller's on_delta past the upstream error handling."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class _AttemptFailed(Exception):
    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        retryable: bool,
        retry_after_s: float | None = None,
        rejects_stream_options: bool = False,
        partial: _Read | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.rejects_stream_options = rejects_stream_options
        self.partial = partial


TokenizeKind = Literal["vllm", "llama_cpp"]


@dataclass
class _Tokenizer:
    """A server tokenize endpoint found by probing, and the tokens it adds to any text (BOS)."""

    kind: TokenizeKind
    url: str
    overhead: int


class EndpointClient:
    """Async client for one endpoint: ``async with EndpointClient(endpoint) as client: ...``.

    One pooled aiohttp session; ``connection_limit=0`` means no limit (the caller bounds
    concurrency). ``backoff_base_s``/``backoff_max_s`` shape the retry delays
    ``min(base * 2**n, max)`` (with jitter) when the server gives no Retry-After.
    ``retry_connection_errors=False`` returns a refused connection at once (a replica set
    sends the call to another replica instead of waiting for this one).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        connection_limit: int = 0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        retry_connection_errors: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self.retry_connection_errors = retry_connection_errors
        self.connection_limit = connection_limit
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.stream_options_supported = True  # flips to False once the server rejects them
        self._session: aiohttp.ClientSession | None = None
        self._tokenizer: _Tokenizer | None = None
        self._tokenizer_probed = False
        self._tokenizer_lock = asyncio.Lock()

    async def __aenter__(self) -> EndpointClient:
        headers = {"Accept-Encoding": "identity"}  # compressing proxies buffer SSE
        key = self.endpoint.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.connection_limit),
            headers=headers,
            timeout=aiohttp.ClientTimeout(
                total=self.endpoint.timeout_s, sock_connect=self.endpoint.connect_timeout_s
            ),
            read_bufsize=2**20,  # SSE lines longer than aiohttp's 64 KiB default
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("EndpointClient used outside 'async with'")
        return self._session

    # -- public calls --------------------------------------------------------------------------

    async def check(self, role: str | None = None) -> None:
        """Raise EndpointUnavailable unless ``GET <base_url>/models`` answers within the
        connect timeout."""
        ep = self.endpoint
        who = f"{role} endpoint {ep.label!r}" if role else f"endpoint {ep.label!r}"
        url = f"{ep.base_url.rstrip('/')}/models"
        try:
            timeout = aiohttp.ClientTimeout(total=ep.connect_timeout_s)
            async with self.session.get(url, timeout=timeout) as response:
                body = await response.text(errors="replace")
                if response.status != 200:
                    cause = f"HTTP {response.status}: {redact(body[:ERROR_BODY_CHARS])}"
                elif _is_model_list(body):
                    return
                else:
                    cause = (
                        f"it answers HTTP 200 with {response.content_type or 'no content type'}, "
                        f"not an OpenAI model list ({redact(body[:80])!r}...): is base_url the "
                        "API root, usually ending in /v1?"
                    )
        except TimeoutError:
            cause = f"no answer within {ep.connect_timeout_s:g} s"
        except aiohttp.ClientError as exc:
            cause = f"{type(exc).__name__}: {exc}"
        raise EndpointUnavailable(f"{who} at {url} is not available: {cause}")

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        role: str,
        max_tokens: int,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: list[str] | str | None = None,
        extra: dict[str, Any] | None = None,
        on_delta: OnDelta | None = None,
    ) -> StageResult:
        """Streamed ``POST /chat/completions``.

        Timings (``started_at``, ``ttft_s``, ``latency_s``) describe the attempt that produced
        the result; ``attempts`` counts every request sent, including a stream_options fallback.
        ``on_delta``: see the module docstring.
        """
        params = _sampling(max_tokens, temperature, top_p, seed, stop)
        return await self._call(
            "chat/completions", {"messages": messages}, params, role, extra, on_delta
        )

    async def complete(
        self,
        prompt: str | list[int],
        *,
        role: str,
        max_tokens: int,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: list[str] | str | None = None,
        extra: dict[str, Any] | None = None,
        on_delta: OnDelta | None = None,
    ) -> StageResult:
        """Streamed raw-prompt ``POST /completions`` (presets that apply no chat template).

        ``prompt`` may be token ids. ``extra={"logprobs": N}`` asks for per-token logprobs,
        returned as ``StageResult.token_logprobs``."""
        params = _sampling(max_tokens, temperature, top_p, seed, stop)
        return await self._call("completions", {"prompt": prompt}, params, role, extra, on_delta)

    # -- one call, with retries ----------------------------------------------------------------

    async def _call(
        self,
        path: str,
        inputs: dict[str, Any],
        params: dict[str, Any],
        role: str,
        extra: dict[str, Any] | None,
        on_delta: OnDelta | None = None,
    ) -> StageResult:
        ep = self.endpoint
        url = f"{ep.base_url.rstrip('/')}/{path}"
        chat = path == "chat/completions"
        result = StageResult(role=role, model=ep.model, endpoint=ep.base_url)
        failures = 0
        while True:
            request = {"model": ep.model, **params, **ep.extra_body, **(extra or {})}
            request["stream"] = True
            if self.stream_options_supported:
                request["stream_options"] = {"include_usage": True}
            result.request = request
            try:
                read = await self._attempt(url, {**request, **inputs}, chat, on_delta)
                break
            except _DeltaCallbackFailed as callback_failure:
                raise callback_failure.error from None
            except _AttemptFailed as failure:
                if failure.rejects_stream_options and "stream_options" in request:
                    self.stream_options_supported = False
                    result.attempts += 1
                    continue
                too_long = (failure.retry_after_s or 0.0) > MAX_RETRY_AFTER_S
                forwarded = failure.partial is not None and failure.partial.forwarded
                refused = failure.error_type == "connection" and not self.retry_connection_errors
                if (
                    not failure.retryable
                    or too_long
                    or forwarded
                    or refused
                    or failures >= ep.max_retries
                ):
                    result.error = redact(str(failure))
                    result.error_type = failure.error_type
                    if failure.partial is not None:
                        _fill_text_and_timing(result, failure.partial)
                    return result
                failures += 1
                result.attempts += 1
                await asyncio.sleep(self._retry_delay(failures, failure.retry_after_s))
        _fill_text_and_timing(result, read)
        await self._fill_tokens(result, read)
        return result

    def _retry_delay(self, failures: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return retry_after_s
        delay = min(self.backoff_base_s * 2 ** (failures - 1), self.backoff_max_s)
        return delay * (1 - 0.25 * random.random())

    async def _attempt(
        self, url: str, body: dict[str, Any], chat: bool, on_delta: OnDelta | None = None
    ) -> _Read:
        """Send one request and read the whole response; raise _AttemptFailed on failure."""
        read = _Read(started_at=time.time(), sent=time.perf_counter(), on_delta=on_delta)
        try:
            async with self.session.post(url, json=body) as response:
                if response.status != 200:
                    raise await _http_failure(response, "stream_options" in body)
                if response.content_type == "application/json":  # server ignored stream=True
                    _read_whole(read, await response.read(), chat)
                    await _forward_whole(read)
                    return read
                try:
                    await _read_stream(read, response, chat)
                except TimeoutError:
                    raise
                except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                    raise _cut(read, f"{type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            raise _AttemptFailed(
                "timeout",
                str(exc) or f"no complete answer within {self.endpoint.timeout_s:g} s",
                retryable=True,
                partial=read,
            ) from exc
        except aiohttp.ClientError as exc:
            raise _AttemptFailed(
                "connection", f"{type(exc).__name__}: {exc}", retryable=True
            ) from exc
        return read

    # -- token accounting ----------------------------------------------------------------------

    async def _fill_tokens(self, result: StageResult, read: _Read) -> None:
        usage = read.usage or {}
        if isinstance(usage.get("completion_tokens"), int):
            result.token_source = "usage"
            result.completion_tokens = usage["completion_tokens"]
            prompt_tokens = usage.get("prompt_tokens")
            result.prompt_tokens = prompt_tokens if isinstance(prompt_tokens, int) else None
            details = usage.get("completion_tokens_details") or {}
            reasoning_tokens = details.get("reasoning_tokens")
            if isinstance(reasoning_tokens, int):
                result.reasoning_tokens = reasoning_tokens
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
            result.cached_prompt_tokens = cached if isinstance(cached, int) else None
            return
        if self.endpoint.tokenizer_path:
            vocabulary = local_vocabulary(self.endpoint.tokenizer_path)
            reasoning_tokens = vocabulary.count(result.reasoning)
            result.token_source = "tokenizer"
            result.completion_tokens = reasoning_tokens + vocabulary.count(result.content)
            result.reasoning_tokens = reasoning_tokens if result.reasoning else None
            return
        tokenizer = await self._probe_tokenizer()
        if tokenizer is not None:
            try:
                reasoning_tokens = await self._count_retrying(tokenizer, result.reasoning)
                content_tokens = await self._count_retrying(tokenizer, result.content)
            except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError):
                pass  # the server's tokenizer failed every try: fall through to chunks
            else:
                result.token_source = "tokenize"
                result.completion_tokens = reasoning_tokens + content_tokens
                result.reasoning_tokens = reasoning_tokens if result.reasoning else None
                return
        if read.streamed:
            result.token_source = "chunks"
            result.completion_tokens = read.token_chunks
            result.reasoning_tokens = read.reasoning_chunks if result.reasoning else None

    async def count_text_tokens(self, text: str) -> tuple[int, TokenSource] | None:
        """Tokens in any ``text`` by this endpoint's model: its own tokenizer in-process
        (``tokenizer``) or the server's tokenize endpoint (``tokenize``); None when neither
        is available or the server's tokenizer failed every try."""
        if self.endpoint.tokenizer_path:
            return local_vocabulary(self.endpoint.tokenizer_path).count(text), "tokenizer"
        tokenizer = await self._probe_tokenizer()
        if tokenizer is None:
            return None
        try:
            return await self._count_retrying(tokenizer, text), "tokenize"
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError):
            return None

    async def _probe_tokenizer(self) -> _Tokenizer | None:
        """Find the server's tokenize endpoint once (vLLM/SGLang, then llama-cpp-python).

        The probe tokenizes the empty string: what comes back is what the endpoint adds to any
        text (llama-cpp-python always prepends BOS), subtracted from later counts.
        """
        async with self._tokenizer_lock:
            if not self._tokenizer_probed:
                self._tokenizer_probed = True
                root = self.endpoint.root_url
                probes: tuple[tuple[TokenizeKind, str], ...] = (
                    ("vllm", f"{root}/tokenize"),
                    ("llama_cpp", f"{root}/extras/tokenize"),
                )
                for kind, url in probes:
                    candidate = _Tokenizer(kind, url, overhead=0)
                    try:
                        candidate.overhead = await self._count(candidate, "", raw=True)
                    except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError):
                        continue
                    self._tokenizer = candidate
                    break
        return self._tokenizer

    async def _count_retrying(self, tokenizer: _Tokenizer, text: str) -> int:
        """:meth:`_count`, retried with backoff like a model call: a server that queues its
        tokenize endpoint behind generations (llama-cpp-python) answers late, not never."""
        failures = 0
        while True:
            try:
                return await self._count(tokenizer, text, timeout_s=self.endpoint.timeout_s)
            except (TimeoutError, aiohttp.ClientError, ValueError):
                failures += 1
                if failures > self.endpoint.max_retries:
                    raise
                await asyncio.sleep(self._retry_delay(failures, None))

    async def _count(
        self, tokenizer: _Tokenizer, text: str, *, raw: bool = False, timeout_s: float = 30.0
    ) -> int:
        """Tokens in ``text`` by the server's tokenizer (minus its overhead unless raw)."""
        if not text and not raw:
            return 0
        data = await self._tokenize(tokenizer, text, timeout_s)
        count = data["count"] if isinstance(data.get("count"), int) else len(data["tokens"])
        return count if raw else max(count - tokenizer.overhead, 0)

    async def token_ids(self, text: str) -> list[int] | None:
        """``text`` as token ids by the server's tokenize endpoint (what it adds to any text,
        a BOS, included); None when the server has no tokenize endpoint."""
        tokenizer = await self._probe_tokenizer()
        if tokenizer is None:
            return None
        data = await self._tokenize(tokenizer, text, self.endpoint.timeout_s)
        return [int(token) for token in data["tokens"]]

    async def _tokenize(self, tokenizer: _Tokenizer, text: str, timeout_s: float) -> Any:
        """The tokenize endpoint's JSON answer for ``text``."""
        if tokenizer.kind == "vllm":
            body: dict[str, Any] = {
                "model": self.endpoint.model,
                "prompt": text,
                "add_special_tokens": False,
            }
        else:
            body = {"input": text}
        timeout = aiohttp.ClientTimeout(total=max(self.endpoint.connect_timeout_s, timeout_s))
        async with self.session.post(tokenizer.url, json=body, timeout=timeout) as response:
            if response.status != 200:
                raise ValueError(f"tokenize answered HTTP {response.status}")
            return await response.json(content_type=None)


class LocalVocabulary:
    """A GGUF file's tokenizer, loaded in-process without the model weights."""

    def __init__(self, gguf_path: str) -> None:
        from llama_cpp import Llama  # only where a tokenizer_path is configured

        # llama.cpp warns on stderr that a vocabulary-only model has no training context; that
        # line would land on the progress bar. Errors still raise.
        with _stderr_silenced():
            self._llama = Llama(model_path=gguf_path, vocab_only=True, verbose=False)

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 (what C libraries write to) to /dev/null while the block runs."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@functools.cache
def local_vocabulary(gguf_path: str) -> LocalVocabulary:
    return LocalVocabulary(gguf_path)


def _is_model_list(body: str) -> bool:
    """An OpenAI-style ``GET /models`` answer: a JSON object with a ``data`` list."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def _sampling(
    max_tokens: int,
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
    stop: list[str] | str | None,
) -> dict[str, Any]:
    """The sampling parameters actually set (None = the server's default, not sent)."""
    params = {
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "seed": seed,
        "stop": stop,
    }
    return {k: v for k, v in params.items() if v is not None}


async def _read_stream(read: _Read, response: aiohttp.ClientResponse, chat: bool) -> None:
    """Read SSE lines to ``[DONE]``; a stream that ends early without a finish is cut."""
    async for line in response.content:
        now = time.perf_counter()
        if not line.startswith(b"data:"):
            continue  # blank separators, ": keep-alive" comments, "event:" lines
        payload = line[5:].strip()
        if payload == b"[DONE]":
            if read.finish_reason is None and not (read.content or read.reasoning):
                # e.g. llama-cpp-python interrupting a stream for a newer request
                raise _cut(read, "stream ended with [DONE] but no token and no finish_reason")
            return
        try:
            chunk = json.loads(payload)
        except ValueError as exc:
            raise _AttemptFailed(
                "malformed_sse",
                f"unparseable SSE data line: {payload[:ERROR_BODY_CHARS]!r}",
                retryable=True,  # safe while nothing was forwarded (checked by the caller)
                partial=read,
            ) from exc
        if not isinstance(chunk, dict):
            raise _AttemptFailed(
                "malformed_sse",
                f"SSE data is not an object: {payload[:200]!r}",
                retryable=True,
                partial=read,
            )
        if chunk.get("error"):
            raise _AttemptFailed(
                "stream_error",
                f"server error in stream: {json.dumps(chunk['error'])[:ERROR_BODY_CHARS]}",
                retryable=True,
                partial=read,
            )
        delta = _take_chunk(read, chunk, chat, now)
        if delta is not None and read.on_delta is not None:
            await _forward(read, *delta)
    if read.finish_reason is None:
        raise _cut(read, "stream ended without a finish_reason or [DONE]")


async def _forward(read: _Read, reasoning: str, content: str) -> None:
    """Hand one chunk's non-empty deltas to on_delta (reasoning first, as servers order them)."""
    assert read.on_delta is not None
    for channel, text in (("reasoning", reasoning), ("content", content)):
        if text:
            read.forwarded = True
            try:
                pending = read.on_delta(channel, text)
                if pending is not None:
                    await pending
            except Exception as exc:
                raise _DeltaCallbackFailed(exc) from exc


async def _forward_whole(read: _Read) -> None:
    if read.on_delta is not None:
        await _forward(read, "".join(read.reasoning), "".join(read.content))


def _take_chunk(
    read: _Read, chunk: dict[str, Any], chat: bool, now: float
) -> tuple[str, str] | None:
    """Record one parsed chunk; return its (reasoning, content) deltas when it carries text."""
    if isinstance(chunk.get("usage"), dict):
        read.usage = chunk["usage"]  # cumulative when continuous: the last one wins
    choices = chunk.get("choices") or []
    if not choices:
        return None
    choice = choices[0]
    if chat:
        delta = choice.get("delta") or {}
        content = delta.get("content") or ""
        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
    else:
        content, reasoning = choice.get("text") or "", ""
    if choice.get("finish_reason"):
        read.finish_reason = choice["finish_reason"]
    if not chat and choice.get("logprobs") is not None:
        read.logprobs = [*(read.logprobs or []), choice["logprobs"]]
    if not (content or reasoning):
        return None
    read.content.append(content)
    read.reasoning.append(reasoning)
    read.token_chunks += 1
    read.reasoning_chunks += bool(reasoning)
    if read.first_token is None:
        read.first_token = now
    read.last_token = now
    return reasoning, content


def _read_whole(read: _Read, raw: bytes, chat: bool) -> None:
    """A non-streamed JSON answer: one 'chunk' arriving now; chunk counting means nothing."""
    now = time.perf_counter()
    read.streamed = False
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _AttemptFailed(
            "malformed_response",
            f"unparseable JSON answer: {raw[:ERROR_BODY_CHARS]!r}",
            retryable=False,
        ) from exc
    message = choice.get("message") or {}
    content = (message.get("content") if chat else choice.get("text")) or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    read.content, read.reasoning = [content], [reasoning]
    read.finish_reason = choice.get("finish_reason")
    read.usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    if not chat and choice.get("logprobs") is not None:
        read.logprobs = [choice["logprobs"]]
    if content or reasoning:
        read.first_token = read.last_token = now


def _fill_text_and_timing(result: StageResult, read: _Read) -> None:
    result.content = "".join(read.content)
    result.reasoning = "".join(read.reasoning)
    result.finish_reason = read.finish_reason
    result.started_at = read.started_at
    result.chunk_count = read.token_chunks
    if read.logprobs is not None:
        result.token_logprobs = [t for block in read.logprobs for t in parse_logprobs_block(block)]
    if read.first_token is not None:
        result.ttft_s = read.first_token - read.sent
    if read.last_token is not None:
        result.latency_s = read.last_token - read.sent


def _cut(read: _Read, message: str) -> _AttemptFailed:
    return _AttemptFailed("stream_cut", message, retryable=True, partial=read)


async def _http_failure(
    response: aiohttp.ClientResponse, sent_stream_options: bool
) -> _AttemptFailed:
    status = response.status
    try:
        body = await response.text()
    except (aiohttp.ClientError, UnicodeDecodeError):
        body = ""
    rejects = sent_stream_options and status in (400, 422) and "stream_options" in body
    return _AttemptFailed(
        f"http_{status}",
        f"HTTP {status}: {body[:ERROR_BODY_CHARS]}",
        retryable=status >= 500 or status in RETRYABLE_STATUSES,
        retry_after_s=_retry_after(response.headers),
        rejects_stream_options=rejects,
    )


def _retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if "retry-after-ms" in headers:
        try:
            return max(float(headers["retry-after-ms"]) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
