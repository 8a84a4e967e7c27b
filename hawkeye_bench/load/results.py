"""The load-test table (the paper's Time per Req / Avg TBT / Tokens, plus TTFT and percentiles)
as ``load_results.json`` (:class:`~hawkeye_bench.load.results_json.LoadResults`),
``load_table.md`` (:mod:`~hawkeye_bench.load.results_markdown`) and ``load_table.csv``.

Every number in the table is read from the stage statistics, which come from raw records.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from hawkeye_bench.load.metrics import PERCENTILES
from hawkeye_bench.load.registry import csv_load_metrics
from hawkeye_bench.load.results_json import LoadResults, build_results
from hawkeye_bench.load.results_markdown import level, render_markdown
from hawkeye_bench.load.stage_result import LoadStageResult

RESULTS_FILE = "load_results.json"
TABLE_MD = "load_table.md"
TABLE_CSV = "load_table.csv"
#: the statistics of every CSV metric, as columns ``<metric>_<stat>``
STAT_KEYS = ("n", "mean", *(f"p{p}" for p in PERCENTILES))

#: one row of ``load_table.csv``: column -> cell
CsvRow = dict[str, str | int | float | bool | None]

__all__ = [
    "RESULTS_FILE",
    "STAT_KEYS",
    "TABLE_CSV",
    "TABLE_MD",
    "LoadResults",
    "build_results",
    "csv_rows",
    "level",
    "read_results",
    "render_markdown",
    "write_outputs",
]


def _stage_columns(stage: LoadStageResult) -> CsvRow:
    """A stage's identity, verdict, request counts and metric statistics."""
    row: CsvRow = {
        "target": stage.target,
        "url": stage.url,
        "concurrency": stage.concurrency,
        "reliable": stage.reliable,
        "unreliable_reasons": "; ".join(stage.unreliable_reasons),
        "failed": stage.failed or "",
    }
    if stage.statistics is not None:
        row.update(dataclasses.asdict(stage.statistics.requests))
    for metric in csv_load_metrics():
        for stat in STAT_KEYS:
            row[f"{metric.name}_{stat}"] = stage.stat(metric.name, stat)
    return row


def _open_loop_columns(stage: LoadStageResult) -> CsvRow:
    flow = stage.open_loop
    if flow is None:
        return {}
    return {
        "rate_requested_per_s": flow.requested_per_s,
        "rate_achieved_per_s": flow.achieved_per_s,
        "send_lag_p99_ms": flow.stat("send_lag_ms", "p99"),
        "delayed_by_cap": flow.delayed_by_cap,
        "in_flight_max": flow.in_flight.max,
    }


def csv_row(results: LoadResults, stage: LoadStageResult) -> CsvRow:
    """One stage as a ``load_table.csv`` row."""
    row = _stage_columns(stage)
    speed = results.speedup_for(stage)
    row["e2e_speedup"] = None if speed is None else speed.e2e_speedup
    row["cot_speedup"] = None if speed is None else speed.cot_speedup
    row["ttft_speedup"] = None if speed is None else speed.ttft_speedup
    row["token_share"] = None if speed is None else speed.token_share
    statistics = stage.statistics
    row["near_zero_gap_share"] = None if statistics is None else statistics.near_zero_gap_share
    row["error_share"] = stage.error_share
    row["torn_lines"] = stage.torn_lines.total
    cot_end = {} if statistics is None else statistics.cot_end_sources
    row["cot_end_from"] = ";".join(f"{k}:{v}" for k, v in cot_end.items())
    row["goodput_share"] = stage.goodput_share
    row.update(_open_loop_columns(stage))
    row["slo_met"] = stage.slo_met
    throughput = None if statistics is None else statistics.throughput
    row["requests_per_s"] = None if throughput is None else throughput.requests_per_s
    row["output_tokens_per_s"] = None if throughput is None else throughput.output_tokens_per_s
    row["client_cpu_max_percent"] = stage.cpu.max_percent
    row["client_cpu_saturated"] = stage.cpu.saturated
    sources = {} if statistics is None else statistics.token_sources
    row["tokens_from"] = ";".join(f"{k}:{v}" for k, v in sources.items())
    return row


def csv_rows(results: LoadResults) -> list[CsvRow]:
    return [csv_row(results, stage) for stage in results.stages]


def read_results(folder: Path) -> LoadResults:
    """The ``load_results.json`` of a load folder."""
    data = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    return LoadResults.from_json(data)


def write_outputs(results: LoadResults, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / RESULTS_FILE,
        "markdown": out_dir / TABLE_MD,
        "csv": out_dir / TABLE_CSV,
    }
    paths["json"].write_text(json.dumps(results.to_json(), indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(results), encoding="utf-8")
    rows = csv_rows(results)
    fieldnames: list[str] = []
    for row in rows:
        fieldnames += [k for k in row if k not in fieldnames]
    with paths["csv"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return paths
