"""The report's results tables: accuracy and tokens, and avg@k / pass@k, computed from the
inputs with the project's own statistics code.

Eval runs are recomputed from ``records.jsonl`` through :mod:`hawkeye_bench.eval.summary` (the code
that writes ``summary.json``). Every row names the files its numbers come from. The latency
tables are :mod:`hawkeye_bench.reporting.latency_tables`, the judges'
:mod:`hawkeye_bench.reporting.judge_tables`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from hawkeye_bench.eval.summary import summarize
from hawkeye_bench.eval.summary_types import RunSummary
from hawkeye_bench.reporting import lm_eval_inputs
from hawkeye_bench.reporting.configs import (
    baseline_pairings,
    run_labels,
    without_empty_configuration,
)
from hawkeye_bench.reporting.inputs import EvalRun, LmEvalOutput
from hawkeye_bench.reporting.methods import accuracy_per_1k, method_name
from hawkeye_bench.reporting.model import Column, Table
from hawkeye_bench.reporting.rows import AccuracyRow, PassAtKRow

Rel = Callable[[Path], str]  # how a file is named in the report


def _token_sources(summary: RunSummary) -> str:
    counts: dict[str, int] = defaultdict(int)
    for stage in summary.stages.values():
        for source, n in stage.token_sources.items():
            counts[source] += n
    text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return text + " (approximate)" if counts.get("chunks") else text


# --------------------------------------------------------------------------- 1. accuracy


ACCURACY_COLUMNS = [
    Column("dataset", "dataset"),
    Column("method", "method"),
    Column("configuration", "configuration"),
    Column("run", "run"),
    Column("n", "items", "int"),
    Column("accuracy", "accuracy % [95% CI]", "percent", interval_key="accuracy_ci"),
    Column("errors", "errors", "int"),
    Column("cot_only_tokens", "CoT-only tokens", "float1"),
    Column("full_tokens", "Full tokens", "float1"),
    Column("compression_percent", "compression %", "float1"),
    Column("compression_pairs", "paired problems", "int"),
    Column("accuracy_per_1k_tokens", "accuracy pp / 1k Full tokens", "float2"),
    Column("token_sources", "tokens from"),
]


def run_summaries(runs: Sequence[EvalRun]) -> dict[Path, RunSummary]:
    """summary.json's numbers recomputed from each run's records (compression vs its baseline)."""
    pairings = baseline_pairings(runs)
    out = {}
    for run in runs:
        pairing = pairings.get(run.path)
        base = pairing.baseline.records if pairing else None
        out[run.path] = summarize(run.records, baseline=base)
    return out


def accuracy_rows_from_runs(
    runs: Sequence[EvalRun], summaries: dict[Path, RunSummary], rel: Rel
) -> list[AccuracyRow]:
    pairings = baseline_pairings(runs)
    labels = run_labels(runs)
    rows: list[AccuracyRow] = []
    for run in runs:
        summary = summaries[run.path]
        acc = summary.accuracy
        pairing = pairings.get(run.path)
        base = pairing.baseline if pairing else None
        compression = summary.vs_baseline.compression if summary.vs_baseline else None
        full = summary.tokens.full.get("mean")
        sources = [rel(run.records_file)]
        if base is not None:
            sources.append(rel(base.records_file))
        rows.append(
            {
                "dataset": run.dataset,
                "method": method_name(run.pipeline),
                "configuration": labels[run.path],
                "run": run.label,
                "n": acc.n,
                "accuracy": acc.mean,
                "accuracy_ci": list(acc.ci95),
                "ci_method": acc.ci_method,
                "errors": summary.errors.count,
                "cot_only_tokens": summary.tokens.cot_only.get("mean"),
                "full_tokens": full,
                "compression_percent": compression.ratio_percent if compression else None,
                "compression_pairs": compression.n_problems if compression else None,
                "compression_vs": pairing.name if pairing is not None else None,
                "accuracy_per_1k_tokens": accuracy_per_1k(acc.mean, full),
                "token_sources": _token_sources(summary),
                "sources": sources,
            }
        )
    return rows


def accuracy_table(
    runs: Sequence[EvalRun],
    summaries: dict[Path, RunSummary],
    lm_evals: Sequence[LmEvalOutput],
    rel: Rel,
) -> Table[AccuracyRow]:
    rows = accuracy_rows_from_runs(runs, summaries, rel)
    rows += lm_eval_inputs.accuracy_rows(lm_evals, rel)
    rows.sort(
        key=lambda r: (
            r["dataset"],
            r["method"] != "Baseline",
            r["method"],
            r.get("configuration", ""),
            r["run"],
        )
    )
    notes = [
        "Accuracy counts failed items as wrong; the interval is Wilson's for one sample per "
        "problem, else a bootstrap over problems.",
        "CoT-only tokens = the reasoner's completion tokens; Full = all stages' completion tokens "
        "(the baseline's single call). Compression = 1 − CoT-only / Baseline-Full, over the "
        "problems both runs answered (means per problem), against the first baseline run of the "
        "same dataset.",
        "Accuracy per 1k tokens = accuracy in percentage points divided by mean Full tokens / "
        "1000. Token counts marked approximate were counted from streamed chunks.",
    ]
    columns = without_empty_configuration(ACCURACY_COLUMNS, rows)
    return Table("accuracy", "Accuracy and tokens", columns, rows, notes)


# --------------------------------------------------------------------------- 2. avg@k / pass@k


def pass_at_k_rows(
    runs: Sequence[EvalRun], summaries: dict[Path, RunSummary], rel: Rel
) -> list[PassAtKRow]:
    rows: list[PassAtKRow] = []
    labels = run_labels(runs)
    for run in runs:
        acc = summaries[run.path].accuracy
        k = acc.samples_per_problem
        if not k:
            continue
        rows.append(
            {
                "dataset": run.dataset,
                "method": method_name(run.pipeline),
                "configuration": labels[run.path],
                "run": run.label,
                "k": k,
                "problems": summaries[run.path].n_problems,
                "avg_at_k": acc.avg_at_k,
                "pass_at": {int(j): v for j, v in (acc.pass_at or {}).items()},
                "sources": [rel(run.records_file)],
            }
        )
    return rows


def pass_at_k_table(rows: Sequence[PassAtKRow]) -> Table[dict[str, object]]:
    """The table shows each row with its ``pass_at`` spread into ``pass@<j>`` cells, one per j
    that any row has."""
    ks = sorted({j for row in rows for j in row["pass_at"]})
    columns = [
        Column("dataset", "dataset"),
        Column("method", "method"),
        Column("configuration", "configuration"),
        Column("run", "run"),
        Column("k", "k", "int"),
        Column("problems", "problems", "int"),
        Column("avg_at_k", "avg@k %", "percent"),
        *(Column(f"pass@{j}", f"pass@{j} %", "percent") for j in ks),
    ]
    cells = [{**row, **{f"pass@{j}": row["pass_at"].get(j) for j in ks}} for row in rows]
    notes = [
        "avg@k = mean accuracy over the k samples of each problem; pass@j = the unbiased "
        "estimator 1 − C(k−c, j)/C(k, j) averaged over problems with all k samples."
    ]
    columns = without_empty_configuration(columns, cells)
    return Table("pass_at_k", "avg@k and pass@k", columns, cells, notes)
