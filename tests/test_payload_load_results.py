"""load_results.json (load.results_json.LoadResults: the plan, each LoadStageResult with its
statistics, open-loop and trace figures, the speedups and the sweep) through its JSON form, and
the form written before the types still reads and writes back unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hawkeye_bench.load.cpu import CpuSummary, ProcessCpu
from hawkeye_bench.load.open_loop import InFlight, OpenLoopStats, TraceStats
from hawkeye_bench.load.plan import (
    LoadPlan,
    OpenLoopPlan,
    PlanDescription,
    Target,
    TraceReplay,
)
from hawkeye_bench.load.results import read_results, write_outputs
from hawkeye_bench.load.results_json import LoadResults, MetricDefinition, Speedup
from hawkeye_bench.load.stage_result import (
    Arrival,
    Goodput,
    LoadStageResult,
    RequestCounts,
    StageStatistics,
    Throughput,
    TornLines,
)
from hawkeye_bench.load.sweep import SweepSummary


def _through_json(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def _statistics() -> StageStatistics:
    return StageStatistics(
        requests=RequestCounts(recorded=12, warmup=1, measured=11, ok=10, errors=1, refused=0),
        metrics={
            "e2e_ms": {"n": 10, "mean": 1500.0, "p50": 1400.0, "p90": 1900.0, "p99": 2000.0},
            "delivery_lag_ms": None,
        },
        token_sources={"usage": 10},
        tbt_token_sources={"usage": 10},
        cot_end_sources={"stage_end": 10},
        near_zero_gap_ms=1.0,
        near_zero_gap_share=0.02,
        throughput=Throughput(window_s=8.0, requests_per_s=1.25, output_tokens_per_s=40.0),
        errors_by_message={"HTTP 500": 1},
        goodput=Goodput(slo={"e2e_ms": 2000.0}, good=9, measured=11, share=9 / 11),
    )


def _rate_stage() -> LoadStageResult:
    return LoadStageResult(
        target="hawkeye",
        concurrency=8,
        url="http://h",
        stage="hawkeye/r4",
        locust_exit_code=0,
        seconds=12.5,
        raw_dir="/x/raw/hawkeye/r4",
        locust_log="/x/locust/hawkeye_r4.log",
        statistics=_statistics(),
        torn_lines=TornLines(requests=1, cpu=0),
        cpu=CpuSummary(
            processes=[ProcessCpu("h-1", 12, 20.5, 31.0, False)],
            busiest_mean_percent=20.5,
            max_percent=31.0,
            sampled=True,
        ),
        load_processes=1,
        raw_transfer_problems=[],
        rate=4.0,
        arrival=Arrival("gamma", 0.5),
        open_loop=OpenLoopStats(
            requested_per_s=4.0,
            scheduled_per_s=3.9,
            achieved_per_s=3.8,
            sent=40,
            send_lag_ms={"n": 40, "mean": 1.0, "p50": 0.8, "p90": 1.5, "p99": 3.0},
            delayed_by_cap=2,
            queued_ms={"n": 2, "mean": 5.0, "p50": 5.0, "p90": 6.0, "p99": 6.0},
            in_flight=InFlight(max=3, mean=1.5, every_s=1.0, series=[[0.0, 1], [1.0, 3]]),
            saturation=[],
        ),
        trace=TraceStats(rows=40, sent=40, input_measured_per_asked=1.02, ignore_eos_sent=40),
        error_share=1 / 11,
        too_many_errors=False,
        error_reasons=[],
        reliable=False,
        unreliable_reasons=["1 raw request records were torn (a killed process) and dropped"],
        slo_met=True,
        sweep_role="rate",
    )


def _failed_stage() -> LoadStageResult:
    return LoadStageResult(
        target="baseline",
        concurrency=8,
        url="http://b",
        stage="baseline/c8",
        locust_exit_code=2,
        seconds=1.0,
        raw_dir="/x/raw/baseline/c8",
        locust_log="/x/locust/baseline_c8.log",
        failed="locust exited with code 2: bad flag",
        log_tail="bad flag",
        reliable=False,
        unreliable_reasons=["no usable raw records"],
    )


def _results() -> LoadResults:
    plan = LoadPlan(
        targets=[Target("baseline", "http://b"), Target("hawkeye", "http://h")],
        concurrencies=[8],
        out_dir=Path("/x"),
        duration_s=10,
        slo={"e2e_ms": 2000.0},
        min_goodput=0.9,
        rates=[4.0],
        arrival="gamma",
        burstiness=0.5,
        processes_by_concurrency={8: 2},
    ).describe()
    return LoadResults(
        created="2026-01-01T00:00:00+00:00",
        plan=plan,
        definitions={"e2e_ms": MetricDefinition("ms", "send -> last token")},
        stages=[_failed_stage(), _rate_stage()],
        speedups=[Speedup(8, 4.0, "hawkeye", "baseline", e2e_speedup=1.5, token_share=0.4)],
        sweep=SweepSummary(
            points=3,
            rates=[4.0],
            synchronous_per_s={"baseline": 1.0, "hawkeye": None},
            throughput_per_s={"baseline": 5.0, "hawkeye": 6.0},
            min_goodput=0.9,
            sustainable_per_s={"baseline": None, "hawkeye": 4.0},
        ),
    )


def test_load_results_round_trip_through_json() -> None:
    results = _results()
    assert LoadResults.from_json(_through_json(results.to_json())) == results


def test_each_part_round_trips_through_json() -> None:
    stage = _rate_stage()
    assert LoadStageResult.from_json(_through_json(stage.to_json())) == stage
    assert LoadStageResult.from_json(_through_json(_failed_stage().to_json())) == _failed_stage()
    stats = _statistics()
    assert StageStatistics.from_json(_through_json(stats.to_json())) == stats
    plan = _results().plan
    assert PlanDescription.from_json(_through_json(plan.to_json())) == plan
    replay = PlanDescription(
        targets=[Target("t", "http://t")],
        baseline="t",
        trace=TraceReplay("/t/mooncake.jsonl", 2.0, 8),
        open_loop=OpenLoopPlan([1.0, 2.0], "constant", 1.0, 3, 16),
    )
    assert PlanDescription.from_json(_through_json(replay.to_json())) == replay
    sweep = _results().sweep
    assert sweep is not None
    assert SweepSummary.from_json(_through_json(sweep.to_json())) == sweep


def test_a_failed_stage_keeps_its_short_form() -> None:
    assert list(_failed_stage().to_json()) == [
        "target", "url", "concurrency", "stage", "locust_exit_code", "seconds", "raw_dir",
        "locust_log", "failed", "log_tail", "reliable", "unreliable_reasons",
    ]  # fmt: skip


#: a load_results.json as the code before the types wrote it (one closed-loop stage)
OLD_FORM: dict[str, Any] = {
    "created": "2026-01-01T00:00:00+00:00",
    "plan": {
        "targets": [{"name": "baseline", "url": "http://b"}],
        "baseline": "baseline",
        "concurrencies": [4],
        "requests_per_stage": 3,
        "duration_s": 0.0,
        "prompts": "gsm8k",
        "prompt_limit": None,
        "model": "(first of GET /v1/models)",
        "max_tokens": 512,
        "temperature": None,
        "warmup_s": 0.0,
        "processes": 0,
        "processes_by_concurrency": None,
        "master": False,
        "expect_workers": None,
        "api_key_env": None,
        "slo": None,
        "min_goodput": None,
        "max_error_rate": 0.05,
        "trace": None,
        "open_loop": None,
    },
    "definitions": {"e2e_ms": {"unit": "ms", "definition": "send -> last token"}},
    "stages": [
        {
            "target": "baseline",
            "url": "http://b",
            "concurrency": 4,
            "stage": "baseline/c4",
            "locust_exit_code": 0,
            "seconds": 3.2,
            "raw_dir": "/x/raw/baseline/c4",
            "locust_log": "/x/locust/baseline_c4.log",
            "requests": {
                "recorded": 3,
                "warmup": 0,
                "incomplete": 0,
                "measured": 3,
                "ok": 3,
                "errors": 0,
                "refused": 0,
            },
            "metrics": {
                "e2e_ms": {"n": 3, "mean": 120.0, "p50": 120.0, "p90": 120.0, "p99": 120.0},
                "delivery_lag_ms": None,
            },
            "token_sources": {"usage": 3},
            "tbt_token_sources": {"usage": 3},
            "cot_end_sources": {},
            "near_zero_gap_ms": 1.0,
            "near_zero_gap_share": 0.0,
            "throughput": {"window_s": 2.0, "requests_per_s": 1.5, "output_tokens_per_s": 12.0},
            "errors_by_message": {},
            "torn_lines": {"requests": 0, "cpu": 0},
            "cpu": {
                "threshold_percent": 85.0,
                "consecutive_samples": 2,
                "processes": [
                    {
                        "process": "h-1",
                        "samples": 3,
                        "mean_percent": 10.0,
                        "max_percent": 12.0,
                        "saturated": False,
                    }
                ],
                "busiest_mean_percent": 10.0,
                "max_percent": 12.0,
                "saturated": False,
                "sampled": True,
            },
            "load_processes": 1,
            "raw_transfer_problems": [],
            "error_share": 0.0,
            "too_many_errors": False,
            "error_reasons": [],
            "reliable": True,
            "unreliable_reasons": [],
        }
    ],
    "speedups": [],
}


def test_the_form_written_before_the_types_reads_and_writes_back_unchanged(
    tmp_path: Path,
) -> None:
    results = LoadResults.from_json(copy.deepcopy(OLD_FORM))
    (stage,) = results.stages
    assert stage.requests.ok == 3 and stage.stat("e2e_ms", "mean") == 120.0
    assert stage.cpu.max_percent == 12.0 and stage.reliable is True
    assert results.plan.baseline == "baseline" and results.sweep is None
    assert results.to_json() == OLD_FORM
    assert json.dumps(results.to_json()) == json.dumps(OLD_FORM)  # the key order too
    write_outputs(results, tmp_path)
    assert read_results(tmp_path) == results


def test_a_sparse_hand_written_stage_reads_with_defaults() -> None:
    stage = LoadStageResult.from_json({"target": "t", "concurrency": "4", "rate": 2, "trace": {}})
    assert stage.concurrency == 4 and stage.rate == 2.0 and stage.statistics is None
    assert stage.requests == RequestCounts() and stage.open_loop is None
    assert stage.trace is None  # an empty section is no section


@pytest.mark.parametrize(
    "stage", [{"concurrency": 4}, {"target": "t"}, {"target": "t", "concurrency": "x"}, "t"]
)
def test_a_stage_without_its_target_or_concurrency_is_refused(stage: Any) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        LoadStageResult.from_json(stage)
