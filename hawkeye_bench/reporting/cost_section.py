"""The report's cost section: the token view of every run whose endpoints recorded prices."""

from __future__ import annotations

from hawkeye_bench.cost import token_view
from hawkeye_bench.cost.prices import PriceBook
from hawkeye_bench.reporting import tables
from hawkeye_bench.reporting.inputs import Inputs
from hawkeye_bench.reporting.model import Column, Section, Table

COST_COLUMNS = [
    Column("run", "run"),
    Column("dataset", "dataset"),
    Column("pipeline", "pipeline"),
    Column("problems", "problems", "int"),
    Column("correct", "correct", "int"),
    Column("usd_per_1k_problems", "USD / 1k problems", "float4"),
    Column("usd_per_correct", "USD / correct", "float4"),
    Column("ratio", "vs baseline (%)", "percent"),
    Column("why_unknown", "not priced"),
]
INTRO = (
    "USD from the prices recorded with each run's endpoints (`endpoints: {role: {prices: "
    "...}}`) and the token counts in its records; `hawkeye-bench cost RUN... --prices FILE` "
    "recomputes with other prices, and gives the GPU-time view of load results. A role "
    "without prices is named under *not priced* and its run has no USD value."
)


def cost_section(inputs: Inputs, rel: tables.Rel) -> Section | None:
    """The section, or None when no run recorded any prices (the report then has none)."""
    books = {
        run.path: PriceBook.from_manifest(run.manifest, rel(run.manifest_file))
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
    token_view.compare_with_baselines(costs)
    rows = [
        {
            "run": cost.label,
            "dataset": cost.dataset,
            "pipeline": cost.pipeline,
            "problems": cost.problems,
            "correct": cost.correct,
            "usd_per_1k_problems": cost.per_1k_problems,
            "usd_per_correct": cost.per_correct,
            "ratio": cost.ratio,
            "why_unknown": "; ".join(cost.reasons),
            "sources": [rel(run.records_file), rel(run.manifest_file)],
        }
        for cost, run in zip(costs, inputs.runs, strict=True)
    ]
    section = Section("cost", "Cost")
    section.intro.append(INTRO)
    section.tables.append(
        Table("cost_tokens", "Token view", COST_COLUMNS, rows, notes=list(token_view.ASSUMPTIONS))
    )
    return section
