"""The load-test table (the paper's Time per Req / Avg TBT / Tokens, plus TTFT and percentiles)
as ``load_results.json``, ``load_table.md`` and ``load_table.csv``.

Every number in the table is read from the stage statistics, which come from raw records; the
speedup of a target is the baseline's mean E2E divided by the target's at the same concurrency
(the first target is the baseline, as in the paper: Baseline / Hawkeye).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hawkeye_bench.core.markdown import markdown_table
from hawkeye_bench.load.metrics import NEAR_ZERO_GAP_MS, PERCENTILES
from hawkeye_bench.load.registry import csv_load_metrics, load_metrics
from hawkeye_bench.load.stream import COT_END_LAST_REASONING

RESULTS_FILE = "load_results.json"
TABLE_MD = "load_table.md"
TABLE_CSV = "load_table.csv"
#: the statistics of every CSV metric, as columns ``<metric>_<stat>``
STAT_KEYS = ("n", "mean", *(f"p{p}" for p in PERCENTILES))


def _metric(stage: dict[str, Any], name: str, stat: str) -> float | None:
    dist = (stage.get("metrics") or {}).get(name)
    return None if dist is None else dist.get(stat)


def speedups(stages: Sequence[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """Per concurrency (or rate) and non-baseline target: E2E and TTFT speedup, token share."""
    by_key = {(s["concurrency"], s.get("rate"), s["target"]): s for s in stages}
    rows = []
    for stage in stages:
        if stage["target"] == baseline:
            continue
        base = by_key.get((stage["concurrency"], stage.get("rate"), baseline))
        if base is None:
            continue
        rows.append(
            {
                "concurrency": stage["concurrency"],
                "rate": stage.get("rate"),
                "target": stage["target"],
                "baseline": baseline,
                "e2e_speedup": _ratio(
                    _metric(base, "e2e_ms", "mean"), _metric(stage, "e2e_ms", "mean")
                ),
                # the paper's headline: Baseline / CoT only (time to the end of the reasoning)
                "cot_speedup": _ratio(
                    _metric(base, "e2e_ms", "mean"), _metric(stage, "reasoning_end_ms", "mean")
                ),
                "ttft_speedup": _ratio(
                    _metric(base, "ttft_ms", "mean"), _metric(stage, "ttft_ms", "mean")
                ),
                "token_share": _ratio(
                    _metric(stage, "output_tokens", "mean"), _metric(base, "output_tokens", "mean")
                ),
                "cot_token_share": _ratio(
                    _metric(stage, "cot_tokens", "mean"), _metric(base, "output_tokens", "mean")
                ),
            }
        )
    return rows


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def build_results(
    plan: dict[str, Any], stages: list[dict[str, Any]], sweep: dict[str, Any] | None = None
) -> dict[str, Any]:
    results = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "plan": plan,
        "definitions": {
            m.name: {"unit": m.unit, "definition": m.definition} for m in load_metrics()
        },
        "stages": stages,
        "speedups": speedups(stages, plan["baseline"]),
    }
    if sweep is not None:
        results["sweep"] = sweep
    return results


# ----------------------------------------------------------------------------- formatting


def _fmt(value: float | None, scale: float = 1.0, digits: int = 3) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def _triple(stage: dict[str, Any], name: str, scale: float, digits: int) -> str:
    return " / ".join(_fmt(_metric(stage, name, f"p{p}"), scale, digits) for p in PERCENTILES)


def _speedup_for(results: dict[str, Any], stage: dict[str, Any]) -> dict[str, Any] | None:
    for row in results["speedups"]:
        if (row["target"], row["concurrency"], row.get("rate")) == (
            stage["target"],
            stage["concurrency"],
            stage.get("rate"),
        ):
            return row
    return None


def render_markdown(results: dict[str, Any]) -> str:
    stages = results["stages"]
    lines = [
        *_intro_lines(results["plan"], results["created"]),
        "",
        "## Paper table (means)",
        "",
        *_paper_table(results),
        *_percentiles_section(stages),
        *_goodput_section(results["plan"], stages),
        *_open_loop_section(stages),
        *_sweep_section(results.get("sweep"), stages),
        *_notes_section(stages),
        *_definitions_section(results["definitions"]),
    ]
    return "\n".join(lines)


def _intro_lines(plan: dict[str, Any], created: str) -> list[str]:
    return [
        "# Load test",
        "",
        f"Created {created}. Baseline: **{plan['baseline']}**. Prompts: "
        f"`{plan['prompts']}`, max_tokens {plan['max_tokens']}, model {plan['model']}, "
        f"{plan['requests_per_stage'] or 'duration-bound'} successful measured requests per stage, "
        f"warmup {plan['warmup_s']:g} s. All statistics are computed from the raw per-request "
        "records (not Locust's bucketed percentiles).",
        "",
        *markdown_table(["target", "URL"], [[t["name"], t["url"]] for t in plan["targets"]]),
    ]


def _paper_table(results: dict[str, Any]) -> list[str]:
    header = [
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
    rows = []
    for stage in results["stages"]:
        rows.append(_paper_row(results, stage))
        cot = _cot_only_row(results, stage)
        if cot is not None:
            rows.append(cot)
    return markdown_table(header, rows)


def _cot_only_row(results: dict[str, Any], stage: dict[str, Any]) -> list[str] | None:
    """A reasoning target's "(CoT only)" view, as the report shows it: time to the CoT end,
    TBT within the CoT, CoT tokens, TTFT to the first reasoning token; None for the baseline,
    a failed stage or a target with no CoT end."""
    if "failed" in stage or stage["target"] == results["plan"]["baseline"]:
        return None
    end = _metric(stage, "reasoning_end_ms", "mean")
    if end is None:
        return None
    row = _speedup_for(results, stage) or {}
    speedup = row.get("cot_speedup")
    share = row.get("cot_token_share")
    cot_tokens = _metric(stage, "cot_tokens", "mean")
    return [
        level(stage),
        f"{stage['target']} (CoT only)",
        "",
        "",
        _fmt(end, 1e-3),
        _fmt(_metric(stage, "cot_tbt_ms", "mean"), 1e-3, 4),
        _fmt(cot_tokens, digits=1),
        _fmt(_metric(stage, "ttft_reasoning_ms", "mean"), 1e-3),
        "–" if speedup is None else _fmt(speedup, digits=2) + "×",
        "–" if share is None else _fmt(share, 100, 1) + " %",
        "",
        "",
        "",
        "",
        "",
    ]


def _paper_row(results: dict[str, Any], stage: dict[str, Any]) -> list[str]:
    c, target = level(stage), stage["target"]
    if "failed" in stage:
        return [c, target, "–", "–", f"failed: {stage['failed']}", *[""] * 9, "no"]
    counts = stage["requests"]
    speedup, share, cot_speedup = _speedup_cells(results, stage)
    cpu = stage.get("cpu", {}).get("max_percent")
    return [
        c,
        target,
        f"{counts['ok']} / {counts['measured']}",
        str(counts["errors"]),
        _fmt(_metric(stage, "e2e_ms", "mean"), 1e-3),
        _fmt(_metric(stage, "tbt_ms", "mean"), 1e-3, 4),
        _fmt(_metric(stage, "output_tokens", "mean"), digits=1),
        _fmt(_metric(stage, "ttft_ms", "mean"), 1e-3),
        speedup,
        share,
        _fmt(_metric(stage, "reasoning_tokens", "mean"), digits=1),
        _fmt(_metric(stage, "reasoning_end_ms", "mean"), 1e-3),
        cot_speedup,
        f"{_fmt(cpu, digits=0)} %",
        _reliable_cell(stage),
    ]


def _speedup_cells(results: dict[str, Any], stage: dict[str, Any]) -> tuple[str, str, str]:
    """(E2E speedup, token share, CoT-only speedup) of a stage against the baseline."""
    row = _speedup_for(results, stage)
    is_baseline = stage["target"] == results["plan"]["baseline"]
    speedup = "1 (baseline)" if is_baseline else "–"
    share = "100 %" if is_baseline else "–"
    cot_speedup = "–"
    if row is not None:
        speedup = _fmt(row["e2e_speedup"], digits=2) + "×"
        share = _fmt(row["token_share"], 100, 1) + " %"
        if row["cot_speedup"] is not None:
            cot_speedup = _fmt(row["cot_speedup"], digits=2) + "×"
    return speedup, share, cot_speedup


def _percentiles_section(stages: Sequence[dict[str, Any]]) -> list[str]:
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
    rows = [_percentiles_row(stage) for stage in stages if "failed" not in stage]
    return ["", "## Percentiles", "", *markdown_table(header, rows)]


def _percentiles_row(stage: dict[str, Any]) -> list[str]:
    sources = ", ".join(f"{k} {v}" for k, v in sorted(stage["token_sources"].items()))
    return [
        level(stage),
        stage["target"],
        _triple(stage, "e2e_ms", 1e-3, 3),
        _triple(stage, "ttft_ms", 1, 1),
        _triple(stage, "tbt_ms", 1, 2),
        _triple(stage, "output_tokens", 1, 0),
        _fmt(_metric(stage, "ttft_content_ms", "p50"), digits=1),
        _fmt(_metric(stage, "tt_ack_ms", "p50"), digits=1),
        _fmt(_metric(stage, "tpot_ms", "mean"), digits=2),
        f"{_fmt(stage['near_zero_gap_share'], 100, 1)} %",
        sources or "–",
    ]


def _goodput_section(plan: dict[str, Any], stages: Sequence[dict[str, Any]]) -> list[str]:
    if not plan.get("slo"):
        return []
    bounds = ", ".join(f"{k} <= {v:g}" for k, v in plan["slo"].items())
    verdicts: dict[Any, str] = {True: "yes", False: "**no**"}
    rows = []
    for stage in stages:
        good = stage.get("goodput")
        if good is None:
            continue
        met = verdicts.get(stage.get("slo_met"), "–")
        rows.append(
            [
                level(stage),
                stage["target"],
                f"{good['good']} / {good['measured']}",
                f"{_fmt(good['share'], 100, 1)} %",
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


def level(stage: dict[str, Any]) -> str:
    """A stage's load in the tables' first column: its concurrency, ``R/s`` (open loop) or
    ``trace``."""
    if stage.get("trace"):
        return "trace"
    rate = stage.get("rate")
    return str(stage["concurrency"]) if rate is None else f"{rate:g}/s"


def _open_loop_section(stages: Sequence[dict[str, Any]]) -> list[str]:
    rows = []
    for stage in stages:
        stats = stage.get("open_loop")
        if not stats:
            continue
        lag = stats["send_lag_ms"] or {}
        flight = stats["in_flight"]
        rows.append(
            [
                stage["target"],
                _fmt(stats["requested_per_s"], digits=2),
                _fmt(stats["scheduled_per_s"], digits=2),
                _fmt(stats["achieved_per_s"], digits=2),
                f"{_fmt(lag.get('p50'), digits=2)} / {_fmt(lag.get('p99'), digits=2)}",
                f"{stats['delayed_by_cap']} (cap {stage['concurrency']})",
                f"{flight['max'] if flight['max'] is not None else '–'} / "
                f"{_fmt(flight['mean'], digits=1)}",
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


def _sweep_section(sweep: dict[str, Any] | None, stages: Sequence[dict[str, Any]]) -> list[str]:
    """The rate sweep: each target's synchronous, throughput and sustainable rate, and its
    latency against the achieved rate."""
    if not sweep:
        return []
    summary = [
        [
            target,
            _fmt(sweep["synchronous_per_s"].get(target), digits=2),
            _fmt(sweep["throughput_per_s"].get(target), digits=2),
            _fmt(sustainable, digits=2) if sustainable is not None else "none of the rates",
        ]
        for target, sustainable in sweep["sustainable_per_s"].items()
    ]
    rows = []
    for stage in stages:
        if stage.get("sweep_role") != "rate" or "failed" in stage:
            continue
        flow = stage["open_loop"]
        share = (stage.get("goodput") or {}).get("share")
        rows.append(
            [
                stage["target"],
                f"{stage['rate']:.3g}",
                _fmt(flow["achieved_per_s"], digits=2),
                "no" if flow["saturation"] else "yes",
                _triple_p50_p99(stage, "ttft_ms", 1, 1),
                _triple_p50_p99(stage, "tbt_ms", 1, 2),
                _triple_p50_p99(stage, "e2e_ms", 1e-3, 3),
                "–" if share is None else f"{_fmt(share, 100, 1)} %",
            ]
        )
    goodput = sweep.get("min_goodput")
    bound = f"goodput >= {100 * goodput:g} %, " if goodput is not None else ""
    return [
        "",
        f"## Rate sweep ({sweep['points']} points)",
        "",
        f"Sustainable: the highest swept rate that kept its schedule ({bound}errors within "
        "--max-error-rate).",
        "",
        *markdown_table(["target", "synchronous /s", "throughput /s", "sustainable /s"], summary),
        "",
        *markdown_table(
            [
                "target",
                "rate /s",
                "achieved /s",
                "kept schedule",
                "TTFT p50 / p99 (ms)",
                "TBT p50 / p99 (ms)",
                "E2E p50 / p99 (s)",
                "goodput",
            ],
            rows,
        ),
    ]


def _triple_p50_p99(stage: dict[str, Any], name: str, scale: float, digits: int) -> str:
    return " / ".join(_fmt(_metric(stage, name, p), scale, digits) for p in ("p50", "p99"))


def _notes_section(stages: Sequence[dict[str, Any]]) -> list[str]:
    notes = [note for stage in stages for note in _stage_notes(stage)]
    return ["", "## Notes", "", *notes] if notes else []


def _stage_notes(stage: dict[str, Any]) -> list[str]:
    """Unreliability reasons, errors, torn raw lines and CoT-end fallbacks of one stage."""
    notes = [f"- {stage['stage']}: unreliable: {r}" for r in stage.get("unreliable_reasons", [])]
    for message, count in stage.get("errors_by_message", {}).items():
        notes.append(f"- {stage['stage']}: {count} × error `{message}`")
    torn = sum((stage.get("torn_lines") or {}).values())
    if torn:
        notes.append(
            f"- {stage['stage']}: {torn} torn last line(s) dropped from the raw files "
            "(Locust was killed while writing)"
        )
    fallback = (stage.get("cot_end_sources") or {}).get(COT_END_LAST_REASONING)
    if fallback:
        notes.append(
            f"- {stage['stage']}: CoT end of {fallback} request(s) is the last reasoning "
            "token (the server sent no stage_end marker): for a multi-stage pipeline it "
            "includes the final stage's own reasoning"
        )
    return notes


def _definitions_section(definitions: dict[str, Any]) -> list[str]:
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
            [
                [f"`{key}`", entry["unit"], entry["definition"]]
                for key, entry in definitions.items()
            ],
        ),
        "",
    ]


def _reliable_cell(stage: dict[str, Any]) -> str:
    if stage["reliable"]:
        return "yes"
    reasons = "; ".join(stage.get("unreliable_reasons", []))
    return f"**no**: {reasons}" if reasons else "**no**"


def csv_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for stage in results["stages"]:
        row: dict[str, Any] = {
            "target": stage["target"],
            "url": stage["url"],
            "concurrency": stage["concurrency"],
            "reliable": stage["reliable"],
            "unreliable_reasons": "; ".join(stage.get("unreliable_reasons", [])),
            "failed": stage.get("failed", ""),
        }
        row.update(stage.get("requests", {}))
        for metric in csv_load_metrics():
            for stat in STAT_KEYS:
                row[f"{metric.name}_{stat}"] = _metric(stage, metric.name, stat)
        speed = _speedup_for(results, stage) or {}
        row["e2e_speedup"] = speed.get("e2e_speedup")
        row["cot_speedup"] = speed.get("cot_speedup")
        row["ttft_speedup"] = speed.get("ttft_speedup")
        row["token_share"] = speed.get("token_share")
        row["near_zero_gap_share"] = stage.get("near_zero_gap_share")
        row["error_share"] = stage.get("error_share")
        row["torn_lines"] = sum((stage.get("torn_lines") or {}).values())
        row["cot_end_from"] = ";".join(
            f"{k}:{v}" for k, v in (stage.get("cot_end_sources") or {}).items()
        )
        row["goodput_share"] = (stage.get("goodput") or {}).get("share")
        open_loop = stage.get("open_loop") or {}
        if open_loop:
            row["rate_requested_per_s"] = open_loop["requested_per_s"]
            row["rate_achieved_per_s"] = open_loop["achieved_per_s"]
            row["send_lag_p99_ms"] = (open_loop["send_lag_ms"] or {}).get("p99")
            row["delayed_by_cap"] = open_loop["delayed_by_cap"]
            row["in_flight_max"] = open_loop["in_flight"]["max"]
        row["slo_met"] = stage.get("slo_met")
        throughput = stage.get("throughput") or {}
        row["requests_per_s"] = throughput.get("requests_per_s")
        row["output_tokens_per_s"] = throughput.get("output_tokens_per_s")
        cpu = stage.get("cpu") or {}
        row["client_cpu_max_percent"] = cpu.get("max_percent")
        row["client_cpu_saturated"] = cpu.get("saturated")
        row["tokens_from"] = ";".join(f"{k}:{v}" for k, v in stage.get("token_sources", {}).items())
        rows.append(row)
    return rows


def write_outputs(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / RESULTS_FILE,
        "markdown": out_dir / TABLE_MD,
        "csv": out_dir / TABLE_CSV,
    }
    paths["json"].write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
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
