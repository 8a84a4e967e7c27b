"""The report's latency tables: the timings eval runs recorded, and latency under load.

Load stages are recomputed from their raw request files through :mod:`hawkeye_bench.load.metrics`
when the files are there. Speedups divide a baseline's mean time per request by each row's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar, cast

from hawkeye_bench.core.stats import describe
from hawkeye_bench.load.open_loop import Distribution
from hawkeye_bench.load.registry import load_metrics, table_load_metrics
from hawkeye_bench.pipelines import is_baseline
from hawkeye_bench.reporting.configs import (
    pair_baseline,
    run_labels,
    with_config,
    without_empty_configuration,
)
from hawkeye_bench.reporting.inputs import EvalRun
from hawkeye_bench.reporting.load_inputs import LoadStage
from hawkeye_bench.reporting.methods import (
    is_baseline_method,
    method_sort_key,
    trace_timing,
    views_for,
)
from hawkeye_bench.reporting.methods import mean_tbt_s as pooled_tbt_s
from hawkeye_bench.reporting.methods import view_stages as stages_of_view
from hawkeye_bench.reporting.model import Column, Table
from hawkeye_bench.reporting.rows import EvalLatencyRow, LatencyRow, LoadLatencyRow
from hawkeye_bench.reporting.tables import Rel


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


LATENCY_COLUMNS = [
    Column("dataset", "dataset"),
    Column("method", "method"),
    Column("concurrency", "c", "int"),
    Column("n", "requests", "int"),
    Column("time_mean_s", "Time per Req s", "float3"),
    Column("tbt_mean_s", "Avg TBT s", "float4"),
    Column("tokens_mean", "Tokens", "float1"),
    Column("ttft_mean_s", "TTFT s", "float3"),
    Column("ttft_p50_s", "TTFT p50 s", "float3"),
    Column("ttft_p90_s", "TTFT p90 s", "float3"),
    Column("ttft_p99_s", "TTFT p99 s", "float3"),
    Column("time_p50_s", "Time p50 s", "float3"),
    Column("time_p90_s", "Time p90 s", "float3"),
    Column("time_p99_s", "Time p99 s", "float3"),
    Column("speedup", "speedup (Baseline / this)", "ratio"),
    Column("token_share", "tokens vs Baseline %", "percent"),
]


#: the eval-run rows also say which run and configuration they time
EVAL_LATENCY_COLUMNS = [
    *LATENCY_COLUMNS[:2],
    Column("configuration", "configuration"),
    Column("run", "run"),
    *LATENCY_COLUMNS[2:],
    Column("baseline_run", "vs baseline run"),
]

L = TypeVar("L", bound=LatencyRow)


def _dataset_and_c(row: LatencyRow) -> tuple[object, ...]:
    return (row["dataset"], row["concurrency"])


def _with_speedups(
    rows: Sequence[L],
    is_baseline: Callable[[L], bool],
    group: Callable[[L], tuple[object, ...]] = _dataset_and_c,
) -> None:
    """Add Baseline-time / row-time and row-tokens / Baseline-tokens per ``group`` (by default
    (dataset, c))."""
    base = {group(r): r for r in rows if is_baseline(r)}
    for row in rows:
        _set_speedup(row, base.get(group(row)))


def _set_speedup(row: L, ref: LatencyRow | None) -> None:
    row["speedup"] = _ratio(ref["time_mean_s"], row["time_mean_s"]) if ref else None
    row["token_share"] = _ratio(row["tokens_mean"], ref["tokens_mean"]) if ref else None
    row["speedup_baseline"] = ref["method"] if ref else None


def _eval_speedups(timed: Sequence[tuple[EvalRun, EvalLatencyRow]]) -> None:
    """Each pipeline row against the baseline run of its dataset and c whose configuration
    matches its own (:func:`pair_baseline`; else the first, named as not matched)."""
    base_rows = {
        (run.path, row["concurrency"]): row
        for run, row in timed
        if is_baseline_method(row["method"])
    }
    base_runs = list({run.path: run for run, row in timed if is_baseline(run.pipeline)}.values())
    for run, row in timed:
        if is_baseline(run.pipeline):
            _set_speedup(row, base_rows.get((run.path, row["concurrency"])))
            continue
        c = row["concurrency"]
        same = [b for b in base_runs if b.dataset == run.dataset and (b.path, c) in base_rows]
        pairing = pair_baseline(run, same)
        _set_speedup(row, base_rows[(pairing.baseline.path, c)] if pairing else None)
        row["baseline_run"] = pairing.name if pairing else None


def _ms_to_s(dist: Distribution | None, stat: str) -> float | None:
    value = None if dist is None else dist.get(stat)
    return None if value is None else value / 1000.0


def eval_latency_rows(runs: Sequence[EvalRun], rel: Rel) -> list[EvalLatencyRow]:
    """The paper's latency columns from the StageResults of eval runs (client concurrency)."""
    timed: list[tuple[EvalRun, EvalLatencyRow]] = []
    labels = run_labels(runs)
    for run in runs:
        for view in views_for(run.pipeline):
            ok = [r.trace for r in run.records if trace_timing(r.trace, view) is not None]
            timings = [trace_timing(t, view) for t in ok]
            time = describe([t.time_s for t in timings if t is not None])
            ttft = describe([t.ttft_s for t in timings if t is not None])
            tokens = describe([t.tokens for t in timings if t is not None])
            all_stages = [s for t in ok for s in stages_of_view(t, view)]
            row: EvalLatencyRow = {
                "dataset": run.dataset,
                "method": view,
                "concurrency": run.concurrency,
                "run": run.label,
                "configuration": labels[run.path],
                "n": int(time["n"] or 0),
                "time_mean_s": time["mean"],
                "time_p50_s": time["p50"],
                "time_p90_s": time["p90"],
                "time_p99_s": time["p99"],
                "tbt_mean_s": pooled_tbt_s(all_stages) if all_stages else None,
                "tokens_mean": tokens["mean"],
                "ttft_mean_s": ttft["mean"],
                "ttft_p50_s": ttft["p50"],
                "ttft_p90_s": ttft["p90"],
                "ttft_p99_s": ttft["p99"],
                "sources": [rel(run.records_file)],
                "speedup": None,
                "token_share": None,
                "speedup_baseline": None,
                "baseline_run": None,
            }
            timed.append((run, row))
    _eval_speedups(timed)
    rows = [row for _, row in timed]
    rows.sort(
        key=lambda r: (
            r["dataset"],
            r["concurrency"] or 0,
            method_sort_key(r["method"]),
            r["configuration"],
            r["run"],
        )
    )
    return rows


def eval_latency_table(runs: Sequence[EvalRun], rel: Rel) -> Table[EvalLatencyRow]:
    notes = [
        "From the per-stage timings the eval runs recorded (not a load test): c is the run's "
        "client concurrency (problems in flight), not a measured server load.",
        "Time per Req: Baseline = its single call; CoT only = the reasoner call; Full = first "
        "send to the last token of stage 2. TTFT = send to the first token of the first stage. "
        "Avg TBT = (time after the first token) / (tokens − 1), pooled over the stages and "
        "requests. Tokens = completion tokens of the counted stages.",
        "Speedup = Baseline mean Time per Req / this row's at the same dataset and c, the "
        "baseline being the run of this row's configuration (the preset and shared settings "
        "equal, its model one of this run's); where none matches, the first baseline given, "
        "and `vs baseline run` says so. The paper's headline is Baseline / CoT only, end to "
        "end it is Baseline / Full.",
    ]
    rows = eval_latency_rows(runs, rel)
    notes += [f"Speedups, {line}." for line in speedup_sentences(rows)]
    return Table(
        "latency_eval",
        "Latency recorded during evaluation runs",
        without_empty_configuration(EVAL_LATENCY_COLUMNS, rows),
        rows,
        notes,
    )


#: the latency table's column prefix that speedups divide (``time_mean_s``)
LOAD_TIME_COLUMN = "time"


def _load_cell_key(column: str, stat: str, unit: str) -> str:
    return f"{column}_{stat}_s" if unit == "ms" else f"{column}_{stat}"


def _load_cell(dist: Distribution | None, stat: str, unit: str) -> float | None:
    if unit == "ms":
        return _ms_to_s(dist, stat)
    return None if dist is None else dist.get(stat)


#: cell key -> value, for the cells the load metric registry gives the latency-under-load table
LoadCells = dict[str, float | None]


def load_metric_cells(
    metrics: dict[str, Distribution | None], *, cot_only: bool = False
) -> LoadCells:
    """The cells of every registered load metric with a table column, from one stage's
    ``metrics``. For a ``(CoT only)`` row each column comes from the metric registered with that
    ``cot_only_column`` instead, and is empty when there is none."""
    fill = {m.cot_only_column: m for m in load_metrics() if m.cot_only_column}
    cells: LoadCells = {}
    for metric in table_load_metrics():
        assert metric.table_column is not None
        source = fill.get(metric.table_column) if cot_only else metric
        for stat in metric.table_stats:
            key = _load_cell_key(metric.table_column, stat, metric.unit)
            dist = None if source is None else metrics.get(source.name)
            cells[key] = None if source is None else _load_cell(dist, stat, source.unit)
    return cells


def load_latency_columns() -> list[Column]:
    """The paper's latency columns, plus one per cell of a registered load metric that they
    lack, before the speedup columns."""
    known = {c.key for c in LATENCY_COLUMNS}
    extra = []
    for metric in table_load_metrics():
        assert metric.table_column is not None
        for stat in metric.table_stats:
            key = _load_cell_key(metric.table_column, stat, metric.unit)
            if key not in known:
                seconds = metric.unit == "ms"
                extra.append(
                    Column(
                        key,
                        f"{metric.table_column} {stat}{' s' if seconds else ''}",
                        "int" if stat == "n" else "float3" if seconds else "float1",
                    )
                )
    at = next(i for i, c in enumerate(LATENCY_COLUMNS) if c.key == "speedup")
    load = Column("load", "load run")
    level = Column("level", "load")  # in place of c: concurrency, rate and arrivals, or trace
    return [
        *LATENCY_COLUMNS[:2],
        load,
        level,
        *LATENCY_COLUMNS[3:at],
        *extra,
        *LATENCY_COLUMNS[at:],
    ]


def _load_row(row: Mapping[str, object]) -> LoadLatencyRow:
    """``row`` as a LoadLatencyRow, once it is checked to have every key that declares. Its
    cells are keyed by the load metric registry at run time, which a static type cannot
    follow; LoadLatencyRow declares the built-in metrics' cells, which every row needs."""
    missing = [key for key in LoadLatencyRow.__required_keys__ if key not in row]
    if missing:
        raise KeyError(f"a latency-under-load row lacks {sorted(missing)} (a load metric gone?)")
    return cast(LoadLatencyRow, dict(row))


def load_latency_rows(stages: Sequence[LoadStage], rel: Rel) -> list[LoadLatencyRow]:
    rows: list[LoadLatencyRow] = []
    for stage in stages:
        counts = stage.metrics.requests
        row: dict[str, object] = {
            "dataset": stage.dataset,
            "method": stage.target,
            "concurrency": stage.concurrency,
            "load": stage.load_label,
            "level": stage.level.label,
            "n": counts.ok,
            "measured": counts.measured,
            "errors": counts.errors,
            "baseline_target": stage.baseline_target,
            "reliable": stage.reliable,
            **load_metric_cells(stage.metrics.metrics),
            "metrics_from": stage.metrics_from,
            "sources": [rel(p) for p in stage.sources],
            "speedup": None,
            "token_share": None,
            "speedup_baseline": None,
        }
        rows.append(_load_row(row))
    rows += cot_only_load_rows(rows, stages)
    order = {s.level.label: s.level for s in stages}
    rows.sort(key=lambda r: (r["load"], r["dataset"], order[r["level"]]))
    _with_speedups(
        rows,
        lambda r: r["method"] == r["baseline_target"],
        lambda r: (r["load"], r["dataset"], r["level"]),
    )
    return rows


def cot_only_load_rows(
    rows: Sequence[LoadLatencyRow], stages: Sequence[LoadStage]
) -> list[LoadLatencyRow]:
    """For a target that streamed reasoning (the pipeline server): its CoT-only view, each
    column from the metric registered for it with ``cot_only_column`` (time: to the end of
    stage 1, ``reasoning_end_ms``; tokens: stage 1's, ``cot_tokens``; TBT: the gaps within
    stage 1, ``cot_tbt_ms``)."""
    timed_by = [m.name for m in load_metrics() if m.cot_only_column == LOAD_TIME_COLUMN]
    extra: list[LoadLatencyRow] = []
    for row, stage in zip(rows, stages, strict=True):
        metrics = stage.metrics.metrics
        if not any(metrics.get(name) for name in timed_by):
            continue
        if row["method"] == row["baseline_target"]:
            continue
        cot_row: dict[str, object] = {
            **row,
            "method": f"{stage.target} (CoT only)",
            **load_metric_cells(metrics, cot_only=True),
        }
        extra.append(_load_row(cot_row))
    return extra


def load_latency_table(stages: Sequence[LoadStage], rel: Rel) -> Table[LoadLatencyRow]:
    rows = load_latency_rows(stages, rel)
    notes = [
        "Measured with `hawkeye-bench load` (Locust, one user per concurrent request). "
        "Statistics are recomputed from the raw per-request files with "
        "hawkeye_bench.load.metrics when they are present, else read from load_results.json.",
        "Time per Req = send to the last token-bearing chunk; TTFT = send to the first "
        "non-empty token (reasoning or content); Avg TBT = each gap between token-bearing "
        "chunks divided by the tokens in the later chunk, pooled over requests; Tokens = "
        "completion tokens per request. Percentiles interpolate the raw samples.",
        "Speedup = the load run's baseline target's mean Time per Req / this row's, at the "
        "same load (closed loop: the concurrency; open loop: the requested rate and arrival "
        "process; a trace: its file and speed). For the pipeline server that is Baseline / "
        "Full; its `(CoT only)` row is stage 1 alone: each request timed to the server's "
        "stage-end marker (reasoning_end_ms), with stage 1's tokens and the gaps within "
        "stage 1 (a responder that also thinks is not counted), giving the paper's headline "
        "Baseline / CoT only.",
    ]
    notes += [f"Speedups, {line}." for line in speedup_sentences(rows, lambda r: str(r["level"]))]
    unreliable = [r for r in rows if r["reliable"] is False]
    for row in unreliable:
        notes.append(
            f"{row['method']} at {row['level']}: the load runner marked this stage "
            "unreliable (see its load_results.json)."
        )
    return Table("latency_load", "Latency under load", load_latency_columns(), rows, notes)


def _concurrency_level(row: LatencyRow) -> str:
    return f"c={row['concurrency']}"


def _configuration(row: LatencyRow) -> str:
    return str(cast(Mapping[str, object], row).get("configuration") or "")


def speedup_sentences(
    rows: Sequence[L], level: Callable[[L], str] = _concurrency_level
) -> list[str]:
    """One line per (dataset, load level) with a baseline: every other method's speedup, as in
    the paper."""
    groups: dict[tuple[str, str], list[L]] = defaultdict(list)
    for row in rows:
        if row["speedup"] is not None and row["method"] != row["speedup_baseline"]:
            groups[(row["dataset"], level(row))].append(row)
    lines = []
    for (dataset, load_level), group in groups.items():
        parts = [
            f"{r['speedup_baseline']} / {with_config(r['method'], _configuration(r))} = "
            f"{r['speedup']:.2f}×"
            + (f" (tokens {r['token_share'] * 100:.1f}% of Baseline's)" if r["token_share"] else "")
            for r in group
        ]
        lines.append(f"{dataset}, {load_level}: " + "; ".join(parts))
    return lines
