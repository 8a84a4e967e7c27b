"""Orchestration efficiency: does the engine keep `concurrency` items in flight with no batch
barrier between stages?

N problems, hawkeye pipeline (2 calls each), a scripted server in its own process answering
every call after a fixed latency L. Ideal wall time = N * 2 * L / C. Reports wall / ideal
(goal <= 1.10), and the same for the baseline pipeline (1 call each) measured in the same run.

    python benchmarks/bench_orchestration.py [--problems 500] [--latency-ms 200] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from hawkeye_bench.core.record import Record
from hawkeye_bench.datasets import load_problems
from hawkeye_bench.endpoints.client import Endpoint, EndpointClient
from hawkeye_bench.eval.engine import plan_items, run_items
from hawkeye_bench.grading.workers import Grader
from hawkeye_bench.pipelines import get_pipeline
from hawkeye_bench.presets import load_preset
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, start_subprocess


async def measure(pipeline_name: str, base_url: str, args: argparse.Namespace) -> dict:
    problems = load_problems("gsm8k", limit=args.problems)
    preset = load_preset("default")
    records: list[Record] = []
    async with EndpointClient(Endpoint(base_url=base_url, model="scripted")) as client:
        cls = get_pipeline(pipeline_name)
        pipeline = cls(preset, dict.fromkeys(cls.roles, client))
        with Grader() as grader:
            grader.warm_up()
            started = time.perf_counter()
            await run_items(
                pipeline,
                grader,
                plan_items(problems, 1),
                concurrency=args.concurrency,
                on_record=records.append,
            )
            wall = time.perf_counter() - started
    calls = len(cls.roles) * len(problems)
    ideal = calls * args.latency_ms / 1000 / args.concurrency
    return {
        "pipeline": pipeline_name,
        "records": len(records),
        "errors": sum(1 for r in records if r.error),
        "wall_s": wall,
        "ideal_s": ideal,
        "ratio": wall / ideal,
    }


GOAL = 1.10  # hawkeye pipeline: wall time within 10% of N * 2 * L / C


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault(
        "HAWKEYE_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    )
    # every call answers at once after L, with a short boxed answer, as a model would
    reply = ReplyRule(match=".", content="so the answer is \\boxed{18}")
    config = ScriptedConfig(ttft_ms=args.latency_ms, rules=[reply])
    cpus = {1} if (os.cpu_count() or 1) > 1 else None
    process, base_url = start_subprocess(config, cpus=cpus)
    try:
        rows = [asyncio.run(measure(name, base_url, args)) for name in ("hawkeye", "baseline")]
    finally:
        process.terminate()
        process.wait()
    print(
        f"\norchestration: {args.problems} problems, latency {args.latency_ms:.0f} ms per call, "
        f"concurrency {args.concurrency}\n"
    )
    print("| pipeline | records | errors | wall s | ideal s | wall / ideal |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['pipeline']} | {row['records']} | {row['errors']} | {row['wall_s']:.2f} "
            f"| {row['ideal_s']:.2f} | {row['ratio']:.3f} |"
        )
    hawkeye = rows[0]
    verdict = "PASS" if hawkeye["ratio"] <= GOAL and not hawkeye["errors"] else "FAIL"
    print(f"\nhawkeye wall / ideal = {hawkeye['ratio']:.3f} (goal <= {GOAL}): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
