"""Token prices and what a call cost: one price model and one usage record for every caller.

Prices are USD per million tokens (``input``, ``cached_input``, ``output``, ``reasoning``).
LiteLLM's per-token key names are accepted too and converted (``input_cost_per_token``,
``cache_read_input_token_cost``, ``output_cost_per_token``, ``output_cost_per_reasoning_token``).

Usage follows the OpenAI convention: ``cached_tokens`` are part of ``prompt_tokens`` and
``reasoning_tokens`` part of ``completion_tokens``. Cached prompt tokens are billed at the
cached price (the input price when none is given), reasoning tokens at the reasoning price (the
output price when none is given). A cost that cannot be known is None, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: LiteLLM's per-token key -> our per-million field.
LITELLM_KEYS = {
    "input_cost_per_token": "input",
    "cache_read_input_token_cost": "cached_input",
    "output_cost_per_token": "output",
    "output_cost_per_reasoning_token": "reasoning",
}
TOKENS_PER_PRICE_UNIT = 1_000_000


class TokenPrices(BaseModel):
    """USD per million tokens; None = unknown. Frozen; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float | None = Field(default=None, ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    output: float | None = Field(default=None, ge=0)
    reasoning: float | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _litellm_names(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not any(k in data for k in LITELLM_KEYS):
            return data
        converted = dict(data)
        for litellm_key, ours in LITELLM_KEYS.items():
            if litellm_key not in converted:
                continue
            if ours in converted:
                raise ValueError(f"give {ours!r} or {litellm_key!r}, not both")
            per_token = converted.pop(litellm_key)
            converted[ours] = _per_million(per_token) if per_token is not None else None
        return converted

    @property
    def known(self) -> bool:
        """Input and output prices are both given: every call's cost can be computed."""
        return self.input is not None and self.output is not None


def _per_million(per_token: Any) -> Any:
    """USD per token -> USD per million tokens, exact in decimal (2.5e-06 -> 2.5)."""
    if isinstance(per_token, bool) or not isinstance(per_token, int | float | str):
        return per_token  # left for validation to reject
    try:
        return float(Decimal(str(per_token)) * TOKENS_PER_PRICE_UNIT)
    except ArithmeticError:
        return per_token


@dataclass(frozen=True)
class Usage:
    """Token usage as the provider reported it; fields a provider omits stay None."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None  # part of prompt_tokens
    reasoning_tokens: int | None = None  # part of completion_tokens

    def to_dict(self) -> dict[str, int | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, int | None] | None) -> Usage | None:
        """From :meth:`to_dict`'s form; a key this version does not know is left out."""
        if data is None:
            return None
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None) -> Usage | None:
        """From an OpenAI-style ``usage`` object (``*_tokens_details`` included)."""
        if not isinstance(usage, Mapping):
            return None
        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        return cls(
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            cached_tokens=_count(prompt_details.get("cached_tokens")),
            reasoning_tokens=_count(completion_details.get("reasoning_tokens")),
        )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cost_usd(usage: Usage | None, prices: TokenPrices | None) -> float | None:
    """What one call cost in USD, or None when usage or the input/output prices are missing."""
    if prices is None or not prices.known or usage is None:
        return None
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    assert prices.input is not None and prices.output is not None
    cached = min(usage.cached_tokens or 0, usage.prompt_tokens)
    reasoning = min(usage.reasoning_tokens or 0, usage.completion_tokens)
    cached_price = prices.cached_input if prices.cached_input is not None else prices.input
    reasoning_price = prices.reasoning if prices.reasoning is not None else prices.output
    total = (
        (usage.prompt_tokens - cached) * prices.input
        + cached * cached_price
        + (usage.completion_tokens - reasoning) * prices.output
        + reasoning * reasoning_price
    )
    return total / TOKENS_PER_PRICE_UNIT
