"""A route run's summary (``summary.json["route"]``), from its records' route facts
(:class:`~hawkeye_bench.routing.facts.RouteFacts`, ``trace.extra["route"]``).

Per answer distributions (``core.stats.describe``) of the routed share, route events, uploaded
context, calls per 100 tokens and the time split, plus pooled figures over all answers: the
routed share of all tokens and activated parameters per token (when model sizes were given).
Items that failed are left out (their error is in the summary's ``errors``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import describe
from hawkeye_bench.routing.facts import RouteFacts

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
    pooled routed share and a distribution per per-answer fact (on disk, each under the fact's
    name)."""

    router: str | None = None
    threshold: float | None = None
    chunk: int | None = None
    span: int | None = None
    rtt_ms: float | None = None
    #: an anchor run's one model (``small`` or ``large``), else None
    anchor: str | None = None
    n: int = 0
    pooled_routed_share: float | None = None
    routed_share: Distribution = field(default_factory=dict)
    route_events: Distribution = field(default_factory=dict)
    uploaded_context_tokens: Distribution = field(default_factory=dict)
    cached_prompt_tokens: Distribution = field(default_factory=dict)
    calls_per_100_tokens: Distribution = field(default_factory=dict)
    tokens: Distribution = field(default_factory=dict)
    discarded_small_tokens: Distribution = field(default_factory=dict)
    small_s: Distribution = field(default_factory=dict)
    large_s: Distribution = field(default_factory=dict)
    delay_s: Distribution = field(default_factory=dict)
    end_to_end_s: Distribution = field(default_factory=dict)
    activated_params_per_token: Distribution = field(default_factory=dict)

    @classmethod
    def of(cls, records: Sequence[Record]) -> RouteSummary | None:
        """The summary of a run's records (None for a run without route facts)."""
        facts = route_facts(records)
        if not facts:
            return None
        first = facts[0]

        def described(fact: Callable[[RouteFacts], float | int | None]) -> Distribution:
            return describe([fact(f) for f in facts])

        return cls(
            router=first.router,
            threshold=first.threshold,
            chunk=first.chunk,
            span=first.span,
            rtt_ms=first.rtt_ms,
            anchor=first.only,
            n=len(facts),
            pooled_routed_share=pooled_share(facts),
            routed_share=described(lambda f: f.routed_share),
            route_events=described(lambda f: f.route_events),
            uploaded_context_tokens=described(lambda f: f.uploaded_context_tokens),
            cached_prompt_tokens=described(lambda f: f.cached_prompt_tokens),
            calls_per_100_tokens=described(lambda f: f.calls_per_100_tokens),
            tokens=described(lambda f: f.tokens),
            discarded_small_tokens=described(lambda f: f.discarded_small_tokens),
            small_s=described(lambda f: f.small_s),
            large_s=described(lambda f: f.large_s),
            delay_s=described(lambda f: f.delay_s),
            end_to_end_s=described(lambda f: f.end_to_end_s),
            activated_params_per_token=described(lambda f: f.activated_params_per_token),
        )

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouteSummary:
        """Tolerant of what an older summary left out (a fact it did not describe: an empty
        distribution)."""
        names = {f.name for f in fields(cls)}
        summary = cls(**{key: value for key, value in data.items() if key in names})
        summary.n = int(summary.n or 0)
        return summary


def route_summary(records: Sequence[Record]) -> RouteSummary | None:
    """The route summary, or None for a run without route facts."""
    return RouteSummary.of(records)
