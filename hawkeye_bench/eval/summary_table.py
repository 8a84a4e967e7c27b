"""The summary printed at the end of `hawkeye-bench eval`, as plain text."""

from __future__ import annotations

from typing import Any

from hawkeye_bench.eval.comparison import AccuracyComparison, comparison_line


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def format_summary(summary: dict[str, Any]) -> str:
    acc = summary["accuracy"]
    errors = summary["errors"]
    lines = [
        f"\n{summary.get('pipeline', '?')} on {summary.get('task', '?')}: "
        f"{summary['n']} items, {summary['n_problems']} problems  ({summary.get('run', '')})",
    ]
    if acc["mean"] is None:
        lines.append("accuracy       -  (no items)")
    else:
        low, high = acc["ci95"]
        lines.append(
            f"accuracy       {acc['mean']:.1%}  95% CI [{low:.1%}, {high:.1%}]  "
            f"({acc['correct']}/{acc['n']}; errors count as wrong)"
        )
    for key, value in acc.items():
        if key.startswith("avg@") and value is not None:
            lines.append(f"{key:<14} {value:.1%}")
    for k, value in (acc.get("pass@k") or {}).items():
        lines.append(f"{'pass@' + k:<14} {value:.1%}")
    lines.append(
        f"errors         {errors['count']} ({errors['share']:.1%}) {errors['by_type'] or ''}"
    )
    header = (
        f"{'stage':<10} {'calls':>5} {'tokens mean':>11} {'p50':>7} {'source':<22}"
        f" {'trunc':>6} {'TTFT p50 s':>10} {'latency p50 s':>13}"
    )
    lines += ["", header, "-" * len(header)]
    for role, stage in summary["stages"].items():
        tokens = stage["completion_tokens"]
        sources = ",".join(f"{k}:{v}" for k, v in stage["token_sources"].items())
        trunc = stage["truncated_share"]
        lines.append(
            f"{role:<10} {stage['calls']:>5} {_num(tokens['mean']):>11} "
            f"{_num(tokens['p50'], '{:.0f}'):>7} {sources:<22} "
            f"{_num(None if trunc is None else trunc * 100, '{:.0f}%'):>6} "
            f"{_num(stage['ttft_s']['p50'], '{:.2f}'):>10} "
            f"{_num(stage['latency_s']['p50'], '{:.2f}'):>13}"
        )
    approximate = summary.get("approximate_token_counts")
    if approximate:
        missing = sum(s["token_sources"].get("missing", 0) for s in summary["stages"].values())
        chunks = approximate - missing
        if chunks:
            lines.append(f"note: {chunks} stage token counts are approximate (counted chunks)")
        if missing:
            lines.append(f"note: {missing} stage token counts are missing (no source gave one)")
    if ambiguous := summary.get("ambiguous_extractions"):
        lines.append(
            f"note: {ambiguous} answers were ambiguous (no rule could tell which number is the "
            "answer; graded wrong, the reason is in each record's extra)"
        )
    tokens = summary["tokens"]
    lines.append("")
    if tokens["cot_only"]["n"]:
        lines.append(f"tokens CoT-only mean {_num(tokens['cot_only']['mean'])}  "
                     f"Full mean {_num(tokens['full']['mean'])}")  # fmt: skip
    else:
        lines.append(f"tokens Full mean {_num(tokens['full']['mean'])}")
    e2e = summary["end_to_end_s"]
    lines.append(f"end-to-end s   mean {_num(e2e['mean'], '{:.2f}')}  "
                 f"p50 {_num(e2e['p50'], '{:.2f}')}")  # fmt: skip
    if comp := summary.get("compression"):
        lines.append(
            f"compression    {_num(comp.get('ratio_percent'))}% fewer tokens (CoT-only vs "
            f"baseline Full, {comp['n_problems']} shared problems)"
        )
    if "accuracy_vs_baseline" in summary:
        paired = summary["accuracy_vs_baseline"]
        if paired is None:
            lines.append("vs baseline    -  (no problem shared with the baseline run)")
        else:
            lines.append(comparison_line(AccuracyComparison.from_dict(paired)))
    if (cost := summary.get("cost")) is not None:
        lines.append(cost_line(cost))
    return "\n".join(lines)


def cost_line(cost: dict[str, Any]) -> str:
    """The token view from the endpoints' prices, or what was not priced."""
    if cost.get("usd") is None:
        return "cost           not priced: " + "; ".join(cost.get("not_priced") or ["unknown"])
    per_correct = cost.get("usd_per_correct")
    correct = "-" if per_correct is None else f"{per_correct:.4g}"
    return (
        f"cost           USD {cost['usd_per_1k_problems']:.4g} / 1k problems, "
        f"USD {correct} / correct answer (endpoint token prices)"
    )
