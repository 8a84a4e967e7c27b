"""The summary printed at the end of `hawkeye-bench eval`, as plain text."""

from __future__ import annotations

from hawkeye_bench.cost.token_view import SummaryCost
from hawkeye_bench.eval.comparison import comparison_line
from hawkeye_bench.eval.summary_types import AccuracySummary, RunSummary


def _num(value: float | int | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _accuracy_lines(acc: AccuracySummary) -> list[str]:
    if acc.mean is None:
        lines = ["accuracy       -  (no items)"]
    else:
        low, high = acc.ci95
        lines = [
            f"accuracy       {acc.mean:.1%}  95% CI [{_num(low, '{:.1%}')}, "
            f"{_num(high, '{:.1%}')}]  ({acc.correct}/{acc.n}; errors count as wrong)"
        ]
    if acc.samples_per_problem and acc.avg_at_k is not None:
        lines.append(f"{'avg@' + str(acc.samples_per_problem):<14} {acc.avg_at_k:.1%}")
    for k, value in (acc.pass_at or {}).items():
        lines.append(f"{'pass@' + k:<14} {value:.1%}")
    return lines


def _stage_lines(summary: RunSummary) -> list[str]:
    header = (
        f"{'stage':<10} {'calls':>5} {'tokens mean':>11} {'p50':>7} {'source':<22}"
        f" {'trunc':>6} {'TTFT p50 s':>10} {'latency p50 s':>13}"
    )
    lines = ["", header, "-" * len(header)]
    for role, stage in summary.stages.items():
        tokens = stage.completion_tokens
        sources = ",".join(f"{k}:{v}" for k, v in stage.token_sources.items())
        trunc = stage.truncated_share
        lines.append(
            f"{role:<10} {stage.calls:>5} {_num(tokens.get('mean')):>11} "
            f"{_num(tokens.get('p50'), '{:.0f}'):>7} {sources:<22} "
            f"{_num(None if trunc is None else trunc * 100, '{:.0f}%'):>6} "
            f"{_num(stage.ttft_s.get('p50'), '{:.2f}'):>10} "
            f"{_num(stage.latency_s.get('p50'), '{:.2f}'):>13}"
        )
    return lines


def _count_notes(summary: RunSummary) -> list[str]:
    lines = []
    if approximate := summary.approximate_token_counts:
        missing = sum(s.token_sources.get("missing", 0) for s in summary.stages.values())
        chunks = approximate - missing
        if chunks:
            lines.append(f"note: {chunks} stage token counts are approximate (counted chunks)")
        if missing:
            lines.append(f"note: {missing} stage token counts are missing (no source gave one)")
    if ambiguous := summary.ambiguous_extractions:
        lines.append(
            f"note: {ambiguous} answers were ambiguous (no rule could tell which number is the "
            "answer; graded wrong, the reason is in each record's extra)"
        )
    return lines


def _token_and_time_lines(summary: RunSummary) -> list[str]:
    tokens = summary.tokens
    if tokens.cot_only.get("n"):
        line = (f"tokens CoT-only mean {_num(tokens.cot_only.get('mean'))}  "
                f"Full mean {_num(tokens.full.get('mean'))}")  # fmt: skip
    else:
        line = f"tokens Full mean {_num(tokens.full.get('mean'))}"
    e2e = summary.end_to_end_s
    return ["", line, f"end-to-end s   mean {_num(e2e.get('mean'), '{:.2f}')}  "
                      f"p50 {_num(e2e.get('p50'), '{:.2f}')}"]  # fmt: skip


def _baseline_lines(summary: RunSummary) -> list[str]:
    against = summary.vs_baseline
    if against is None:
        return []
    comp = against.compression
    lines = [
        f"compression    {_num(comp.ratio_percent)}% fewer tokens (CoT-only vs "
        f"baseline Full, {comp.n_problems} shared problems)"
    ]
    if against.accuracy is None:
        lines.append("vs baseline    -  (no problem shared with the baseline run)")
    else:
        lines.append(comparison_line(against.accuracy))
    return lines


def format_summary(summary: RunSummary) -> str:
    errors = summary.errors
    lines = [
        f"\n{summary.pipeline or '?'} on {summary.task or '?'}: "
        f"{summary.n} items, {summary.n_problems} problems  ({summary.run or ''})",
        *_accuracy_lines(summary.accuracy),
        f"errors         {errors.count} ({errors.share:.1%}) {errors.by_type or ''}",
        *_stage_lines(summary),
        *_count_notes(summary),
        *_token_and_time_lines(summary),
        *_baseline_lines(summary),
    ]
    if summary.cost is not None:
        lines.append(cost_line(summary.cost))
    return "\n".join(lines)


def cost_line(cost: SummaryCost) -> str:
    """The token view from the endpoints' prices, or what was not priced."""
    if cost.usd is None:
        return "cost           not priced: " + "; ".join(cost.not_priced or ["unknown"])
    per_correct = cost.usd_per_correct
    correct = "-" if per_correct is None else f"{per_correct:.4g}"
    return (
        f"cost           USD {_num(cost.usd_per_1k_problems, '{:.4g}')} / 1k problems, "
        f"USD {correct} / correct answer (endpoint token prices)"
    )
