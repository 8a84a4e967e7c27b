"""What the route pipeline records per item: ``trace.extra["route"]``, typed.

Here, below ``pipelines/``, so that both its writer (``pipelines/route.py``) and its readers
(``routing/summary.py``, the report's route section) use one type. A count the servers did not
give is None; so is a fact an older version did not record. The JSON form is the one records
always held (``partial_text`` only for an item that failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.core.trace import Trace


@dataclass(frozen=True)
class RouteEvent(JsonPayload):
    """One route event: where (answer token index), what the small model would have written,
    the router's score, and what the large model wrote instead."""

    position: int = 0
    small_token: str = ""
    score: float | None = None
    residual: float | None = None
    large_text: str = ""
    large_tokens: int | None = None


@dataclass
class RouteFacts(JsonPayload):
    """One item's routing: the settings it ran with, the token split, calls and time."""

    KEY: ClassVar[str] = "route"
    OMITTED_WHEN_NONE = frozenset({"partial_text"})

    router: str | None = None
    threshold: float | None = None
    chunk: int | None = None
    span: int | None = None
    top_logprobs: int | None = None
    prompt_mode: str | None = None
    #: an anchor run's one model (``small`` or ``large``), else None
    only: str | None = None
    rtt_ms: float | None = None
    small_tokens: int = 0
    large_tokens: int | None = None
    tokens: int | None = None
    routed_share: float | None = None
    route_events: int | None = None
    events: list[RouteEvent] = field(default_factory=list)
    discarded_small_tokens: int | None = None
    uploaded_context_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    small_calls: int | None = None
    large_calls: int | None = None
    tokenize_calls: int | None = None
    calls_per_100_tokens: float | None = None
    small_s: float | None = None
    large_s: float | None = None
    delay_s: float | None = None
    end_to_end_s: float | None = None
    activated_params_per_token: float | None = None
    #: the answer's token budget ran out before a model stopped
    budget_spent: bool | None = None
    #: the text decided before a failed call (never graded); only for a failed item
    partial_text: str | None = None

    @classmethod
    def of(cls, trace: Trace) -> RouteFacts | None:
        """The facts a trace holds (None: not a route item)."""
        data = trace.extra.get(cls.KEY)
        return cls.from_json(data) if data else None

    def store(self, trace: Trace) -> None:
        """Write these facts into the trace (its JSON form)."""
        trace.extra[self.KEY] = self.to_json()
