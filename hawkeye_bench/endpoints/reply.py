"""What one response delivered (:class:`Reply`), as the reader fills it chunk by chunk, and
how it becomes a StageResult's text, timings and token usage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hawkeye_bench.core.openai_wire import WireUsage
from hawkeye_bench.core.trace import StageResult, TokenLogprob
from hawkeye_bench.endpoints.call_params import OnDelta


def _token_count(usage: object, key: str) -> int | None:
    """``usage[key]`` when ``usage`` is an object and the value a count (an int >= 0)."""
    value = usage.get(key) if isinstance(usage, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


@dataclass(frozen=True)
class ReplyUsage:
    """A reply's ``usage`` object, read: each count None where the server gave none (or
    something that is not a count)."""

    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    reasoning_tokens: int | None = None  # completion_tokens_details.reasoning_tokens
    cached_prompt_tokens: int | None = None  # prompt_tokens_details.cached_tokens

    @classmethod
    def from_reply(cls, usage: WireUsage) -> ReplyUsage:
        """From an OpenAI-style ``usage`` object as the server sent it."""
        return cls(
            completion_tokens=_token_count(usage, "completion_tokens"),
            prompt_tokens=_token_count(usage, "prompt_tokens"),
            reasoning_tokens=_token_count(
                usage.get("completion_tokens_details"), "reasoning_tokens"
            ),
            cached_prompt_tokens=_token_count(usage.get("prompt_tokens_details"), "cached_tokens"),
        )


@dataclass
class Reply:
    """What one streamed (or whole) response delivered."""

    started_at: float
    sent: float  # perf_counter at send
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: ReplyUsage | None = None
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

    def fill_text_and_timing(self, result: StageResult) -> None:
        """Copy the text, finish reason, logprobs and timings read so far into ``result``."""
        result.content = "".join(self.content)
        result.reasoning = "".join(self.reasoning)
        result.finish_reason = self.finish_reason
        result.started_at = self.started_at
        result.chunk_count = self.token_chunks
        result.token_logprobs = self.token_logprobs
        result.choice_fields = self.choice_fields or None
        if self.first_token is not None:
            result.ttft_s = self.first_token - self.sent
        if self.last_token is not None:
            result.latency_s = self.last_token - self.sent
        result.duration_s = time.perf_counter() - self.sent  # the response has just ended
