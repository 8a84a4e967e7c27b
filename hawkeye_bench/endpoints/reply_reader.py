"""Reading a completion reply: the SSE stream line by line, or a whole JSON answer.

Timestamps are taken with ``time.perf_counter()`` as each SSE line arrives, before it is
parsed. Any reply that cannot be read (unparseable lines, chunks of the wrong shape, an error
event, a stream cut before its finish, unusable logprobs) raises
:class:`~hawkeye_bench.endpoints.retry.AttemptFailed`, retryable: it is the server's fault.
Each non-empty delta goes to the reply's ``on_delta`` as it is read.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal, cast

import aiohttp

from hawkeye_bench.core.openai_wire import WireChoice, WireCompletion, WireMessage
from hawkeye_bench.core.trace import TokenLogprob
from hawkeye_bench.endpoints.logprobs import MalformedLogprobs, parse_logprobs_block
from hawkeye_bench.endpoints.reply import Reply, ReplyUsage
from hawkeye_bench.endpoints.retry import (
    ERROR_BODY_CHARS,
    HTML_CONTENT_TYPES,
    AttemptFailed,
    DeltaCallbackFailed,
    html_page,
    http_failure,
    parse_json,
)


async def read_response(
    read: Reply, response: aiohttp.ClientResponse, chat: bool, sent_stream_options: bool
) -> None:
    """Read one reply to a completion request into ``read``: an SSE stream, or the whole JSON
    answer of a server that ignored ``stream=True``; AttemptFailed for anything else."""
    if response.status != 200:
        raise await http_failure(response, sent_stream_options)
    if response.content_type in HTML_CONTENT_TYPES:
        raise await html_page(response)
    if response.content_type == "application/json":  # server ignored stream=True
        _read_whole(read, await response.read(), chat)
        await _forward_whole(read)
        return
    try:
        await _read_stream(read, response, chat)
    except TimeoutError:
        raise
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        raise _cut(read, f"{type(exc).__name__}: {exc}") from exc
    except aiohttp.http_exceptions.HttpProcessingError as exc:  # LineTooLong
        message = " ".join(str(exc).split())[:ERROR_BODY_CHARS]
        raise AttemptFailed(
            "malformed_sse", f"unreadable SSE line: {message}", retryable=True, partial=read
        ) from exc


async def _read_stream(read: Reply, response: aiohttp.ClientResponse, chat: bool) -> None:
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
            chunk = parse_json(payload)
        except ValueError as exc:
            raise AttemptFailed(
                "malformed_sse",
                f"unparseable SSE data line: {payload[:ERROR_BODY_CHARS]!r}",
                retryable=True,  # safe while nothing was forwarded (checked by the caller)
                partial=read,
            ) from exc
        if not isinstance(chunk, dict):
            raise AttemptFailed(
                "malformed_sse",
                f"SSE data is not an object: {payload[:200]!r}",
                retryable=True,
                partial=read,
            )
        if chunk.get("error"):
            raise AttemptFailed(
                "stream_error",
                f"server error in stream: {json.dumps(chunk['error'])[:ERROR_BODY_CHARS]}",
                retryable=True,
                partial=read,
            )
        try:
            delta = _take_chunk(read, cast(WireCompletion, chunk), chat, now)
        except (_WrongShape, MalformedLogprobs) as exc:
            raise _malformed(exc, "malformed_sse", "SSE chunk", payload, read) from exc
        if delta is not None and read.on_delta is not None:
            await _forward(read, *delta)
    if not data_lines:
        kind = response.content_type or "no content type"
        raise _cut(read, f"the reply has no SSE data line (HTTP 200, {kind}, {received} bytes)")
    if read.finish_reason is None:
        raise _cut(read, "stream ended without a finish_reason or [DONE]")


async def _forward(read: Reply, reasoning: str, content: str) -> None:
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
                raise DeltaCallbackFailed(exc) from exc


async def _forward_whole(read: Reply) -> None:
    if read.on_delta is not None:
        await _forward(read, "".join(read.reasoning), "".join(read.content))


class _WrongShape(Exception):
    """Valid JSON that is not a completion (chunk): the message says which field is wrong."""


def _take_chunk(
    read: Reply, chunk: WireCompletion, chat: bool, now: float
) -> tuple[str, str] | None:
    """Record one parsed chunk; return its (reasoning, content) deltas when it carries text.
    Raise _WrongShape or MalformedLogprobs for a chunk that cannot be read."""
    if isinstance(chunk.get("usage"), dict):  # cumulative when continuous: the last one wins
        read.usage = ReplyUsage.from_reply(chunk["usage"])
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


def _read_whole(read: Reply, raw: bytes, chat: bool) -> None:
    """A non-streamed JSON answer: one 'chunk' arriving now; chunk counting means nothing."""
    now = time.perf_counter()
    read.streamed = False
    try:
        parsed = parse_json(raw)
    except ValueError as exc:
        raise AttemptFailed(
            "malformed_response",
            f"unparseable JSON answer: {raw[:ERROR_BODY_CHARS]!r}",
            retryable=True,
        ) from exc
    try:
        if not isinstance(parsed, dict):
            raise _WrongShape(f"the answer is {_kind(parsed)}, not an object")
        data = cast(WireCompletion, parsed)  # each value read is checked below
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
    usage = data.get("usage")
    read.usage = ReplyUsage.from_reply(usage) if isinstance(usage, dict) else None
    if content or reasoning:
        read.first_token = read.last_token = now


#: the fields of a choice the client reads itself; a server's others are kept as they come
READ_CHOICE_FIELDS = frozenset({"index", "text", "delta", "message", "logprobs", "finish_reason"})


def _keep_choice_fields(read: Reply, choice: WireChoice) -> None:
    """Add the choice's other fields to ``read.choice_fields`` (when it keeps them)."""
    if read.choice_fields is None:
        return
    for key, value in choice.items():
        if key not in READ_CHOICE_FIELDS:
            read.choice_fields.setdefault(key, []).append(value)


def _first_choice(data: WireCompletion) -> WireChoice | None:
    """``choices[0]``; None where there is none (a usage-only chunk)."""
    choices = data.get("choices")
    if choices is None or choices == []:
        return None
    if not isinstance(choices, list):
        raise _WrongShape(f"'choices' is {_kind(choices)}, not a list")
    if not isinstance(choices[0], dict):
        raise _WrongShape(f"'choices[0]' is {_kind(choices[0])}, not an object")
    return choices[0]


def _choice_text(
    choice: WireChoice, chat: bool, message_key: Literal["delta", "message"]
) -> tuple[str, str]:
    """(content, reasoning) of a choice: chat's ``delta``/``message``, else ``text``."""
    if not chat:
        return _text(choice.get("text"), "text"), ""
    message: WireMessage | None = choice.get(message_key)
    if message is None:
        return "", ""
    if not isinstance(message, dict):
        raise _WrongShape(f"'{message_key}' is {_kind(message)}, not an object")
    content = _text(message.get("content"), "content")
    reasoning = _text(message.get("reasoning_content"), "reasoning_content")
    return content, reasoning or _text(message.get("reasoning"), "reasoning")


def _text(value: object, key: str) -> str:
    """A text field's ``value`` (``""`` for none); _WrongShape unless a string."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _WrongShape(f"'{key}' is {_kind(value)}, not a string")
    return value


def _finish_reason(choice: WireChoice) -> str | None:
    value = choice.get("finish_reason")
    if value is not None and not isinstance(value, str):
        raise _WrongShape(f"'finish_reason' is {_kind(value)}, not a string")
    return value or None


def _choice_logprobs(choice: WireChoice, chat: bool) -> list[TokenLogprob] | None:
    """A completion choice's per-token logprobs; None where it has none (chat: not read)."""
    if chat or choice.get("logprobs") is None:
        return None
    return parse_logprobs_block(choice["logprobs"])


def _kind(value: Any) -> str:
    """``a str ('nope')``: a value's JSON type and a short excerpt, for error messages."""
    return f"{'null' if value is None else 'a ' + type(value).__name__} ({value!r:.40})"


def _malformed(
    exc: Exception, error_type: str, what: str, raw: bytes, read: Reply | None
) -> AttemptFailed:
    """The failure for a reply of valid JSON that cannot be read: unusable logprobs are
    ``malformed_logprobs``, any other wrong shape ``error_type``; the server's fault, retried."""
    if isinstance(exc, MalformedLogprobs):
        error_type, message = "malformed_logprobs", f"unusable logprobs: {exc}"
    else:
        message = f"{what} of the wrong shape: {exc}: {raw[:200]!r}"
    return AttemptFailed(error_type, message, retryable=True, partial=read)


def _cut(read: Reply, message: str) -> AttemptFailed:
    """The failure for a stream that ended (or broke) before its finish."""
    return AttemptFailed("stream_cut", message, retryable=True, partial=read)


def listed_models(body: str) -> list[str] | None:
    """The model ids of an OpenAI-style ``GET /models`` answer (a JSON object with a ``data``
    list); None for anything else."""
    try:
        data = parse_json(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        return None
    entries = data["data"]
    return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]
