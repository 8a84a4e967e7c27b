"""The accuracy section's paired comparison: every pipeline run (or lm-eval task) against the
baseline of its dataset on the problems both answered, with the non-inferiority verdict.

The statistics are :mod:`hawkeye_bench.eval.comparison`'s, the same as ``summary.json``'s
``accuracy_vs_baseline``; eval runs are paired by problem id, lm-eval tasks by doc_id (from
their ``--log_samples`` files).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypedDict

from hawkeye_bench.eval.comparison import (
    METHOD,
    AccuracyComparison,
    compare_accuracy,
    compare_scores,
)
from hawkeye_bench.pipelines import is_baseline
from hawkeye_bench.reporting.configs import (
    CONFIGURATION,
    baseline_pairings,
    run_labels,
    without_empty_configuration,
)
from hawkeye_bench.reporting.inputs import EvalRun, LmEvalOutput, LmEvalTask
from hawkeye_bench.reporting.lm_eval_inputs import dataset_of, doc_scores, pipeline_of
from hawkeye_bench.reporting.methods import method_name
from hawkeye_bench.reporting.model import Column, Table
from hawkeye_bench.reporting.rows import Interval

Rel = Callable[[Path], str]

COLUMNS = [
    Column("dataset", "dataset"),
    Column("method", "method"),
    Column(CONFIGURATION, "configuration"),
    Column("run", "run"),
    Column("baseline", "baseline run"),
    Column("problems", "paired problems", "int"),
    Column("accuracy", "accuracy %", "percent"),
    Column("baseline_accuracy", "baseline accuracy %", "percent"),
    Column("difference_pp", "difference pp [95% CI]", "float1", interval_key="ci95_pp"),
    Column("mcnemar_p", "McNemar p", "float3"),
    Column("margin_pp", "margin pp", "float1"),
    Column("verdict", "non-inferior?"),
]


class ComparisonRow(TypedDict):
    dataset: str
    method: str
    configuration: str
    run: str
    baseline: str
    problems: int
    accuracy: float
    baseline_accuracy: float
    difference_pp: float
    ci95_pp: Interval
    mcnemar_p: float | None
    margin_pp: float | None
    verdict: str
    sources: list[str]


def _row(
    dataset: str,
    pipeline: str,
    run: str,
    baseline: str,
    c: AccuracyComparison,
    sources: list[str],
    configuration: str = "",
) -> ComparisonRow:
    return {
        "dataset": dataset,
        "method": method_name(pipeline),
        "configuration": configuration,
        "run": run,
        "baseline": baseline,
        "problems": c.n_problems,
        "accuracy": c.accuracy,
        "baseline_accuracy": c.baseline_accuracy,
        "difference_pp": c.difference_pp,
        "ci95_pp": list(c.ci95_pp) if c.ci95_pp is not None else [None, None],
        "mcnemar_p": c.mcnemar_p,
        "margin_pp": c.margin_pp,
        "verdict": c.verdict or "no margin given",
        "sources": sources,
    }


def comparison_rows(
    runs: Sequence[EvalRun], lm_evals: Sequence[LmEvalOutput], rel: Rel, margin_pp: float | None
) -> list[ComparisonRow]:
    rows: list[ComparisonRow] = []
    pairings = baseline_pairings(runs)
    labels = run_labels(runs)
    for run in runs:
        pairing = pairings.get(run.path)
        if pairing is None:
            continue
        base = pairing.baseline
        result = compare_accuracy(run.records, base.records, margin_pp=margin_pp)
        if result is not None:
            sources = [rel(run.records_file), rel(base.records_file)]
            rows.append(
                _row(
                    run.dataset,
                    run.pipeline,
                    run.label,
                    pairing.name,
                    result,
                    sources,
                    labels[run.path],
                )
            )
    tasks = [task for out in lm_evals for task in out.tasks if task.samples]
    base_tasks: dict[str, LmEvalTask] = {}
    for task in tasks:
        if is_baseline(pipeline_of(task)):
            base_tasks.setdefault(dataset_of(task.task), task)
    for task in tasks:
        base_task = base_tasks.get(dataset_of(task.task))
        if is_baseline(pipeline_of(task)) or base_task is None:
            continue
        result = compare_scores(doc_scores(task), doc_scores(base_task), margin_pp=margin_pp)
        if result is not None:
            sources = [rel(f) for f in (task.samples_file, base_task.samples_file) if f]
            rows.append(
                _row(
                    dataset_of(task.task),
                    pipeline_of(task),
                    task.task,
                    base_task.task,
                    result,
                    sources,
                )
            )
    rows.sort(key=lambda r: (r["dataset"], r["method"], r["configuration"], r["run"]))
    return rows


def comparison_table(
    runs: Sequence[EvalRun], lm_evals: Sequence[LmEvalOutput], rel: Rel, margin_pp: float | None
) -> Table[ComparisonRow] | None:
    """The table, or None when no pipeline run has a baseline of its dataset to pair with."""
    rows = comparison_rows(runs, lm_evals, rel, margin_pp)
    if not rows:
        return None
    margin = (
        f"at a margin of {margin_pp:g} percentage points (`report --margin`)"
        if margin_pp is not None
        else "only when a margin is given (`report --margin PP`)"
    )
    notes = [
        "Difference = candidate − baseline accuracy in percentage points over the problems both "
        f"answered (failed items count as wrong), each problem's samples averaged; interval: "
        f"{METHOD}. McNemar p: exact two-sided test on the discordant problems (one sample "
        "per problem).",
        "Each run is paired with the baseline run of its dataset whose configuration matches "
        "(the preset and every setting the two share; the baseline's model is one of the "
        "run's); where none does, with the first baseline given, and the baseline column says "
        "so.",
        f"Non-inferiority is judged {margin}: non-inferior when the interval's lower end is "
        "above −margin, inferior when its upper end is below it, else not shown.",
    ]
    return Table(
        "accuracy_vs_baseline",
        "Accuracy against the baseline (paired)",
        without_empty_configuration(COLUMNS, rows),
        rows,
        notes,
    )
