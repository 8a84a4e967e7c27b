"""What judging costs: the ledger of spent money, the dry-run estimate and the budget stop.

Costs come from the provider's ``usage`` and the per-judge prices in the panel file, priced by
:func:`hawkeye_bench.cost.pricing.cost_usd` (cached prompt tokens at the cached price, reasoning
tokens at the reasoning price, each falling back to input/output). Before each call the ledger
reserves the call's worst case (estimated prompt + ``max_tokens`` of output), so concurrent
calls can never carry the total over ``--budget``; the reservation is replaced by the real cost
when the reply comes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from hawkeye_bench.cost.pricing import TokenPrices, Usage, cost_usd
from hawkeye_bench.judging.request_body import ChatMessage

#: Prompt token counts before a call are estimated from characters (approximate by nature;
#: reported as such). English prose averages about four characters per token.
APPROX_CHARS_PER_TOKEN = 4
_PER_MESSAGE_OVERHEAD = 4


class BudgetExceeded(RuntimeError):
    """The next call could carry spending over ``--budget``; nothing more is sent."""


def estimate_prompt_tokens(messages: list[ChatMessage]) -> int:
    chars = sum(len(m["content"]) for m in messages)
    return chars // APPROX_CHARS_PER_TOKEN + _PER_MESSAGE_OVERHEAD * len(messages)


def prices_known(prices: TokenPrices) -> bool:
    return prices.known


def worst_case_usd(prices: TokenPrices, prompt_tokens: int, max_tokens: int) -> float | None:
    """The most a call can cost: no prompt token cached, every output token at the dearer of
    the output and reasoning prices."""
    dearer_reasoning = (prices.reasoning or 0.0) > (prices.output or 0.0)
    usage = Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=max_tokens,
        reasoning_tokens=max_tokens if dearer_reasoning else None,
    )
    return cost_usd(usage, prices)


@dataclass
class JudgeSpend:
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls_without_cost: int = 0  # usage or prices missing: cost unknown for these


@dataclass
class Ledger:
    budget_usd: float | None = None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    by_judge: dict[str, JudgeSpend] = field(default_factory=dict)

    def _spend(self, judge: str) -> JudgeSpend:
        return self.by_judge.setdefault(judge, JudgeSpend())

    def reserve(self, worst_case_usd: float | None) -> None:
        """Hold ``worst_case_usd`` for a call about to be sent, or raise :class:`BudgetExceeded`."""
        if self.budget_usd is None:
            return
        worst = worst_case_usd if worst_case_usd is not None else 0.0
        if self.spent_usd + self.reserved_usd + worst > self.budget_usd:
            raise BudgetExceeded(
                f"budget ${self.budget_usd:.4f} reached: spent ${self.spent_usd:.4f}, "
                f"${self.reserved_usd:.4f} held for calls in flight, the next call could cost "
                f"up to ${worst:.4f}"
            )
        self.reserved_usd += worst

    def settle(
        self, judge: str, worst_case_usd: float | None, usage: Usage | None, cost: float | None
    ) -> None:
        """Replace a reservation with what the call really cost (its worst case if unknown)."""
        if self.budget_usd is not None:
            self.reserved_usd = max(0.0, self.reserved_usd - (worst_case_usd or 0.0))
        spend = self._spend(judge)
        spend.calls += 1
        if usage is not None:
            spend.prompt_tokens += usage.prompt_tokens or 0
            spend.completion_tokens += usage.completion_tokens or 0
        if cost is None:
            spend.calls_without_cost += 1
            charged = worst_case_usd if self.budget_usd is not None else None
        else:
            charged = cost
        if charged is not None:
            spend.cost_usd += charged
            self.spent_usd += charged

    def record_cached(self, judge: str) -> None:
        self._spend(judge).cached_calls += 1

    def to_dict(self) -> dict[str, object]:
        return {
            "budget_usd": self.budget_usd,
            "spent_usd": round(self.spent_usd, 6),
            "by_judge": {name: asdict(s) for name, s in self.by_judge.items()},
        }


@dataclass
class JudgeEstimate:
    calls: int = 0
    cached_calls: int = 0  # would be answered from the cache: free
    prompt_tokens_approx: int = 0
    max_completion_tokens: int = 0
    cost_low_usd: float | None = 0.0  # prompts only, as if every reply were empty
    cost_high_usd: float | None = 0.0  # every reply at max_tokens

    def add(self, prices: TokenPrices, prompt_tokens: int, max_tokens: int, cached: bool) -> None:
        if cached:
            self.cached_calls += 1
            return
        self.calls += 1
        self.prompt_tokens_approx += prompt_tokens
        self.max_completion_tokens += max_tokens
        low = cost_usd(Usage(prompt_tokens=prompt_tokens, completion_tokens=0), prices)
        high = worst_case_usd(prices, prompt_tokens, max_tokens)
        self.cost_low_usd = (
            None if low is None or self.cost_low_usd is None else (self.cost_low_usd + low)
        )
        self.cost_high_usd = (
            None if high is None or self.cost_high_usd is None else (self.cost_high_usd + high)
        )
