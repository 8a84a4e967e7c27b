"""The report's cost section: the token view of every run whose endpoints recorded prices, and
the GPU-time view of every load result beside it.

The GPU-time view prices a load target named like a pipeline (``baseline``, ``hawkeye``: the
pipeline server's targets) with that pipeline's roles, each at the GPU prices recorded for the
role with the eval runs' endpoints (the first run that gives a role prices wins). Without any
GPU prices the section says so; it never makes a number up.
"""

from __future__ import annotations

from pathlib import Path

from hawkeye_bench import pipelines
from hawkeye_bench.cost import gpu_view, token_view
from hawkeye_bench.cost.prices import PriceBook, RolePrices
from hawkeye_bench.reporting import tables
from hawkeye_bench.reporting.configs import (
    CONFIGURATION,
    baseline_pairings,
    run_labels,
    without_empty_configuration,
)
from hawkeye_bench.reporting.inputs import Inputs
from hawkeye_bench.reporting.load_inputs import stored_results
from hawkeye_bench.reporting.model import Column, Section, Table
from hawkeye_bench.reporting.rows import GpuCostRow, TokenCostRow

COST_COLUMNS = [
    Column("run", "run"),
    Column(CONFIGURATION, "configuration"),
    Column("dataset", "dataset"),
    Column("pipeline", "pipeline"),
    Column("problems", "problems", "int"),
    Column("correct", "correct", "int"),
    Column("usd_per_1k_problems", "USD / 1k problems", "float4"),
    Column("usd_per_correct", "USD / correct", "float4"),
    Column("ratio", "vs baseline (%)", "percent"),
    Column("baseline", "baseline run"),
    Column("why_unknown", "not priced"),
]
GPU_COLUMNS = [
    Column("load", "load"),
    Column("target", "target"),
    Column("level", "load level"),
    Column("mean_latency_s", "mean s / request", "float3"),
    Column("throughput", "X (req/s)", "float3"),
    Column("usd_per_hour", "GPU USD / h", "float4"),
    Column("usd_per_request", "USD / request", "float6"),
    Column("usd_per_1k_requests", "USD / 1k requests", "float4"),
    Column("ratio", "vs baseline (%)", "percent"),
    Column("why_unknown", "not priced"),
]
NO_GPU_PRICES = (
    "GPU-time view: no GPU prices given (give an endpoint `prices: {gpu_hour_usd: ..., gpus: "
    "..., placement: ...}`, or run `hawkeye-bench cost LOAD... --prices FILE`)."
)
INTRO = (
    "USD from the prices recorded with each run's endpoints (`endpoints: {role: {prices: "
    "...}}`) and the token counts in its records; `hawkeye-bench cost RUN... --prices FILE` "
    "recomputes with other prices, and gives the GPU-time view of load results. A role "
    "without prices is named under *not priced* and its run has no USD value."
)


def cost_section(inputs: Inputs, rel: tables.Rel) -> Section | None:
    """The section, or None when no run recorded any prices (the report then has none)."""
    books = {
        run.path: PriceBook.from_manifest(
            run.manifest.to_json() if run.manifest else {}, rel(run.manifest_file)
        )
        for run in inputs.runs
    }
    if not any(book.entries for book in books.values()):
        return None
    costs = [
        token_view.run_cost(
            run.label, run.records, [books[run.path]], dataset=run.dataset, pipeline=run.pipeline
        )
        for run in inputs.runs
    ]
    by_path = {run.path: cost for run, cost in zip(inputs.runs, costs, strict=True)}
    for path, pairing in baseline_pairings(inputs.runs).items():
        token_view.compare(by_path[path], by_path[pairing.baseline.path], pairing.name)
    labels = run_labels(inputs.runs)
    rows: list[TokenCostRow] = [
        {
            "run": cost.label,
            "configuration": labels[run.path],
            "dataset": cost.dataset,
            "pipeline": cost.pipeline,
            "problems": cost.problems,
            "correct": cost.correct,
            "usd_per_1k_problems": cost.per_1k_problems,
            "usd_per_correct": cost.per_correct,
            "ratio": cost.ratio,
            "baseline": cost.baseline,
            "why_unknown": "; ".join(cost.reasons),
            "sources": [rel(run.records_file), rel(run.manifest_file)],
        }
        for cost, run in zip(costs, inputs.runs, strict=True)
    ]
    section = Section("cost", "Cost")
    section.intro.append(INTRO)
    section.tables.append(
        Table(
            "cost_tokens",
            "Token view",
            without_empty_configuration(COST_COLUMNS, rows),
            rows,
            notes=list(token_view.ASSUMPTIONS),
        )
    )
    if inputs.loads:
        gpu_book = load_price_book(inputs, books)
        if any(entry.gpu is not None for entry in gpu_book.entries.values()):
            section.tables.append(gpu_table(inputs, gpu_book, rel))
        else:
            section.intro.append(NO_GPU_PRICES)
    return section


def load_price_book(inputs: Inputs, books: dict[Path, PriceBook]) -> PriceBook:
    """The runs' recorded prices merged by role, and each pipeline-named load target's roles."""
    entries: dict[str, RolePrices] = {}
    for run in inputs.runs:
        for role, prices in books[run.path].entries.items():
            entries.setdefault(role, prices)
    targets: dict[str, tuple[str, ...]] = {}
    for load in inputs.loads:
        for stage in stored_results(load).stages:
            cls = pipelines.find_pipeline(stage.target)
            if cls is not None:
                targets[cls.name] = tuple(cls.roles)
    return PriceBook(entries=entries, source="the eval runs' endpoint prices", load_targets=targets)


def placement_notes(book: PriceBook) -> list[str]:
    notes = []
    for target, roles in book.load_targets.items():
        parts = []
        for role in roles:
            entry = book.entries.get(role)
            gpu = entry.gpu if entry is not None else None
            if gpu is None:
                parts.append(f"{role}: no GPU prices given")
                continue
            share = f", share {gpu.share:g}" if gpu.share is not None else ""
            parts.append(
                f"{role}: {gpu.gpus:g} GPU x {gpu.gpu_hour_usd:g} USD/h, {gpu.placement}{share}"
            )
        notes.append(f"target {target} = pipeline {target}'s roles: {'; '.join(parts)}")
    return notes


def gpu_table(inputs: Inputs, book: PriceBook, rel: tables.Rel) -> Table[GpuCostRow]:
    rows: list[GpuCostRow] = []
    unreliable: list[str] = []
    for load in inputs.loads:
        for stage in gpu_view.load_costs(load.results, book):
            if stage.unreliable_note:
                unreliable.append(f"{load.label}: {stage.unreliable_note}.")
            rows.append(
                {
                    "load": load.label,
                    "target": stage.target,
                    "level": stage.level,
                    "concurrency": stage.concurrency,
                    "mean_latency_s": stage.mean_latency_s,
                    "throughput": stage.throughput,
                    "usd_per_hour": stage.usd_per_hour,
                    "usd_per_request": stage.usd_per_request,
                    "usd_per_1k_requests": stage.usd_per_1k_requests,
                    "ratio": stage.ratio,
                    "why_unknown": "; ".join(stage.reasons),
                    "sources": [
                        rel(load.results_file),
                        *(rel(run.manifest_file) for run in inputs.runs),
                    ],
                }
            )
    notes = [*gpu_view.ASSUMPTIONS, *placement_notes(book), *unreliable]
    return Table("cost_gpu", "GPU-time view", GPU_COLUMNS, rows, notes=notes)
