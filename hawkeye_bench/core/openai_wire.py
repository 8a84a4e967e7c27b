"""The OpenAI-compatible wire shapes: what a completion server sends and the client reads.

One set of ``TypedDict``s for both sides: ``endpoints/`` reads replies of these shapes and
``testing/``'s scripted server writes them. A server is free to leave any key out (all are
optional); the reader still checks each value it uses, since what arrives is untrusted: these
types say what a well-formed reply holds, not what a hostile one might.
"""

from __future__ import annotations

from typing import TypedDict


class CompletionTokensDetails(TypedDict, total=False):
    reasoning_tokens: int


class PromptTokensDetails(TypedDict, total=False):
    cached_tokens: int


class WireUsage(TypedDict, total=False):
    """A reply's ``usage`` object (on the last chunk, or on each under continuous stats)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    completion_tokens_details: CompletionTokensDetails
    prompt_tokens_details: PromptTokensDetails


class WireMessage(TypedDict, total=False):
    """A chat choice's ``message`` (whole answer) or ``delta`` (streamed chunk); the reasoning
    channel is ``reasoning_content`` or ``reasoning``, by server."""

    role: str
    content: str | None
    reasoning_content: str
    reasoning: str


class CompletionLogprobs(TypedDict, total=False):
    """A ``/v1/completions`` choice's ``logprobs``: parallel lists, one entry per token."""

    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None] | None
    text_offset: list[int]


class ChatTopLogprob(TypedDict):
    token: str
    logprob: float


class ChatTokenLogprob(TypedDict, total=False):
    """One entry of a chat choice's ``logprobs.content``."""

    token: str
    logprob: float | None
    top_logprobs: list[ChatTopLogprob] | dict[str, float] | None


class ChatLogprobs(TypedDict, total=False):
    """A ``/v1/chat/completions`` choice's ``logprobs``."""

    content: list[ChatTokenLogprob]


class WireChoice(TypedDict, total=False):
    """One entry of ``choices``: ``text`` (completions) or ``delta``/``message`` (chat)."""

    index: int
    text: str
    delta: WireMessage
    message: WireMessage
    logprobs: CompletionLogprobs | ChatLogprobs | None
    finish_reason: str | None


class WireError(TypedDict, total=False):
    """An ``error`` object: an HTTP error body's, or an error event's in a stream."""

    message: str
    type: str
    code: int


class WireCompletion(TypedDict, total=False):
    """One streamed chunk or a whole (non-streamed) answer: the same keys, ``object`` tells
    which (``chat.completion.chunk``, ``chat.completion``, ``text_completion``)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[WireChoice]
    usage: WireUsage
    error: WireError
    x_sent_at: float  # the scripted server's send stamps (wall clock, perf counter)
    x_sent_perf: float


class TokenizeAnswer(TypedDict, total=False):
    """A tokenize endpoint's answer, beside the OpenAI API: vLLM's ``POST /tokenize``
    (``count``, ``tokens``, ``max_model_len``) or llama-cpp-python's ``POST /extras/tokenize``
    (``tokens``)."""

    count: int
    tokens: list[int]
    max_model_len: int
