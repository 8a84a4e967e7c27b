"""Assemble the report from the inputs and write report.md, report.json and the PNG figures."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from hawkeye_bench.eval.summary_types import RunSummary
from hawkeye_bench.reporting import (
    figures,
    judge_tables,
    latency_tables,
    lm_eval_inputs,
    load_rate_section,
    provenance,
    tables,
)
from hawkeye_bench.reporting.agreement_section import agreement_section
from hawkeye_bench.reporting.comparison_table import comparison_table
from hawkeye_bench.reporting.compress_section import compress_section, describe_sweeps
from hawkeye_bench.reporting.cost_section import cost_section
from hawkeye_bench.reporting.inputs import Inputs, read_inputs
from hawkeye_bench.reporting.load_inputs import all_load_stages
from hawkeye_bench.reporting.model import Report, Section
from hawkeye_bench.reporting.render import render
from hawkeye_bench.reporting.route_section import route_section
from hawkeye_bench.reporting.trl_section import training_section

REPORT_MD = "report.md"
REPORT_JSON = "report.json"

NO_ACCURACY = (
    "No eval run folder (`hawkeye-bench eval`) or lm-eval output folder was given, so there is "
    "no accuracy and token table."
)
NO_LOAD = (
    "No load-result folder (`hawkeye-bench load`, with load_results.json) was given, so the "
    "latency-under-load table and its figures are left out."
)
NO_LATENCY_AT_ALL = "No load-result folder and no eval run was given, so there is no latency table."
NO_JUDGE = (
    "No judgement folder (`hawkeye-bench judge`, with judgements.jsonl and judge_summary.json) "
    "was given, so there are no judge scores."
)
NO_PASS_AT_K = (
    "No run sampled a problem more than once (`hawkeye-bench eval --samples k`), so there is "
    "no avg@k / pass@k table."
)


def _relative(out: Path) -> tables.Rel:
    base = out.resolve()

    def rel(path: Path) -> str:
        return os.path.relpath(Path(path).resolve(), base)

    return rel


def accuracy_section(
    inputs: Inputs,
    summaries: dict[Path, RunSummary],
    out: Path,
    rel: tables.Rel,
    margin_pp: float | None = None,
) -> Section:
    section = Section("accuracy", "Accuracy and tokens")
    if not inputs.runs and not inputs.lm_evals:
        section.missing = NO_ACCURACY
        return section
    table = tables.accuracy_table(inputs.runs, summaries, inputs.lm_evals, rel)
    section.tables.append(table)
    paired = comparison_table(inputs.runs, inputs.lm_evals, rel, margin_pp)
    if paired is not None:
        section.tables.append(paired)
    for figure in (
        figures.accuracy_vs_tokens(table.rows, out),
        figures.token_distributions(inputs.runs, out, rel),
    ):
        if figure is not None:
            section.figures.append(figure)
    return section


def latency_section(inputs: Inputs, out: Path, rel: tables.Rel) -> tuple[Section, list[str]]:
    section = Section("latency", "Latency")
    stages, failed = all_load_stages(inputs.loads)
    if not inputs.loads and not inputs.runs:
        section.missing = NO_LATENCY_AT_ALL
        return section, failed
    if stages:
        section.tables.append(latency_tables.load_latency_table(stages, rel))
        samples = figures.load_latency_samples(stages)
        raw_sources = list(dict.fromkeys(rel(p) for s in stages for p in s.sources))
        for figure in (
            figures.latency_cdfs(
                samples,
                out,
                "load_latency_cdf.png",
                "Time per request and TTFT under load, per load level (CDF of "
                "the measured successful requests).",
                raw_sources,
            ),
            figures.tbt_by_position(stages, out, rel),
            load_rate_section.latency_vs_rate(stages, out, rel),
        ):
            if figure is not None:
                section.figures.append(figure)
        sustainable = load_rate_section.sustainable_rate_table(inputs.loads, rel)
        if sustainable.rows:
            section.tables.append(sustainable)
    else:
        section.missing = NO_LOAD
    if inputs.runs:
        section.tables.append(latency_tables.eval_latency_table(inputs.runs, rel))
        figure = figures.latency_cdfs(
            figures.eval_latency_samples(inputs.runs),
            out,
            "eval_latency_cdf.png",
            "Time per request and TTFT recorded by the eval runs (CDF per method), per client "
            "concurrency.",
            [rel(r.records_file) for r in inputs.runs],
        )
        if figure is not None:
            section.figures.append(figure)
    return section, failed


def judge_section(inputs: Inputs, out: Path, rel: tables.Rel) -> Section:
    section = Section("judges", "Judge scores")
    if not inputs.judgements:
        section.missing = NO_JUDGE
        return section
    section.intro.append(judge_tables.LENGTH_BIAS_NOTE)
    scores = judge_tables.judge_score_table(inputs.judgements, rel)
    section.tables += [scores, *judge_tables.judge_comparison_tables(inputs.judgements, rel)]
    for figure in (
        figures.judge_scores(scores.rows, out),
        figures.judge_radars(scores.rows, out),
    ):
        if figure is not None:
            section.figures.append(figure)
    return section


def pass_at_k_section(
    inputs: Inputs, summaries: dict[Path, RunSummary], out: Path, rel: tables.Rel
) -> Section:
    section = Section("pass_at_k", "avg@k and pass@k")
    rows = tables.pass_at_k_rows(inputs.runs, summaries, rel)
    rows += lm_eval_inputs.pass_at_k_rows(inputs.lm_evals, rel)
    if not rows:
        section.missing = NO_PASS_AT_K
        return section
    section.tables.append(tables.pass_at_k_table(rows))
    figure = figures.pass_at_k(rows, out)
    if figure is not None:
        section.figures.append(figure)
    return section


def build_report(
    inputs: Inputs,
    out: Path,
    title: str = "hawkeye-bench report",
    margin_pp: float | None = None,
) -> Report:
    """The report model; figures are written into ``out`` as it is built. ``margin_pp``: the
    non-inferiority margin each pipeline run is judged at against its baseline."""
    out.mkdir(parents=True, exist_ok=True)
    rel = _relative(out)
    summaries = tables.run_summaries(inputs.runs)
    report = Report(title=title, out=out, provenance=provenance.describe_inputs(inputs, rel))
    latency, failed_stages = latency_section(inputs, out, rel)
    report.sections = [
        accuracy_section(inputs, summaries, out, rel, margin_pp),
        latency,
        judge_section(inputs, out, rel),
        pass_at_k_section(inputs, summaries, out, rel),
        compress_section(inputs, out, rel),
        route_section(inputs, out, rel),
    ]
    agreement = agreement_section(inputs, rel)
    if agreement is not None:  # only for imported runs that carry their file's verdicts
        report.sections.append(agreement)
    report.provenance += describe_sweeps(inputs, rel)
    cost = cost_section(inputs, rel)
    if cost is not None:  # only when a run or load result has prices
        report.sections.append(cost)
    training = training_section(inputs, out, rel)
    if training is not None:  # only when a TRL training log is given
        report.sections.append(training)
    report.notes += failed_stages + inputs.notes
    return report


def write_report(
    paths: Iterable[str | Path],
    out: str | Path,
    title: str | None = None,
    margin_pp: float | None = None,
) -> Report:
    """Read the input folders and write report.md, report.json and figures into ``out``."""
    out = Path(out)
    inputs = read_inputs(paths)
    report = build_report(inputs, out, title or "hawkeye-bench report", margin_pp)
    (out / REPORT_JSON).write_text(
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / REPORT_MD).write_text(render(report), encoding="utf-8")
    return report
