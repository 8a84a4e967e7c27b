"""Per-token ``logprobs`` of a completion as a typed list, or :class:`MalformedLogprobs`.

Two block shapes are read:

- the completions shape (``/v1/completions`` with ``logprobs: N``): parallel lists ``tokens``,
  ``token_logprobs`` and ``top_logprobs`` (one entry per position, or None), plus
  ``text_offset``;
- the chat shape (``/v1/chat/completions`` with ``logprobs: true``): ``content``, a list of
  ``{"token", "logprob", "top_logprobs"}`` objects.

A position's alternatives may be a ``{token: logprob}`` map (completions) or a list (chat): of
``{"token", "logprob"}`` objects or of ``[token, logprob]`` pairs. A streamed reply carries one
block per chunk; the blocks are concatenated in order.

Logprobs that cannot be read as confidence are refused, never guessed: a router that saw a
null, NaN, string or positive logprob, or lists of different lengths, would take "unknown" for
"sure" and route nothing. A sampled token's logprob must be a finite number at most 0 (a
rounding error above 0 is clamped); an alternative's may also be ``-inf`` (probability 0:
dropped).
"""

from __future__ import annotations

import math
from typing import Any, cast

from hawkeye_bench.core.openai_wire import ChatLogprobs, CompletionLogprobs
from hawkeye_bench.core.trace import TokenLogprob

#: How far above 0 a logprob may be before it is an error, not float rounding (log p = 0).
ROUNDING_ABOVE_ZERO = 1e-4


class MalformedLogprobs(ValueError):
    """A logprobs block that cannot be read as per-token confidence (the message says why)."""


def parse_logprobs_block(block: Any) -> list[TokenLogprob]:
    """The tokens of one ``logprobs`` block: an empty list for None; MalformedLogprobs for
    anything that is not one of the two shapes with usable numbers."""
    if block is None:
        return []
    if not isinstance(block, dict):
        raise MalformedLogprobs(f"logprobs is a {type(block).__name__}, not an object")
    # untrusted: every value the two readers use is checked
    if "tokens" in block:
        return _completions_block(cast(CompletionLogprobs, block))
    if "content" in block:
        return _chat_block(cast(ChatLogprobs, block))
    raise MalformedLogprobs(
        f"logprobs has neither 'tokens' nor 'content' (keys: {sorted(map(str, block))[:6]})"
    )


def top_probabilities(token: TokenLogprob) -> list[float]:
    """The returned top-k alternatives as probabilities, highest first (the sampled token's own
    probability is included when the server left it out of the map)."""
    probs = sorted((math.exp(v) for v in token["top_logprobs"].values()), reverse=True)
    own = token["logprob"]
    if own is not None and token["token"] not in token["top_logprobs"]:
        probs = sorted([*probs, math.exp(own)], reverse=True)
    return probs


def _completions_block(block: CompletionLogprobs) -> list[TokenLogprob]:
    tokens = _list(block.get("tokens"), "tokens")
    logprobs = _list(block.get("token_logprobs"), "token_logprobs")
    tops = block.get("top_logprobs")
    if tops is None:
        tops = [None] * len(tokens)
    elif not isinstance(tops, list):
        raise MalformedLogprobs(f"top_logprobs is a {type(tops).__name__}, not a list")
    if not len(tokens) == len(logprobs) == len(tops):
        raise MalformedLogprobs(
            f"tokens, token_logprobs and top_logprobs differ in length "
            f"({len(tokens)}, {len(logprobs)}, {len(tops)})"
        )
    return [
        _token(token, logprob, top, index)
        for index, (token, logprob, top) in enumerate(zip(tokens, logprobs, tops, strict=True))
    ]


def _chat_block(block: ChatLogprobs) -> list[TokenLogprob]:
    parsed: list[TokenLogprob] = []
    for index, entry in enumerate(_list(block.get("content"), "content")):
        if not isinstance(entry, dict):
            raise MalformedLogprobs(f"logprobs content[{index}] is not an object: {entry!r:.60}")
        parsed.append(
            _token(entry.get("token"), entry.get("logprob"), entry.get("top_logprobs"), index)
        )
    return parsed


def _token(token: Any, logprob: Any, top: Any, index: int) -> TokenLogprob:
    if not isinstance(token, str):
        raise MalformedLogprobs(f"token {index} is not a string: {token!r:.60}")
    return {
        "token": token,
        "logprob": _sampled_logprob(logprob, f"token {index} ({token!r:.30})"),
        "top_logprobs": _alternatives(top, index),
    }


def _alternatives(top: Any, index: int) -> dict[str, float]:
    """A position's alternatives as ``{token: logprob}`` (``-inf`` ones dropped)."""
    if top is None:
        return {}
    if isinstance(top, dict):
        pairs = list(top.items())
    elif isinstance(top, list):
        pairs = [_pair(entry, index) for entry in top]
    else:
        raise MalformedLogprobs(
            f"top_logprobs of token {index} is a {type(top).__name__}, not a map or a list"
        )
    alternatives: dict[str, float] = {}
    for token, value in pairs:
        if not isinstance(token, str):
            raise MalformedLogprobs(f"an alternative of token {index} is not a string: {token!r}")
        what = f"alternative {token!r:.30} of token {index}"
        if _is_number(value) and value == -math.inf:
            continue  # probability 0: nothing to weigh
        alternatives[token] = _sampled_logprob(value, what)
    return alternatives


def _pair(entry: Any, index: int) -> tuple[Any, Any]:
    """One listed alternative: ``{"token", "logprob"}`` or ``[token, logprob]``."""
    if isinstance(entry, dict) and "token" in entry:
        return entry["token"], entry.get("logprob")
    if isinstance(entry, list | tuple) and len(entry) == 2:
        return entry[0], entry[1]
    raise MalformedLogprobs(
        f"an alternative of token {index} is neither {{token, logprob}} nor a "
        f"[token, logprob] pair: {entry!r:.60}"
    )


def _sampled_logprob(value: Any, what: str) -> float:
    if not _is_number(value) or math.isnan(value) or math.isinf(value):
        raise MalformedLogprobs(f"the logprob of {what} is not a finite number: {value!r:.40}")
    if value > ROUNDING_ABOVE_ZERO:
        raise MalformedLogprobs(f"the logprob of {what} is positive ({value:g}): not a log p")
    return min(float(value), 0.0)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _list(value: object, key: str) -> list[Any]:
    """The block's ``key`` list, its ``value``; MalformedLogprobs unless a list."""
    if not isinstance(value, list):
        raise MalformedLogprobs(f"logprobs {key} is a {type(value).__name__}, not a list")
    return value
