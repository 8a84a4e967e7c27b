"""trace.extra["route"] (routing.facts.RouteFacts, RouteEvent) through its JSON form."""

from __future__ import annotations

import json

from hawkeye_bench.core.trace import Trace
from hawkeye_bench.routing.facts import RouteEvent, RouteFacts

OLD = {
    "router": "top1", "threshold": 0.5, "chunk": 8, "span": 1, "top_logprobs": 5,
    "prompt_mode": "text", "only": None, "rtt_ms": 0.0, "small_tokens": 19, "large_tokens": 1,
    "tokens": 20, "routed_share": 0.05, "route_events": 1,
    "events": [{"position": 7, "small_token": " 9", "score": 0.4, "residual": None,
                "large_text": " 16", "large_tokens": 1}],
    "discarded_small_tokens": 3, "uploaded_context_tokens": 30, "cached_prompt_tokens": None,
    "small_calls": 3, "large_calls": 1, "tokenize_calls": 0, "calls_per_100_tokens": 20.0,
    "small_s": 0.2, "large_s": 0.1, "delay_s": 0.0, "end_to_end_s": 0.31,
    "activated_params_per_token": None, "budget_spent": False,
}  # fmt: skip


def _round_trip(facts: RouteFacts) -> RouteFacts:
    return RouteFacts.from_json(json.loads(json.dumps(facts.to_json())))


def test_route_facts_round_trip_through_json() -> None:
    event = RouteEvent(position=4, small_token=" x", score=0.2, residual=0.1, large_text=" y",
                       large_tokens=None)  # fmt: skip
    facts = RouteFacts(
        router="entropy", threshold=1.5, chunk=4, span=2, top_logprobs=5, prompt_mode="tokens",
        only=None, rtt_ms=40.0, small_tokens=10, large_tokens=2, tokens=12, routed_share=2 / 12,
        route_events=1, events=[event], discarded_small_tokens=1, uploaded_context_tokens=None,
        small_calls=2, large_calls=1, tokenize_calls=3, small_s=0.5, large_s=0.25, delay_s=0.04,
        end_to_end_s=0.8, activated_params_per_token=1.2, budget_spent=True,
        partial_text="Janet",
    )  # fmt: skip
    assert _round_trip(facts) == facts
    anchor = RouteFacts(router="top1", only="large", small_tokens=0, large_tokens=None)
    assert _round_trip(anchor) == anchor


def test_route_facts_read_the_form_written_before_the_type() -> None:
    facts = RouteFacts.from_json(OLD)
    assert facts.events[0].small_token == " 9" and facts.routed_share == 0.05
    assert facts.to_json() == OLD
    assert list(facts.to_json()) == list(OLD)  # the same keys, in the same order
    failed = {**OLD, "partial_text": "Janet has 9"}
    assert RouteFacts.from_json(failed).to_json() == failed
    partial = RouteFacts.from_json({"router": "top1", "threshold": 0.5, "small_tokens": 20})
    assert partial.large_tokens is None and partial.small_s is None and partial.events == []


def test_route_facts_of_a_trace() -> None:
    trace = Trace("route")
    assert RouteFacts.of(trace) is None
    facts = RouteFacts.from_json(OLD)
    facts.store(trace)
    assert RouteFacts.of(Trace.from_dict(json.loads(json.dumps(trace.to_dict())))) == facts
