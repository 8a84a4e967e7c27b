"""Drive the stock ``locust`` command line, one headless run per target and concurrency.

Each stage is ``python -m locust -f <our locustfile> --headless -u C -r C --host URL ...`` as a
subprocess, exactly what a user would type, writing raw records to its own directory; the
statistics are computed afterwards from those files (:mod:`hawkeye_bench.load.metrics`).
Stages run concurrency by concurrency, targets side by side, so each comparison at one
concurrency is made close together in time.

Only successful requests count toward ``--requests``, so a failing target cannot end a stage
early with few results; it stops at the time cap, or after as many failed requests as
successes were asked for. A stage whose share of failed requests is above ``max_error_rate``
(or with no success at all), with a load-generating process whose CPU saturated, or whose
workers' raw records did not all reach the master, is unreliable and fails the run.

Distributed runs use Locust's own distributed mode: ``processes`` adds ``--processes N``
(workers forked on this machine); ``master`` adds ``--master --expect-workers N`` (workers on
other machines run :func:`run_worker`, i.e. ``locust --worker --master-host H``). Either way the
workers ship their raw records to the master (:mod:`hawkeye_bench.load.shipping`), which writes
one file per worker process into the stage's raw folder. Locust's output is copied into the
stage log with every known API key redacted (an upstream may echo the key in an error body).

The modules it draws on: :mod:`~hawkeye_bench.load.plan` (what a run does),
:mod:`~hawkeye_bench.load.locust_command` (a stage's command line),
:mod:`~hawkeye_bench.load.locust_process` (running Locust, remote workers) and
:mod:`~hawkeye_bench.load.stage_analysis` (a stage's result and verdicts).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hawkeye_bench.core.secrets import MissingApiKey, api_key_from_env
from hawkeye_bench.load.locust_command import (
    EXPECT_WORKERS_MAX_WAIT_S,
    LocustCommandError,
    check_locust_command,
    locust_command,
    stage_level,
    stage_name,
)
from hawkeye_bench.load.locust_process import (
    Progress,
    StageRun,
    log_tail,
    run_locust,
    run_worker,
)
from hawkeye_bench.load.plan import (
    DEFAULT_MASTER_PORT,
    DEFAULT_MAX_ERROR_RATE,
    LoadPlan,
    Target,
    TargetError,
    parse_targets,
)
from hawkeye_bench.load.records import CPU_GLOB, REQUESTS_GLOB
from hawkeye_bench.load.shipping import TRANSFERS_FILE
from hawkeye_bench.load.stage_analysis import analyse_stage, one_line
from hawkeye_bench.load.stage_result import LoadStageResult

#: the runner's public names, wherever they live
__all__ = [
    "DEFAULT_MASTER_PORT",
    "DEFAULT_MAX_ERROR_RATE",
    "LoadPlan",
    "LocustCommandError",
    "StageRun",
    "Target",
    "TargetError",
    "analyse_stage",
    "check_locust_command",
    "locust_command",
    "log_tail",
    "parse_targets",
    "run_plan",
    "run_stage",
    "run_worker",
    "stage_level",
    "stage_name",
]


def _clear_raw_dir(raw_dir: Path) -> None:
    """A stage's raw directory holds only this run's files (old ones would merge in)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for pattern in (REQUESTS_GLOB, CPU_GLOB, TRANSFERS_FILE):
        for old in raw_dir.glob(pattern):
            old.unlink()


def _remember_api_key(plan: LoadPlan) -> None:
    """Read the API key here too, so that :func:`redact` removes it from Locust's output."""
    if plan.api_key_env:
        with contextlib.suppress(MissingApiKey):  # the locustfile reports it
            api_key_from_env(plan.api_key_env, "--api-key-env")


def run_stage(
    plan: LoadPlan,
    target: Target,
    concurrency: int,
    progress: Progress | None = None,
    rate: float | None = None,
) -> StageRun:
    """Run locust for one stage; ``progress`` gets a line every PROGRESS_EVERY_S seconds."""
    _remember_api_key(plan)
    level = stage_level(concurrency, rate, plan.trace is not None)
    raw_dir = plan.out_dir / "raw" / target.name / level
    _clear_raw_dir(raw_dir)
    log_path = plan.out_dir / "locust" / f"{target.name}_{level}.log"
    command = locust_command(plan, target, concurrency, raw_dir, rate)
    deadline_s = plan.run_time_s() + plan.stop_timeout_s + 120
    if plan.master:
        deadline_s += EXPECT_WORKERS_MAX_WAIT_S
    exit_code, seconds = run_locust(command, log_path, deadline_s, plan.cpus, progress, raw_dir)
    trace = plan.trace is not None
    return StageRun(target, concurrency, raw_dir, log_path, exit_code, seconds, rate, trace)


def run_plan(plan: LoadPlan, progress: Progress = print) -> list[LoadStageResult]:
    """Run every stage and return their analysed results in run order."""
    stages = plan.stages()
    results = []
    for number, (concurrency, target, rate) in enumerate(stages, start=1):
        label = (
            f"[{number}/{len(stages)}] {stage_name(target, concurrency, rate, bool(plan.trace))}"
        )
        goal = f"{plan.requests} requests" if plan.requests else f"{plan.duration_s:g} s"
        processes = plan.processes_for(concurrency)
        where = (
            f"master of {plan.expect_workers} workers"
            if plan.master
            else f"{processes} processes"
            if processes
            else "one process"
        )
        load = f"-u {concurrency}" if rate is None else f"{rate:g} requests/s, <= {concurrency} "
        load += "" if rate is None else "in flight"
        if plan.trace is not None:
            load = f"trace {plan.trace} x{plan.trace_speed:g}, <= {concurrency} in flight"
        progress(f"{label}: locust {load} against {target.url} ({goal}; {where})")
        run = run_stage(plan, target, concurrency, progress, rate=rate)
        stage = analyse_stage(plan, run)
        progress(f"{label}: done in {run.seconds:.1f} s: {one_line(stage)}")
        results.append(stage)
    return results
