"""``judge_table.md``: the judge summary as markdown tables (embedded by the report)."""

from __future__ import annotations

from collections.abc import Sequence

from hawkeye_bench.core.markdown import markdown_table
from hawkeye_bench.judging.summary import PANEL
from hawkeye_bench.judging.summary_file import (
    Agreement,
    Consistency,
    Interval,
    JudgeCounts,
    JudgeSummary,
    LengthBias,
    Nested,
    PairwiseEntry,
)


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _interval(data: Interval | None) -> str:
    if data is None:
        return "–"
    text = _signed(data.estimate)
    if data.low is not None and data.high is not None:
        text += f" [{data.low:+.2f}, {data.high:+.2f}]"
    return text


def _percent(data: Interval | None) -> str:
    """A relative change as a signed percentage, with its interval."""
    if data is None:
        return "–"
    text = f"{data.estimate * 100:+.1f}%"
    if data.low is not None and data.high is not None:
        text += f" [{data.low * 100:+.1f}%, {data.high * 100:+.1f}%]"
    return text


def render(summary: JudgeSummary) -> str:
    lines = [
        "## Judge ratings",
        "",
        *_scores_section(summary),
        *_judges_section(summary.judges),
        *_agreement_section(summary.agreement),
        *_self_consistency_section(summary.self_consistency),
        *_length_bias_section(summary.length_bias),
        *_pairwise_section(summary.pairwise),
    ]
    return "\n".join(lines) + "\n"


def _scores_section(summary: JudgeSummary) -> list[str]:
    """Paired comparisons when runs share answers, else the mean score per run."""
    pct = round(summary.confidence * 100)
    comparisons = summary.comparisons
    if not comparisons:
        rows = [
            [c, s, run, _num(v.mean), str(v.n)]
            for c, by_source in summary.means.items()
            for s, by_run in by_source.items()
            for run, v in by_run.items()
        ]
        return [
            "Mean scores (one run, or no answers shared between runs):",
            "",
            *markdown_table(["criterion", "judge", "run", "mean", "answers"], rows),
        ]
    header = [
        "criterion",
        "judge",
        "baseline",
        "candidate",
        "mean baseline",
        "mean candidate",
        f"difference [{pct}% CI]",
        f"relative [{pct}% CI]",
        "length-adjusted",
        "questions",
    ]
    rows = [
        [
            row.criterion,
            f"**{PANEL}**" if row.judge == PANEL else row.judge,
            row.baseline,
            row.candidate,
            _num(row.mean_baseline),
            _num(row.mean_candidate),
            _interval(row.difference),
            _percent(row.relative_improvement),
            _interval(row.length_adjusted_difference),
            str(row.n_questions),
        ]
        for row in comparisons
    ]
    return [
        f"Mean scores and the paired difference (candidate − baseline) with a bootstrap "
        f"{pct}% interval over questions; *relative* is mean candidate / mean baseline − 1 "
        '(the paper\'s "about 10% better"), bootstrapped over the same pairs; the '
        "length-adjusted difference is the difference predicted for answers of equal length. "
        "`panel` is the mean over judges.",
        "",
        *markdown_table(header, rows),
    ]


def _judges_section(judges: Sequence[JudgeCounts]) -> list[str]:
    rows = [
        [
            j.judge,
            j.model or "–",
            j.structured_output,
            str(j.results),
            str(j.ok),
            ", ".join(f"{k} {v}" for k, v in j.failures.items() if v) or "none",
        ]
        for j in judges
    ]
    header = ["judge", "model", "JSON", "results", "ok", "failures (excluded)"]
    return ["", "### Judges", "", *markdown_table(header, rows)]


def _agreement_section(agreement: dict[str, Agreement]) -> list[str]:
    if all(a.krippendorff_alpha_ordinal is None for a in agreement.values()):
        return []
    rows = [
        [c, _num(a.krippendorff_alpha_ordinal, 3), str(a.n_answers)] for c, a in agreement.items()
    ]
    header = ["criterion", "Krippendorff α (ordinal)", "answers"]
    return ["", "### Inter-judge agreement", "", *markdown_table(header, rows)]


def _self_consistency_section(self_consistency: Nested[Consistency | None]) -> list[str]:
    if not self_consistency:
        return []
    rows = [
        [
            judge,
            c,
            str(s.n),
            _num(s.exact_agreement),
            _num(s.mean_abs_diff),
            _num(s.alpha, 3),
        ]
        for judge, by_c in self_consistency.items()
        for c, s in by_c.items()
        if s
    ]
    header = ["judge", "criterion", "n", "exact agreement", "mean |Δ|", "α"]
    return ["", "### Self-consistency (answers judged twice)", "", *markdown_table(header, rows)]


def _length_bias_section(length_bias: Nested[LengthBias]) -> list[str]:
    rows = [
        [s, c, _num(v.spearman_score_vs_chars), str(v.n)]
        for s, by_c in length_bias.items()
        for c, v in by_c.items()
    ]
    return [
        "",
        "### Length bias (Spearman ρ of score vs answer length in characters)",
        "",
        *markdown_table(["judge", "criterion", "ρ", "answers"], rows),
    ]


def _pairwise_section(pairwise: Nested[PairwiseEntry]) -> list[str]:
    if not pairwise:
        return []
    rows = [
        [
            pair,
            judge,
            c,
            str(s.n),
            str(s.wins),
            str(s.losses),
            str(s.ties),
            _num(s.win_rate_adjusted),
            _num(s.flip_rate),
        ]
        for pair, by_judge in pairwise.items()
        for judge, data in by_judge.items()
        for c, s in data.criteria.items()
    ]
    header = [
        "comparison",
        "judge",
        "criterion",
        "pairs",
        "wins",
        "losses",
        "ties",
        "adjusted win rate",
        "flip rate",
    ]
    return [
        "",
        "### Pairwise (both orders; inconsistent verdicts count as ties)",
        "",
        *markdown_table(header, rows),
    ]
