"""``load_table.md``: the paper's table (Time per Req / Avg TBT / Tokens, plus TTFT and the
speedups), percentiles, goodput, open-loop timing, the rate sweep, notes and the metric
definitions. Every number is read from the stage statistics, which come from raw records."""

from __future__ import annotations

from collections.abc import Sequence

from hawkeye_bench.core.markdown import markdown_table
from hawkeye_bench.load.metrics import NEAR_ZERO_GAP_MS, PERCENTILES
from hawkeye_bench.load.plan import PlanDescription
from hawkeye_bench.load.results_json import LoadResults, MetricDefinition
from hawkeye_bench.load.stage_result import LoadStageResult
from hawkeye_bench.load.stream import COT_END_LAST_REASONING
from hawkeye_bench.load.sweep import RATE, SweepSummary

PAPER_HEADER = [
    "c",
    "target",
    "ok / measured",
    "errors",
    "Time per Req (s)",
    "Avg TBT (s)",
    "Tokens",
    "TTFT (s)",
    "speedup (E2E)",
    "token share",
    "reasoning tokens",
    "CoT end (s)",
    "speedup (CoT only)",
    "client CPU max",
    "reliable",
]


def fmt(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def _stats(
    stage: LoadStageResult, name: str, stats: Sequence[str], scale: float, digits: int
) -> str:
    return " / ".join(fmt(stage.stat(name, stat), scale, digits) for stat in stats)


def _triple(stage: LoadStageResult, name: str, scale: float, digits: int) -> str:
    return _stats(stage, name, [f"p{p}" for p in PERCENTILES], scale, digits)


def level(stage: LoadStageResult) -> str:
    """A stage's load in the tables' first column: its concurrency, ``R/s`` (open loop) or
    ``trace``."""
    if stage.trace is not None:
        return "trace"
    return str(stage.concurrency) if stage.rate is None else f"{stage.rate:g}/s"


def render_markdown(results: LoadResults) -> str:
    stages = results.stages
    lines = [
        *_intro_lines(results.plan, results.created),
        "",
        "## Paper table (means)",
        "",
        *_paper_table(results),
        *_percentiles_section(stages),
        *_goodput_section(results.plan, stages),
        *_open_loop_section(stages),
        *_sweep_section(results.sweep, stages),
        *_notes_section(stages),
        *_definitions_section(results.definitions),
    ]
    return "\n".join(lines)


def _intro_lines(plan: PlanDescription, created: str) -> list[str]:
    return [
        "# Load test",
        "",
        f"Created {created}. Baseline: **{plan.baseline}**. Prompts: "
        f"`{plan.prompts}`, max_tokens {plan.max_tokens}, model {plan.model}, "
        f"{plan.requests_per_stage or 'duration-bound'} successful measured requests per stage, "
        f"warmup {plan.warmup_s:g} s. All statistics are computed from the raw per-request "
        "records (not Locust's bucketed percentiles).",
        "",
        *markdown_table(["target", "URL"], [[t.name, t.url] for t in plan.targets]),
    ]


def _paper_table(results: LoadResults) -> list[str]:
    rows = []
    for stage in results.stages:
        rows.append(_paper_row(results, stage))
        cot = _cot_only_row(results, stage)
        if cot is not None:
            rows.append(cot)
    return markdown_table(PAPER_HEADER, rows)


def _cot_only_row(results: LoadResults, stage: LoadStageResult) -> list[str] | None:
    """A reasoning target's "(CoT only)" view, as the report shows it: time to the CoT end,
    TBT within the CoT, CoT tokens, TTFT to the first reasoning token; None for the baseline,
    a failed stage or a target with no CoT end."""
    if stage.is_failed or stage.target == results.plan.baseline:
        return None
    end = stage.stat("reasoning_end_ms", "mean")
    if end is None:
        return None
    row = results.speedup_for(stage)
    speedup = None if row is None else row.cot_speedup
    share = None if row is None else row.cot_token_share
    return [
        level(stage),
        f"{stage.target} (CoT only)",
        "",
        "",
        fmt(end, 1e-3),
        fmt(stage.stat("cot_tbt_ms", "mean"), 1e-3, 4),
        fmt(stage.stat("cot_tokens", "mean"), digits=1),
        fmt(stage.stat("ttft_reasoning_ms", "mean"), 1e-3),
        "–" if speedup is None else fmt(speedup, digits=2) + "×",
        "–" if share is None else fmt(share, 100, 1) + " %",
        *[""] * 5,
    ]


def _paper_row(results: LoadResults, stage: LoadStageResult) -> list[str]:
    c, target = level(stage), stage.target
    if stage.failed is not None:
        return [c, target, "–", "–", f"failed: {stage.failed}", *[""] * 9, "no"]
    counts = stage.requests
    speedup, share, cot_speedup = _speedup_cells(results, stage)
    cpu = stage.cpu.max_percent
    return [
        c,
        target,
        f"{counts.ok} / {counts.measured}",
        str(counts.errors),
        fmt(stage.stat("e2e_ms", "mean"), 1e-3),
        fmt(stage.stat("tbt_ms", "mean"), 1e-3, 4),
        fmt(stage.stat("output_tokens", "mean"), digits=1),
        fmt(stage.stat("ttft_ms", "mean"), 1e-3),
        speedup,
        share,
        fmt(stage.stat("reasoning_tokens", "mean"), digits=1),
        fmt(stage.stat("reasoning_end_ms", "mean"), 1e-3),
        cot_speedup,
        f"{fmt(cpu, digits=0)} %",
        _reliable_cell(stage),
    ]


def _speedup_cells(results: LoadResults, stage: LoadStageResult) -> tuple[str, str, str]:
    """(E2E speedup, token share, CoT-only speedup) of a stage against the baseline."""
    row = results.speedup_for(stage)
    is_baseline = stage.target == results.plan.baseline
    speedup = "1 (baseline)" if is_baseline else "–"
    share = "100 %" if is_baseline else "–"
    cot_speedup = "–"
    if row is not None:
        speedup = fmt(row.e2e_speedup, digits=2) + "×"
        share = fmt(row.token_share, 100, 1) + " %"
        if row.cot_speedup is not None:
            cot_speedup = fmt(row.cot_speedup, digits=2) + "×"
    return speedup, share, cot_speedup


def _percentiles_section(stages: Sequence[LoadStageResult]) -> list[str]:
    pct = "/".join(f"p{p}" for p in PERCENTILES)
    header = [
        "c",
        "target",
        f"Time per Req {pct} (s)",
        f"TTFT {pct} (ms)",
        f"TBT {pct} (ms)",
        f"Tokens {pct}",
        "TTFT-content p50 (ms)",
        "TT_ACK p50 (ms)",
        "TPOT mean (ms)",
        f"gaps < {NEAR_ZERO_GAP_MS:g} ms",
        "tokens from",
    ]
    rows = [_percentiles_row(stage) for stage in stages if not stage.is_failed]
    return ["", "## Percentiles", "", *markdown_table(header, rows)]


def _percentiles_row(stage: LoadStageResult) -> list[str]:
    statistics = stage.statistics
    token_sources = {} if statistics is None else statistics.token_sources
    near_zero = None if statistics is None else statistics.near_zero_gap_share
    sources = ", ".join(f"{k} {v}" for k, v in sorted(token_sources.items()))
    return [
        level(stage),
        stage.target,
        _triple(stage, "e2e_ms", 1e-3, 3),
        _triple(stage, "ttft_ms", 1, 1),
        _triple(stage, "tbt_ms", 1, 2),
        _triple(stage, "output_tokens", 1, 0),
        fmt(stage.stat("ttft_content_ms", "p50"), digits=1),
        fmt(stage.stat("tt_ack_ms", "p50"), digits=1),
        fmt(stage.stat("tpot_ms", "mean"), digits=2),
        f"{fmt(near_zero, 100, 1)} %",
        sources or "–",
    ]


def _goodput_section(plan: PlanDescription, stages: Sequence[LoadStageResult]) -> list[str]:
    if not plan.slo:
        return []
    bounds = ", ".join(f"{k} <= {v:g}" for k, v in plan.slo.items())
    verdicts = {True: "yes", False: "**no**"}
    rows = []
    for stage in stages:
        good = None if stage.statistics is None else stage.statistics.goodput
        if good is None:
            continue
        met = "–" if stage.slo_met is None else verdicts[stage.slo_met]
        rows.append(
            [
                level(stage),
                stage.target,
                f"{good.good} / {good.measured}",
                f"{fmt(good.share, 100, 1)} %",
                met,
            ]
        )
    header = ["c", "target", "good / measured", "goodput", "SLO met"]
    return [
        "",
        f"## Goodput (SLO: {bounds}; failed requests miss it)",
        "",
        *markdown_table(header, rows),
    ]


def _open_loop_section(stages: Sequence[LoadStageResult]) -> list[str]:
    rows = []
    for stage in stages:
        stats = stage.open_loop
        if stats is None:
            continue
        flight = stats.in_flight
        lag = f"{fmt(stats.stat('send_lag_ms', 'p50'), digits=2)} / "
        lag += fmt(stats.stat("send_lag_ms", "p99"), digits=2)
        rows.append(
            [
                stage.target,
                fmt(stats.requested_per_s, digits=2),
                fmt(stats.scheduled_per_s, digits=2),
                fmt(stats.achieved_per_s, digits=2),
                lag,
                f"{stats.delayed_by_cap} (cap {stage.concurrency})",
                f"{flight.max if flight.max is not None else '–'} / {fmt(flight.mean, digits=1)}",
            ]
        )
    if not rows:
        return []
    header = [
        "target",
        "requested /s",
        "scheduled /s",
        "achieved /s",
        "send lag p50 / p99 (ms)",
        "waited for a free slot",
        "in flight max / mean",
    ]
    return [
        "",
        "## Open loop (requests sent when due)",
        "",
        "Scheduled: the rate of the seeded due times themselves (a random schedule's own "
        "rate differs from the requested one by chance); achieved: of the actual sends. Send "
        "lag: sent minus due. In flight: sampled every second in load_results.json.",
        "",
        *markdown_table(header, rows),
    ]


SWEEP_HEADER = [
    "target",
    "rate /s",
    "achieved /s",
    "kept schedule",
    "TTFT p50 / p99 (ms)",
    "TBT p50 / p99 (ms)",
    "E2E p50 / p99 (s)",
    "goodput",
]


def _sweep_row(stage: LoadStageResult) -> list[str]:
    flow = stage.open_loop
    share = stage.goodput_share
    return [
        stage.target,
        "–" if stage.rate is None else f"{stage.rate:.3g}",
        fmt(None if flow is None else flow.achieved_per_s, digits=2),
        "no" if stage.saturation else "yes",
        _stats(stage, "ttft_ms", ("p50", "p99"), 1, 1),
        _stats(stage, "tbt_ms", ("p50", "p99"), 1, 2),
        _stats(stage, "e2e_ms", ("p50", "p99"), 1e-3, 3),
        "–" if share is None else f"{fmt(share, 100, 1)} %",
    ]


def _sweep_section(sweep: SweepSummary | None, stages: Sequence[LoadStageResult]) -> list[str]:
    """The rate sweep: each target's synchronous, throughput and sustainable rate, and its
    latency against the achieved rate."""
    if sweep is None:
        return []
    summary = [
        [
            target,
            fmt(sweep.synchronous_per_s.get(target), digits=2),
            fmt(sweep.throughput_per_s.get(target), digits=2),
            fmt(sustainable, digits=2) if sustainable is not None else "none of the rates",
        ]
        for target, sustainable in sweep.sustainable_per_s.items()
    ]
    rows = [_sweep_row(s) for s in stages if s.sweep_role == RATE and not s.is_failed]
    goodput = sweep.min_goodput
    bound = f"goodput >= {100 * goodput:g} %, " if goodput is not None else ""
    return [
        "",
        f"## Rate sweep ({sweep.points} points)",
        "",
        f"Sustainable: the highest swept rate that kept its schedule ({bound}errors within "
        "--max-error-rate).",
        "",
        *markdown_table(["target", "synchronous /s", "throughput /s", "sustainable /s"], summary),
        "",
        *markdown_table(SWEEP_HEADER, rows),
    ]


def _notes_section(stages: Sequence[LoadStageResult]) -> list[str]:
    notes = [note for stage in stages for note in _stage_notes(stage)]
    return ["", "## Notes", "", *notes] if notes else []


def _stage_notes(stage: LoadStageResult) -> list[str]:
    """Unreliability reasons, errors, torn raw lines and CoT-end fallbacks of one stage."""
    notes = [f"- {stage.stage}: unreliable: {r}" for r in stage.unreliable_reasons]
    statistics = stage.statistics
    errors = {} if statistics is None else statistics.errors_by_message
    for message, count in errors.items():
        notes.append(f"- {stage.stage}: {count} × error `{message}`")
    torn = stage.torn_lines.total
    if torn:
        notes.append(
            f"- {stage.stage}: {torn} torn last line(s) dropped from the raw files "
            "(Locust was killed while writing)"
        )
    fallback = (
        None if statistics is None else statistics.cot_end_sources.get(COT_END_LAST_REASONING)
    )
    if fallback:
        notes.append(
            f"- {stage.stage}: CoT end of {fallback} request(s) is the last reasoning "
            "token (the server sent no stage_end marker): for a multi-stage pipeline it "
            "includes the final stage's own reasoning"
        )
    return notes


def _definitions_section(definitions: dict[str, MetricDefinition]) -> list[str]:
    return [
        "",
        "## Metric definitions",
        "",
        "Timestamps are `time.perf_counter()` taken right after each SSE line is read, before "
        "JSON parsing. Latency statistics cover successful measured requests; percentiles are "
        "linear interpolations of the raw samples.",
        "",
        *markdown_table(
            ["metric", "unit", "definition"],
            [[f"`{key}`", entry.unit, entry.definition] for key, entry in definitions.items()],
        ),
        "",
    ]


def _reliable_cell(stage: LoadStageResult) -> str:
    if stage.reliable:
        return "yes"
    reasons = "; ".join(stage.unreliable_reasons)
    return f"**no**: {reasons}" if reasons else "**no**"
