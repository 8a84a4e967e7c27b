"""Deterministic per-token logprobs for the scripted server's ``/v1/completions`` replies.

A reply word (one word = one token) at position ``i`` of its reply is sampled with probability
``confident_p``, or ``uncertain_p`` when ``i`` is one of the reply's uncertain positions (a
rule's ``uncertain`` list; ``LogprobScript.uncertain`` for the filler). Positions count from
the reply's first word, also when a continuing rule resumes mid-reply, so a test states where
a router must fire as a word index. The alternatives are ``~alt1``, ``~alt2``, ... with
probabilities ``(1 - p) / 2``, ``(1 - p) / 4``, ...: with N entries asked for, the residual
mass outside them is ``(1 - p) / 2**(N - 1)``, and the sampled word stays the most likely
one while ``p > 1/3``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hawkeye_bench.core.openai_wire import CompletionLogprobs


@dataclass
class LogprobScript:
    """How sure the scripted model is of each word it writes."""

    confident_p: float = 0.9
    uncertain_p: float = 0.4
    #: uncertain positions of replies that match no rule (the ``tok0 tok1 ...`` filler)
    uncertain: list[int] = field(default_factory=list)
    #: at most this many entries in each ``top_logprobs`` map (servers cap it too)
    max_top: int = 20

    def __post_init__(self) -> None:
        for name in ("confident_p", "uncertain_p"):
            value = getattr(self, name)
            if not 1 / 3 < value <= 1:
                raise ValueError(f"{name} must be above 1/3 and at most 1, not {value!r}")


def probability(script: LogprobScript, position: int, uncertain: list[int] | None) -> float:
    """The sampled word's probability at reply position ``position``."""
    marked = script.uncertain if uncertain is None else uncertain
    return script.uncertain_p if position in marked else script.confident_p


def words_written(prompt: str, match_end: int) -> int:
    """How many words of a continuing reply the prompt already holds: those after the match."""
    return len(prompt[match_end:].split())


def logprobs_block(
    script: LogprobScript,
    words: list[str],
    first_position: int,
    top_n: int,
    uncertain: list[int] | None,
    text_offset: int,
) -> CompletionLogprobs:
    """An OpenAI-style ``logprobs`` block for ``words``, the first at reply position
    ``first_position``; each token carries its leading space except the reply's very first."""
    tokens: list[str] = []
    token_logprobs: list[float | None] = []
    top_logprobs: list[dict[str, float] | None] = []
    offsets: list[int] = []
    entries = max(1, min(top_n, script.max_top))
    for index, word in enumerate(words):
        position = first_position + index
        token = word if position == 0 else f" {word}"
        p = probability(script, position, uncertain)
        top = {token: math.log(p)}
        for rank in range(1, entries):
            alternative = (1 - p) / 2**rank
            if alternative > 0:
                top[f" ~alt{rank}"] = math.log(alternative)
        tokens.append(token)
        token_logprobs.append(math.log(p))
        top_logprobs.append(top)
        offsets.append(text_offset)
        text_offset += len(token)
    return {
        "tokens": tokens,
        "token_logprobs": token_logprobs,
        "top_logprobs": top_logprobs,
        "text_offset": offsets,
    }
