"""The report's compression-study section: accuracy against the share of a writer's CoT kept,
one line per responder and method, with the full-CoT and no-CoT anchors, and how far the
achieved share is from the requested one.

Inputs: compress-sweep folders (every run they list) and single ``eval --pipeline compress``
runs. Both conventions are shown: kept share (compressed / original tokens) and compression
rate (1 - kept share, the removed share).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawkeye_bench.core.stats import describe
from hawkeye_bench.eval.compress_sweep import (
    ANCHORS,
    SweepRun,
    responder_label,
    role_label,
    run_row,
)
from hawkeye_bench.pipelines.compress_facts import CompressFacts
from hawkeye_bench.reporting import compress_figures
from hawkeye_bench.reporting.compress_figures import AccuracyRow, AchievedRow
from hawkeye_bench.reporting.configs import run_labels, without_empty_configuration
from hawkeye_bench.reporting.inputs import CompressSweep, EvalRun, Inputs
from hawkeye_bench.reporting.model import Column, InputEntry, Section, Table
from hawkeye_bench.reporting.tables import Rel

NO_COMPRESS = (
    "No compression sweep (`hawkeye-bench compress-sweep`, with sweep.json) and no "
    "compress-pipeline run (`hawkeye-bench eval --pipeline compress`) was given, so there is "
    "no compression study."
)
ANCHOR_METHODS = frozenset(method for method, _ in ANCHORS)

ACCURACY_COLUMNS = [
    Column("task", "task"),
    Column("configuration", "configuration"),
    Column("responder", "responder"),
    Column("method", "method"),
    Column("kept_requested", "kept requested (%)", "percent"),
    Column("compression_requested", "compression requested (%)", "percent"),
    Column("kept_achieved", "kept achieved (%)", "percent"),
    Column("compression_achieved", "compression achieved (%)", "percent"),
    Column("n", "n", "int"),
    Column("accuracy", "accuracy (%) [95% CI]", "percent", interval_key="accuracy_ci"),
    Column("errors", "errors", "int"),
    Column("cot_leaks", "CoT holds answer", "int"),
    Column("refused", "refused", "int"),
    Column("longer_than_original", "longer than original", "int"),
    Column("truncated", "truncated", "int"),
    Column("overthinking_share", "overthinking (%)", "percent"),
]
ACHIEVED_COLUMNS = [
    Column("task", "task"),
    Column("configuration", "configuration"),
    Column("method", "method"),
    Column("kept_requested", "kept requested (%)", "percent"),
    Column("items", "items", "int"),
    Column("mean", "achieved mean (%)", "percent"),
    Column("p50", "achieved p50 (%)", "percent"),
    Column("min", "achieved min (%)", "percent"),
    Column("max", "achieved max (%)", "percent"),
    Column("over_request", "items above request", "int"),
    Column("tokenizer", "counted by"),
]


@dataclass(frozen=True)
class CompressRun:
    """One run of the study: which method, share and responder, and where it came from."""

    run: SweepRun
    eval_run: EvalRun
    responder: str
    sweep: CompressSweep | None = None


def compress_runs(inputs: Inputs) -> list[CompressRun]:
    """Every sweep's runs, then every single compress-pipeline run (its method and share read
    from its records)."""
    found = [
        CompressRun(run, eval_run, responder_label(eval_run.manifest, run), sweep)
        for sweep in inputs.sweeps
        for run, eval_run in sweep.runs
    ]
    for eval_run in inputs.runs:
        if eval_run.pipeline != "compress":
            continue
        info = CompressFacts.of(eval_run.records[0].trace)
        run = SweepRun(info.method or "?", info.requested_keep) if info else SweepRun("?", 0.0)
        found.append(CompressRun(run, eval_run, responder_label(eval_run.manifest, run)))
    return found


def _sources(item: CompressRun, rel: Rel) -> list[str]:
    files = [rel(item.eval_run.records_file)]
    if item.sweep is not None:
        files.insert(0, rel(item.sweep.sweep_file))
    return files


#: facets the study's tables show in their own columns, left out of the configuration label
SHOWN_FACETS = ("method", "keep", "responder", "responder server")


def accuracy_rows(items: Sequence[CompressRun], rel: Rel) -> list[AccuracyRow]:
    """One row per run: accuracy (Wilson 95% interval) and compression facts, both
    conventions; ordered by task, configuration (what else sets the run apart: the writer, the
    compressor, the preset), responder, anchors first, then method and share."""
    labels = run_labels([item.eval_run for item in items], hide=SHOWN_FACETS)
    rows = [_accuracy_row(item, labels[item.eval_run.path], rel) for item in items]
    rows.sort(
        key=lambda r: (
            r["task"],
            r["configuration"],
            r["responder"],
            r["method"] not in ANCHOR_METHODS,
            r["method"],
            -r["kept_requested"],
        )
    )
    return rows


def _accuracy_row(item: CompressRun, configuration: str, rel: Rel) -> AccuracyRow:
    """The sweep table's row of one run (its interval as one pair) with its task,
    configuration and sources."""
    writer = role_label(item.eval_run.manifest, "writer", item.run.writer)
    cells = run_row(item.eval_run.records, item.run, item.responder, writer)
    return {
        "task": item.eval_run.dataset,
        "configuration": configuration,
        "writer": cells["writer"],
        "responder": cells["responder"],
        "method": cells["method"],
        "kept_requested": cells["kept_requested"],
        "compression_requested": cells["compression_requested"],
        "kept_achieved": cells["kept_achieved"],
        "compression_achieved": cells["compression_achieved"],
        "n": cells["n"],
        "correct": cells["correct"],
        "accuracy": cells["accuracy"],
        "errors": cells["errors"],
        "cot_leaks": cells["cot_leaks"],
        "refused": cells["refused"],
        "longer_than_original": cells["longer_than_original"],
        "truncated": cells["truncated"],
        "overthinking_share": cells["overthinking_share"],
        "accuracy_ci": [cells["ci95_low"], cells["ci95_high"]],
        "sources": _sources(item, rel),
    }


def achieved_rows(items: Sequence[CompressRun], rel: Rel) -> list[AchievedRow]:
    """Per task, configuration (writer, compressor, ...), method and requested share: the
    distribution of the achieved kept share over the items. A compression every responder of
    a sweep shares is counted once."""
    Group = tuple[str, str, str, float]
    shares: dict[Group, dict[tuple[Any, ...], float]] = defaultdict(dict)
    counters: dict[Group, set[str]] = defaultdict(set)
    sources: dict[Group, list[str]] = defaultdict(list)
    labels = run_labels([item.eval_run for item in items], hide=SHOWN_FACETS)
    for item in items:
        if item.run.method in ANCHOR_METHODS:
            continue
        group = (
            item.eval_run.dataset,
            labels[item.eval_run.path],
            item.run.method,
            item.run.keep,
        )
        sources[group] += [s for s in _sources(item, rel) if s not in sources[group]]
        for record in item.eval_run.records:
            info = CompressFacts.of(record.trace)
            if info is None or info.achieved_keep is None:
                continue
            text = (info.compressed, info.original_tokens)
            shares[group][(record.problem.id, record.sample, *text)] = info.achieved_keep
            counters[group].add(f"{info.tokenizer or '?'} ({info.token_source})")
    rows: list[AchievedRow] = []
    for group in sorted(shares, key=lambda g: (g[0], g[1], g[2], -g[3])):
        task, configuration, method, keep = group
        values = list(shares[group].values())
        stats = describe(values)
        rows.append(
            {
                "task": task,
                "configuration": configuration,
                "method": method,
                "kept_requested": keep,
                "items": len(values),
                "mean": stats["mean"],
                "p50": stats["p50"],
                "min": stats["min"],
                "max": stats["max"],
                "over_request": sum(1 for v in values if v > keep),
                "tokenizer": ", ".join(sorted(counters[group])),
                "achieved": values,
                "sources": sources[group],
            }
        )
    return rows


def compress_section(inputs: Inputs, out: Path, rel: Rel) -> Section:
    section = Section("compression", "Compression study (CoT kept share)")
    items = compress_runs(inputs)
    if not items:
        section.missing = NO_COMPRESS
        return section
    section.intro.append(
        "A writer's chain of thought (CoT) compressed to a kept share, and a responder answering "
        "from it. *kept* = compressed CoT tokens / original CoT tokens; *compression* = 1 - kept "
        "(the removed share: the paper's compression rate). Achieved shares are per-item means, "
        "counted by the tokenizer named in the second table. Anchors: method *full* (the CoT "
        "unchanged) and *none* (no CoT). 95% Wilson intervals. *CoT holds answer*: the "
        "writer's CoT already states the gold answer; *truncated*: an item with a stage cut at "
        "its token limit; *overthinking*: mean share of the writer's CoT words after its first "
        "prefix that already gives the right answer (no model involved)."
    )
    for sweep in inputs.sweeps:
        if sweep.not_run:
            missing = ", ".join(r.folder for r in sweep.not_run)
            section.intro.append(
                f"Sweep `{rel(sweep.path)}` lists runs not written yet: {missing}."
            )
    rows = accuracy_rows(items, rel)
    achieved = achieved_rows(items, rel)
    section.tables.append(
        Table(
            "compress_accuracy",
            "Accuracy against compression",
            without_empty_configuration(ACCURACY_COLUMNS, rows),
            rows,
        )
    )
    section.tables.append(
        Table(
            "compress_achieved",
            "Achieved against requested kept share (per item)",
            without_empty_configuration(ACHIEVED_COLUMNS, achieved),
            [{k: v for k, v in row.items() if k != "achieved"} for row in achieved],
        )
    )
    for figure in (
        compress_figures.accuracy_vs_compression(rows, out),
        compress_figures.achieved_vs_requested(achieved, out),
    ):
        if figure is not None:
            section.figures.append(figure)
    return section


def describe_sweeps(inputs: Inputs, rel: Rel) -> list[InputEntry]:
    """The report's input rows for compress-sweep folders."""
    return [
        InputEntry(
            kind="compress sweep",
            folder=rel(sweep.path),
            details={
                "task": sweep.sweep.settings.task,
                "preset": sweep.sweep.settings.preset,
                "limit": sweep.sweep.settings.limit,
                "writers": ", ".join(
                    dict.fromkeys(role_label(e.manifest, "writer", r.writer) for r, e in sweep.runs)
                ),
                "responders": ", ".join(
                    dict.fromkeys(responder_label(e.manifest, r) for r, e in sweep.runs)
                ),
                "runs": f"{len(sweep.runs)} of {len(sweep.runs) + len(sweep.not_run)}",
            },
            files=[rel(sweep.sweep_file)],
        )
        for sweep in inputs.sweeps
    ]
