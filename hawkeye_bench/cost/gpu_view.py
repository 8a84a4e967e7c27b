"""GPU-time view: USD per request from the throughput a load test measured.

At closed-loop concurrency c with mean time per request W, Little's law gives the throughput
X = c / W requests per second. An open-loop stage (a requested arrival rate) or a trace replay
sets its own load, so there X is the throughput the stage measured (finished requests per
second of its window), and stages pair with the baseline at the same rate, not the same cap.
The GPUs that serve a target cost Σ USD per hour whether busy or not, so one request costs
Σ USD/h / (3600 X). Which roles serve a target comes from the price book's ``load_targets`` (a
target priced under its own name is one role). Placement: each ``dedicated`` role pays its own
GPUs, a ``shared`` role its share of them, and all
``colocated`` roles of a target share one set of GPUs (the dearest of their settings), with no
interference assumed beyond what the measured latency already shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hawkeye_bench.cost.prices import GpuPrices, PriceBook

ASSUMPTIONS = (
    "GPU-time view: throughput X = c / mean time per request (Little's law, closed loop at "
    "concurrency c); USD per request = sum of the target's GPU USD per hour / (3600 X)",
    "open loop and traces: throughput X = the stage's measured requests per second (the load "
    "it was offered, not a capacity), paired with the baseline at the same rate",
    "placement: dedicated roles pay their own GPUs, co-located roles share one set (the "
    "dearest of their settings; no interference beyond the measured latency), a shared-fleet "
    "role pays its stated share",
)
SECONDS_PER_HOUR = 3600.0


@dataclass
class StageCost:
    """One load target at one load: a closed-loop concurrency, an open-loop rate or a trace."""

    target: str
    concurrency: int
    mean_latency_s: float | None
    roles: tuple[str, ...] = ()
    #: open loop: the requested arrival rate (requests per second); None for closed loop
    rate_per_s: float | None = None
    #: open loop and traces: the throughput the stage measured, which replaces c / W
    measured_per_s: float | None = None
    trace: bool = False
    usd_per_hour: float | None = None
    reasons: list[str] = field(default_factory=list)
    ratio: float | None = None  # vs the baseline target at the same load
    #: why the load runner marked this stage unreliable (empty: reliable); its price rests on
    #: a latency the runner did not trust, so every view says so beside the number
    unreliable: list[str] = field(default_factory=list)

    @property
    def unreliable_note(self) -> str | None:
        if not self.unreliable:
            return None
        return (
            f"{self.target} at {self.level}: the load runner marked this stage "
            f"unreliable ({'; '.join(self.unreliable)}): its price rests on that latency"
        )

    @property
    def open_loop(self) -> bool:
        return self.rate_per_s is not None or self.trace

    @property
    def level(self) -> str:
        """The stage's load, as it pairs with the baseline: ``c=10``, ``2/s``, ``trace``."""
        if self.trace:
            return f"trace (<= {self.concurrency} in flight)"
        if self.rate_per_s is not None:
            return f"{self.rate_per_s:g}/s (<= {self.concurrency} in flight)"
        return f"c={self.concurrency}"

    @property
    def level_key(self) -> tuple[int, float | None, bool]:
        return (self.concurrency, self.rate_per_s, self.trace)

    @property
    def throughput(self) -> float | None:
        if self.open_loop:
            return self.measured_per_s or None
        if not self.mean_latency_s:
            return None
        return self.concurrency / self.mean_latency_s

    @property
    def usd_per_request(self) -> float | None:
        x = self.throughput
        if self.usd_per_hour is None or not x:
            return None
        return self.usd_per_hour / (SECONDS_PER_HOUR * x)

    @property
    def usd_per_1k_requests(self) -> float | None:
        per = self.usd_per_request
        return None if per is None else per * 1000


def usd_per_hour(roles: Mapping[str, GpuPrices]) -> float:
    """What the GPUs of a set of roles cost per hour, placement applied."""
    colocated = [p.usd_per_hour for p in roles.values() if p.placement == "colocated"]
    alone = sum(p.usd_per_hour for p in roles.values() if p.placement != "colocated")
    return alone + (max(colocated) if colocated else 0.0)


def roles_of(target: str, book: PriceBook) -> tuple[str, ...] | None:
    if target in book.load_targets:
        return book.load_targets[target]
    if target in book.entries:
        return (target,)
    return None


def stage_cost(
    target: str,
    concurrency: int,
    mean_latency_s: float | None,
    book: PriceBook,
    *,
    rate_per_s: float | None = None,
    measured_per_s: float | None = None,
    trace: bool = False,
) -> StageCost:
    cost = StageCost(
        target,
        concurrency,
        mean_latency_s,
        rate_per_s=rate_per_s,
        measured_per_s=measured_per_s,
        trace=trace,
    )
    roles = roles_of(target, book)
    if roles is None:
        cost.reasons.append(
            f"{target}: no prices given (name its roles under load_targets in the prices file)"
        )
        return cost
    cost.roles = roles
    gpu: dict[str, GpuPrices] = {}
    for role in roles:
        prices = book.lookup(role)
        if prices is None or prices.gpu is None:
            cost.reasons.append(f"{target}: {role}: no GPU prices given")
        else:
            gpu[role] = prices.gpu
    if mean_latency_s is None:
        cost.reasons.append(f"{target} at {cost.level}: no time per request measured")
    if not cost.reasons:
        cost.usd_per_hour = usd_per_hour(gpu)
    return cost


def load_costs(results: Mapping[str, Any], book: PriceBook) -> list[StageCost]:
    """Every stage of a ``load_results.json``, with its ratio to the baseline target."""
    stages = results.get("stages") or []
    costs = []
    for stage in stages:
        e2e = ((stage.get("metrics") or {}).get("e2e_ms") or {}).get("mean")
        latency = e2e / 1000.0 if isinstance(e2e, int | float) and e2e > 0 else None
        rate = stage.get("rate")
        measured = (stage.get("throughput") or {}).get("requests_per_s")
        cost = stage_cost(
            stage["target"],
            int(stage["concurrency"]),
            latency,
            book,
            rate_per_s=float(rate) if isinstance(rate, int | float) else None,
            measured_per_s=float(measured) if isinstance(measured, int | float) else None,
            trace=bool(stage.get("trace")),
        )
        if stage.get("reliable") is False:
            cost.unreliable = [str(r) for r in stage.get("unreliable_reasons") or ()] or [
                "no reason recorded"
            ]
        costs.append(cost)
    baseline = (results.get("plan") or {}).get("baseline")
    compare_stages(costs, baseline)
    return costs


def compare_stages(costs: Sequence[StageCost], baseline: str | None) -> None:
    base = {c.level_key: c for c in costs if c.target == baseline}
    for cost in costs:
        ref = base.get(cost.level_key)
        if cost.target == baseline or ref is None:
            continue
        mine, theirs = cost.usd_per_request, ref.usd_per_request
        if mine is not None and theirs:
            cost.ratio = mine / theirs
