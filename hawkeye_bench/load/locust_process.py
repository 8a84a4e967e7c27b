"""One Locust process: run with its output copied, API keys redacted, into a log; killed at a
deadline; progress lines while it runs. A stage's run (:class:`StageRun`) and a remote worker
(:func:`run_worker`) both go through it."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hawkeye_bench.core import child_process
from hawkeye_bench.core.secrets import redact
from hawkeye_bench.load import LOCUSTFILE, NEXT_STAGE_EXIT_CODE
from hawkeye_bench.load.locust_command import LOG_TAIL_CHARS
from hawkeye_bench.load.plan import DEFAULT_MASTER_PORT, Target
from hawkeye_bench.load.records import REQUESTS_GLOB

PROGRESS_EVERY_S = 15.0
LOG_COPY_WAIT_S = 10.0  # after Locust exits, for the rest of its output
WORKER_STAGE_DEADLINE_S = 6 * 3600.0

Progress = Callable[[str], None]


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


def count_recorded(raw_dir: Path) -> int:
    """Requests recorded so far (lines in the per-process files), for progress lines."""
    return sum(path.read_bytes().count(b"\n") for path in raw_dir.glob(REQUESTS_GLOB))


def _copy_redacted(source: IO[str], log: IO[str]) -> None:
    """Copy Locust's output line by line into the log, with known API keys redacted."""
    try:
        for line in source:
            log.write(redact(line))
            log.flush()
    except (OSError, ValueError):  # the log was closed: a killed Locust's children lingered
        pass


def run_locust(
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
        exit_code, seconds = run_locust(command, log_path, WORKER_STAGE_DEADLINE_S)
        progress(f"stage {stage}: worker exited with code {exit_code} after {seconds:.0f} s")
        if exit_code != NEXT_STAGE_EXIT_CODE:
            if exit_code != 0:
                progress(log_tail(log_path))
            return exit_code
    return 0  # unreachable: the loop ends by returning


def log_tail(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    return redact(text[-LOG_TAIL_CHARS:])
