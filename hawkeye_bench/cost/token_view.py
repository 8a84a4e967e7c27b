"""Token view: what finished eval runs cost, from the token counts in their records.

For each run, each role's token counts are summed over its records (one record per problem
and sample, failed ones included: their calls were paid for) and priced with that role's
:class:`~hawkeye_bench.cost.pricing.TokenPrices`. USD per 1k problems = total / records x 1000;
per correct answer = total / correct records; the ratio compares a pipeline's USD per 1k
problems with the baseline run of the same dataset. Whatever cannot be priced (no prices for a
role, a token count that was never recorded) leaves the cost None with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hawkeye_bench import pipelines
from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.core.record import Record
from hawkeye_bench.cost.prices import PriceBook, PricesError
from hawkeye_bench.cost.pricing import TokenPrices, Usage, cost_usd

ASSUMPTIONS = (
    "token view: each call billed at its role's token prices (USD per 1M tokens) with the "
    "counts recorded in records.jsonl; failed problems count (their calls were paid for)",
    "cached prompt tokens are not recorded per call: every prompt token is billed at the input "
    "price; reasoning tokens at the reasoning price when given, else the output price",
    "ratio = the pipeline's USD per 1k problems / the baseline run's on the same dataset",
)


@dataclass
class RoleTokens:
    """One role's summed token counts over a run's records, and its cost."""

    role: str
    model: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    missing_prompt: int = 0  # calls with no prompt token count
    missing_completion: int = 0
    usd: float | None = None
    reason: str | None = None  # why usd is None


@dataclass
class RunCost:
    """The token-view cost of one run."""

    label: str
    dataset: str
    pipeline: str
    is_baseline: bool
    problems: int
    correct: int
    roles: list[RoleTokens] = field(default_factory=list)
    usd: float | None = None
    reasons: list[str] = field(default_factory=list)
    baseline: str | None = None  # label of the run the ratio compares with
    ratio: float | None = None

    @property
    def per_1k_problems(self) -> float | None:
        return None if self.usd is None or not self.problems else self.usd / self.problems * 1000

    @property
    def per_correct(self) -> float | None:
        return None if self.usd is None or not self.correct else self.usd / self.correct


def role_tokens(records: Sequence[Record]) -> list[RoleTokens]:
    """Summed counts per role, roles in the order they first appear."""
    by_role: dict[str, RoleTokens] = {}
    for record in records:
        for stage in record.trace.stages:
            tokens = by_role.setdefault(stage.role, RoleTokens(stage.role, stage.model))
            tokens.calls += 1
            if stage.prompt_tokens is None:
                tokens.missing_prompt += 1
            else:
                tokens.prompt_tokens += stage.prompt_tokens
            if stage.completion_tokens is None:
                tokens.missing_completion += 1
            else:
                tokens.completion_tokens += stage.completion_tokens
            tokens.reasoning_tokens += stage.reasoning_tokens or 0
    return list(by_role.values())


def price_role(tokens: RoleTokens, prices: TokenPrices | None) -> None:
    """Set ``tokens.usd`` (or ``tokens.reason``)."""
    if prices is None:
        tokens.reason = f"{tokens.role}: no prices given"
        return
    if not prices.known:
        tokens.reason = f"{tokens.role}: input and output prices are both needed"
        return
    if tokens.missing_prompt and prices.input:
        tokens.reason = f"{tokens.role}: {tokens.missing_prompt} calls have no prompt token count"
        return
    if tokens.missing_completion and prices.output:
        tokens.reason = (
            f"{tokens.role}: {tokens.missing_completion} calls have no completion token count"
        )
        return
    usage = Usage(
        prompt_tokens=tokens.prompt_tokens,
        completion_tokens=tokens.completion_tokens,
        reasoning_tokens=tokens.reasoning_tokens,
    )
    tokens.usd = cost_usd(usage, prices)


def run_cost(
    label: str,
    records: Sequence[Record],
    books: Sequence[PriceBook],
    *,
    dataset: str | None = None,
    pipeline: str | None = None,
) -> RunCost:
    """The cost of one run; ``books`` are searched in order for each role's prices."""
    pipeline = pipeline or (records[0].trace.pipeline if records else "?")
    cost = RunCost(
        label=label,
        dataset=dataset or (records[0].problem.dataset if records else "?"),
        pipeline=pipeline,
        is_baseline=pipelines.is_baseline(pipeline),
        problems=len(records),
        correct=sum(1 for r in records if r.correct is True),
        roles=role_tokens(records),
    )
    for tokens in cost.roles:
        found = (book.token_prices(tokens.role, tokens.model) for book in books)
        price_role(tokens, next((p for p in found if p is not None), None))
    cost.reasons = [t.reason for t in cost.roles if t.reason is not None]
    if not cost.reasons and cost.roles:
        cost.usd = sum(t.usd or 0.0 for t in cost.roles)
    elif not cost.roles:
        cost.reasons = ["no model calls recorded"]
    return cost


def compare_with_baselines(costs: Sequence[RunCost]) -> None:
    """Set each non-baseline run's ratio to the first baseline run of its dataset (named in
    ``baseline``; the report pairs by configuration instead)."""
    baselines: dict[str, RunCost] = {}
    for cost in costs:
        if cost.is_baseline:
            baselines.setdefault(cost.dataset, cost)
    for cost in costs:
        base = baselines.get(cost.dataset)
        if not cost.is_baseline and base is not None:
            compare(cost, base)


def compare(cost: RunCost, base: RunCost, name: str | None = None) -> None:
    """Set ``cost``'s ratio to ``base`` (named ``name``, by default its label)."""
    cost.baseline = name or base.label
    mine, theirs = cost.per_1k_problems, base.per_1k_problems
    if mine is not None and theirs:
        cost.ratio = mine / theirs


@dataclass
class SummaryCost(JsonPayload):
    """The ``cost`` object of an eval run's ``summary.json``: the token view from the prices its
    endpoints carried. ``usd`` None: not priced, with the reasons in ``not_priced``."""

    prices: str = ""
    problems: int | None = None
    correct: int | None = None
    usd: float | None = None
    usd_per_1k_problems: float | None = None
    usd_per_correct: float | None = None
    not_priced: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)


def summary_cost(
    records: Sequence[Record], manifest: Mapping[str, Any], pipeline: str | None = None
) -> SummaryCost | None:
    """The run's :class:`SummaryCost` from ``manifest`` (its JSON form); None when no endpoint
    carried prices (the summary then has no ``cost`` key: a price-less run never shows a
    made-up number)."""
    try:
        book = PriceBook.from_manifest(manifest, "manifest.json")
    except PricesError as exc:
        return SummaryCost(prices="endpoint prices", not_priced=[str(exc)])
    if not book.entries:
        return None
    cost = run_cost("run", records, [book], pipeline=pipeline)
    return SummaryCost(
        prices="endpoint prices (manifest.json)",
        problems=cost.problems,
        correct=cost.correct,
        usd=cost.usd,
        usd_per_1k_problems=cost.per_1k_problems,
        usd_per_correct=cost.per_correct,
        not_priced=list(cost.reasons),
        assumptions=list(ASSUMPTIONS[:2]),
    )
