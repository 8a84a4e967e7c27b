"""A route run's summary (``summary.json["route"]``), from its records' route facts
(:class:`~hawkeye_bench.routing.facts.RouteFacts`, ``trace.extra["route"]``).

Per answer distributions (``core.stats.describe``) of the routed share, route events, uploaded
context, calls per 100 tokens and the time split, plus pooled figures over all answers: the
routed share of all tokens and activated parameters per token (when model sizes were given).
Items that failed are left out (their error is in the summary's ``errors``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import describe
from hawkeye_bench.routing.facts import RouteFacts

#: The per-answer facts (attributes of :class:`RouteFacts`) summarised as distributions.
DESCRIBED = (
    "routed_share",
    "route_events",
    "uploaded_context_tokens",
    "cached_prompt_tokens",
    "calls_per_100_tokens",
    "tokens",
    "discarded_small_tokens",
    "small_s",
    "large_s",
    "delay_s",
    "end_to_end_s",
    "activated_params_per_token",
)

#: A distribution as ``core.stats.describe`` gives it (n, missing, mean, percentiles, min, max).
Distribution = dict[str, float | int | None]


def route_facts(records: Sequence[Record]) -> list[RouteFacts]:
    """The route facts of the records that finished without error."""
    return [f for r in records if not r.error and (f := RouteFacts.of(r.trace)) is not None]


def pooled_share(facts: Sequence[RouteFacts]) -> float | None:
    """Large-model tokens over all tokens, pooled over answers (None when a count is missing)."""
    large = [f.large_tokens for f in facts]
    if not facts or any(count is None for count in large):
        return None
    routed = sum(count or 0 for count in large)
    total = sum(f.small_tokens for f in facts) + routed
    return routed / total if total else None


@dataclass
class RouteSummary:
    """``summary.json["route"]``: the settings of the run's first answer, how many answers, the
    pooled routed share, and per fact of :data:`DESCRIBED` its distribution over the answers
    (on disk, each under the fact's name beside the others)."""

    router: str | None = None
    threshold: float | None = None
    chunk: int | None = None
    span: int | None = None
    rtt_ms: float | None = None
    #: an anchor run's one model (``small`` or ``large``), else None
    anchor: str | None = None
    n: int = 0
    pooled_routed_share: float | None = None
    #: by fact name (a :class:`RouteFacts` attribute); a fact an older summary did not
    #: describe is absent
    distributions: dict[str, Distribution] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Sequence[Record]) -> RouteSummary | None:
        """The summary of a run's records (None for a run without route facts)."""
        facts = route_facts(records)
        if not facts:
            return None
        first = facts[0]
        described = {name: describe([getattr(f, name) for f in facts]) for name in DESCRIBED}
        settings = (first.router, first.threshold, first.chunk, first.span, first.rtt_ms)
        return cls(*settings, first.only, len(facts), pooled_share(facts), described)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "distributions"}
        return data | self.distributions

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouteSummary:
        """Tolerant of what an older summary left out."""
        names = {f.name for f in fields(cls)} - {"distributions"}
        summary = cls(**{key: value for key, value in data.items() if key in names})
        summary.n = int(summary.n or 0)
        summary.distributions = {
            name: dict(value) for name in DESCRIBED if isinstance(value := data.get(name), dict)
        }
        return summary


def route_summary(records: Sequence[Record]) -> RouteSummary | None:
    """The route summary, or None for a run without route facts."""
    return RouteSummary.of(records)
