"""The training-free routers: top-1 probability, entropy over the returned top-k, top-1/top-2
margin, and a random control at a fixed rate."""

from __future__ import annotations

import math
import random

from hawkeye_bench.core.trace import TokenLogprob
from hawkeye_bench.endpoints.logprobs import top_probabilities
from hawkeye_bench.routing.registry import RouteDecision, RouterSpec, TokenRouter, register_router

#: A token the server gave no logprobs for: nothing to judge, so the small model keeps it.
UNSCORED = RouteDecision(flagged=False, score=None)


def _top1(threshold: float, rng: random.Random) -> TokenRouter:
    def decide(token: TokenLogprob) -> RouteDecision:
        probs = top_probabilities(token)
        if not probs:
            return UNSCORED
        return RouteDecision(probs[0] < threshold, probs[0])

    return decide


def _entropy(threshold: float, rng: random.Random) -> TokenRouter:
    """Entropy in nats of the returned top-k alone: a lower bound of the full-vocabulary
    entropy; the decision carries the residual mass the bound leaves out."""

    def decide(token: TokenLogprob) -> RouteDecision:
        probs = top_probabilities(token)
        if not probs:
            return UNSCORED
        entropy = -sum(p * math.log(p) for p in probs if p > 0)
        residual = max(0.0, 1.0 - sum(probs))
        return RouteDecision(entropy > threshold, entropy, residual)

    return decide


def _margin(threshold: float, rng: random.Random) -> TokenRouter:
    def decide(token: TokenLogprob) -> RouteDecision:
        probs = top_probabilities(token)
        if not probs:
            return UNSCORED
        margin = probs[0] - (probs[1] if len(probs) > 1 else 0.0)
        return RouteDecision(margin < threshold, margin)

    return decide


def _random(rate: float, rng: random.Random) -> TokenRouter:
    def decide(token: TokenLogprob) -> RouteDecision:
        draw = rng.random()
        return RouteDecision(draw < rate, draw)

    return decide


for _spec in (
    RouterSpec(
        "top1",
        "route when the most likely token's probability is below the threshold",
        "top-1 probability",
        0.5,
        _top1,
    ),
    RouterSpec(
        "entropy",
        "route when the entropy of the returned top-k (nats; a lower bound) is above the threshold",
        "top-k entropy (nats, lower bound)",
        1.0,
        _entropy,
        threshold_max=None,
    ),
    RouterSpec(
        "margin",
        "route when the top-1 minus top-2 probability is below the threshold",
        "top-1 minus top-2 probability",
        0.2,
        _margin,
    ),
    RouterSpec(
        "random",
        "control: route each token with probability = the threshold (seeded per item)",
        "uniform draw",
        0.05,
        _random,
    ),
):
    register_router(_spec)
