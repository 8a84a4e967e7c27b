"""1,000 concurrent streams on this machine: how well does ``load`` measure them?

The scripted server (own process) answers every request with TTFT ``--ttft-ms`` and a token
every ``--gap-ms`` (default 500 ms: 1,000 streams make 2,000 events/s, what 2 cores carry;
50,000 events/s, 1,000 streams at a 20 ms gap, needs a larger machine, see the README). Two
stages run against it with ``--processes auto`` (Locust processes from the measured ceiling of
one process, else one per core):

- closed loop: 1,000 users, ``--requests-per-user`` requests each;
- open loop: Poisson arrivals at the rate that keeps ``--streams`` in flight (streams / E2E),
  capped at 1.2 times that.

Per stage: TTFT p50 error (measured - truth; beside it the server's own first-token write
against the script, and the first token's delivery lag), mean TBT error (relative), delivery lag p99
(server write -> client read), the peak of open sockets to the server and of requests in
flight, and the Locust processes' peak resident memory per open stream (interpreters
included: an upper bound) and what it grew by from its least sample, per open stream.

    .venv/bin/python benchmarks/bench_load_streams_1000.py [--streams 1000] [--gap-ms 500]
        [--tokens 20] [--server-processes 1] [--skip-open-loop] [--out DIR]
    .venv/bin/python benchmarks/bench_load_streams_1000.py --quick   # 200 streams, 10 tokens
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil

from hawkeye_bench.load.calibrate import Tolerances, Truth, evaluate, write_calibration_prompts
from hawkeye_bench.load.capacity import plan_processes, read_capacity
from hawkeye_bench.load.runner import LoadPlan, Target, analyse_stage, run_stage
from hawkeye_bench.testing.scripted_server import start_subprocess

SAMPLE_EVERY_S = 1.0


@dataclass
class Watch:
    """Samples the Locust processes (this process's descendants but the server): their open
    sockets to the server and their resident memory."""

    port: int
    server_pid: int
    peak_sockets: int = 0
    peak_rss_mb: float = 0.0
    least_rss_mb: float = float("inf")  # the processes started, before most streams open
    stop: threading.Event = field(default_factory=threading.Event)

    def _locusts(self) -> list[psutil.Process]:
        found = []
        for child in psutil.Process().children(recursive=True):
            try:
                if child.pid != self.server_pid and "locust" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.Error:
                pass
        return found

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY_S):
            sockets, rss = 0, 0
            for process in self._locusts():
                try:
                    rss += process.memory_info().rss
                    sockets += sum(
                        1
                        for c in process.net_connections(kind="tcp")
                        if c.raddr and c.raddr.port == self.port and c.status == "ESTABLISHED"
                    )
                except psutil.Error:
                    pass
            self.peak_sockets = max(self.peak_sockets, sockets)
            self.peak_rss_mb = max(self.peak_rss_mb, rss / 2**20)
            if rss:
                self.least_rss_mb = min(self.least_rss_mb, rss / 2**20)


def _minus(value: float | None, truth: float) -> float | None:
    return None if value is None else value - truth


def run(
    name: str, plan: LoadPlan, url: str, server_pid: int, truth: Truth, rate: float | None
) -> dict[str, Any]:
    watch = Watch(urlparse(url).port or 80, server_pid)
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    try:
        stage_run = run_stage(plan, plan.targets[0], plan.concurrencies[0], print, rate)
    finally:
        watch.stop.set()
        thread.join()
    stage = analyse_stage(plan, stage_run)
    if stage.failed is not None:
        raise SystemExit(f"{name}: {stage.failed}")
    measured = evaluate(stage, stage_run.raw_dir, truth, Tolerances()).measured.to_json()
    in_flight = None if stage.open_loop is None else stage.open_loop.in_flight.max
    streams = watch.peak_sockets or None
    return {
        "stage": name,
        "processes": stage.load_processes,
        "requests_ok": measured["requests_ok"],
        "errors": stage.requests.errors,
        "ttft_p50_error_ms": measured["ttft_p50_ms"] - truth.ttft_ms,
        # the server's own first-token write (its stamp) against the script: a server late
        # under a burst of arrivals, not a client that read late
        "server_ttft_p50_error_ms": _minus(measured["server_ttft_p50_ms"], truth.ttft_ms),
        "first_token_lag_p50_ms": measured["first_token_lag_p50_ms"],
        "tbt_mean_error": (measured["tbt_mean_ms"] - truth.gap_ms) / truth.gap_ms,
        "lag_p99_ms": measured["lag_p99_ms"],
        "events_per_s": measured["events_per_s"],
        "peak_open_sockets": watch.peak_sockets,
        "peak_in_flight": in_flight,
        "peak_rss_mb": watch.peak_rss_mb,
        "rss_per_stream_kb": watch.peak_rss_mb * 1024 / streams if streams else None,
        "rss_added_per_stream_kb": (
            (watch.peak_rss_mb - watch.least_rss_mb) * 1024 / streams if streams else None
        ),
        "client_cpu_max_percent": measured["client_cpu_max_percent"],
        "reliable": stage.reliable,
        "unreliable_reasons": stage.unreliable_reasons,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--ttft-ms", type=float, default=500.0)
    parser.add_argument("--gap-ms", type=float, default=500.0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--requests-per-user", type=int, default=2)
    parser.add_argument("--open-loop-s", type=float, default=60.0, help="open-loop duration")
    parser.add_argument("--server-processes", type=int, default=1)
    parser.add_argument("--skip-open-loop", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.streams, args.tokens, args.open_loop_s = 200, 10, 20.0
    truth = Truth(ttft_ms=args.ttft_ms, gap_ms=args.gap_ms, tokens=args.tokens)
    out = args.out or Path(tempfile.mkdtemp(prefix="hawkeye-bench-streams-"))
    config = truth.server_config()
    config.processes = args.server_processes
    server, url = start_subprocess(config)
    try:
        events_per_stream = 1000.0 / args.gap_ms
        auto = plan_processes(args.streams, events_per_stream, read_capacity())
        print(f"--processes auto: {auto.note}")
        base = LoadPlan(
            targets=[Target("scripted", url)],
            concurrencies=[args.streams],
            out_dir=out,
            prompts=str(write_calibration_prompts(out / "prompts.jsonl")),
            model="scripted-model",
            max_tokens=args.tokens,
            warmup_s=0.0,
            processes=auto.processes,
            stop_timeout_s=60,
            requests=args.requests_per_user * args.streams,
        )
        closed = base
        results = [run("closed loop", closed, url, server.pid, truth, None)]
        if not args.skip_open_loop:
            rate = float(f"{args.streams / (truth.e2e_ms() / 1000):.4g}")
            cap = int(args.streams * 1.2)
            opened = dataclasses.replace(
                base,
                concurrencies=[cap],
                rates=[rate],
                requests=0,
                duration_s=args.open_loop_s,
                warmup_s=truth.e2e_ms() / 1000,
            )
            results.append(run(f"open loop {rate:g}/s", opened, url, server.pid, truth, rate))
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = {"truth": truth.__dict__, "processes_auto": auto.note, "stages": results}
    print(json.dumps(report, indent=2))
    (out / "streams_1000.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
