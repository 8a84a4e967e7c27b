"""summary.json's ``route`` section (:class:`RouteSummary`) round-trips through its JSON form,
keeps the form it always had, and an older summary's section still loads."""

from __future__ import annotations

import json

import report_fixtures as fx

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.routing.facts import RouteFacts
from hawkeye_bench.routing.summary import (
    DESCRIBED,
    RouteSummary,
    pooled_share,
    route_facts,
    route_summary,
)


def _record(i: int, small: int, large: int | None, error: str | None = None) -> Record:
    trace = Trace("route", [StageResult(role="small", model="s", content="x", error=error)])
    facts = RouteFacts(router="top1", threshold=0.5, chunk=4, small_tokens=small)
    facts.large_tokens, facts.tokens, facts.route_events = large, small + (large or 0), 1
    facts.store(trace)
    return Record(fx._problem("gsm8k", i), 0, trace, correct=True)


RECORDS = [_record(0, 18, 2), _record(1, 10, 10), _record(2, 5, 5, error="boom")]


def test_the_summary_round_trips() -> None:
    summary = route_summary(RECORDS)
    assert summary is not None
    assert RouteSummary.from_json(json.loads(json.dumps(summary.to_json()))) == summary


def test_the_summary_keeps_its_form() -> None:
    summary = RouteSummary.of(RECORDS)
    assert summary is not None
    data = summary.to_json()
    assert list(data) == [
        "router", "threshold", "chunk", "span", "rtt_ms", "anchor", "n", "pooled_routed_share",
        *DESCRIBED,
    ]  # fmt: skip
    assert (data["router"], data["threshold"], data["n"]) == ("top1", 0.5, 2)  # failed: out
    assert data["pooled_routed_share"] == 12 / 40
    assert data["tokens"]["mean"] == 20.0 and data["small_s"]["missing"] == 2


def test_an_older_summary_loads() -> None:
    """One written before some facts were described: those distributions are absent."""
    old = {"router": "top1", "threshold": 0.5, "n": 3, "pooled_routed_share": 0.1}
    old["routed_share"] = {"n": 3, "missing": 0, "mean": 0.1}
    summary = RouteSummary.from_json(old)
    assert summary.n == 3 and summary.anchor is None
    assert summary.distributions == {"routed_share": {"n": 3, "missing": 0, "mean": 0.1}}
    assert RouteSummary.from_json(summary.to_json()) == summary


def test_no_route_facts_is_no_summary() -> None:
    stage = StageResult(role="single", model="m", content="x")
    plain = Record(fx._problem("gsm8k", 0), 0, Trace("baseline", [stage]), correct=True)
    assert route_summary([plain]) is None and route_facts([plain]) == []
    assert pooled_share([]) is None
