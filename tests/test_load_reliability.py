"""Failed requests: an error share above --max-error-rate (or no success at all) makes a stage
unreliable and the exit code non-zero, and only successful requests count toward --requests."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from hawkeye_bench.commands import load as load_command
from hawkeye_bench.load.backoff import BACKOFF_FIRST_S, BACKOFF_MAX_S, next_backoff
from hawkeye_bench.load.metrics import stage_metrics
from hawkeye_bench.load.plan import PlanDescription
from hawkeye_bench.load.records import RequestRecord, read_requests
from hawkeye_bench.load.results import build_results, render_markdown
from hawkeye_bench.load.runner import (
    LoadPlan,
    StageRun,
    Target,
    analyse_stage,
    locust_command,
    run_stage,
)
from hawkeye_bench.load.stage_result import LoadStageResult, TornLines
from hawkeye_bench.testing.scripted_server import Fault, ScriptedConfig, ScriptedServer


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hawkeye-bench")
    load_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def request(seq: int, error: str | None = None) -> RequestRecord:
    chunks = [] if error else [[100.0 + 10 * k, 1, "c"] for k in range(3)]
    return RequestRecord(
        t_send_wall=1000.0 + seq,
        t_send_perf=50.0 + seq,
        pid=1,
        seq=seq,
        status=500 if error else 200,
        error=error,
        tt_ack_ms=1.0,
        ttft_ms=None if error else 100.0,
        e2e_ms=None if error else 120.0,
        e2e_done_ms=None if error else 121.0,
        output_tokens=None if error else 3,
        output_tokens_source=None if error else "usage",
        chunks=chunks,
    )


def stage_from(tmp_path: Path, ok: int, failed: int, **plan_args: object) -> LoadStageResult:
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    records = [request(s) for s in range(ok)]
    records += [request(ok + s, error="connection refused") for s in range(failed)]
    (raw / "requests-1.jsonl").write_text("".join(r.to_json() + "\n" for r in records))
    (raw / "cpu-1.jsonl").write_text('{"t": 1.0, "cpu": 5.0}\n')
    return stage_from_raw(tmp_path, requests=max(ok, 1), **plan_args)


def stage_from_raw(tmp_path: Path, requests: int, **plan_args: object) -> LoadStageResult:
    """The analysis of the raw files in ``tmp_path/raw`` (Locust exited 1: some failed)."""
    log = tmp_path / "locust.log"
    log.write_text("")
    plan = LoadPlan(targets=[Target("t", "http://x")], concurrencies=[4], out_dir=tmp_path,
                    requests=requests, **plan_args)  # type: ignore[arg-type]  # fmt: skip
    return analyse_stage(plan, StageRun(plan.targets[0], 4, tmp_path / "raw", log, 1, 3.0))


def test_target_dying_half_way_is_not_reliable(tmp_path: Path) -> None:
    # 150 of 313 succeeded, then the target died: 52 % errors
    stage = stage_from(tmp_path, ok=150, failed=163)
    assert stage.reliable is False and stage.too_many_errors is True
    assert stage.error_share == pytest.approx(163 / 313)
    reasons = " ".join(stage.unreliable_reasons)
    assert "52.1 % of measured requests failed" in reasons and "--max-error-rate 5.0 %" in reasons
    plan = {"baseline": "t", "targets": [{"name": "t", "url": "http://x"}], "prompts": "p",
            "max_tokens": 8, "model": "m", "requests_per_stage": 150, "warmup_s": 0}  # fmt: skip
    markdown = render_markdown(build_results(PlanDescription.from_json(plan), [stage]))
    row = next(line for line in markdown.splitlines() if line.startswith("| 4 | t |"))
    assert "**no**: 52.1 % of measured requests failed" in row  # the table says why


def test_error_share_within_the_threshold_is_reliable(tmp_path: Path) -> None:
    stage = stage_from(tmp_path, ok=99, failed=1, max_error_rate=0.05)
    assert stage.reliable is True and stage.too_many_errors is False
    stage = stage_from(tmp_path, ok=99, failed=1, max_error_rate=0.0)
    assert stage.too_many_errors is True


def test_no_success_is_always_a_failure(tmp_path: Path) -> None:
    stage = stage_from(tmp_path, ok=0, failed=3, max_error_rate=1.0)
    assert stage.too_many_errors is True and "no request succeeded" in stage.error_reasons


def test_locust_stops_on_successes_or_as_many_failures(tmp_path: Path) -> None:
    plan = LoadPlan(targets=[Target("t", "http://x")], concurrencies=[2], out_dir=tmp_path,
                    requests=200, max_error_rate=0.05)  # fmt: skip
    command = " ".join(locust_command(plan, plan.targets[0], 2, tmp_path))
    # a dead target stops after as many failures as successes asked for, not at the time cap
    assert "--requests 200" in command and "--max-failures 200" in command
    counts = stage_metrics([request(0), request(1, error="x")])["requests"]
    assert (counts["ok"], counts["errors"], counts["measured"]) == (1, 1, 2)


@pytest.mark.slow
def test_failed_requests_do_not_count_toward_requests(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"messages": [{"role": "user", "content": "q"}]}\n')
    config = ScriptedConfig(ttft_ms=5, gap_ms=2, tokens=4,
                            faults=[Fault(kind="status", status=500, first_n=3)])  # fmt: skip
    with ScriptedServer(config) as url:
        plan = LoadPlan(targets=[Target("t", url)], concurrencies=[1], out_dir=tmp_path,
                        requests=5, duration_s=60, prompts=str(prompts), model="scripted-model",
                        max_tokens=8, stop_timeout_s=10, max_error_rate=0.5)  # fmt: skip
        run = run_stage(plan, plan.targets[0], 1)
    records = [r for r in read_requests(run.raw_dir) if r.measured]
    # failures do not count: 5 successes (and any in flight at the stop) plus the 3 failures
    assert sum(r.ok for r in records) >= 5 and sum(not r.ok for r in records) == 3
    stage = analyse_stage(plan, run)
    assert stage.requests.ok >= 5 and stage.too_many_errors is False


@pytest.mark.slow
def test_load_exits_non_zero_when_nothing_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ScriptedConfig(faults=[Fault(kind="status", status=503)])
    out = tmp_path / "out"
    with ScriptedServer(config) as url:
        code = cli_main(
            ["load", "--target", f"dead={url}", "--concurrency", "2", "--requests", "50",
             "--prompt-limit", "3", "--max-tokens", "8", "--out", str(out)]
        )  # fmt: skip
    assert code == 1
    assert "failed" in capsys.readouterr().err
    (stage,) = json.loads((out / "load_results.json").read_text())["stages"]
    assert stage["requests"]["ok"] == 0 and stage["reliable"] is False
    assert stage["requests"]["errors"] >= 50  # failures do not count toward --requests
    assert stage["seconds"] < 60  # stopped by the failure cap, not a 1-hour --run-time
    assert "no request succeeded" in (out / "load_table.md").read_text()


def test_backoff_doubles_while_nothing_answers_and_ends_with_a_response() -> None:
    pauses = [0.0]
    for _ in range(8):
        pauses.append(next_backoff(pauses[-1], no_response=True))
    assert pauses[1] == BACKOFF_FIRST_S and pauses[2] == 2 * BACKOFF_FIRST_S
    assert max(pauses) == BACKOFF_MAX_S == pauses[-1]
    assert next_backoff(BACKOFF_MAX_S, no_response=False) == 0.0  # an answer ends the pause


@pytest.mark.slow
def test_a_refusing_target_is_backed_off_and_its_refusals_are_counted(
    tmp_path: Path, dead_base_url: str
) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"messages": [{"role": "user", "content": "q"}]}\n')
    plan = LoadPlan(targets=[Target("dead", dead_base_url)], concurrencies=[2], out_dir=tmp_path,
                    duration_s=3, prompts=str(prompts), model="m", stop_timeout_s=5)  # fmt: skip
    stage = analyse_stage(plan, run_stage(plan, plan.targets[0], 2))
    refused = stage.requests.refused
    # 2 users pausing 0.1, 0.2, 0.4, ... 2 s: a handful of tries each in 3 s (a busy loop sends
    # thousands a second)
    assert 2 <= refused <= 40
    assert refused == stage.requests.recorded
    assert stage.reliable is False
    assert any(f"{refused} requests found the target refusing" in r
               for r in stage.unreliable_reasons)  # fmt: skip


def test_a_torn_raw_record_makes_the_stage_unreliable(tmp_path: Path) -> None:
    stage_from(tmp_path, ok=5, failed=0)
    with (tmp_path / "raw" / "requests-1.jsonl").open("a") as raw:
        raw.write('{"t_send_wall": 1')  # a process killed mid-line
    stage = stage_from_raw(tmp_path, requests=5)
    assert stage.torn_lines == TornLines(requests=1, cpu=0)
    assert stage.reliable is False
    assert "1 raw request records were torn" in " ".join(stage.unreliable_reasons)
