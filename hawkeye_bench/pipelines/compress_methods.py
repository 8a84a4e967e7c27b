"""How a chain of thought is compressed to a kept share: the ``compress_methods`` registry.

A method is either the LLM compressor (the ``compressor`` role of the compress pipeline, asked
through its preset stage) or a model-free function ``(cot, keep, seed) -> compressed`` that
makes no model call. Model-free methods cut whitespace-delimited words: a unit every model
shares, so the same CoT is cut the same way whichever responder reads it (the achieved share
is then measured by the responder's own tokenizer).

Built in: ``llm`` (the compressor role), ``truncate`` (the first k share of words), ``random``
(a seeded random k share of words, kept in order: a cheap lower bound), and the two anchors
``full`` (the CoT unchanged) and ``none`` (no CoT at all). Add a method with
:func:`register_compress_method`, or from another package through the
``hawkeye_bench.compress_methods`` entry-point group (``name = "module:METHOD"``, a
:class:`CompressMethod`).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.registry import Registry

ENTRY_POINT_GROUP = "hawkeye_bench.compress_methods"

#: A model-free compression: (cot, kept share, seed) -> compressed text.
CompressFunction = Callable[[str, float, int], str]


class UnknownCompressMethod(HawkeyeError, ValueError):
    """A compression method name that nothing registers."""


@dataclass(frozen=True)
class CompressMethod:
    """One way of compressing a CoT. ``function`` None: the LLM compressor role does it."""

    name: str
    description: str
    function: CompressFunction | None = None
    #: the kept share is fixed by the method (the anchors), whatever is requested
    fixed_keep: float | None = None

    @property
    def uses_model(self) -> bool:
        return self.function is None


def kept_count(total: int, keep: float) -> int:
    """Words kept of ``total`` at share ``keep``: rounded half up, at least one of a non-empty
    text when ``keep`` > 0."""
    count = min(total, math.floor(keep * total + 0.5))
    return max(count, 1) if keep > 0 and total else count


#: A word and the whitespace before it (the first word's is the text's leading whitespace).
_WORD = re.compile(r"(\s*)(\S+)")


def truncate(cot: str, keep: float, seed: int) -> str:
    """The first ``keep`` share of the words, cut from the text as written (line breaks kept,
    so keep 1.0 is the CoT itself; the seed is unused)."""
    words = list(_WORD.finditer(cot.strip()))
    count = kept_count(len(words), keep)
    return cot.strip()[: words[count - 1].end()] if count else ""


def random_drop(cot: str, keep: float, seed: int) -> str:
    """A random ``keep`` share of the words, in their original order, each after the whitespace
    that preceded it in the text; the same seed gives the same choice."""
    words = list(_WORD.finditer(cot.strip()))
    chosen = sorted(random.Random(seed).sample(range(len(words)), kept_count(len(words), keep)))
    return "".join(words[i].group(1) + words[i].group(2) for i in chosen).strip()


def _unchanged(cot: str, keep: float, seed: int) -> str:
    return cot


def _nothing(cot: str, keep: float, seed: int) -> str:
    return ""


BUILTIN_COMPRESS_METHODS = (
    CompressMethod("llm", "the compressor model, prompted by the preset's compressor stage"),
    CompressMethod("truncate", "the first k share of the CoT's words", truncate),
    CompressMethod("random", "a seeded random k share of the CoT's words, in order", random_drop),
    CompressMethod("full", "anchor: the writer's CoT unchanged", _unchanged, fixed_keep=1.0),
    CompressMethod("none", "anchor: no CoT at all", _nothing, fixed_keep=0.0),
)


COMPRESS_METHODS: Registry[CompressMethod] = Registry(
    "compress method",
    builtins=lambda: BUILTIN_COMPRESS_METHODS,
    entry_point_group=ENTRY_POINT_GROUP,
    plugin_type=CompressMethod,
    error=UnknownCompressMethod,
    message="unknown compression method {name!r}; valid: {valid}",
)
register_compress_method = COMPRESS_METHODS.register
compress_method_names = COMPRESS_METHODS.names
get_compress_method = COMPRESS_METHODS.lookup
