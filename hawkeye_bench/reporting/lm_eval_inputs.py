"""Accuracy and token rows from lm-eval outputs of the ``hawkeye_*`` tasks.

Per-document metrics (``exact_match``, ``cot_tokens``, ``total_tokens``) are read from
``samples_<task>_<date>.jsonl`` when lm-eval ran with ``--log_samples``; without them only the
aggregate in ``results_<date>.json`` is shown (accuracy ± 1.96 × lm-eval's stderr, no
compression, which needs per-document pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypedDict

from hawkeye_bench.core.stats import Z95, cluster_bootstrap_ci, wilson_interval
from hawkeye_bench.pipelines import is_baseline
from hawkeye_bench.reporting.inputs import LmEvalOutput, LmEvalTask, ReportInputError
from hawkeye_bench.reporting.lm_eval_form import HawkeyeModelInfo, LmEvalConfig
from hawkeye_bench.reporting.methods import accuracy_per_1k, method_name
from hawkeye_bench.reporting.rows import AccuracyRow, Interval, PassAtKRow

Rel = Callable[[Path], str]
TASK_PREFIX = "hawkeye_"
ACCURACY_METRIC = "exact_match"


def dataset_of(task: str) -> str:
    return task.removeprefix(TASK_PREFIX)


def model_args(config: LmEvalConfig) -> dict[str, str]:
    """lm-eval's ``config.model_args`` as a dict (it is a "k=v,k=v" string or a dict)."""
    raw = config.get("model_args") or {}
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    pairs = (part.split("=", 1) for part in str(raw).split(",") if "=" in part)
    return {k.strip(): v.strip() for k, v in pairs}


def hawkeye_info(config: LmEvalConfig) -> HawkeyeModelInfo:
    """What the hawkeye lm-eval model put into ``config`` (get_model_info), if it ran."""
    info = config.get("hawkeye")
    return info if isinstance(info, dict) else {}


def pipeline_of(task: LmEvalTask) -> str:
    pipeline = hawkeye_info(task.config).get("pipeline") or model_args(task.config).get("pipeline")
    return str(pipeline or task.config.get("model", "?"))


def _metric_value(results: dict[str, Any], name: str) -> tuple[float | None, float | None]:
    """(value, stderr) of metric ``name`` under any filter ("exact_match,none", ...)."""
    for key, value in results.items():
        metric, _, filt = key.partition(",")
        if metric == name and isinstance(value, int | float):
            stderr = results.get(f"{name}_stderr,{filt}")
            return float(value), stderr if isinstance(stderr, int | float) else None
    return None, None


def _per_doc(task: LmEvalTask, metric: str) -> dict[str, float]:
    """doc_id -> metric value from the samples file (the first filter only)."""
    values: dict[str, float] = {}
    first_filter = task.samples[0].get("filter") if task.samples else None
    for number, sample in enumerate(task.samples, start=1):
        if sample.get("filter") != first_filter:
            continue
        if "doc_id" not in sample:
            raise ReportInputError(f"{task.samples_file}: sample {number} has no doc_id")
        value = sample.get(metric)
        if isinstance(value, bool | int | float):
            values[str(sample["doc_id"])] = float(value)
    return values


def doc_scores(task: LmEvalTask) -> dict[str, list[float]]:
    """doc_id -> [exact_match] (avg@k for a document sampled k times), for paired comparisons."""
    return {doc: [value] for doc, value in _per_doc(task, ACCURACY_METRIC).items()}


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _compression(cot: dict[str, float], base_full: dict[str, float]) -> tuple[float | None, int]:
    shared = sorted(set(cot) & set(base_full))
    cot_mean, base_mean = _mean([cot[d] for d in shared]), _mean([base_full[d] for d in shared])
    if cot_mean is None or not base_mean:
        return None, len(shared)
    return (1 - cot_mean / base_mean) * 100, len(shared)


class _ComparedWith(TypedDict, total=False):
    compression_vs: str


def accuracy_rows(outputs: Sequence[LmEvalOutput], rel: Rel) -> list[AccuracyRow]:
    """One row per task; ``compression_vs`` only where compression was measured."""
    tasks = [(out, task) for out in outputs for task in out.tasks]
    baselines: dict[str, LmEvalTask] = {}
    for _, task in tasks:
        if is_baseline(pipeline_of(task)):
            baselines.setdefault(dataset_of(task.task), task)
    rows: list[AccuracyRow] = []
    for out, task in tasks:
        pipeline = pipeline_of(task)
        dataset = dataset_of(task.task)
        errors: int | None = None
        ratio: float | None = None
        pairs: int | None = None
        compared: _ComparedWith = {}
        if task.samples:
            correct = _per_doc(task, ACCURACY_METRIC)
            full = _per_doc(task, "total_tokens")
            cot = {} if is_baseline(pipeline) else _per_doc(task, "cot_tokens")
            n: int | None = len(correct)
            hits = sum(correct.values())
            if all(v in (0.0, 1.0) for v in correct.values()):
                interval, ci_method = wilson_interval(hits, len(correct)), "wilson"
            else:  # avg@k per document: resample documents
                interval = cluster_bootstrap_ci([[v] for v in correct.values()])
                ci_method = "bootstrap over problems"
            errors = int(sum(_per_doc(task, "request_error").values()))
            accuracy = hits / len(correct) if correct else None
            accuracy_ci: Interval = list(interval)
            cot_only_tokens = _mean(list(cot.values()))
            full_tokens = _mean(list(full.values()))
            sources = [rel(task.samples_file)] if task.samples_file else []
            base = baselines.get(dataset)
            if base is not None and base is not task and cot:
                ratio, pairs = _compression(cot, _per_doc(base, "total_tokens"))
                compared = {"compression_vs": base.task}
                if base.samples_file:
                    sources.append(rel(base.samples_file))
        else:
            acc, stderr = _metric_value(task.results, ACCURACY_METRIC)
            n = task.results.get("sample_len")
            accuracy = acc
            accuracy_ci = (
                [acc - Z95 * stderr, acc + Z95 * stderr]
                if acc is not None and stderr
                else [None, None]
            )
            ci_method = "lm-eval stderr"
            cot_only_tokens = (
                None if is_baseline(pipeline) else _metric_value(task.results, "cot_tokens")[0]
            )
            full_tokens = _metric_value(task.results, "total_tokens")[0]
            sources = [rel(task.results_file)]
        # the key order of report.json's lm-eval rows
        rows.append(
            {
                "dataset": dataset,
                "method": method_name(pipeline),
                "run": f"{out.label}:{task.task} (lm-eval)",
                "errors": errors,
                "compression_percent": ratio,
                "compression_pairs": pairs,
                "token_sources": "lm-eval metrics",
                "n": n,
                "accuracy": accuracy,
                "accuracy_ci": accuracy_ci,
                "ci_method": ci_method,
                "cot_only_tokens": cot_only_tokens,
                "full_tokens": full_tokens,
                "sources": sources,
                **compared,
                "accuracy_per_1k_tokens": accuracy_per_1k(accuracy, full_tokens),
            }
        )
    return rows


def pass_at_k_rows(outputs: Sequence[LmEvalOutput], rel: Rel) -> list[PassAtKRow]:
    """avg@k / pass@k of tasks run with repeats (the AIME tasks), from their samples."""
    rows: list[PassAtKRow] = []
    for out in outputs:
        for task in out.tasks:
            names = {m for s in task.samples[:1] for m in s.get("metrics", [])}
            ks = sorted(int(m.split("@", 1)[1]) for m in names if m.startswith("pass@"))
            if not ks or not task.samples_file:
                continue
            avg = _mean(list(_per_doc(task, ACCURACY_METRIC).values()))
            rows.append(
                {
                    "dataset": dataset_of(task.task),
                    "method": method_name(pipeline_of(task)),
                    "run": f"{out.label}:{task.task} (lm-eval)",
                    "k": max(ks),
                    "problems": len(_per_doc(task, ACCURACY_METRIC)),
                    "avg_at_k": avg,
                    "pass_at": {k: _mean(list(_per_doc(task, f"pass@{k}").values())) for k in ks},
                    "sources": [rel(task.samples_file)],
                }
            )
    return rows
