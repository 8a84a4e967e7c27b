"""Token-routing overhead: the route pipeline's client cost against plain small-model decoding
at the same token count.

A scripted server in its own process (pinned to another core when there are two) answers at
once with a reply of T words (one word = one token) whose every 16th word is uncertain
(probability 0.4, else 0.9), so the top1 router at 0.5 routes one token in 16. Plain decoding
is one streamed ``/v1/completions`` call of T tokens with logprobs; routed decoding is
``RoutePipeline.run`` with chunks of k tokens and spans of 1 (small and large both served by
that server). Per answer: client CPU per token (``time.process_time`` of this process: HTTP,
SSE and logprobs parsing, routing), HTTP calls per 100 tokens, and wall time; median of R
answers after one warm-up each.

Goal: routed client CPU per token <= 1 ms, 5% of a 20 ms on-device decode step (a small model
at 50 tokens/s), so the router's client side is not what limits collaborative decoding. The
ratio to plain decoding is reported beside it (it is mostly the extra HTTP requests).

    python benchmarks/bench_route.py [--tokens 256] [--chunk 8] [--repeats 5] [--quick]
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
from hawkeye_bench.pipelines.route import RoutePipeline
from hawkeye_bench.presets import Preset, StagePrompt
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, start_subprocess

GOAL_CPU_MS_PER_TOKEN = 1.0
UNSURE_EVERY = 16
MARK = "Answer:"


def reply_rule(tokens: int) -> ReplyRule:
    words = " ".join(f"w{i}" for i in range(tokens))
    unsure = list(range(UNSURE_EVERY - 1, tokens, UNSURE_EVERY))
    return ReplyRule(match=MARK, content=words, continues=True, uncertain=unsure)


def preset(tokens: int) -> Preset:
    stage = StagePrompt(
        template=f"{{question}} {MARK}", api="completion", max_tokens=tokens, temperature=0.0
    )
    return Preset(name="bench-route", stages={"small": stage, "large": stage})


async def plain(client: EndpointClient, tokens: int) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = await client.complete(
        f"q {MARK}", role="small", max_tokens=tokens, temperature=0.0, extra={"logprobs": 5}
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert result.ok and result.token_logprobs and len(result.token_logprobs) == tokens
    return {"cpu_ms_per_token": 1000 * cpu / tokens, "calls_per_100": 100 / tokens, "wall_s": wall}


async def routed(pipeline: RoutePipeline, tokens: int) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    trace = await pipeline.run("q")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    info = trace.extra["route"]
    assert trace.ok and info["tokens"] == tokens, (trace.error, info["tokens"])
    return {
        "cpu_ms_per_token": 1000 * cpu / tokens,
        "calls_per_100": info["calls_per_100_tokens"],
        "wall_s": wall,
        "routed_share": info["routed_share"],
    }


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


async def measure(url: str, tokens: int, chunk: int, repeats: int) -> dict[str, Any]:
    endpoint = Endpoint(url, "scripted", max_retries=0)
    async with EndpointClient(endpoint) as client:
        clients = {"small": client, "large": client}
        options = {"router": "top1", "threshold": 0.5, "chunk": chunk, "span": 1}
        pipeline = RoutePipeline(preset(tokens), clients, options=options)
        await plain(client, tokens)  # warm-up: connection, parsing paths
        await routed(pipeline, tokens)
        plains = [await plain(client, tokens) for _ in range(repeats)]
        routes = [await routed(pipeline, tokens) for _ in range(repeats)]
    return {"plain": plains, "routed": routes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="64 tokens, 2 repeats")
    args = parser.parse_args(argv)
    tokens, repeats = (64, 2) if args.quick else (args.tokens, args.repeats)
    config = ScriptedConfig(rules=[reply_rule(tokens)], tokens_per_chunk=1)
    cpus = {1} if (os.cpu_count() or 1) > 1 else None
    if cpus is not None:
        os.sched_setaffinity(0, {0})
    process, url = start_subprocess(config, cpus=cpus)
    try:
        result = asyncio.run(measure(url, tokens, args.chunk, repeats))
    finally:
        process.terminate()
        process.wait()
    plain_cpu = median(result["plain"], "cpu_ms_per_token")
    routed_cpu = median(result["routed"], "cpu_ms_per_token")
    print(f"tokens per answer {tokens}, chunk {args.chunk}, span 1, router top1 < 0.5, "
          f"one token in {UNSURE_EVERY} unsure; median of {repeats} answers")  # fmt: skip
    print(f"{'':8} {'CPU ms/token':>13} {'calls/100 tok':>14} {'wall s':>8} {'routed':>7}")
    for name in ("plain", "routed"):
        runs = result[name]
        share = median(runs, "routed_share") if name == "routed" else 0.0
        print(
            f"{name:8} {median(runs, 'cpu_ms_per_token'):13.3f} "
            f"{median(runs, 'calls_per_100'):14.2f} {median(runs, 'wall_s'):8.3f} {share:7.1%}"
        )
    ratio = routed_cpu / plain_cpu if plain_cpu else float("inf")
    met = routed_cpu <= GOAL_CPU_MS_PER_TOKEN
    print(
        f"routed / plain client CPU per token: {ratio:.1f}x; routed {routed_cpu:.3f} ms/token "
        f"(goal <= {GOAL_CPU_MS_PER_TOKEN:g}): {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
