"""The parameters of one model call, declared once for every client-like object.

``EndpointClient``, ``ReplicaSet`` and what a pipeline calls (``pipelines.base.StageClient``)
all take ``chat(messages, **params)`` / ``complete(prompt, **params)`` with these keywords.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Required, TypedDict

#: Called with (channel, text) for each streamed delta; channel is "reasoning" or "content".
OnDelta = Callable[[str, str], Awaitable[None] | None]


class CallParams(TypedDict, total=False):
    """The keyword arguments of one call: who asks (``role``) and how to sample.

    A sampling parameter left out or None is not sent (the server's default applies).
    ``extra`` is merged into the request body as it is (e.g. ``{"logprobs": 5}``);
    ``on_delta`` receives the streamed text (see ``endpoints/client.py``).
    """

    role: Required[str]
    max_tokens: Required[int]
    temperature: float | None
    top_p: float | None
    seed: int | None
    stop: list[str] | str | None
    extra: dict[str, Any] | None
    on_delta: OnDelta | None


#: The keys of :class:`CallParams` that go into the request body under their own name.
SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "seed", "stop")


def sampling_body(params: CallParams) -> dict[str, Any]:
    """The sampling parameters actually set, as request-body fields (None: not sent)."""
    return {key: params.get(key) for key in SAMPLING_KEYS if params.get(key) is not None}
