"""One route item's decoding under way: what is decided so far, the counts and times, and the
steps the decoding loop of :mod:`hawkeye_bench.pipelines.route` takes on a reply (the first
token the router flags, a route event, decided text streamed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hawkeye_bench.core.trace import StageResult, TokenLogprob
from hawkeye_bench.pipelines.base import DeltaCallback
from hawkeye_bench.routing import ReplyView, RouteDecision
from hawkeye_bench.routing.facts import RouteEvent


@dataclass
class Decoding:
    """One item's decoding under way."""

    prompt: str
    pieces: list[str] = field(default_factory=list)
    small_tokens: int = 0
    large_tokens: int | None = 0
    discarded: int = 0
    events: list[RouteEvent] = field(default_factory=list)
    uploaded: int | None = 0
    cached: list[int | None] = field(default_factory=list)
    small_calls: int = 0
    large_calls: int = 0
    tokenize_calls: int = 0
    small_s: float = 0.0
    large_s: float = 0.0
    delay_s: float = 0.0
    finished: bool = False

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def generated(self) -> int:
        return self.small_tokens + (self.large_tokens or 0)


def reply_choice(small: StageResult) -> dict[str, Any]:
    """The small reply's choice as a router that reads it sees it (see ``ReplyView``)."""
    return {
        **(small.choice_fields or {}),
        "text": small.content,
        "finish_reason": small.finish_reason,
        "logprobs": small.token_logprobs or [],
    }


def first_flagged(
    tokens: list[TokenLogprob], decide: Any, choice: Mapping[str, Any] | None = None
) -> tuple[int, RouteDecision] | None:
    """The first token the router flags, with its decision (a router that reads the choice
    gets it with each token)."""
    for index, token in enumerate(tokens):
        decision: RouteDecision = (
            decide(token) if choice is None else decide(token, ReplyView(index, choice))
        )
        if decision.flagged:
            return index, decision
    return None


def route_event(
    state: Decoding, token: TokenLogprob, decision: RouteDecision, large: StageResult
) -> RouteEvent:
    """One route event: where (answer token index), what the small model would have written,
    the router's score, and what the large model wrote instead."""
    return RouteEvent(
        position=state.generated,
        small_token=token["token"],
        score=decision.score,
        residual=decision.residual,
        large_text=large.content,
        large_tokens=large.completion_tokens,
    )


async def emit(state: Decoding, on_delta: DeltaCallback | None, role: str, text: str) -> None:
    """Add decided text to the answer and stream it."""
    if not text:
        return
    state.pieces.append(text)
    if on_delta is not None:
        pending = on_delta(role, "content", text)
        if pending is not None:
            await pending
