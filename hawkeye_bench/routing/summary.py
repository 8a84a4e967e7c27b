"""A route run's summary (``summary.json["route"]``), from its records' ``trace.extra["route"]``.

Per answer distributions (``core.stats.describe``) of the routed share, route events, uploaded
context, calls per 100 tokens and the time split, plus pooled figures over all answers: the
routed share of all tokens and activated parameters per token (when model sizes were given).
Items that failed are left out (their error is in the summary's ``errors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import describe

#: The per-answer facts summarised as distributions.
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


def route_facts(records: Sequence[Record]) -> list[dict[str, Any]]:
    """The route facts of the records that finished without error."""
    return [r.trace.extra["route"] for r in records if not r.error and "route" in r.trace.extra]


def pooled_share(facts: Sequence[dict[str, Any]]) -> float | None:
    """Large-model tokens over all tokens, pooled over answers (None when a count is missing)."""
    if not facts or any(f.get("large_tokens") is None for f in facts):
        return None
    total = sum(f["small_tokens"] + f["large_tokens"] for f in facts)
    return sum(f["large_tokens"] for f in facts) / total if total else None


def route_summary(records: Sequence[Record]) -> dict[str, Any] | None:
    """The route summary, or None for a run without route facts."""
    facts = route_facts(records)
    if not facts:
        return None
    first = facts[0]
    summary: dict[str, Any] = {
        key: first.get(key) for key in ("router", "threshold", "chunk", "span", "rtt_ms")
    }
    summary["anchor"] = first.get("only")
    summary["n"] = len(facts)
    summary["pooled_routed_share"] = pooled_share(facts)
    for key in DESCRIBED:
        summary[key] = describe([f.get(key) for f in facts])
    return summary
