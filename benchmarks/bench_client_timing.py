"""EndpointClient timing fidelity: how exactly do a call's ``ttft_s`` and ``latency_s`` match a
server whose timing is known?

The scripted server (own process, own core where there are two) answers every streamed chat
call with TTFT T, then one token every G ms, N tokens (absolute deadlines). R calls go through
one ``EndpointClient`` at concurrency C. Per call: TTFT error (``ttft_s`` - T: the first token,
not the role chunk), latency error (``latency_s`` - (T + (N - 1) G)) and the mean gap
((latency - TTFT) / (N - 1)) against G. Goals: p50 of each TTFT and latency error within
3 ms, mean gap p50 within 5 % of G, on an otherwise idle machine (the load average is printed:
a busy one measures itself). The tests assert only what no slow machine breaks (never early,
ordered, within the caller's own clock); this is where the figures are measured.

    .venv/bin/python benchmarks/bench_client_timing.py [--requests 400] [--concurrency 32]
        [--ttft-ms 100] [--gap-ms 20] [--tokens 20] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import numpy as np

from hawkeye_bench.core.trace import StageResult
from hawkeye_bench.endpoints.client import Endpoint, EndpointClient
from hawkeye_bench.load.calibrate import split_cores
from hawkeye_bench.load.calibration_result import MachineLoad
from hawkeye_bench.testing.scripted_server import ScriptedConfig, start_subprocess

TTFT_GOAL_MS = 3.0
LATENCY_GOAL_MS = 3.0
GAP_GOAL_FRACTION = 0.05
MESSAGES = [{"role": "user", "content": "timing"}]


async def _calls(url: str, requests: int, concurrency: int) -> list[StageResult]:
    endpoint = Endpoint(base_url=url, model="scripted-model", name="timed", max_retries=0)
    gate = asyncio.Semaphore(concurrency)
    async with EndpointClient(endpoint) as client:

        async def one() -> StageResult:
            async with gate:
                return await client.chat(MESSAGES, role="single", max_tokens=4096)

        return list(await asyncio.gather(*(one() for _ in range(requests))))


def _row(name: str, values: np.ndarray, unit: str, goal: str) -> str:
    p50, p99 = np.percentile(values, [50, 99])
    return f"  {name:<24} p50 {p50:+8.3f} {unit}  p99 {p99:+8.3f} {unit}   goal: {goal}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--no-pin", action="store_true", help="do not split the cores")
    args = parser.parse_args()

    config = ScriptedConfig(ttft_ms=args.ttft_ms, gap_ms=args.gap_ms, tokens=args.tokens)
    server_cpus, client_cpus = (None, None) if args.no_pin else split_cores()
    process, url = start_subprocess(config, cpus=server_cpus)
    own_cpus = os.sched_getaffinity(0)
    try:
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)
        results = asyncio.run(_calls(url, args.requests, args.concurrency))
    finally:
        os.sched_setaffinity(0, own_cpus)
        process.terminate()
        process.wait()

    ok = [r for r in results if r.ok and r.ttft_s is not None and r.latency_s is not None]
    if len(ok) < len(results):
        print(f"{len(results) - len(ok)} of {len(results)} calls failed: goals not met")
        return 1
    ttft_ms = np.array([r.ttft_s for r in ok]) * 1000
    latency_ms = np.array([r.latency_s for r in ok]) * 1000
    expected_latency = args.ttft_ms + (args.tokens - 1) * args.gap_ms
    gap_ms = (latency_ms - ttft_ms) / (args.tokens - 1)
    ttft_error, latency_error = ttft_ms - args.ttft_ms, latency_ms - expected_latency
    gap_error = gap_ms / args.gap_ms - 1
    print(
        f"EndpointClient timing: {len(ok)} calls at concurrency {args.concurrency} against "
        f"TTFT {args.ttft_ms:g} ms, gap {args.gap_ms:g} ms, {args.tokens} tokens "
        f"(cores: server {sorted(server_cpus or [])}, client {sorted(client_cpus or [])}; "
        f"load {MachineLoad.now().load_1min:.2f})"
    )
    print(_row("TTFT error", ttft_error, "ms", f"|p50| <= {TTFT_GOAL_MS:g} ms"))
    print(_row("latency error", latency_error, "ms", f"|p50| <= {LATENCY_GOAL_MS:g} ms"))
    print(_row("mean gap error", gap_error * 100, "% ", f"|p50| <= {GAP_GOAL_FRACTION:.0%}"))
    met = (
        abs(np.median(ttft_error)) <= TTFT_GOAL_MS
        and abs(np.median(latency_error)) <= LATENCY_GOAL_MS
        and abs(np.median(gap_error)) <= GAP_GOAL_FRACTION
    )
    print("goals met" if met else "goals NOT met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
