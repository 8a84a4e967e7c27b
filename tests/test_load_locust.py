"""The stock `locust` CLI (subprocess) with our locustfile against the scripted server.

Timing is asserted against the server's script with margins only a stalled machine breaks: a
client that buffers the stream (Locust's iter_lines reads 1024 bytes at a time) reads the role
chunk with the first tokens, each chunk several gaps after the server wrote it, and most gaps as
near zero. How close the figures come to the script is benchmarks/bench_load_fidelity.py's job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest
from polling import wait_until
from process_leaks import alive, gone_within
from test_load_stream import WRONG_SHAPES

from hawkeye_bench.cli import main as cli_main
from hawkeye_bench.load import LOCUSTFILE
from hawkeye_bench.load.metrics import chunk_gaps
from hawkeye_bench.load.records import read_cpu_samples, read_requests
from hawkeye_bench.load.runner import LoadPlan, Target, analyse_stage, run_stage
from hawkeye_bench.load.stream import WRONG_SHAPE
from hawkeye_bench.testing.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

pytestmark = pytest.mark.slow
LOCUST = [sys.executable, "-m", "locust"]
EPSILON_MS = 0.01  # rounding of the recorded times; a timer may fire a clock tick early


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    lines = [{"messages": [{"role": "user", "content": f"question {i}"}]} for i in range(3)]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_stock_cli_measures_configured_timing(tmp_path: Path, prompts_file: Path) -> None:
    ttft_ms, gap_ms, tokens = 200, 50, 12
    config = ScriptedConfig(ttft_ms=ttft_ms, gap_ms=gap_ms, tokens=tokens)
    raw = tmp_path / "raw"
    with ScriptedServer(config) as base_url:
        command = [
            *LOCUST, "-f", str(LOCUSTFILE), "--headless", "-u", "4", "-r", "4",
            "--run-time", "60s", "--stop-timeout", "10", "--host", base_url,
            "--csv", str(tmp_path / "c4"), "--only-summary",
            "--prompts", str(prompts_file), "--max-tokens", "64",
            "--requests", "12", "--raw-dir", str(raw),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LLM" in done.stderr and "TTFT" in done.stderr  # live console entries
    assert (tmp_path / "c4_stats.csv").is_file()  # the stock --csv option still works
    records = [r for r in read_requests(raw) if r.measured]
    assert len(records) >= 12  # stopped after 12, in-flight ones finished
    assert all(
        r.ok and r.output_tokens == tokens and r.output_tokens_source == "usage" for r in records
    )
    assert all(r.ttft_ms >= ttft_ms - EPSILON_MS for r in records)  # never before it is sent
    gaps = [chunk_gaps(r) for r in records]
    assert all(len(g) == tokens - 1 and (g >= 0).all() for g in gaps)
    # read as written, not buffered: the role chunk before the server writes the first token,
    # most chunks before it writes the next one, and few gaps near zero (a buffering client:
    # most of them)
    assert np.median([r.tt_ack_ms for r in records]) < ttft_ms
    lags = [c[3] for r in records for c in r.chunks]  # server write -> our read
    assert np.median(lags) < gap_ms
    assert (np.concatenate(gaps) < 2).mean() < 0.5


def test_load_command_table_comes_from_raw_records(tmp_path: Path) -> None:
    baseline_cfg = ScriptedConfig(
        ttft_ms=40, gap_ms=10, tokens=16, faults=[Fault(kind="status", status=500, first_n=2)]
    )
    hawkeye_cfg = ScriptedConfig(
        ttft_ms=30, gap_ms=10, tokens=8, reasoning_tokens=4, tokens_per_chunk=2, usage="never"
    )
    out = tmp_path / "out"
    with ScriptedServer(baseline_cfg) as base_url, ScriptedServer(hawkeye_cfg) as hawk_url:
        code = cli_main(
            [
                "load", "--target", f"baseline={base_url}", "--target", f"hawkeye={hawk_url}",
                "--concurrency", "2", "--requests", "6", "--dataset", "gsm8k",
                "--prompt-limit", "4", "--max-tokens", "64", "--out", str(out),
                "--slo", "e2e_ms=60000", "--min-goodput", "0.9",
            ]
        )  # fmt: skip
    assert code == 3  # the baseline's injected failures put its goodput below 0.9
    results = json.loads((out / "load_results.json").read_text())
    stages = {s["target"]: s for s in results["stages"]}
    for name, stage in stages.items():
        ok = [r for r in read_requests(Path(stage["raw_dir"])) if r.measured and r.ok]
        assert stage["requests"]["ok"] == len(ok)
        assert stage["metrics"]["e2e_ms"]["mean"] == pytest.approx(np.mean([r.e2e_ms for r in ok]))
        assert stage["metrics"]["ttft_ms"]["p50"] == pytest.approx(
            np.median([r.ttft_ms for r in ok])
        )
        tokens = [r.output_tokens for r in ok]
        assert stage["metrics"]["output_tokens"]["mean"] == pytest.approx(np.mean(tokens)), name
    base, hawk = stages["baseline"], stages["hawkeye"]
    for stage in (base, hawk):  # a generous E2E bound: goodput = successful share
        counts = stage["requests"]
        assert stage["goodput"]["share"] == pytest.approx(counts["ok"] / counts["measured"])
    assert base["slo_met"] is False and hawk["slo_met"] is True
    assert base["requests"]["errors"] == 2  # the injected 500s are counted, not fatal
    assert "HTTP 500" in next(iter(base["errors_by_message"]))
    assert base["metrics"]["output_tokens"]["mean"] == 16 and base["token_sources"] == {
        "usage": base["requests"]["ok"]
    }
    # no usage: 8 tokens in chunks of 2 are counted as 4 (and flagged as counted)
    assert hawk["metrics"]["output_tokens"]["mean"] == 4
    assert set(hawk["token_sources"]) == {"chunks"}
    hawk_metrics = hawk["metrics"]
    assert hawk_metrics["ttft_content_ms"]["p50"] > hawk_metrics["ttft_reasoning_ms"]["p50"]
    assert hawk_metrics["reasoning_end_ms"]["mean"] < hawk_metrics["e2e_ms"]["mean"]
    assert base["metrics"]["reasoning_end_ms"] is None
    (speedup,) = results["speedups"]
    expected = base["metrics"]["e2e_ms"]["mean"] / hawk["metrics"]["e2e_ms"]["mean"]
    assert speedup["e2e_speedup"] == pytest.approx(expected)
    cot_only = base["metrics"]["e2e_ms"]["mean"] / hawk_metrics["reasoning_end_ms"]["mean"]
    assert speedup["cot_speedup"] == pytest.approx(cot_only)
    table = (out / "load_table.md").read_text()
    assert f"| 2 | hawkeye | {hawk['requests']['ok']} / " in table
    assert f"{hawk['metrics']['e2e_ms']['mean'] / 1000:.3f}" in table
    assert f"{expected:.2f}×" in table
    assert "2 × error `HTTP 500" in table
    assert "## Goodput (SLO: e2e_ms <= 60000" in table
    assert (out / "load_table.csv").is_file()


def _plan(tmp_path: Path, url: str, prompts: Path, **kwargs: object) -> LoadPlan:
    defaults: dict[str, object] = dict(
        targets=[Target("t", url)],
        concurrencies=[2],
        out_dir=tmp_path,
        prompts=str(prompts),
        model="scripted-model",
        max_tokens=64,
        stop_timeout_s=10,
    )
    defaults.update(kwargs)
    return LoadPlan(**defaults)  # type: ignore[arg-type]


def test_stream_cut_and_rejected_stream_options(tmp_path: Path, prompts_file: Path) -> None:
    config = ScriptedConfig(
        ttft_ms=10,
        gap_ms=5,
        tokens=10,
        faults=[Fault(kind="reject_stream_options"), Fault(kind="cut", after_chunks=3, first_n=2)],
    )
    with ScriptedServer(config) as base_url:
        plan = _plan(tmp_path, base_url, prompts_file, requests=8, duration_s=60)
        run = run_stage(plan, plan.targets[0], 2)
    assert run.exit_code == 1  # locust's own verdict: some requests failed
    stage = analyse_stage(plan, run)
    records = read_requests(run.raw_dir)
    assert all(not r.stream_options for r in records)  # resent without stream_options
    cut = [r for r in records if r.error]
    assert len(cut) == 2 and all("stream error" in r.error for r in cut)
    assert all(r.output_tokens == 3 for r in cut)  # what arrived before the cut is kept
    assert stage.requests.errors == 2 and stage.requests.ok >= 6
    later = [r for r in records if r.seq > max(c.seq for c in cut if c.pid == r.pid)]
    assert later and all(r.ok for r in later)  # the next requests succeed
    assert {r.output_tokens_source for r in records if r.ok} == {"chunks"}


def test_chunks_of_the_wrong_shape_are_counted_failures(tmp_path: Path) -> None:
    # one prompt per hostile chunk, each hit once; the second round of prompts is clean
    shapes = WRONG_SHAPES[:5]
    prompts = tmp_path / "prompts.jsonl"
    lines = [{"messages": [{"role": "user", "content": f"question {i}"}]} for i in range(5)]
    prompts.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    faults = [
        Fault(kind="chunk", payload=shape, after_chunks=1, match=f"question {i}$", first_n=1)
        for i, shape in enumerate(shapes)
    ]
    config = ScriptedConfig(ttft_ms=5, gap_ms=5, tokens=4, faults=faults)
    with ScriptedServer(config) as base_url:
        plan = _plan(tmp_path, base_url, prompts, requests=10, duration_s=60)
        run = run_stage(plan, plan.targets[0], 1)
    stage = analyse_stage(plan, run)
    records = read_requests(run.raw_dir)
    failed = [r for r in records if r.error]
    assert len(failed) == 5 and all(r.error.startswith(WRONG_SHAPE) for r in failed)
    assert {r.prompt_index for r in failed} == set(range(5))
    assert all(len(r.chunks) == 4 for r in failed)  # read to the end; the hostile chunk is none
    assert stage.requests.errors == 5 and stage.requests.ok >= 10
    assert stage.statistics is not None
    assert sum(stage.statistics.errors_by_message.values()) == 5


def test_processes_write_per_pid_files_and_stop_together(
    tmp_path: Path, prompts_file: Path
) -> None:
    with ScriptedServer(ScriptedConfig(ttft_ms=20, gap_ms=5, tokens=10)) as base_url:
        plan = _plan(tmp_path, base_url, prompts_file, requests=10, duration_s=60, processes=2)
        run = run_stage(plan, plan.targets[0], 4)
    assert run.exit_code == 0
    assert run.seconds < 40  # stopped by the request count, not the 60 s cap
    records = read_requests(run.raw_dir)
    assert len({r.pid for r in records}) == 2
    assert len(read_cpu_samples(run.raw_dir)) == 2
    assert sum(r.measured for r in records) >= 10
    # the two processes take different prompts (interleaved order)
    first = {r.pid: r.prompt_index for r in sorted(records, key=lambda r: r.seq) if r.seq == 0}
    assert len(set(first.values())) == 2


def test_streams_cut_by_the_load_generator_are_incomplete(
    tmp_path: Path, prompts_file: Path
) -> None:
    # user 1 gets "question 0" (short), user 2 "question 1" (200 tokens, 4 s); the first
    # finished request reaches --requests 1, and --stop-timeout 0 kills the long stream
    config = ScriptedConfig(
        ttft_ms=10,
        gap_ms=20,
        tokens=200,
        rules=[ReplyRule(match="question 0", content="short answer")],
    )
    with ScriptedServer(config) as base_url:
        plan = _plan(tmp_path, base_url, prompts_file, requests=1, stop_timeout_s=0, max_tokens=200)
        run = run_stage(plan, plan.targets[0], 2)
    records = read_requests(run.raw_dir)
    cut = [r for r in records if r.incomplete]
    assert all(len(r.chunks) < 200 and r.error is None for r in cut)
    assert any(len(r.chunks) > 0 for r in cut)  # the long stream, cut after some chunks
    stage = analyse_stage(plan, run)
    assert stage.requests.incomplete == len(cut)
    assert stage.requests.measured == len(records) - len(cut) >= 1
    assert (stage.stat("output_tokens", "max") or 0) < 200  # cut streams are not in the stats
    # the slowest requests are missing from the figures: not a reliable stage
    assert stage.reliable is False
    assert any(f"{len(cut)} measured requests were still streaming" in r
               for r in stage.unreliable_reasons)  # fmt: skip


def test_calibrate_command_reports_error_against_truth(tmp_path: Path) -> None:
    out = tmp_path / "cal"
    code = cli_main(
        [
            "load", "--calibrate", "--concurrency", "2", "--calibrate-requests-per-user", "10",
            "--calibrate-ttft-ms", "50", "--calibrate-gap-ms", "40", "--calibrate-tokens", "12",
            "--calibrate-tokens-per-chunk", "2", "--warmup", "0", "--out", str(out),
        ]
    )  # fmt: skip
    (evaluation,) = json.loads((out / "calibration.json").read_text())
    assert code == (0 if evaluation["passed"] else 1)  # the verdict sets the exit code
    measured = evaluation["measured"]
    assert measured["requests_ok"] >= 20
    assert measured["ttft_p50_ms"] >= 50 - EPSILON_MS
    # 2 tokens per chunk every 40 ms: 20 ms per token from the server's per-chunk usage, not
    # the 40 ms between chunks
    assert 10 < measured["tbt_mean_ms"] < 30
    errors = {c["check"]: c["measured"] for c in evaluation["checks"]}
    assert errors["ttft_p50_error_ms"] == pytest.approx(abs(measured["ttft_p50_ms"] - 50))
    assert errors["tbt_mean_error"] == pytest.approx(abs(measured["tbt_mean_ms"] - 20) / 20)
    assert measured["lag_p50_ms"] is not None and measured["client_cpu_max_percent"] is not None
    assert {c["check"] for c in evaluation["checks"]} >= {
        "ttft_p50_error_ms",
        "tbt_mean_error",
        "near_zero_gap_share",
    }


def test_duration_mode_measures_after_startup(tmp_path: Path, prompts_file: Path) -> None:
    # Locust's --run-time counts from process start (imports included); --measure-for does not
    with ScriptedServer(ScriptedConfig(ttft_ms=10, gap_ms=10, tokens=5)) as base_url:
        plan = _plan(tmp_path, base_url, prompts_file, duration_s=2.0)
        run = run_stage(plan, plan.targets[0], 2)
    assert run.exit_code == 0
    sends = [r.t_send_perf for r in read_requests(run.raw_dir)]
    assert 1.5 < max(sends) - min(sends) < 3.0


@pytest.mark.timeout(300)
def test_forked_workers_die_with_a_sigkilled_master(tmp_path: Path, prompts_file: Path) -> None:
    raw = tmp_path / "raw"
    server = ScriptedServer(ScriptedConfig(ttft_ms=50, gap_ms=50, tokens=40))
    with server as base_url:
        command = [
            *LOCUST, "-f", str(LOCUSTFILE), "--headless", "-u", "4", "-r", "4",
            "--run-time", "600s", "--host", base_url, "--processes", "2",
            "--prompts", str(prompts_file), "--max-tokens", "64", "--raw-dir", str(raw),
        ]  # fmt: skip
        master = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        workers: list[int] = []
        try:

            def streaming() -> bool:
                workers[:] = [c.pid for c in psutil.Process(master.pid).children()]
                return len(workers) == 2 and server.stats()["requests"] > 0

            assert wait_until(streaming, timeout_s=120), "the workers never sent a request"
            master.kill()  # SIGKILL: no atexit, no chance to stop the workers itself
            master.wait()
            assert gone_within(workers, 10.0) == []
        finally:
            if master.poll() is None:
                master.kill()
                master.wait()
            for pid in alive(workers):
                os.kill(pid, signal.SIGKILL)
