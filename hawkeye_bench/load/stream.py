"""Timing one streamed chat completion from its SSE lines.

The caller reads the response one line at a time and passes each line with the
``time.perf_counter()`` taken right after the read returned, before any parsing, so the JSON
work here never shifts a timestamp. The meter keeps per-chunk arrival times and token counts;
turning them into TTFT/TBT/E2E statistics is :mod:`hawkeye_bench.load.metrics`' job.

The end of the chain of thought: a multi-stage server (``hawkeye-bench serve``) streams every
stage but the last as reasoning and sends ``x_hawkeye.stage_end`` (the role that finished) on a
chunk without choices before the next stage's first delta. The CoT ends at the last token chunk
before the last such marker, even when the final stage also streams reasoning of its own, and
so do its tokens: the completion tokens of the stages up to that role as the server's
``x_hawkeye.stages`` gives them, else the token chunks before the marker. Without a marker the
CoT end falls back to the last reasoning token (and its tokens to the reasoning tokens), and
says so.

Error texts are cleared of known API keys (:func:`hawkeye_bench.core.secrets.redact`) before
they are shortened, so no part of a key an upstream echoed is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict, cast

from hawkeye_bench.core.secrets import redact
from hawkeye_bench.core.trace import TokenSource

REASONING = "r"
CONTENT = "c"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
#: The server's ``time.perf_counter()`` when it wrote the chunk (the scripted test server sends
#: it). perf_counter is CLOCK_MONOTONIC on Linux, shared by processes on one host, so
#: ``t_recv - x_sent_perf`` is the delivery lag: how long the chunk waited before we read it.
SERVER_PERF_FIELD: Final = "x_sent_perf"
#: ``{"x_hawkeye": {"stage_end": role}}``: the pipeline server's marker that a stage finished
STAGE_END_FIELD: Final = "stage_end"
#: where the CoT end came from: the server's stage marker, or the last reasoning token
COT_END_MARKER = "stage_end"
COT_END_LAST_REASONING = "last_reasoning"
ERROR_CHARS = 500
#: the start of a request's error when a chunk is JSON of the wrong shape
WRONG_SHAPE = "SSE chunk of the wrong shape"
DELTA_TEXT_FIELDS = ("content", "reasoning_content", "reasoning")


class CompletionTokensDetailsJson(TypedDict, total=False):
    reasoning_tokens: int


class UsageJson(TypedDict, total=False):
    """A chunk's ``usage`` (OpenAI-style; a field read is checked before it is used)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetailsJson | None


class StageCountJson(TypedDict, total=False):
    """One stage in the pipeline server's ``x_hawkeye.stages``."""

    role: str
    completion_tokens: int


class HawkeyeChunkFieldsJson(TypedDict, total=False):
    """The pipeline server's ``x_hawkeye`` on a chunk: a stage's end, the per-stage counts."""

    stage_end: str
    stages: list[StageCountJson]


class DeltaJson(TypedDict, total=False):
    content: str | None
    reasoning_content: str | None
    reasoning: str | None


class ChoiceJson(TypedDict, total=False):
    delta: DeltaJson | None
    finish_reason: str | None


class ChatChunkJson(TypedDict, total=False):
    """The fields of a streamed chat completion chunk the meter reads, once
    :func:`chunk_shape_error` found its choices in shape."""

    choices: list[ChoiceJson] | None
    usage: UsageJson | None
    x_hawkeye: HawkeyeChunkFieldsJson
    x_sent_perf: float


@dataclass
class Chunk:
    """One token-bearing SSE chunk as the client saw it."""

    t_ms: float  # send -> this chunk read, milliseconds
    tokens: int  # tokens in this chunk (usage delta when the server reports it, else 1)
    channel: str  # REASONING or CONTENT
    lag_ms: float | None = None  # server write -> client read, when the server stamps chunks

    def to_row(self) -> list[Any]:
        """Compact JSON form: [t_ms, tokens, channel] plus lag_ms when known."""
        row: list[Any] = [round(self.t_ms, 4), self.tokens, self.channel]
        if self.lag_ms is not None:
            row.append(round(self.lag_ms, 4))
        return row


@dataclass
class StreamMeter:
    """Accumulates the timing of one streamed response.

    ``t_send`` is the ``perf_counter()`` just before the request was written.
    """

    t_send: float
    tt_headers_ms: float | None = None
    tt_ack_ms: float | None = None  # first data line of any kind (role-only included)
    done_ms: float | None = None  # the [DONE] line
    chunks: list[Chunk] = field(default_factory=list)
    usage: UsageJson | None = None
    #: True once a chunk carried a cumulative usage (vLLM ``continuous_usage_stats``).
    continuous_usage: bool = False
    finish_reason: str | None = None
    error: str | None = None
    data_lines: int = 0
    #: send -> the last token chunk before the latest stage_end marker (None: no marker)
    stage_end_ms: float | None = None
    stage_end_role: str | None = None
    #: token chunks before the latest stage_end marker (None: no marker)
    stage_end_chunks: int | None = None
    #: the server's per-stage counts (``x_hawkeye.stages``), when it sent them
    stages: list[StageCountJson] | None = None
    _cumulative_tokens: int = 0
    _deciding_think: bool = True
    _in_inline_think: bool = False
    _content_head: str = ""
    _content_tail: str = ""

    def _ms(self, t: float) -> float:
        return (t - self.t_send) * 1000.0

    def headers(self, t: float) -> None:
        self.tt_headers_ms = self._ms(t)

    def feed(self, line: bytes, t_recv: float) -> bool:
        """Take one raw SSE line read at ``t_recv``; return True at ``data: [DONE]``."""
        if not line.startswith(b"data:"):
            return False  # blank separators, comments, event:/id: lines
        payload = line[5:].strip()
        self.data_lines += 1
        t_ms = self._ms(t_recv)
        if self.tt_ack_ms is None:
            self.tt_ack_ms = t_ms
        if payload == b"[DONE]":
            self.done_ms = t_ms
            return True
        try:
            event = json.loads(payload)
        except ValueError:
            self.error = f"malformed SSE data line: {clip_error(payload, 200)!r}"
            return False
        if not isinstance(event, dict):
            self.error = f"SSE data is not a JSON object: {clip_error(payload, 200)!r}"
            return False
        if "error" in event:
            self.error = _error_text(event["error"])
            return False
        wrong = chunk_shape_error(event)
        if wrong is not None:  # the request fails; the rest is read so the connection is reused
            if self.error is None:
                self.error = f"{WRONG_SHAPE}: {wrong}: {clip_error(payload, 200)!r}"
            return False
        self._take_chunk(cast(ChatChunkJson, event), t_recv)
        return False

    def _take_chunk(self, event: ChatChunkJson, t_recv: float) -> None:
        extra = event.get("x_hawkeye")
        if isinstance(extra, dict) and extra.get(STAGE_END_FIELD):
            self.stage_end_role = str(extra[STAGE_END_FIELD])
            self.stage_end_ms = self.chunks[-1].t_ms if self.chunks else self._ms(t_recv)
            self.stage_end_chunks = len(self.chunks)
        if isinstance(extra, dict) and isinstance(extra.get("stages"), list):
            self.stages = [s for s in extra["stages"] if isinstance(s, dict)]
        usage = event.get("usage")
        cumulative: int | None = None
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            if event.get("choices"):
                self.continuous_usage = True
                cumulative = usage["completion_tokens"]
            self.usage = usage
        for choice in event.get("choices") or ():
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
            content = delta.get("content") or ""
            if not (reasoning or content):
                continue
            channel = REASONING if reasoning else self._content_channel(content)
            tokens = 1
            if cumulative is not None:
                # tokens since the last token-bearing chunk (an empty-delta chunk's token, if
                # any, is attributed to the next visible one)
                tokens = cumulative - self._cumulative_tokens
                self._cumulative_tokens = cumulative
            sent = event.get(SERVER_PERF_FIELD)
            lag_ms = (t_recv - sent) * 1000.0 if isinstance(sent, (int, float)) else None
            self.chunks.append(Chunk(self._ms(t_recv), tokens, channel, lag_ms))

    def _content_channel(self, content: str) -> str:
        """Content inside an inline ``<think>`` block counts as reasoning.

        Tags may be split over chunks ("<thi", "nk>"), so the opening is decided on the
        accumulated start of the content and the closing on the recent tail.
        """
        previous_tail = self._content_tail
        self._content_tail = (previous_tail + content)[-len(THINK_CLOSE) * 2 :]
        if self._deciding_think:
            self._content_head += content
            head = self._content_head.lstrip()
            if head.startswith(THINK_OPEN):
                self._deciding_think = False
                self._in_inline_think = THINK_CLOSE not in head
                return REASONING
            if head and THINK_OPEN.startswith(head):
                return REASONING  # may still become <think>
            if head:
                self._deciding_think = False
            return CONTENT
        if self._in_inline_think:
            if THINK_CLOSE in previous_tail + content:
                self._in_inline_think = False
            return REASONING
        return CONTENT

    # ------------------------------------------------------------------ derived values

    def first_ms(self, channel: str | None = None) -> float | None:
        for chunk in self.chunks:
            if channel is None or chunk.channel == channel:
                return chunk.t_ms
        return None

    def last_token_ms(self) -> float | None:
        return self.chunks[-1].t_ms if self.chunks else None

    def cot_end(self) -> tuple[float | None, str | None]:
        """(send -> end of the chain of thought in ms, where it came from); see the module doc."""
        if self.stage_end_ms is not None:
            return self.stage_end_ms, COT_END_MARKER
        reasoning = [c.t_ms for c in self.chunks if c.channel == REASONING]
        return (reasoning[-1], COT_END_LAST_REASONING) if reasoning else (None, None)

    def output_tokens(self) -> tuple[int | None, TokenSource | None]:
        """Completion tokens from the server's usage, else the counted token chunks."""
        if self.usage is not None and isinstance(self.usage.get("completion_tokens"), int):
            return self.usage["completion_tokens"], "usage"
        if self.chunks:
            return len(self.chunks), "chunks"
        return None, None

    def cot_tokens(self) -> tuple[int | None, TokenSource | None]:
        """Tokens of the chain of thought, up to the latest stage_end marker (see the module
        doc); without a marker, the reasoning tokens."""
        if self.stage_end_chunks is None:
            return self.reasoning_tokens()
        roles = [s.get("role") for s in self.stages or ()]
        if self.stage_end_role in roles:
            upto = len(roles) - roles[::-1].index(self.stage_end_role)
            counts = [s.get("completion_tokens") for s in (self.stages or [])[:upto]]
            if all(isinstance(c, int) for c in counts):
                return sum(c for c in counts if isinstance(c, int)), "usage"
        before = self.chunks[: self.stage_end_chunks]
        if self.continuous_usage:
            return sum(c.tokens for c in before), "usage"
        return len(before), "chunks"

    def reasoning_tokens(self) -> tuple[int | None, TokenSource | None]:
        details = (self.usage or {}).get("completion_tokens_details") or {}
        if isinstance(details.get("reasoning_tokens"), int):
            return details["reasoning_tokens"], "usage"
        counted = [c for c in self.chunks if c.channel == REASONING]
        if self.continuous_usage:
            return sum(c.tokens for c in counted), "usage"
        if counted:
            return len(counted), "chunks"
        return (0, "chunks") if self.chunks else (None, None)


def chunk_shape_error(event: dict[str, Any]) -> str | None:
    """What is wrong with a chat chunk's ``choices``, or None when every field read is in shape.

    Checked before anything is taken from the chunk, so a hostile server's chunk is a failure
    of its request and never an exception in the reader.
    """
    choices = event.get("choices")
    if choices is None:
        return None
    if not isinstance(choices, list):
        return "choices is not a list"
    for choice in choices:
        if not isinstance(choice, dict):
            return "a choice is not an object"
        if not isinstance(choice.get("finish_reason"), (str, type(None))):
            return "finish_reason is not a string"
        delta = choice.get("delta")
        if delta is None:
            continue
        if not isinstance(delta, dict):
            return "delta is not an object"
        for name in DELTA_TEXT_FIELDS:
            if not isinstance(delta.get(name), (str, type(None))):
                return f"delta.{name} is not a string"
    return None


def clip_error(text: str | bytes, chars: int = ERROR_CHARS) -> str:
    """``text`` without known API keys, then cut to ``chars`` characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return redact(text)[:chars]


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return clip_error(str(error.get("message") or error))
    return clip_error(str(error))
