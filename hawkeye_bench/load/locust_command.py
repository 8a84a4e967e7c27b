"""The ``locust`` command line of one stage, as a user would type it, and Locust's own check of
it before any request is sent."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.secrets import redact
from hawkeye_bench.load.plan import LoadPlan, Target

LOG_TAIL_CHARS = 2000
OPEN_LOOP_SPAWN_RATE = 10_000  # users per second: an open-loop stage's pool starts at once
CHECK_TIMEOUT_S = 120.0  # parsing Locust's command line (imports Locust and the locustfile)
#: how long a --master stage waits for its --expect-workers to connect
EXPECT_WORKERS_MAX_WAIT_S = 300.0


class LocustCommandError(HawkeyeError):
    """Locust refused a stage's command line (an unknown or malformed --locust-arg)."""


def stage_level(concurrency: int, rate: float | None = None, trace: bool = False) -> str:
    """``c<C>`` (closed loop), ``r<R>`` (open loop) or ``trace``: a stage's folder and name
    suffix."""
    if trace:
        return "trace"
    return f"c{concurrency}" if rate is None else f"r{rate:g}"


def stage_name(
    target: Target, concurrency: int, rate: float | None = None, trace: bool = False
) -> str:
    return f"{target.name}/{stage_level(concurrency, rate, trace)}"


def locust_command(
    plan: LoadPlan, target: Target, concurrency: int, raw_dir: Path, rate: float | None = None
) -> list[str]:
    trace = plan.trace is not None
    level = stage_level(concurrency, rate, trace)
    csv_prefix = plan.out_dir / "locust" / f"{target.name}_{level}"
    # open loop: every user (the in-flight cap) at once, so the cap holds from the first request
    open_loop = rate is not None or trace
    spawn_rate = max(concurrency, OPEN_LOOP_SPAWN_RATE) if open_loop else concurrency
    command = [
        sys.executable, "-m", "locust",
        "-f", str(plan.locustfile),
        "--headless", "--only-summary",
        "-u", str(concurrency), "-r", str(spawn_rate),
        "--host", target.url,
        "--run-time", f"{math.ceil(plan.run_time_s())}s",  # whole seconds only
        "--stop-timeout", f"{plan.stop_timeout_s:g}",
        "--csv", str(csv_prefix),
        "--prompts", plan.prompts,
        "--max-tokens", str(plan.max_tokens),
        "--warmup", f"{plan.warmup_s:g}",
        "--requests", str(plan.requests),
        "--max-failures", str(plan.max_failures()),
        "--measure-for", f"{plan.duration_s:g}",
        "--raw-dir", str(raw_dir),
        "--stage", stage_name(target, concurrency, rate, trace),
    ]  # fmt: skip
    if plan.model:
        command += ["--model", plan.model]
    if plan.data_dir:
        command += ["--data-dir", plan.data_dir]
    if plan.prompt_limit is not None:
        command += ["--prompt-limit", str(plan.prompt_limit)]
    if plan.temperature is not None:
        command += ["--temperature", str(plan.temperature)]
    processes = plan.processes_for(concurrency)
    if plan.master:
        command += [
            "--master", "--expect-workers", str(plan.expect_workers),
            "--expect-workers-max-wait", f"{EXPECT_WORKERS_MAX_WAIT_S:g}",
            "--master-bind-port", str(plan.master_port),
            "--stages-left", str(plan.stages_after(target, concurrency, rate)),
        ]  # fmt: skip
    elif processes:
        command += ["--processes", str(processes)]
    if plan.api_key_env:
        command += ["--api-key-env", plan.api_key_env]
    if rate is not None:
        command += ["--rate", f"{rate!r}", "--arrival", plan.arrival,
                    "--burstiness", f"{plan.burstiness!r}", "--seed", str(plan.seed)]  # fmt: skip
    if plan.trace is not None:
        command += ["--trace", str(plan.trace), "--trace-speed", f"{plan.trace_speed!r}"]
    return command + plan.extra_locust_args


def check_locust_command(plan: LoadPlan) -> None:
    """Have Locust parse the first stage's command line before any request is sent: with
    ``--list`` it parses every option (ours and --locust-arg's), prints the user classes and
    exits without starting a user. LocustCommandError carries Locust's own message."""
    single = dataclasses.replace(plan, processes=0, processes_by_concurrency={})  # no forks
    concurrency, target, rate = plan.stages()[0]
    command = [*locust_command(single, target, concurrency, plan.out_dir / "raw", rate), "--list"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise LocustCommandError(
            f"locust did not parse its command line within {CHECK_TIMEOUT_S:g} s"
        ) from None
    if done.returncode != 0:
        message = locust_error(done.stderr + done.stdout) or f"exit code {done.returncode}"
        raise LocustCommandError(f"locust refused the command line: {message}")


def locust_error(output: str) -> str:
    """Locust's own error in its output, on one line and redacted: the last line that says
    error (argparse's usage error, a SystemExit message from the locustfile), else the last
    line; "" for no output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    line = (errors or lines or [""])[-1]
    return redact(line.removeprefix("__main__.py: "))[:LOG_TAIL_CHARS]
