"""The threshold that routes a target share of tokens, found on a calibration subset.

The small model answers the calibration problems alone, with logprobs; the router then judges
every one of its tokens at candidate thresholds, offline (no further model calls), and a
bisection finds the threshold whose flagged share is closest to the target. Routers are
monotone in their threshold in one direction or the other (top-1 and margin flag more as it
rises, entropy fewer); the direction is read from the two ends of the range. The share flagged
on the small model's own answers is an estimate of the routed share of the run, whose decoding
changes once tokens are routed: the run measures the real one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.core.trace import TokenLogprob
from hawkeye_bench.routing.registry import ReplyView, RouterSpec

#: bisection steps: the threshold is found to 2^-40 of the range
STEPS = 40
#: an unbounded range (entropy) is searched up to this threshold
UNBOUNDED_MAX = 1e6


@dataclass(frozen=True)
class CalibrationReply:
    """One calibration answer of the small model: its tokens and (for routers that read it)
    its whole choice."""

    tokens: Sequence[TokenLogprob]
    choice: Mapping[str, Any] | None = None


@dataclass
class Calibration(JsonPayload):
    """The search and its result, as the run's manifest records them (its pipeline_setup)."""

    router: str
    target_share: float
    threshold: float
    flagged_share: float
    problems: int
    tokens: int
    #: (threshold, flagged share) at each step of the search
    steps: list[tuple[float, float]] = field(default_factory=list)


def flagged_share(spec: RouterSpec, threshold: float, replies: Sequence[CalibrationReply]) -> float:
    """The share of the replies' tokens the router flags at ``threshold``."""
    flagged = total = 0
    for number, reply in enumerate(replies):
        decide = spec.build(threshold, random.Random(f"calibration:{number}"))
        for index, token in enumerate(reply.tokens):
            if spec.reads_choice:
                decision = decide(token, ReplyView(index, reply.choice or {}))
            else:
                decision = decide(token)
            flagged += decision.flagged
            total += 1
    return flagged / total if total else 0.0


def search_threshold(
    spec: RouterSpec, replies: Sequence[CalibrationReply], target: float
) -> Calibration:
    """The threshold whose flagged share on ``replies`` is closest to ``target``."""
    low = spec.threshold_min
    high = spec.threshold_max if spec.threshold_max is not None else UNBOUNDED_MAX
    steps = [(low, flagged_share(spec, low, replies)), (high, flagged_share(spec, high, replies))]
    rising = steps[1][1] >= steps[0][1]
    for _ in range(STEPS):
        middle = (low + high) / 2
        share = flagged_share(spec, middle, replies)
        steps.append((middle, share))
        if (share < target) == rising:
            low = middle
        else:
            high = middle
    threshold, share = min(steps, key=lambda s: (abs(s[1] - target), s[0]))
    return Calibration(
        router=spec.name,
        target_share=target,
        threshold=threshold,
        flagged_share=share,
        problems=len(replies),
        tokens=sum(len(r.tokens) for r in replies),
        steps=steps,
    )
