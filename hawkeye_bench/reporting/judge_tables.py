"""The report's judge tables: scores per criterion, judge and run from ``judgements.jsonl``;
the paired differences and the length bias as ``hawkeye-bench judge`` computed them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from hawkeye_bench.core.stats import cluster_bootstrap_ci
from hawkeye_bench.judging.summary_file import Interval
from hawkeye_bench.reporting.configs import judged_run_labels, without_empty_configuration
from hawkeye_bench.reporting.inputs import JudgeOutput
from hawkeye_bench.reporting.model import Column, Table
from hawkeye_bench.reporting.rows import JudgeDifferenceRow, JudgeScoreRow, LengthBiasRow
from hawkeye_bench.reporting.tables import Rel

JUDGE_SCORE_COLUMNS = [
    Column("criterion", "criterion"),
    Column("judge", "judge"),
    Column("run", "run"),
    Column("configuration", "configuration"),
    Column("mean", "mean score [95% CI]", "float2", interval_key="ci95"),
    Column("n_questions", "questions", "int"),
    Column("n_answers", "answers", "int"),
]

JUDGE_DIFF_COLUMNS = [
    Column("criterion", "criterion"),
    Column("judge", "judge"),
    Column("comparison", "candidate − baseline"),
    Column("difference", "difference [95% CI]", "float2", interval_key="difference_ci"),
    Column("relative", "relative (%) [95% CI]", "percent", interval_key="relative_ci"),
    Column("length_adjusted", "length-adjusted [95% CI]", "float2", interval_key="adjusted_ci"),
    Column("n_questions", "questions", "int"),
]

LENGTH_BIAS_COLUMNS = [
    Column("criterion", "criterion"),
    Column("judge", "judge"),
    Column("spearman", "Spearman ρ (score vs answer chars)", "float2"),
    Column("n", "ratings", "int"),
]

PANEL = "panel"


def judge_score_sets(judge: JudgeOutput) -> dict[tuple[str, str, str], dict[str, list[float]]]:
    """(judge, criterion, run) -> problem id -> scores of its samples, from judgements.jsonl.

    Only first ratings (repeat 0) of single-answer tasks with status ok count, as in
    judge_summary.json. The panel score of an answer is the mean over the judges that rated it.
    """
    per_answer: dict[tuple[str, str, str], dict[tuple[str, int], float]] = defaultdict(dict)
    for line in judge.judgements:
        if line.get("task") != "single" or line.get("repeat", 0) != 0:
            continue
        rated = line.get("scores")
        if line.get("status") != "ok" or not rated:
            continue
        for criterion, score in rated.items():
            key = (line["judge"], criterion, line["run"])
            per_answer[key][(line["id"], line["sample"])] = float(score)
    panel: dict[tuple[str, str], dict[tuple[str, int], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (_, criterion, run), scores in per_answer.items():
        for answer, score in scores.items():
            panel[(criterion, run)][answer].append(score)
    for (criterion, run), answers in panel.items():
        per_answer[(PANEL, criterion, run)] = {a: sum(v) / len(v) for a, v in answers.items()}
    out: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for key, scores in per_answer.items():
        grouped: dict[str, list[float]] = defaultdict(list)
        for (problem, _sample), score in sorted(scores.items()):
            grouped[problem].append(score)
        out[key] = dict(grouped)
    return out


def judge_score_rows(judges: Sequence[JudgeOutput], rel: Rel) -> list[JudgeScoreRow]:
    rows: list[JudgeScoreRow] = []
    for judge in judges:
        scales = {c.name: list(c.scale) for c in judge.judge_summary.criteria}
        configurations = judged_run_labels(judge)
        for (source, criterion, run), by_problem in judge_score_sets(judge).items():
            clusters = list(by_problem.values())
            n_answers = sum(len(c) for c in clusters)
            low, high = cluster_bootstrap_ci(clusters) if len(clusters) > 1 else (None, None)
            rows.append(
                {
                    "criterion": criterion,
                    "judge": source,
                    "run": run,
                    "configuration": configurations.get(run, ""),
                    "judge_output": judge.label,
                    "mean": sum(sum(c) for c in clusters) / n_answers,
                    "ci95": [low, high],
                    "n_questions": len(clusters),
                    "n_answers": n_answers,
                    "scale": scales.get(criterion),
                    "sources": [rel(judge.judgements_file)],
                }
            )
    rows.sort(
        key=lambda r: (r["judge_output"], r["criterion"], r["judge"] == PANEL, r["judge"], r["run"])
    )
    return rows


def _interval(data: Interval | None) -> tuple[float | None, list[float | None]]:
    if data is None:
        return None, [None, None]
    return data.estimate, [data.low, data.high]


def judge_difference_rows(judges: Sequence[JudgeOutput], rel: Rel) -> list[JudgeDifferenceRow]:
    rows: list[JudgeDifferenceRow] = []
    for judge in judges:
        for comp in judge.judge_summary.comparisons:
            diff, diff_ci = _interval(comp.difference)
            relative, relative_ci = _interval(comp.relative_improvement)
            adjusted, adjusted_ci = _interval(comp.length_adjusted_difference)
            rows.append(
                {
                    "criterion": comp.criterion,
                    "judge": comp.judge,
                    "comparison": f"{comp.candidate} − {comp.baseline}",
                    "difference": diff,
                    "difference_ci": diff_ci,
                    "relative": relative,
                    "relative_ci": relative_ci,
                    "length_adjusted": adjusted,
                    "adjusted_ci": adjusted_ci,
                    "n_questions": comp.n_questions,
                    "sources": [rel(judge.summary_file)],
                }
            )
    return rows


def length_bias_rows(judges: Sequence[JudgeOutput], rel: Rel) -> list[LengthBiasRow]:
    rows: list[LengthBiasRow] = []
    for judge in judges:
        for source, per_criterion in judge.judge_summary.length_bias.items():
            for criterion, entry in per_criterion.items():
                rows.append(
                    {
                        "criterion": criterion,
                        "judge": source,
                        "spearman": entry.spearman_score_vs_chars,
                        "n": entry.n,
                        "sources": [rel(judge.summary_file)],
                    }
                )
    rows.sort(key=lambda r: (r["criterion"], r["judge"] == PANEL, r["judge"]))
    return rows


LENGTH_BIAS_NOTE = (
    "Length bias: judges favour longer answers (the longer answer wins 68% of pairwise "
    "verdicts in FastChat #3911, n = 2,999), and Hawkeye's answers are shorter by design, so a "
    "raw score difference understates Hawkeye where length drives the score. The "
    "length-adjusted difference is the intercept of the per-question score difference "
    "regressed on the log-length difference: the difference predicted for answers of equal "
    "length. A positive Spearman ρ means longer answers got higher scores from that judge."
)


def judge_score_table(judges: Sequence[JudgeOutput], rel: Rel) -> Table[JudgeScoreRow]:
    rows = judge_score_rows(judges, rel)
    return Table(
        "judge_scores",
        "Judge scores per criterion, judge and run",
        without_empty_configuration(JUDGE_SCORE_COLUMNS, rows),
        rows,
        [
            "Mean over answers (samples of a problem averaged as a cluster); 95% interval "
            "from a bootstrap over problems (none with a single problem). `panel` = mean "
            "over the judges that rated the answer. Failed judgements are excluded."
        ],
    )


def judge_comparison_tables(
    judges: Sequence[JudgeOutput], rel: Rel
) -> list[Table[JudgeDifferenceRow] | Table[LengthBiasRow]]:
    """The paired differences and the length bias that ``judge_summary.json`` holds, where it
    has them."""
    tables: list[Table[JudgeDifferenceRow] | Table[LengthBiasRow]] = []
    diffs = judge_difference_rows(judges, rel)
    if diffs:
        tables.append(
            Table(
                "judge_differences",
                "Paired differences (candidate − baseline), as computed by `hawkeye-bench judge`",
                JUDGE_DIFF_COLUMNS,
                diffs,
                [
                    "Paired bootstrap (BCa) over questions; read from judge_summary.json.",
                    "relative = mean candidate / mean baseline − 1 on the judge's scale: the "
                    'paper\'s "about 10% better clarity, coherence and conciseness" is this '
                    "column.",
                ],
            )
        )
    bias = length_bias_rows(judges, rel)
    if bias:
        tables.append(
            Table("judge_length_bias", "Score vs answer length", LENGTH_BIAS_COLUMNS, bias, [])
        )
    return tables
