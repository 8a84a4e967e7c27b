"""Hawkeye reward throughput: is a batch of completions scored in about one responder round trip?

A scripted responder in its own process answers every call after a fixed latency L. One round
trip is measured alone (median of 5 single calls through the same client); then a batch of N
completions is scored with the Hawkeye reward, synchronous and async calls, median of 3 each
after one warm-up batch (client opened, grader workers started). Reports wall / round trip;
goal <= 1.5 (all N calls in flight together, plus grading), not N.

    python benchmarks/bench_reward.py [--batch 64] [--latency-ms 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

from hawkeye_bench.endpoints.client import Endpoint, EndpointClient
from hawkeye_bench.rewards import AsyncHawkeyeReward, HawkeyeReward
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, start_subprocess

GOAL = 1.5
RATIONALE = "She sells 16 - 3 - 4 = 9 eggs and makes 9 * 2 = 18 dollars. #### 18"


async def round_trip(endpoint: Endpoint) -> float:
    times = []
    async with EndpointClient(endpoint) as client:
        for _ in range(5):
            started = time.perf_counter()
            result = await client.chat(
                [{"role": "user", "content": "Problem: q\n\nReasoning:\nx"}],
                role="responder",
                max_tokens=16,
            )
            times.append(time.perf_counter() - started)
            assert result.ok, result.error
    return statistics.median(times)


def batch(size: int) -> dict[str, Any]:
    cots = [f"cot {i}: 16 - 3 - 4 = 9 eggs, 9 * 2 = 18" for i in range(size)]
    return {
        "prompts": [f"Janet's ducks, variant {i}" for i in range(size)],
        "completions": [[{"role": "assistant", "content": c}] for c in cots],
        "completion_ids": [[1] * 12 for _ in cots],
        "answer": [RATIONALE] * size,
        "trainer_state": None,
    }


def timed_sync(reward: HawkeyeReward, kwargs: dict[str, Any], runs: int) -> tuple[float, list]:
    reward(**kwargs)  # warm-up
    times, out = [], []
    for _ in range(runs):
        started = time.perf_counter()
        out = reward(**kwargs)
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


async def timed_async(
    reward: AsyncHawkeyeReward, kwargs: dict[str, Any], runs: int
) -> tuple[float, list]:
    await reward(**kwargs)  # warm-up
    times, out = [], []
    for _ in range(runs):
        started = time.perf_counter()
        out = await reward(**kwargs)
        times.append(time.perf_counter() - started)
    await reward.aclose()
    return statistics.median(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    args = parser.parse_args()
    config = ScriptedConfig(
        ttft_ms=args.latency_ms, rules=[ReplyRule(match=".", content="so \\boxed{18}")]
    )
    cpus = {1} if (os.cpu_count() or 1) > 1 else None
    process, base_url = start_subprocess(config, cpus=cpus)
    endpoint = Endpoint(base_url=base_url, model="scripted-model", name="responder")
    kwargs = batch(args.batch)
    try:
        trip = asyncio.run(round_trip(endpoint))
        sync_reward = HawkeyeReward.upstream(endpoint, concurrency=args.batch)
        try:
            sync_wall, sync_out = timed_sync(sync_reward, kwargs, 3)
        finally:
            sync_reward.close()
        async_reward = AsyncHawkeyeReward.upstream(endpoint, concurrency=args.batch)
        async_wall, async_out = asyncio.run(timed_async(async_reward, kwargs, 3))
    finally:
        process.terminate()
        process.wait()
    failed = sum(v is None for v in sync_out + async_out)
    print(
        f"\nhawkeye reward: batch {args.batch}, responder latency {args.latency_ms:.0f} ms, "
        f"one round trip {trip * 1000:.0f} ms\n"
    )
    print("| call | wall s | wall / round trip | None |")
    print("|---|---|---|---|")
    rows = (("sync", sync_wall, sync_out), ("async", async_wall, async_out))
    for name, wall, out in rows:
        print(f"| {name} | {wall:.3f} | {wall / trip:.2f} | {sum(v is None for v in out)} |")
    worst = max(sync_wall, async_wall) / trip
    verdict = "PASS" if worst <= GOAL and not failed else "FAIL"
    print(f"\nworst wall / round trip = {worst:.2f} (goal <= {GOAL}): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
