"""The router registry: a router reads one generated token's logprobs and says whether the
large model should write it.

A router is a :class:`RouterSpec`: a name, what its score is, the threshold's default and
range, and ``build(threshold, rng) -> TokenRouter``, called once per item (``rng`` is seeded
per item, for routers that draw). A :data:`TokenRouter` maps a
:class:`~hawkeye_bench.core.trace.TokenLogprob` to a :class:`RouteDecision`. A router that
needs more than the parsed logprobs (an MLP on the hidden states a server adds, as the seed's
router is) sets ``reads_choice``: its function is then called with the token and a
:class:`ReplyView` of the whole reply choice. Register one with
:func:`register_router`, or from another package through the ``hawkeye_bench.routers``
entry-point group (``name = "module:ROUTER"``, a RouterSpec).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.registry import Registry

ENTRY_POINT_GROUP = "hawkeye_bench.routers"


class UnknownRouter(HawkeyeError, ValueError):
    """A router name that nothing registers, or a threshold outside the router's range."""


@dataclass(frozen=True)
class RouteDecision:
    """One token's verdict: ``flagged`` (the large model writes it), the router's ``score``
    (None when the token carried no logprobs) and, for routers computed over the returned top-k
    only, the probability ``residual`` outside them (``1 - sum p_topk``)."""

    flagged: bool
    score: float | None
    residual: float | None = None


@dataclass(frozen=True)
class ReplyView:
    """The small model's whole reply, for routers that read more than one token's logprobs.

    ``choice``: ``text``, ``finish_reason``, ``logprobs`` (the parsed tokens) and every other
    field the server put in the choice, as a list of its values per streamed chunk (a field
    such as SGLang's hidden states); ``index``: the decided token's position in the reply.
    """

    index: int
    choice: Mapping[str, Any]


#: Decides one token (``RouterSpec.reads_choice``: called as ``decide(token, ReplyView)``).
TokenRouter = Callable[..., RouteDecision]


@dataclass(frozen=True)
class RouterSpec:
    """A router: ``build(threshold, rng)`` makes the per-item decision function."""

    name: str
    description: str
    score: str  # what the score is, for tables and docs
    default_threshold: float
    build: Callable[[float, random.Random], TokenRouter]
    threshold_min: float = 0.0
    threshold_max: float | None = 1.0
    #: the decision function takes the token and a :class:`ReplyView` of the whole reply
    reads_choice: bool = False

    def check_threshold(self, threshold: float) -> None:
        high = self.threshold_max
        if threshold < self.threshold_min or (high is not None and threshold > high):
            expected = (
                f"from {self.threshold_min:g} to {high:g}"
                if high is not None
                else f">= {self.threshold_min:g}"
            )
            raise UnknownRouter(
                f"router {self.name!r} takes a threshold {expected}, not {threshold:g}"
            )


ROUTERS: Registry[RouterSpec] = Registry(
    "router",
    modules=["hawkeye_bench.routing.builtin"],
    entry_point_group=ENTRY_POINT_GROUP,
    plugin_type=RouterSpec,
    error=UnknownRouter,
)
register_router = ROUTERS.register
router_names = ROUTERS.names
get_router = ROUTERS.lookup
