"""The parameters of one model call, declared once for every client-like object.

``EndpointClient``, ``ReplicaSet`` and what a pipeline calls (``pipelines.base.StageClient``)
all take ``chat(messages, **params)`` / ``complete(prompt, **params)`` with these keywords.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Required, TypedDict

from openai.types.chat import ChatCompletionMessageParam

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


class CallInput(TypedDict, total=False):
    """What a call is asked: chat ``messages`` (passed on as they come), or a raw ``prompt``
    (text or token ids)."""

    messages: list[ChatCompletionMessageParam]
    prompt: str | list[int]


class SamplingBody(TypedDict, total=False):
    """The sampling fields of a request body: those of :class:`CallParams` that are set."""

    max_tokens: int
    temperature: float
    top_p: float
    seed: int
    stop: list[str] | str


def sampling_body(params: CallParams) -> SamplingBody:
    """The sampling parameters actually set, as request-body fields (None: not sent)."""
    body: SamplingBody = {}
    if (max_tokens := params.get("max_tokens")) is not None:
        body["max_tokens"] = max_tokens
    if (temperature := params.get("temperature")) is not None:
        body["temperature"] = temperature
    if (top_p := params.get("top_p")) is not None:
        body["top_p"] = top_p
    if (seed := params.get("seed")) is not None:
        body["seed"] = seed
    if (stop := params.get("stop")) is not None:
        body["stop"] = stop
    return body
