"""Token routers for collaborative decoding (the ``route`` pipeline): which of the small
model's tokens the large model should write instead. See ``registry`` for the plugin
interface and ``builtin`` for the training-free routers."""

from hawkeye_bench.routing.registry import (
    ENTRY_POINT_GROUP,
    ROUTERS,
    ReplyView,
    RouteDecision,
    RouterSpec,
    TokenRouter,
    UnknownRouter,
    get_router,
    register_router,
    router_names,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ROUTERS",
    "ReplyView",
    "RouteDecision",
    "RouterSpec",
    "TokenRouter",
    "UnknownRouter",
    "get_router",
    "register_router",
    "router_names",
]
