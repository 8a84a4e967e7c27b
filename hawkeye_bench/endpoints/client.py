"""Async streaming client for OpenAI-compatible servers, returning a StageResult per call.

Built on aiohttp rather than the openai SDK: the SDK costs several times more CPU per streamed
chunk and would distort timings under load. Timestamps are taken with
``time.perf_counter()`` as each SSE line arrives, before it is parsed.

The client is this module's retry loop over its parts: ``endpoint`` (where a model is served),
``call_params`` (one call's keywords), ``retry`` (typed attempt failures, backoff,
Retry-After), ``reply_reader`` (the SSE stream or whole JSON answer, read into a ``reply``)
and ``token_count`` (token accounting).

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

Token counts (``endpoints/token_count.py``): the server's ``usage`` (``stream_options.
include_usage`` is requested; dropped for good on an endpoint that rejects it), else the
model's own tokenizer in-process when the endpoint names one (``tokenizer_path``), else the
server's tokenize endpoint applied to the generated text (retried like a model call), else the
number of token-bearing chunks, flagged by ``token_source``. A count nobody gave stays None.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Unpack

import aiohttp
from openai.types.chat import ChatCompletionMessageParam

from hawkeye_bench.core.secrets import redact
from hawkeye_bench.core.trace import StageResult, TokenSource
from hawkeye_bench.endpoints.call_params import CallInput, CallParams, OnDelta, sampling_body
from hawkeye_bench.endpoints.endpoint import Endpoint, EndpointUnavailable
from hawkeye_bench.endpoints.reply import Reply
from hawkeye_bench.endpoints.reply_reader import listed_models, read_response
from hawkeye_bench.endpoints.retry import (
    ERROR_BODY_CHARS,
    MAX_RETRY_AFTER_S,
    AttemptFailed,
    DeltaCallbackFailed,
    backoff_delay,
    body_text,
)
from hawkeye_bench.endpoints.token_count import TokenCounter, TokenizeFailed, local_vocabulary

__all__ = [
    "CallParams",
    "Endpoint",
    "EndpointClient",
    "EndpointUnavailable",
    "OnDelta",
    "TokenizeFailed",
    "local_vocabulary",
]


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
        #: this endpoint's token accounting (its tokenize endpoint probed once)
        self.tokens = TokenCounter(endpoint, lambda: self.session, self._retry_delay)

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
                body = await body_text(response)
                models = listed_models(body)
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
        self, messages: list[ChatCompletionMessageParam], **params: Unpack[CallParams]
    ) -> StageResult:
        """Streamed ``POST /chat/completions``.

        Timings (``started_at``, ``ttft_s``, ``latency_s``) describe the attempt that produced
        the result; ``attempts`` counts every request sent, including a stream_options fallback.
        ``on_delta``: see the module docstring.
        """
        return await self._call("chat/completions", {"messages": messages}, params)

    async def complete(self, prompt: str | list[int], **params: Unpack[CallParams]) -> StageResult:
        """Streamed raw-prompt ``POST /completions`` (presets that apply no chat template).

        ``prompt`` may be token ids. ``extra={"logprobs": N}`` asks for per-token logprobs,
        returned as ``StageResult.token_logprobs``, and keeps the choice's other fields (hidden
        states a server adds, ...) as ``StageResult.choice_fields``."""
        return await self._call("completions", {"prompt": prompt}, params)

    async def count_text_tokens(self, text: str) -> tuple[int, TokenSource] | None:
        """Tokens in any ``text`` by this endpoint's model: its own tokenizer in-process
        (``tokenizer``) or the server's tokenize endpoint (``tokenize``); None when neither
        is available or the server's tokenizer failed every try."""
        return await self.tokens.count_text(text)

    async def token_ids(self, text: str) -> list[int] | None:
        """``text`` as token ids by the server's tokenize endpoint (what it adds to any text,
        a BOS, included); None when the server has no tokenize endpoint; TokenizeFailed when
        it fails or answers something else."""
        return await self.tokens.token_ids(text)

    # -- one call, with retries ----------------------------------------------------------------

    async def _call(self, path: str, inputs: CallInput, params: CallParams) -> StageResult:
        ep = self.endpoint
        url = f"{ep.base_url.rstrip('/')}/{path}"
        chat = path == "chat/completions"
        on_delta = params.get("on_delta")
        result = StageResult(role=params["role"], model=ep.model, endpoint=ep.base_url)
        failures = 0
        while True:
            request = {
                "model": ep.model,
                **sampling_body(params),
                **ep.extra_body,
                **(params.get("extra") or {}),
            }
            request["stream"] = True
            if self.stream_options_supported:
                request["stream_options"] = {"include_usage": True}
            result.request = request
            try:
                read = await self._attempt(url, {**request, **inputs}, chat, on_delta)
                break
            except DeltaCallbackFailed as callback_failure:
                raise callback_failure.error from None
            except AttemptFailed as failure:
                if failure.rejects_stream_options and "stream_options" in request:
                    self.stream_options_supported = False
                    result.attempts += 1
                    continue
                if self._gives_up(failure, failures):
                    result.error = redact(str(failure))
                    result.error_type = failure.error_type
                    if failure.partial is not None:
                        failure.partial.fill_text_and_timing(result)
                    return result
                failures += 1
                result.attempts += 1
                await asyncio.sleep(self._retry_delay(failures, failure.retry_after_s))
        read.fill_text_and_timing(result)
        await self.tokens.fill(result, read)
        return result

    def _gives_up(self, failure: AttemptFailed, failures: int) -> bool:
        """True when ``failure`` ends the call: not retryable, a Retry-After too long to wait,
        text already forwarded, a refused connection not to retry, or no retry left."""
        too_long = (failure.retry_after_s or 0.0) > MAX_RETRY_AFTER_S
        forwarded = failure.partial is not None and failure.partial.forwarded
        refused = failure.error_type == "connection" and not self.retry_connection_errors
        return (
            not failure.retryable
            or too_long
            or forwarded
            or refused
            or failures >= self.endpoint.max_retries
        )

    def _retry_delay(self, failures: int, retry_after_s: float | None = None) -> float:
        if retry_after_s is not None:
            return retry_after_s
        return backoff_delay(failures, self.backoff_base_s, self.backoff_max_s)

    async def _attempt(
        self, url: str, body: dict[str, Any], chat: bool, on_delta: OnDelta | None = None
    ) -> Reply:
        """Send one request and read the whole response; raise AttemptFailed on failure."""
        read = Reply(started_at=time.time(), sent=time.perf_counter(), on_delta=on_delta)
        if "logprobs" in body:  # a router may read what else the server put in the choice
            read.choice_fields = {}
        try:
            async with self.session.post(url, json=body) as response:
                await read_response(read, response, chat, "stream_options" in body)
        except TimeoutError as exc:
            raise AttemptFailed(
                "timeout",
                str(exc) or f"no complete answer within {self.endpoint.timeout_s:g} s",
                retryable=True,
                partial=read,
            ) from exc
        except aiohttp.ClientError as exc:
            raise AttemptFailed(
                "connection", f"{type(exc).__name__}: {exc}", retryable=True
            ) from exc
        return read
