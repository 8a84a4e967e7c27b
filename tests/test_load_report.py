"""`report` on an open-loop load run (a rate sweep): stages keyed and labelled by their load,
latency against the achieved rate, the sustainable-rate table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from hawkeye_bench.load.metrics import stage_metrics
from hawkeye_bench.load.open_loop import open_loop_stats
from hawkeye_bench.load.plan import PlanDescription
from hawkeye_bench.load.records import RequestRecord, requests_path
from hawkeye_bench.load.results import build_results, write_outputs
from hawkeye_bench.load.stage_result import LoadStageResult
from hawkeye_bench.load.sweep import SweepSummary
from hawkeye_bench.reporting import write_report
from hawkeye_bench.reporting.load_levels import CLOSED, OPEN, TRACE, LoadLevel, load_level
from hawkeye_bench.reporting.load_rate_section import FIGURE_FILE

CAP = 8
RATES = (2.0, 4.0)
#: target -> base TTFT ms; every stage adds its own delay so that a wrong pairing shows
TTFT_MS = {"baseline": 100.0, "hawkeye": 60.0}
#: stage (closed-loop concurrency or rate) -> extra TTFT ms
EXTRA_MS = {"c1": 0.0, f"c{CAP}": 900.0, "r2": 100.0, "r4": 400.0}
CHUNKS, GAP_MS = 5, 10.0


def _records(target: str, level: str, every_s: float = 1.0) -> list[RequestRecord]:
    ttft = TTFT_MS[target] + EXTRA_MS[level]
    chunks = [[ttft + k * GAP_MS, 1, "c"] for k in range(CHUNKS)]
    return [
        RequestRecord(
            t_send_wall=1000.0 + seq * every_s,
            t_scheduled_wall=1000.0 + seq * every_s,
            t_send_perf=50.0 + seq,
            pid=1,
            seq=seq,
            stage=f"{target}/{level}",
            status=200,
            ttft_ms=ttft,
            ttft_content_ms=ttft,
            e2e_ms=chunks[-1][0],
            output_tokens=CHUNKS,
            output_tokens_source="usage",
            chunk_tokens_source="usage",
            finish_reason="stop",
            chunks=chunks,
        )
        for seq in range(4)
    ]


def _stage(folder: Path, target: str, level: str, **entry: Any) -> dict[str, Any]:
    raw = folder / "raw" / target / level
    raw.mkdir(parents=True)
    rate = entry.get("rate")
    records = _records(target, level, 1.0 / rate if rate else 1.0)
    requests_path(raw, 1).write_text("".join(r.to_json() + "\n" for r in records))
    stage = {
        "target": target,
        "url": f"http://127.0.0.1:9/{target}",
        "stage": f"{target}/{level}",
        "raw_dir": str(raw),
        **entry,
    }
    stage.update(stage_metrics(records), reliable=True, unreliable_reasons=[])
    if rate:
        on_schedule = dataclasses.replace(open_loop_stats(records, rate), saturation=[])
        stage["open_loop"] = dataclasses.asdict(on_schedule)
    return stage


@pytest.fixture
def sweep_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "sweep"
    stages = []
    for target in TTFT_MS:
        stages.append(_stage(folder, target, "c1", concurrency=1, sweep_role="synchronous"))
        stages.append(_stage(folder, target, f"c{CAP}", concurrency=CAP, sweep_role="throughput"))
    for rate in RATES:
        for target in TTFT_MS:
            stages.append(
                _stage(
                    folder,
                    target,
                    f"r{rate:g}",
                    concurrency=CAP,
                    rate=rate,
                    arrival={"process": "gamma", "burstiness": 0.5},
                    sweep_role="rate",
                )
            )
    plan = {
        "targets": [{"name": t, "url": f"http://127.0.0.1:9/{t}"} for t in TTFT_MS],
        "baseline": "baseline", "concurrencies": [CAP], "prompts": "gsm8k",
        "max_error_rate": 0.05, "max_tokens": 64, "model": "m", "requests_per_stage": 4,
        "warmup_s": 0.0, "slo": {"e2e_ms": 2000.0}, "open_loop": None, "trace": None,
    }  # fmt: skip
    sweep = {
        "points": 4, "rates": list(RATES), "min_goodput": 0.9,
        "synchronous_per_s": {"baseline": 1.0, "hawkeye": 1.5},
        "throughput_per_s": {"baseline": 4.0, "hawkeye": 6.0},
        "sustainable_per_s": {"baseline": 2.0, "hawkeye": 4.0},
    }  # fmt: skip
    write_outputs(
        build_results(
            PlanDescription.from_json(plan),
            [LoadStageResult.from_json(s) for s in stages],
            SweepSummary.from_json(sweep),
        ),
        folder,
    )
    return folder


def _tables(out: Path) -> dict[str, dict[str, Any]]:
    report = json.loads((out / "report.json").read_text())
    return {t["name"]: t for s in report["sections"] for t in s["tables"]}


def test_rate_stages_are_keyed_by_their_rate_and_paired_at_equal_load(
    sweep_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    write_report([sweep_folder], out)
    rows = _tables(out)["latency_load"]["rows"]
    full = {(r["method"], r["level"]): r for r in rows if "CoT" not in r["method"]}
    levels = [
        "concurrency 1",
        f"concurrency {CAP}",
        f"2 requests/s gamma (burstiness 0.5), ≤ {CAP} in flight",
        f"4 requests/s gamma (burstiness 0.5), ≤ {CAP} in flight",
    ]
    assert sorted(full) == sorted((t, level) for t in TTFT_MS for level in levels)
    assert [r["level"] for r in rows if r["method"] == "hawkeye"] == levels  # load order
    for level, extra in zip(levels, EXTRA_MS.values(), strict=True):
        base, hawk = full[("baseline", level)], full[("hawkeye", level)]
        tail = (CHUNKS - 1) * GAP_MS
        expected = (TTFT_MS["baseline"] + extra + tail) / (TTFT_MS["hawkeye"] + extra + tail)
        assert hawk["speedup"] == pytest.approx(expected), level
        assert base["time_mean_s"] == pytest.approx((TTFT_MS["baseline"] + extra + tail) / 1e3)
    markdown = (out / "report.md").read_text()
    assert f"gsm8k, 4 requests/s gamma (burstiness 0.5), ≤ {CAP} in flight: baseline" in markdown


def test_latency_against_achieved_rate_and_the_sustainable_rate(
    sweep_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    report = write_report([sweep_folder], out)
    figures = [f for s in report.sections for f in s.figures if f.file == FIGURE_FILE]
    assert len(figures) == 1 and (out / FIGURE_FILE).stat().st_size > 10_000
    # drawn from the open-loop stages only, whose raw files it names
    assert {Path(p).parent.name for p in figures[0].sources} == {"r2", "r4"}
    sustainable = _tables(out)["sustainable_rate"]["rows"]
    assert [(r["target"], r["sustainable_per_s"]) for r in sustainable] == [
        ("baseline", 2.0),
        ("hawkeye", 4.0),
    ]
    assert sustainable[0]["throughput_per_s"] == 4.0
    assert "goodput ≥ 90 % (e2e_ms ≤ 2000)" in sustainable[0]["requirement"]


def test_a_load_without_two_rates_draws_no_rate_figure(sweep_folder: Path, tmp_path: Path) -> None:
    results_file = sweep_folder / "load_results.json"
    results = json.loads(results_file.read_text())
    results["stages"] = [s for s in results["stages"] if s.get("rate") != 4.0]
    del results["sweep"]
    results_file.write_text(json.dumps(results))
    out = tmp_path / "report"
    report = write_report([sweep_folder], out)
    assert not [f for s in report.sections for f in s.figures if f.file == FIGURE_FILE]
    assert "sustainable_rate" not in _tables(out)


def _level(entry: dict[str, Any], plan: dict[str, Any]) -> LoadLevel:
    """The level of a stage stored as ``entry`` under a plan stored as ``plan``."""
    stage = LoadStageResult.from_json({"target": "t", **entry})
    return load_level(stage, PlanDescription.from_json(plan))


def test_levels_of_each_mode_and_of_old_folders() -> None:
    plan: dict[str, Any] = {"open_loop": {"arrival": "constant", "burstiness": 1.0}}
    assert _level({"concurrency": 4}, {}) == LoadLevel(CLOSED, concurrency=4)
    assert str(_level({"concurrency": 4}, {})) == "concurrency 4"
    assert _level({"concurrency": 16, "rate": 10.0}, plan) == LoadLevel(
        OPEN, rate=10.0, concurrency=16, arrival="constant"
    )
    trace_plan = {"trace": {"file": "/x/mooncake.jsonl", "speed": 2.0}}
    trace = _level({"concurrency": 16, "trace": {"rows": 3}}, trace_plan)
    assert trace.mode == TRACE and trace.label == "trace mooncake.jsonl ×2"
    # two rates of one cap are two levels; the closed loop at that cap a third
    levels = {_level({"concurrency": 16, "rate": r}, plan) for r in (1.0, 2.0)}
    assert len(levels | {_level({"concurrency": 16}, plan)}) == 3
