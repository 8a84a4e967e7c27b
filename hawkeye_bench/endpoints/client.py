"""Async streaming client for OpenAI-compatible servers, returning a StageResult per call.

Built on aiohttp rather than the openai SDK: the SDK costs several times more CPU per streamed
chunk and would distort timings under load. Timestamps are taken with
``time.perf_counter()`` as each SSE line arrives, before it is parsed.

Calls never raise for request failures, whatever the server sends. Retryable failures (429,
408, 409, 5xx, connection errors, timeouts, streams cut mid-way, malformed SSE lines or chunks
of the wrong shape, error events inside a stream, a 200 that is not a completion such as an HTML
page, unusable logprobs) are retried with exponential backoff and jitter, honouring
``Retry-After``; when retries run out, or for a failure that retrying cannot fix (other 4xx),
the StageResult carries ``error`` and ``error_type``, with every known API key redacted from
the error text.

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
import math
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
from hawkeye_bench.core.trace import StageResult, TokenLogprob, TokenSource
from hawkeye_bench.endpoints.logprobs import MalformedLogprobs, parse_logprobs_block

#: Statuses worth retrying besides 5xx (as the openai SDK does).
RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: A Retry-After longer than this is not waited for: the call fails with the 429/503 instead.
MAX_RETRY_AFTER_S = 120.0
#: How many characters of an error body go into StageResult.error.
ERROR_BODY_CHARS = 300
#: Content types of a web page: a completion path answering one is misconfigured, not cut.
HTML_CONTENT_TYPES = frozenset({"text/html", "application/xhtml+xml"})


#: Called with (channel, text) for each streamed delta; channel is "reasoning" or "content".
OnDelta = Callable[[str, str], Awaitable[None] | None]


class EndpointUnavailable(HawkeyeError):
    """An endpoint did not answer ``GET /models`` (raised before a run starts)."""


class TokenizeFailed(Exception):
    """The server's tokenize endpoint failed or answered something that is not token ids
    (the caller turns it into the call's error)."""


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
    #: completion logprobs, parsed chunk by chunk, when the reply had any
    token_logprobs: list[TokenLogprob] | None = None
    #: the choice's other fields per chunk (see ``StageResult.choice_fields``), when kept
    choice_fields: dict[str, list[Any]] | None = None


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

    async def check(self, role: str | None = None, *, require_model: bool = False) -> None:
        """Raise EndpointUnavailable unless ``GET <base_url>/models`` answers within the
        connect timeout (with ``require_model``: and lists this endpoint's model, as each of
        a replica set's servers must)."""
        ep = self.endpoint
        who = f"{role} endpoint {ep.label!r}" if role else f"endpoint {ep.label!r}"
        url = f"{ep.base_url.rstrip('/')}/models"
        try:
            timeout = aiohttp.ClientTimeout(total=ep.connect_timeout_s)
            async with self.session.get(url, timeout=timeout) as response:
                body = await _body_text(response)
                models = _listed_models(body)
                if response.status != 200:
                    cause = f"HTTP {response.status}: {redact(body[:ERROR_BODY_CHARS])}"
                elif models is not None and (not require_model or ep.model in models):
                    return
                elif models is not None:
                    listed = ", ".join(repr(m) for m in models[:5]) or "none"
                    cause = f"it does not serve model {ep.model!r} (it lists {listed})"
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
        returned as ``StageResult.token_logprobs``, and keeps the choice's other fields (hidden
        states a server adds, ...) as ``StageResult.choice_fields``."""
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
        if "logprobs" in body:  # a router may read what else the server put in the choice
            read.choice_fields = {}
        try:
            async with self.session.post(url, json=body) as response:
                if response.status != 200:
                    raise await _http_failure(response, "stream_options" in body)
                if response.content_type in HTML_CONTENT_TYPES:
                    raise await _html_page(response)
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
                except aiohttp.http_exceptions.HttpProcessingError as exc:  # LineTooLong
                    message = " ".join(str(exc).split())[:ERROR_BODY_CHARS]
                    raise _AttemptFailed(
                        "malformed_sse", f"unreadable SSE line: {message}", retryable=True,
                        partial=read,
                    ) from exc  # fmt: skip
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
        completion_tokens = _token_count(usage, "completion_tokens")
        if completion_tokens is not None:  # a usage field of the wrong type is no count
            result.token_source = "usage"
            result.completion_tokens = completion_tokens
            result.prompt_tokens = _token_count(usage, "prompt_tokens")
            details = usage.get("completion_tokens_details")
            reasoning_tokens = _token_count(details, "reasoning_tokens")
            if reasoning_tokens is not None:
                result.reasoning_tokens = reasoning_tokens
            cached = _token_count(usage.get("prompt_tokens_details"), "cached_tokens")
            result.cached_prompt_tokens = cached
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
        a BOS, included); None when the server has no tokenize endpoint; TokenizeFailed when
        it fails or answers something else."""
        tokenizer = await self._probe_tokenizer()
        if tokenizer is None:
            return None
        try:
            data = await self._tokenize(tokenizer, text, self.endpoint.timeout_s)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise TokenizeFailed(f"{tokenizer.url}: {type(exc).__name__}: {exc}") from exc
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in tokens
        ):
            raise TokenizeFailed(f"{tokenizer.url} answered no list of token ids: {tokens!r:.80}")
        return tokens

    async def _tokenize(self, tokenizer: _Tokenizer, text: str, timeout_s: float) -> dict[str, Any]:
        """The tokenize endpoint's JSON answer for ``text`` (ValueError unless an object)."""
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
            data = _json(await response.read())
        if not isinstance(data, dict):
            raise ValueError(f"tokenize answered {type(data).__name__}, not an object")
        return data


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


def _json(text: str | bytes) -> Any:
    """``json.loads``, with JSON nested past the recursion limit a ValueError like any other
    unparseable text (a server's reply must never raise anything else)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deep to parse") from exc


def _listed_models(body: str) -> list[str] | None:
    """The model ids of an OpenAI-style ``GET /models`` answer (a JSON object with a ``data``
    list); None for anything else."""
    try:
        data = _json(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        return None
    entries = data["data"]
    return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]


def _token_count(usage: Any, key: str) -> int | None:
    """``usage[key]`` when ``usage`` is an object and the value a count (an int >= 0)."""
    value = usage.get(key) if isinstance(usage, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


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
    data_lines = received = 0
    async for line in response.content:
        now = time.perf_counter()
        received += len(line)
        if not line.startswith(b"data:"):
            continue  # blank separators, ": keep-alive" comments, "event:" lines
        data_lines += 1
        payload = line[5:].strip()
        if payload == b"[DONE]":
            if read.finish_reason is None and not (read.content or read.reasoning):
                # e.g. llama-cpp-python interrupting a stream for a newer request
                raise _cut(read, "stream ended with [DONE] but no token and no finish_reason")
            return
        try:
            chunk = _json(payload)
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
        try:
            delta = _take_chunk(read, chunk, chat, now)
        except (_WrongShape, MalformedLogprobs) as exc:
            raise _malformed(exc, "malformed_sse", "SSE chunk", payload, read) from exc
        if delta is not None and read.on_delta is not None:
            await _forward(read, *delta)
    if not data_lines:
        kind = response.content_type or "no content type"
        raise _cut(read, f"the reply has no SSE data line (HTTP 200, {kind}, {received} bytes)")
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


class _WrongShape(Exception):
    """Valid JSON that is not a completion (chunk): the message says which field is wrong."""


def _take_chunk(
    read: _Read, chunk: dict[str, Any], chat: bool, now: float
) -> tuple[str, str] | None:
    """Record one parsed chunk; return its (reasoning, content) deltas when it carries text.
    Raise _WrongShape or MalformedLogprobs for a chunk that cannot be read."""
    if isinstance(chunk.get("usage"), dict):
        read.usage = chunk["usage"]  # cumulative when continuous: the last one wins
    choice = _first_choice(chunk)
    if choice is None:
        return None
    content, reasoning = _choice_text(choice, chat, "delta")
    finish_reason = _finish_reason(choice)
    tokens = _choice_logprobs(choice, chat)
    _keep_choice_fields(read, choice)
    if finish_reason is not None:
        read.finish_reason = finish_reason
    if tokens is not None:
        read.token_logprobs = read.token_logprobs or []
        read.token_logprobs.extend(tokens)
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
        data = _json(raw)
    except ValueError as exc:
        raise _AttemptFailed(
            "malformed_response",
            f"unparseable JSON answer: {raw[:ERROR_BODY_CHARS]!r}",
            retryable=True,
        ) from exc
    try:
        if not isinstance(data, dict):
            raise _WrongShape(f"the answer is {_kind(data)}, not an object")
        if data.get("error"):
            raise _WrongShape(f"HTTP 200 carrying an error: {json.dumps(data['error'])[:200]}")
        choice = _first_choice(data)
        if choice is None:
            raise _WrongShape("the answer has no choice")
        content, reasoning = _choice_text(choice, chat, "message")
        read.finish_reason = _finish_reason(choice)
        read.token_logprobs = _choice_logprobs(choice, chat)
        _keep_choice_fields(read, choice)
    except (_WrongShape, MalformedLogprobs) as exc:
        raise _malformed(exc, "malformed_response", "JSON answer", raw, None) from exc
    read.content, read.reasoning = [content], [reasoning]
    read.usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    if content or reasoning:
        read.first_token = read.last_token = now


#: the fields of a choice the client reads itself; a server's others are kept as they come
READ_CHOICE_FIELDS = frozenset({"index", "text", "delta", "message", "logprobs", "finish_reason"})


def _keep_choice_fields(read: _Read, choice: dict[str, Any]) -> None:
    """Add the choice's other fields to ``read.choice_fields`` (when it keeps them)."""
    if read.choice_fields is None:
        return
    for key, value in choice.items():
        if key not in READ_CHOICE_FIELDS:
            read.choice_fields.setdefault(key, []).append(value)


def _first_choice(data: dict[str, Any]) -> dict[str, Any] | None:
    """``choices[0]``; None where there is none (a usage-only chunk)."""
    choices = data.get("choices")
    if choices is None or choices == []:
        return None
    if not isinstance(choices, list):
        raise _WrongShape(f"'choices' is {_kind(choices)}, not a list")
    if not isinstance(choices[0], dict):
        raise _WrongShape(f"'choices[0]' is {_kind(choices[0])}, not an object")
    return choices[0]


def _choice_text(choice: dict[str, Any], chat: bool, message_key: str) -> tuple[str, str]:
    """(content, reasoning) of a choice: chat's ``delta``/``message``, else ``text``."""
    if not chat:
        return _text(choice, "text"), ""
    message = choice.get(message_key)
    if message is None:
        return "", ""
    if not isinstance(message, dict):
        raise _WrongShape(f"'{message_key}' is {_kind(message)}, not an object")
    content = _text(message, "content")
    return content, _text(message, "reasoning_content") or _text(message, "reasoning")


def _text(container: dict[str, Any], key: str) -> str:
    value = container.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _WrongShape(f"'{key}' is {_kind(value)}, not a string")
    return value


def _finish_reason(choice: dict[str, Any]) -> str | None:
    value = choice.get("finish_reason")
    if value is not None and not isinstance(value, str):
        raise _WrongShape(f"'finish_reason' is {_kind(value)}, not a string")
    return value or None


def _choice_logprobs(choice: dict[str, Any], chat: bool) -> list[TokenLogprob] | None:
    """A completion choice's per-token logprobs; None where it has none (chat: not read)."""
    if chat or choice.get("logprobs") is None:
        return None
    return parse_logprobs_block(choice["logprobs"])


def _kind(value: Any) -> str:
    """``a str ('nope')``: a value's JSON type and a short excerpt, for error messages."""
    return f"{'null' if value is None else 'a ' + type(value).__name__} ({value!r:.40})"


def _malformed(
    exc: Exception, error_type: str, what: str, raw: bytes, read: _Read | None
) -> _AttemptFailed:
    """The failure for a reply of valid JSON that cannot be read: unusable logprobs are
    ``malformed_logprobs``, any other wrong shape ``error_type``; the server's fault, retried."""
    if isinstance(exc, MalformedLogprobs):
        error_type, message = "malformed_logprobs", f"unusable logprobs: {exc}"
    else:
        message = f"{what} of the wrong shape: {exc}: {raw[:200]!r}"
    return _AttemptFailed(error_type, message, retryable=True, partial=read)


def _fill_text_and_timing(result: StageResult, read: _Read) -> None:
    result.content = "".join(read.content)
    result.reasoning = "".join(read.reasoning)
    result.finish_reason = read.finish_reason
    result.started_at = read.started_at
    result.chunk_count = read.token_chunks
    result.token_logprobs = read.token_logprobs
    result.choice_fields = read.choice_fields or None
    if read.first_token is not None:
        result.ttft_s = read.first_token - read.sent
    if read.last_token is not None:
        result.latency_s = read.last_token - read.sent
    result.duration_s = time.perf_counter() - read.sent  # the response has just ended


def _cut(read: _Read, message: str) -> _AttemptFailed:
    return _AttemptFailed("stream_cut", message, retryable=True, partial=read)


async def _http_failure(
    response: aiohttp.ClientResponse, sent_stream_options: bool
) -> _AttemptFailed:
    status = response.status
    try:
        body = await _body_text(response)
    except aiohttp.ClientError:
        body = ""
    rejects = sent_stream_options and status in (400, 422) and "stream_options" in body
    return _AttemptFailed(
        f"http_{status}",
        f"HTTP {status}: {body[:ERROR_BODY_CHARS]}",
        retryable=status >= 500 or status in RETRYABLE_STATUSES,
        retry_after_s=_retry_after(response.headers),
        rejects_stream_options=rejects,
    )


async def _html_page(response: aiohttp.ClientResponse) -> _AttemptFailed:
    """A 200 web page where a completion was expected (a proxy's login or error page, a base
    URL that is not the API root): named as such, never taken for a cut stream."""
    try:
        start = await response.content.read(ERROR_BODY_CHARS)
        page = " ".join(start.decode(errors="replace").split())
    except aiohttp.ClientError:
        page = ""
    return _AttemptFailed(
        "malformed_response",
        f"HTTP 200 with an HTML page, not an event stream ({page[:120]!r}): is base_url the "
        "API root, usually ending in /v1?",
        retryable=True,
    )


async def _body_text(response: aiohttp.ClientResponse) -> str:
    """The whole body as text: UTF-8, undecodable bytes replaced (a declared charset may be
    wrong or unknown)."""
    return (await response.read()).decode("utf-8", errors="replace")


def _delay(seconds: float) -> float:
    """A server's delay, at least 0; NaN is no delay given (ValueError)."""
    if math.isnan(seconds):
        raise ValueError("NaN delay")
    return max(seconds, 0.0)


def _retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if "retry-after-ms" in headers:
        try:
            return _delay(float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return _delay(float(value))
    except ValueError:
        pass
    try:
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
