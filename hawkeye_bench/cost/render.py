"""Cost tables as rows of plain values and as markdown, for the ``cost`` command and reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hawkeye_bench.core.markdown import markdown_table
from hawkeye_bench.cost import gpu_view, token_view
from hawkeye_bench.cost.gpu_view import StageCost
from hawkeye_bench.cost.token_view import RunCost

NO_PRICES = "no prices given"
TOKEN_HEADER = ["run", "dataset", "pipeline", "problems", "correct", "USD / 1k problems",
                "USD / correct", "vs baseline"]  # fmt: skip
GPU_HEADER = ["target", "load", "mean s / request", "X (req/s)", "GPU USD / h",
              "USD / 1k requests", "vs baseline"]  # fmt: skip


def usd(value: float | None, missing: str = NO_PRICES) -> str:
    if value is None:
        return missing
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def percent(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio * 100:.1f}%"


def token_row(cost: RunCost) -> dict[str, Any]:
    """One run as report.json keys (USD values None when unknown)."""
    return {
        "run": cost.label,
        "dataset": cost.dataset,
        "pipeline": cost.pipeline,
        "problems": cost.problems,
        "correct": cost.correct,
        "usd": cost.usd,
        "usd_per_1k_problems": cost.per_1k_problems,
        "usd_per_correct": cost.per_correct,
        "baseline": cost.baseline,
        "ratio": cost.ratio,
        "why_unknown": cost.reasons,
    }


def _missing(reasons: Sequence[str]) -> str:
    return NO_PRICES if any(NO_PRICES in r for r in reasons) else "unknown"


def token_cells(cost: RunCost) -> list[str]:
    missing = _missing(cost.reasons)
    return [
        cost.label,
        cost.dataset,
        cost.pipeline + (" (baseline)" if cost.is_baseline else ""),
        str(cost.problems),
        str(cost.correct),
        usd(cost.per_1k_problems, missing),
        usd(cost.per_correct, missing if cost.correct else "no correct answer"),
        # the baseline named: a dataset may have several baseline runs
        percent(cost.ratio) + (f" of {cost.baseline}" if cost.ratio is not None else ""),
    ]


def gpu_cells(cost: StageCost) -> list[str]:
    x = cost.throughput
    missing = _missing(cost.reasons)
    return [
        cost.target + (" (unreliable)" if cost.unreliable else ""),
        cost.level,
        f"{cost.mean_latency_s:.3f}" if cost.mean_latency_s is not None else "",
        f"{x:.3f}" if x is not None else "",
        usd(cost.usd_per_hour, missing),
        usd(cost.usd_per_1k_requests, missing),
        percent(cost.ratio),
    ]


def token_markdown(costs: Sequence[RunCost], sources: Sequence[str]) -> list[str]:
    lines = ["## Token view", ""]
    lines += markdown_table(TOKEN_HEADER, [token_cells(c) for c in costs])
    lines += ["", *notes(token_view.ASSUMPTIONS, sources, [r for c in costs for r in c.reasons])]
    return lines


def gpu_markdown(label: str, costs: Sequence[StageCost], sources: Sequence[str]) -> list[str]:
    lines = [f"## GPU-time view: {label}", ""]
    lines += markdown_table(GPU_HEADER, [gpu_cells(c) for c in costs])
    lines += ["", *notes(gpu_view.ASSUMPTIONS, sources, [r for c in costs for r in c.reasons])]
    lines += [f"- unreliable: {c.unreliable_note}" for c in costs if c.unreliable_note]
    return lines


def notes(assumptions: Sequence[str], sources: Sequence[str], reasons: Sequence[str]) -> list[str]:
    lines = [f"- prices: {s}" for s in sources]
    lines += [f"- {a}" for a in assumptions]
    lines += [f"- not priced: {r}" for r in dict.fromkeys(reasons)]
    return lines
