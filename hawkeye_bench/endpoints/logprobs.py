"""OpenAI-style completion ``logprobs`` (``/v1/completions`` with ``logprobs: N``) as a typed list.

A server answers with parallel lists per choice: ``tokens``, ``token_logprobs``,
``top_logprobs`` (one ``{token: logprob}`` map per position, or None) and ``text_offset``. A
streamed reply carries one such block per chunk; the blocks are concatenated in order.
"""

from __future__ import annotations

import math
from typing import Any

from hawkeye_bench.core.trace import TokenLogprob


def parse_logprobs_block(block: Any) -> list[TokenLogprob]:
    """The tokens of one ``logprobs`` block (an empty list for None or a malformed block)."""
    if not isinstance(block, dict) or not isinstance(block.get("tokens"), list):
        return []
    tokens: list[Any] = block["tokens"]
    logprobs = block.get("token_logprobs") or [None] * len(tokens)
    tops = block.get("top_logprobs") or [None] * len(tokens)
    parsed: list[TokenLogprob] = []
    for token, logprob, top in zip(tokens, logprobs, tops, strict=False):
        parsed.append(
            {
                "token": str(token),
                "logprob": _finite(logprob),
                "top_logprobs": {
                    str(k): v
                    for k, v in (top or {}).items()
                    if isinstance(top, dict) and _finite(v) is not None
                },
            }
        )
    return parsed


def top_probabilities(token: TokenLogprob) -> list[float]:
    """The returned top-k alternatives as probabilities, highest first (the sampled token's own
    probability is included when the server left it out of the map)."""
    probs = sorted((math.exp(v) for v in token["top_logprobs"].values()), reverse=True)
    own = token["logprob"]
    if own is not None and token["token"] not in token["top_logprobs"]:
        probs = sorted([*probs, math.exp(own)], reverse=True)
    return probs


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
