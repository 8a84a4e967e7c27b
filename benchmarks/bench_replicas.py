"""Replicas: does eval keep `concurrency` items in flight when one endpoint is served by several
replicas, and does the least-busy routing spread the calls evenly?

Each replica is a scripted server in its own process answering every call after a fixed
latency L. Every concurrency slot runs `rounds` items back to back, so N = rounds * C items and
the ideal wall time is N * calls * L / C = rounds * calls * L. Two setups, measured in the same
run, each for the hawkeye pipeline (2 calls per item) and the baseline (1 call):

- 4 replicas at concurrency 512 (goal: wall / ideal <= 1.05 for hawkeye; each replica's calls
  within 10% of the mean);
- 1 replica at concurrency 64 (the reference, as bench_orchestration measures it).

Besides wall / ideal: each call's latency (send -> last token) over L, i.e. the per-call
overhead once the run is going; how long the first wave took to send (opening C connections,
a fixed start-up cost wall / ideal includes); the client's CPU per call (time.process_time).
``--profile`` prints where the client's CPU went in the 4-replica runs (cProfile). On a 2-core
machine the servers and the client share the cores: the first waves (C new connections, C
requests at once) arrive late, most of what separates wall / ideal from 1 at C=512.

    python benchmarks/bench_replicas.py [--quick] [--latency-ms 2000] [--rounds 10] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import os
import pstats
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import describe
from hawkeye_bench.datasets import load_problems
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.endpoints.pool import ClientPool
from hawkeye_bench.eval.engine import plan_items, run_items
from hawkeye_bench.grading.workers import Grader
from hawkeye_bench.pipelines import get_pipeline
from hawkeye_bench.presets import load_preset
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, start_subprocess

GOAL = 1.05  # hawkeye pipeline, 4 replicas: wall time within 5% of rounds * 2 * L
SPREAD_GOAL = 0.10  # each replica's calls within 10% of the mean


@dataclass(frozen=True)
class Setup:
    replicas: int
    concurrency: int


async def measure(
    pipeline_name: str, urls: list[str], setup: Setup, args: argparse.Namespace, profile: bool
) -> dict[str, Any]:
    cls = get_pipeline(pipeline_name)
    n_items = args.rounds * setup.concurrency
    problems = load_problems("gsm8k")
    items = plan_items(problems, math.ceil(n_items / len(problems)))[:n_items]
    endpoint = Endpoint(base_url=urls[0], replica_urls=tuple(urls[1:]), model="scripted")
    records: list[Record] = []
    profiler = cProfile.Profile() if profile else None
    async with ClientPool(
        dict.fromkeys(cls.roles, endpoint), concurrency=setup.concurrency
    ) as pool:
        pipeline = cls(load_preset("default"), pool)
        with Grader() as grader:
            grader.warm_up()
            cpu_before = time.process_time()
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            await run_items(
                pipeline, grader, items, concurrency=setup.concurrency, on_record=records.append
            )
            if profiler is not None:
                profiler.disable()
            wall = time.perf_counter() - started
            client_cpu = time.process_time() - cpu_before
        replica_calls = [r["calls"] for s in pool.replica_stats() for r in s["replicas"]]
    calls = len(cls.roles) * n_items
    latency_s = args.latency_ms / 1000
    ideal = calls * latency_s / setup.concurrency
    first_wave = sorted(s.started_at for r in records for s in r.trace.stages)[: setup.concurrency]
    call_latencies = describe([s.latency_s for r in records for s in r.trace.stages])
    mean_calls = sum(replica_calls) / len(replica_calls) if replica_calls else float(calls)
    spread = max(abs(c - mean_calls) for c in replica_calls) / mean_calls if replica_calls else 0.0
    row = {
        "setup": setup,
        "pipeline": pipeline_name,
        "items": n_items,
        "records": len(records),
        "errors": sum(1 for r in records if r.error),
        "wall_s": wall,
        "ideal_s": ideal,
        "ratio": wall / ideal,
        # a call's send -> last token over L: the per-call overhead once the run is going
        "latency_p50_ratio": (call_latencies["p50"] or 0.0) / latency_s,
        "latency_p90_ratio": (call_latencies["p90"] or 0.0) / latency_s,
        "first_wave_send_s": first_wave[-1] - first_wave[0] if first_wave else 0.0,
        "replica_calls": replica_calls or [calls],
        "spread": spread,
        "client_cpu_ms_per_call": client_cpu / calls * 1000,
        "client_cpu_share": client_cpu / wall,
    }
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        row["profile"] = text.getvalue()
    return row


def start_replicas(
    count: int, latency_ms: float, pin: bool = False
) -> list[tuple[subprocess.Popen[str], str]]:
    """``count`` scripted servers, one process each; ``pin`` puts them all on the last core."""
    # every call answers at once after L, with a short boxed answer, as a model would
    reply = ReplyRule(match=".", content="so the answer is \\boxed{18}")
    config = ScriptedConfig(ttft_ms=latency_ms, rules=[reply])
    cpus = {(os.cpu_count() or 1) - 1} if pin else None
    return [start_subprocess(config, cpus=cpus) for _ in range(count)]


def run_setup(setup: Setup, args: argparse.Namespace) -> list[dict[str, Any]]:
    servers = start_replicas(setup.replicas, args.latency_ms, args.pin_servers)
    urls = [url for _, url in servers]
    try:
        return [
            asyncio.run(measure(name, urls, setup, args, args.profile and setup.replicas > 1))
            for name in ("hawkeye", "baseline")
        ]
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=2000.0)
    parser.add_argument("--rounds", type=int, default=10, help="items per concurrency slot")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=512)
    parser.add_argument("--reference-concurrency", type=int, default=64)
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds of 1 s (wall / ideal not judged)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the client")
    parser.add_argument(
        "--pin-servers", action="store_true", help="all scripted servers on the last core"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.latency_ms = 3, 1000.0
    os.environ.setdefault(
        "HAWKEYE_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    )
    rows = run_setup(Setup(args.replicas, args.concurrency), args)
    rows += run_setup(Setup(1, args.reference_concurrency), args)
    print(
        f"\nreplicas: {args.rounds} items per slot, latency {args.latency_ms:.0f} ms per call, "
        f"scripted servers {'pinned to one core' if args.pin_servers else 'not pinned'}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| replicas | concurrency | pipeline | items | errors | wall s | ideal s | wall / ideal "
        "| call latency p50 / L | p90 / L | first wave sent in s | calls per replica | spread "
        "| client CPU ms/call | client CPU share |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        setup = row["setup"]
        print(
            f"| {setup.replicas} | {setup.concurrency} | {row['pipeline']} | {row['items']} "
            f"| {row['errors']} | {row['wall_s']:.2f} | {row['ideal_s']:.2f} "
            f"| {row['ratio']:.3f} | {row['latency_p50_ratio']:.3f} "
            f"| {row['latency_p90_ratio']:.3f} | {row['first_wave_send_s']:.2f} "
            f"| {' / '.join(map(str, row['replica_calls']))} | {row['spread']:.1%} "
            f"| {row['client_cpu_ms_per_call']:.2f} | {row['client_cpu_share']:.0%} |"
        )
    for row in rows:
        if "profile" in row:
            print(f"\nclient profile, {row['pipeline']}, {row['setup']}:\n{row['profile']}")
    hawkeye = rows[0]
    # --quick: a few rounds, so the start-up (C new connections at once) dominates the ratio;
    # its verdict holds the routing to its goals only
    ratio_ok = args.quick or hawkeye["ratio"] <= GOAL
    errors = sum(r["errors"] for r in rows)
    spread_ok = all(r["spread"] <= SPREAD_GOAL for r in rows if r["setup"].replicas > 1)
    verdict = "PASS" if ratio_ok and spread_ok and not errors else "FAIL"
    goal = "not judged with --quick" if args.quick else f"goal <= {GOAL}"
    print(
        f"\nhawkeye, {args.replicas} replicas, c={args.concurrency}: wall / ideal = "
        f"{hawkeye['ratio']:.3f} ({goal}); calls per replica within "
        f"{max(r['spread'] for r in rows):.1%} of the mean (goal <= {SPREAD_GOAL:.0%}); "
        f"{errors} errors: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
