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
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hawkeye_bench.core import child_process
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.secrets import MissingApiKey, api_key_from_env, redact
from hawkeye_bench.load import LOCUSTFILE, NEXT_STAGE_EXIT_CODE
from hawkeye_bench.load.arrivals import ArrivalSpec, trace_rate
from hawkeye_bench.load.cpu import cpu_summary
from hawkeye_bench.load.metrics import scan_stage
from hawkeye_bench.load.open_loop import open_loop_stats, saturation_reasons, trace_stats
from hawkeye_bench.load.records import (
    CPU_GLOB,
    REQUESTS_GLOB,
    RawRecordError,
    load_cpu_samples,
)
from hawkeye_bench.load.shipping import TRANSFERS_FILE, transfer_problems
from hawkeye_bench.load.traces import read_trace

#: Locust exit codes that still mean "the run happened": 0, and 1 = some requests failed.
LOCUST_RAN = (0, 1)
LOG_TAIL_CHARS = 2000
OPEN_LOOP_SPAWN_RATE = 10_000  # users per second: an open-loop stage's pool starts at once
CHECK_TIMEOUT_S = 120.0  # parsing Locust's command line (imports Locust and the locustfile)
PROGRESS_EVERY_S = 15.0
STARTUP_ALLOWANCE_S = 120.0  # Locust's --run-time clock includes its import and start-up
LOG_COPY_WAIT_S = 10.0  # after Locust exits, for the rest of its output
DEFAULT_MAX_ERROR_RATE = 0.05
DEFAULT_MASTER_PORT = 5557  # Locust's
WORKER_STAGE_DEADLINE_S = 6 * 3600.0
#: how long a --master stage waits for its --expect-workers to connect
EXPECT_WORKERS_MAX_WAIT_S = 300.0

Progress = Callable[[str], None]


class TargetError(HawkeyeError):
    """A --target that is not NAME=URL, or a repeated name."""


class LocustCommandError(HawkeyeError):
    """Locust refused a stage's command line (an unknown or malformed --locust-arg)."""


@dataclass(frozen=True)
class Target:
    name: str
    url: str


def parse_targets(specs: Sequence[str]) -> list[Target]:
    """``["baseline=http://a", "hawkeye=http://b"]`` -> targets; the first is the baseline."""
    targets: list[Target] = []
    for spec in specs:
        name, sep, url = spec.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise TargetError(
                f"--target {spec!r}: expected NAME=URL, e.g. baseline=http://127.0.0.1:8000"
            )
        if any(t.name == name for t in targets):
            raise TargetError(f"--target name {name!r} given twice")
        targets.append(Target(name, url))
    if not targets:
        raise TargetError("give at least one --target NAME=URL")
    return targets


@dataclass
class LoadPlan:
    """Everything one ``hawkeye-bench load`` run does."""

    targets: list[Target]
    concurrencies: list[int]
    out_dir: Path
    requests: int = 0  # successful measured requests per stage; 0 = run for duration_s
    duration_s: float = 0.0  # measured seconds per stage (after warmup); a cap with requests
    prompts: str = "gsm8k"
    data_dir: str | None = None
    prompt_limit: int | None = None
    model: str = ""
    max_tokens: int = 512
    temperature: float | None = None
    warmup_s: float = 0.0
    processes: int = 0  # locust --processes (0 = one process, -1 = one per core)
    #: --processes auto: processes per concurrency (overrides ``processes``)
    processes_by_concurrency: dict[int, int] = field(default_factory=dict)
    master: bool = False  # locust --master: workers on other machines
    expect_workers: int = 0  # with master: worker processes to wait for
    master_port: int = DEFAULT_MASTER_PORT
    stop_timeout_s: float = 300.0
    api_key_env: str = ""
    cpus: set[int] | None = None  # pin the locust processes (calibration)
    locustfile: Path = LOCUSTFILE
    slo: dict[str, float] = field(default_factory=dict)  # metric -> bound in ms (goodput)
    min_goodput: float | None = None  # a stage below this share fails the run
    #: a stage with a larger share of failed measured requests is unreliable and fails the run
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    extra_locust_args: list[str] = field(default_factory=list)
    #: open loop: requests per second, one stage per rate and target (users: the in-flight cap
    #: given as the only concurrency); empty: closed loop
    rates: list[float] = field(default_factory=list)
    arrival: str = "poisson"
    burstiness: float = 1.0
    seed: int = 0
    #: trace replay: one stage per target, the trace's rows at their times (users: the cap)
    trace: Path | None = None
    trace_speed: float = 1.0

    def __post_init__(self) -> None:
        if self.requests <= 0 and self.duration_s <= 0:
            raise ValueError("give --requests N (per stage) or a --duration")
        if not self.concurrencies or any(c < 1 for c in self.concurrencies):
            raise ValueError(f"concurrencies must be >= 1, got {self.concurrencies}")
        if self.master and self.expect_workers < 1:
            raise ValueError("a --master run needs --expect-workers N (N >= 1)")
        if self.rates:
            if len(self.concurrencies) != 1:
                raise ValueError("an open-loop plan has one in-flight cap (its one concurrency)")
            for rate in self.rates:
                ArrivalSpec(rate, self.arrival, self.burstiness, self.seed)  # checks them

    def stages(self) -> list[tuple[int, Target, float | None]]:
        """(concurrency, target, rate) in run order: concurrency by concurrency (open loop: rate
        by rate, at the one in-flight cap), targets side by side."""
        if self.rates:
            cap = self.concurrencies[0]
            return [(cap, t, rate) for rate in self.rates for t in self.targets]
        if self.trace is not None:
            return [(self.concurrencies[0], t, None) for t in self.targets]
        return [(c, t, None) for c in self.concurrencies for t in self.targets]

    def stages_after(self, target: Target, concurrency: int, rate: float | None = None) -> int:
        stages = self.stages()
        if (concurrency, target, rate) not in stages:
            return 0
        return len(stages) - 1 - stages.index((concurrency, target, rate))

    def processes_for(self, concurrency: int) -> int:
        """Locust's --processes for one stage (0: a single process)."""
        return self.processes_by_concurrency.get(concurrency, self.processes)

    def describe(self) -> dict[str, Any]:
        """The plan as JSON (no secrets: only the API key's variable name)."""
        return {
            "targets": [{"name": t.name, "url": t.url} for t in self.targets],
            "baseline": self.targets[0].name,
            "concurrencies": self.concurrencies,
            "requests_per_stage": self.requests,
            "duration_s": self.duration_s,
            "prompts": self.prompts,
            "prompt_limit": self.prompt_limit,
            "model": self.model or "(first of GET /v1/models)",
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "warmup_s": self.warmup_s,
            "processes": self.processes,
            "processes_by_concurrency": self.processes_by_concurrency or None,
            "master": self.master,
            "expect_workers": self.expect_workers if self.master else None,
            "api_key_env": self.api_key_env or None,
            "slo": self.slo or None,
            "min_goodput": self.min_goodput,
            "max_error_rate": self.max_error_rate,
            "trace": self._describe_trace(),
            "open_loop": (
                {
                    "rates": self.rates,
                    "arrival": self.arrival,
                    "burstiness": self.burstiness,
                    "seed": self.seed,
                    "max_concurrency": self.concurrencies[0],
                }
                if self.rates
                else None
            ),
        }

    def _describe_trace(self) -> dict[str, Any] | None:
        if self.trace is None:
            return None
        return {
            "file": str(self.trace),
            "speed": self.trace_speed,
            "max_concurrency": self.concurrencies[0],
        }

    def run_time_s(self) -> float:
        """Locust's --run-time: only a safety cap (it counts from process start-up)."""
        if self.duration_s > 0:
            return self.warmup_s + self.duration_s + STARTUP_ALLOWANCE_S
        return 3600.0

    def max_failures(self) -> int:
        """Failed measured requests after which Locust stops a --requests stage (0 = no limit):
        as many as the successes asked for, so a dead target does not spin until the hour-long
        cap, and a stage never sends more than twice the requests it would with no failure."""
        return max(self.requests, 0)


@dataclass
class StageRun:
    """What running locust for one stage produced."""

    target: Target
    concurrency: int
    raw_dir: Path
    log_path: Path
    exit_code: int
    seconds: float
    rate: float | None = None  # open loop: requests per second asked for
    trace: bool = False  # a trace replay


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


def _clear_raw_dir(raw_dir: Path) -> None:
    """A stage's raw directory holds only this run's files (old ones would merge in)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for pattern in (REQUESTS_GLOB, CPU_GLOB, TRANSFERS_FILE):
        for old in raw_dir.glob(pattern):
            old.unlink()


def count_recorded(raw_dir: Path) -> int:
    """Requests recorded so far (lines in the per-process files), for progress lines."""
    return sum(path.read_bytes().count(b"\n") for path in raw_dir.glob(REQUESTS_GLOB))


def _remember_api_key(plan: LoadPlan) -> None:
    """Read the API key here too, so that :func:`redact` removes it from Locust's output."""
    if plan.api_key_env:
        with contextlib.suppress(MissingApiKey):  # the locustfile reports it
            api_key_from_env(plan.api_key_env, "--api-key-env")


def _copy_redacted(source: IO[str], log: IO[str]) -> None:
    """Copy Locust's output line by line into the log, with known API keys redacted."""
    try:
        for line in source:
            log.write(redact(line))
            log.flush()
    except (OSError, ValueError):  # the log was closed: a killed Locust's children lingered
        pass


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
    exit_code, seconds = _run_locust(command, log_path, deadline_s, plan.cpus, progress, raw_dir)
    trace = plan.trace is not None
    return StageRun(target, concurrency, raw_dir, log_path, exit_code, seconds, rate, trace)


def _run_locust(
    command: list[str],
    log_path: Path,
    deadline_s: float,
    cpus: set[int] | None = None,
    progress: Progress | None = None,
    raw_dir: Path | None = None,
) -> tuple[int, float]:
    """Run one locust process, its output copied (redacted) into ``log_path``; (exit code,
    seconds). Killed after ``deadline_s`` (exit code -9)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    start = time.monotonic()
    deadline = start + deadline_s
    with log_path.open("w", encoding="utf-8") as log:
        log.write(redact(" ".join(command)) + "\n\n")
        log.flush()
        # SIGTERM when this process dies: Locust then stops the worker processes it forked.
        process = child_process.popen(
            command,
            parent_death_signal=signal.SIGTERM,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            preexec_fn=pin if cpus else None,
        )
        assert process.stdout is not None
        copier = threading.Thread(
            target=_copy_redacted, args=(process.stdout, log), name="locust-log", daemon=True
        )
        copier.start()
        exit_code: int | None = None
        while exit_code is None:
            try:
                exit_code = process.wait(timeout=PROGRESS_EVERY_S)
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    exit_code = -9
                elif progress is not None and raw_dir is not None:
                    elapsed = time.monotonic() - start
                    progress(f"    {elapsed:.0f} s: {count_recorded(raw_dir)} requests recorded")
        copier.join(LOG_COPY_WAIT_S)
    return exit_code, time.monotonic() - start


def run_worker(
    master_host: str,
    out_dir: Path,
    *,
    master_port: int = DEFAULT_MASTER_PORT,
    processes: int = 0,
    locustfile: Path = LOCUSTFILE,
    progress: Progress = print,
) -> int:
    """Serve a ``--master`` run from this machine: ``locust --worker --master-host H`` once per
    stage (a Locust worker exits when its master does), until the master's last stage. The
    workload and every setting come from the master; records go back to it. Returns 0 after
    the last stage, else the worker's exit code (its log is in ``out_dir``)."""
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--worker",
        "--master-host", master_host, "--master-port", str(master_port),
    ]  # fmt: skip
    if processes:
        command += ["--processes", str(processes)]
    for stage in itertools.count(1):
        log_path = out_dir / f"worker_stage{stage}.log"
        progress(f"stage {stage}: locust --worker --master-host {master_host} (log {log_path})")
        # a worker waits for its master: give it the master's whole stage and more
        exit_code, seconds = _run_locust(command, log_path, WORKER_STAGE_DEADLINE_S)
        progress(f"stage {stage}: worker exited with code {exit_code} after {seconds:.0f} s")
        if exit_code != NEXT_STAGE_EXIT_CODE:
            if exit_code != 0:
                progress(log_tail(log_path))
            return exit_code
    return 0  # unreachable: the loop ends by returning


def log_tail(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    return redact(text[-LOG_TAIL_CHARS:])


def analyse_stage(plan: LoadPlan, run: StageRun) -> dict[str, Any]:
    """Statistics of one stage from its raw files, with reliability verdicts."""
    result: dict[str, Any] = {
        "target": run.target.name,
        "url": run.target.url,
        "concurrency": run.concurrency,
        "stage": stage_name(run.target, run.concurrency, run.rate, run.trace),
        "locust_exit_code": run.exit_code,
        "seconds": round(run.seconds, 2),
        "raw_dir": str(run.raw_dir),
        "locust_log": str(run.log_path),
    }
    reasons: list[str] = []
    if run.exit_code not in LOCUST_RAN:
        reasons.append(f"locust exited with code {run.exit_code} (see {run.log_path})")
    try:
        # one streaming pass; the records (open loop, traces) come back without their chunks
        open_loop = run.rate is not None or run.trace
        scan = scan_stage(run.raw_dir, plan.slo, keep_records=open_loop)
        metrics, records, torn_requests = scan.metrics, scan.records, scan.torn
        cpu_samples, torn_cpu = load_cpu_samples(run.raw_dir)
    except RawRecordError as exc:
        failed = str(exc)
        if run.exit_code not in LOCUST_RAN:  # Locust's own error says why, not the empty folder
            output = run.log_path.read_text(encoding="utf-8", errors="replace")
            failed = f"locust exited with code {run.exit_code}: {locust_error(output)} ({exc})"
        result.update(failed=failed, log_tail=log_tail(run.log_path))
        result.update(reliable=False, unreliable_reasons=[*reasons, "no usable raw records"])
        return result
    result.update(metrics)
    # a key echoed by the server is redacted when recorded; this covers older raw files
    errors = Counter[str]()
    for message, count in result["errors_by_message"].items():
        errors[redact(message)] += count
    result["errors_by_message"] = dict(errors)
    # lines cut by a SIGKILL at the deadline: dropped, and counted here
    result["torn_lines"] = {"requests": torn_requests, "cpu": torn_cpu}
    reasons += _lost_request_reasons(plan, result["requests"]["incomplete"], torn_requests)
    cpu = cpu_summary(cpu_samples)
    result["cpu"] = cpu
    result["load_processes"] = len(cpu["processes"])
    reasons += _client_cpu_reasons(cpu)
    transfers = transfer_problems(run.raw_dir)
    result["raw_transfer_problems"] = transfers
    reasons += transfers
    if run.rate is not None:
        result["rate"] = run.rate
        result["arrival"] = {"process": plan.arrival, "burstiness": plan.burstiness}
        result["open_loop"] = open_loop_stats(records, run.rate)
        result["open_loop"]["saturation"] = saturation_reasons(result["open_loop"])
        reasons += result["open_loop"]["saturation"]
    if run.trace and plan.trace is not None:
        rows = read_trace(plan.trace)
        result["open_loop"] = open_loop_stats(records, trace_rate(rows, plan.trace_speed))
        result["open_loop"]["saturation"] = saturation_reasons(result["open_loop"])
        reasons += result["open_loop"]["saturation"]
        result["trace"] = trace_stats(records, len(rows))
    error_share, too_many_errors, error_reasons = _error_verdict(plan, result["requests"])
    result["error_share"] = error_share
    result["too_many_errors"] = too_many_errors
    result["error_reasons"] = error_reasons
    reasons += error_reasons
    if run.exit_code not in LOCUST_RAN:
        result["log_tail"] = log_tail(run.log_path)
    result["reliable"] = not reasons
    result["unreliable_reasons"] = reasons
    share = (result.get("goodput") or {}).get("share")
    if plan.min_goodput is not None:
        result["slo_met"] = share is not None and share >= plan.min_goodput
    return result


def _lost_request_reasons(plan: LoadPlan, incomplete: int, torn: int) -> list[str]:
    """Requests the statistics leave out because they were lost, not because they failed: cut
    by --stop-timeout (the slowest ones, so the figures are biased low) or torn in the raw
    file."""
    reasons = []
    if incomplete:
        reasons.append(
            f"{incomplete} measured requests were still streaming when --stop-timeout "
            f"({plan.stop_timeout_s:g} s) ran out: cut and left out of the statistics"
        )
    if torn:
        reasons.append(f"{torn} raw request records were torn (a killed process) and dropped")
    return reasons


def _client_cpu_reasons(cpu: dict[str, Any]) -> list[str]:
    """Why the load generator's CPU makes the latencies unreliable (none when it does not)."""
    reasons = []
    if cpu["saturated"]:
        busy = [p["process"] for p in cpu["processes"] if p["saturated"]]
        reasons.append(
            f"load generator CPU saturated (>= {cpu['threshold_percent']:g} % for "
            f"{cpu['consecutive_samples']} s; {len(busy)} of {len(cpu['processes'])} "
            f"process(es): {', '.join(busy)}): latencies include client delay"
        )
    if not cpu["sampled"]:
        reasons.append("client CPU was not sampled (run shorter than 1 s?)")
    return reasons


def _error_verdict(plan: LoadPlan, counts: dict[str, int]) -> tuple[float | None, bool, list[str]]:
    """(share of measured requests that failed, too many failed, reasons) of one stage."""
    measured, ok, failed = counts["measured"], counts["ok"], counts["errors"]
    error_share = failed / measured if measured else None
    too_many_errors = ok == 0 or (error_share is not None and error_share > plan.max_error_rate)
    reasons = []
    if ok == 0:
        reasons.append("no request succeeded")
    elif error_share is not None and error_share > plan.max_error_rate:
        reasons.append(
            f"{100 * error_share:.1f} % of measured requests failed ({failed} of {measured}), "
            f"above --max-error-rate {100 * plan.max_error_rate:.1f} %"
        )
    if plan.requests and 0 < ok < plan.requests:
        reasons.append(f"only {ok} of {plan.requests} requests succeeded")
    if counts.get("refused"):
        reasons.append(
            f"{counts['refused']} requests found the target refusing connections "
            "(each user backed off before trying again)"
        )
    return error_share, too_many_errors, reasons


def _one_line(stage: dict[str, Any]) -> str:
    if "failed" in stage:
        return f"FAILED: {stage['failed']}"
    counts = stage["requests"]
    e2e = stage["metrics"]["e2e_ms"]
    ttft = stage["metrics"]["ttft_ms"]
    parts = [f"{counts['ok']} ok, {counts['errors']} errors"]
    if counts.get("refused"):
        parts[0] += f" ({counts['refused']} refused connections)"
    if e2e and ttft:
        parts.append(f"E2E mean {e2e['mean'] / 1000:.3f} s, TTFT p50 {ttft['p50']:.1f} ms")
    cpu = stage.get("cpu", {}).get("max_percent")
    if cpu is not None:
        parts.append(f"client CPU max {cpu:.0f} %")
    share = (stage.get("goodput") or {}).get("share")
    if share is not None:
        parts.append(f"goodput {100 * share:.1f} %")
    open_loop = stage.get("open_loop")
    if open_loop and open_loop["achieved_per_s"] is not None:
        lag = (open_loop["send_lag_ms"] or {}).get("p99")
        requested = open_loop["requested_per_s"] or open_loop["scheduled_per_s"] or 0.0
        lag_text = "–" if lag is None else f"{lag:.2f}"
        parts.append(f"achieved {open_loop['achieved_per_s']:.2f} of {requested:.4g} "
                     f"requests/s, send lag p99 {lag_text} ms")  # fmt: skip
    if not stage["reliable"]:
        parts.append("UNRELIABLE: " + "; ".join(stage["unreliable_reasons"]))
    return ", ".join(parts)


def run_plan(plan: LoadPlan, progress: Progress = print) -> list[dict[str, Any]]:
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
        progress(f"{label}: done in {run.seconds:.1f} s: {_one_line(stage)}")
        results.append(stage)
    return results
