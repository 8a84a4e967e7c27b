"""Calibration: measure a server whose timing is known and report the measurement error.

The scripted test server sends a role chunk at once, the first token after ``ttft_ms`` and one
token every ``gap_ms`` (scheduled on absolute deadlines), stamping each chunk with its
``perf_counter`` so the delivery lag (server write -> client read) is measured directly. Server
and Locust are pinned to different cores when the machine has more than one. The run goes
through the same stock-``locust`` path as a real load test, so a buffering client, a saturated
load generator or a timing bug shows up here as an error against known truth.

:func:`measure_ceiling` runs it at rising concurrency with one load process and keeps the
highest rate of streamed events it read with delivery lag p99 under the bound: the one-process
ceiling that ``--processes auto`` sizes stages with (:mod:`hawkeye_bench.load.capacity`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil

from hawkeye_bench.load import LOCUSTFILE
from hawkeye_bench.load.calibration_result import (
    Evaluation,
    Tolerances,
    Truth,
    evaluate,
    render,
)
from hawkeye_bench.load.capacity import Capacity, new_capacity
from hawkeye_bench.load.runner import LoadPlan, Target, analyse_stage, run_stage
from hawkeye_bench.testing.scripted_server import start_subprocess

__all__ = [
    "Evaluation",
    "Tolerances",
    "Truth",
    "calibrate",
    "evaluate",
    "measure_ceiling",
    "render",
    "split_cores",
    "within_lag_bound",
    "write_calibration_prompts",
]


def split_cores(server_processes: int = 1) -> tuple[set[int] | None, set[int] | None]:
    """(server cores, client cores): the last core(s) for the server (one per server process,
    at most half of them), the rest for Locust."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    server = max(1, min(server_processes, len(cores) // 2))
    return set(cores[-server:]), set(cores[:-server])


def write_calibration_prompts(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"messages": [{"role": "user", "content": "calibration"}]}\n')
    return path


def calibrate(
    concurrencies: list[int],
    out_dir: Path,
    *,
    requests_per_user: int = 5,
    warmup_s: float = 1.0,
    processes: int = 0,
    truth: Truth | None = None,
    tolerances: Tolerances | None = None,
    locustfile: Path = LOCUSTFILE,
    pin_cores: bool = True,
    progress: Callable[[str], None] = print,
    server_processes: int = 1,
    stop_when: Callable[[Evaluation], bool] | None = None,
) -> list[Evaluation]:
    """Run the calibration at each concurrency; one evaluation per concurrency (up to the first
    that ``stop_when`` accepts)."""
    truth = truth or Truth()
    tolerances = tolerances or Tolerances()
    server_cpus, client_cpus = split_cores(server_processes) if pin_cores else (None, None)
    config = truth.server_config()
    config.processes = server_processes
    process, base_url = start_subprocess(config, cpus=server_cpus)
    pinning = (
        f"server on core {sorted(server_cpus)}, locust on {sorted(client_cpus)}"
        if server_cpus and client_cpus
        else "not pinned: server and client share the cores"
    )
    progress(f"scripted server at {base_url} ({pinning})")
    evaluations = []
    try:
        prompts = write_calibration_prompts(out_dir / "calibration_prompts.jsonl")
        for concurrency in concurrencies:
            plan = LoadPlan(
                targets=[Target("scripted", base_url)],
                concurrencies=[concurrency],
                out_dir=out_dir,
                requests=requests_per_user * concurrency,
                prompts=str(prompts),
                model="scripted-model",
                max_tokens=truth.tokens,
                warmup_s=warmup_s,
                processes=processes,
                stop_timeout_s=30,
                cpus=client_cpus,
                locustfile=locustfile,
            )
            progress(f"calibrating at concurrency {concurrency} ({plan.requests} requests)")
            server = psutil.Process(process.pid)
            server_processes_now = [server, *server.children(recursive=True)]
            for watched in server_processes_now:
                watched.cpu_percent(None)
            run = run_stage(plan, plan.targets[0], concurrency, progress)
            # the server's average CPU over the stage (Locust start-up included): a busy
            # scripted server answers late, which shows as TTFT above the configured value
            # percent of one core, all server processes together
            server_cpu = sum(watched.cpu_percent(None) for watched in server_processes_now)
            stage = analyse_stage(plan, run)
            if stage.failed is not None:
                raise RuntimeError(f"calibration at c={concurrency} failed: {stage.failed}")
            evaluation = evaluate(stage, run.raw_dir, truth, tolerances)
            evaluation.machine.server_cpu_percent = server_cpu
            evaluation.machine.server_rss_mb = _rss_mb(server)
            evaluation.processes = processes
            evaluations.append(evaluation)
            if stop_when is not None and stop_when(evaluation):
                break
    finally:
        _stop(process)
    return evaluations


def _rss_mb(process: psutil.Process) -> float:
    """Resident memory of a server process and its children (a multi-process server)."""
    processes = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes) / 2**20


def within_lag_bound(evaluation: Evaluation, bound_ms: float) -> bool:
    """Read on time: delivery lag p99 under the bound, no error, client CPU not saturated."""
    lag, stage = evaluation.measured.lag_p99_ms, evaluation.stage
    saturated, errors = stage.cpu.saturated, stage.requests.errors
    return lag is not None and lag < bound_ms and not saturated and not errors


def measure_ceiling(
    concurrencies: list[int],
    out_dir: Path,
    *,
    bound_ms: float = Tolerances().lag_p99_ms,
    requests_per_user: int = 5,
    truth: Truth | None = None,
    pin_cores: bool = True,
    progress: Callable[[str], None] = print,
) -> tuple[Capacity | None, list[Evaluation]]:
    """One load process at rising concurrency (stopping after two in a row miss the lag bound:
    on a shared machine one miss can be noise): the highest events/s read with lag p99 <
    ``bound_ms``, and every evaluation."""
    misses = [0]

    def two_misses_in_a_row(evaluation: Evaluation) -> bool:
        misses[0] = 0 if within_lag_bound(evaluation, bound_ms) else misses[0] + 1
        return misses[0] >= 2

    evaluations = calibrate(
        sorted(concurrencies),
        out_dir,
        requests_per_user=requests_per_user,
        truth=truth,
        pin_cores=pin_cores,
        progress=progress,
        stop_when=two_misses_in_a_row,
    )
    good = [
        (ev.measured.events_per_s, ev)
        for ev in evaluations
        if within_lag_bound(ev, bound_ms) and ev.measured.events_per_s is not None
    ]
    if not good:
        return None, evaluations
    events_per_s, best = max(good, key=lambda pair: pair[0])
    capacity = new_capacity(events_per_s, best.measured.lag_p99_ms, best.concurrency, bound_ms)
    return capacity, evaluations


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
