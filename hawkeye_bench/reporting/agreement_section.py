"""The report's agreement section: for runs imported with the file's own verdicts
(``hawkeye-bench import``), the harness's accuracy beside the file's, how often the two agree,
and where the disagreeing items are listed. Left out when no such run is given."""

from __future__ import annotations

from pathlib import Path

from hawkeye_bench.importing.agreement import DISAGREEMENTS_FILE, agreement
from hawkeye_bench.reporting.configs import CONFIGURATION, run_labels, without_empty_configuration
from hawkeye_bench.reporting.inputs import Inputs
from hawkeye_bench.reporting.model import Column, Section, Table
from hawkeye_bench.reporting.tables import Rel

COLUMNS = [
    Column("run", "run"),
    Column(CONFIGURATION, "configuration"),
    Column("task", "task"),
    Column("verdicts", "the file's verdicts"),
    Column("n", "n", "int"),
    Column("file_accuracy", "file accuracy (%)", "percent"),
    Column("harness_accuracy", "harness accuracy (%)", "percent"),
    Column("agreement_rate", "agreement (%)", "percent"),
    Column("cohen_kappa", "Cohen's kappa", "float3"),
    Column("disagreeing", "disagreeing", "int"),
    Column("list", "listed in"),
]


def agreement_section(inputs: Inputs, rel: Rel) -> Section | None:
    rows = []
    labels = run_labels(inputs.runs)
    for run in inputs.runs:
        result = agreement(run.records)
        if result is None:
            continue
        listed = Path(run.path) / DISAGREEMENTS_FILE
        imported = (run.manifest.import_ if run.manifest else None) or {}
        source = imported.get("verdict_source") or "the file's score"
        rows.append(
            {
                "run": run.label,
                CONFIGURATION: labels[run.path],
                "task": run.dataset,
                "verdicts": source,
                **result.to_dict(),
                "list": rel(listed) if listed.is_file() else "-",
                "sources": [rel(run.records_file)],
            }
        )
    if not rows:
        return None
    section = Section("agreement", "Agreement with the imported files' own verdicts")
    section.intro.append(
        "Runs imported with `hawkeye-bench import` from files that carry their own verdict per "
        "output (the upstream Hawkeye `score`, lm-eval's metric): the file's accuracy and the "
        "harness's on the same outputs, the share of outputs where the two verdicts agree, and "
        "Cohen's kappa (agreement beyond chance). Each disagreeing output is listed, with the "
        "extracted answer and the gold, in the file named per run."
    )
    columns = without_empty_configuration(COLUMNS, rows)
    section.tables.append(Table("agreement", "Harness vs file verdicts", columns, rows))
    return section
