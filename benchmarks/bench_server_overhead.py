"""Overhead of `hawkeye-bench serve --pipeline baseline` against calling its upstream directly.

One run: the scripted test server (known TTFT and gap) as a subprocess, the pipeline server as a
subprocess in front of it, and a lean aiohttp load client in a third process driving each target
in turn (direct, served, direct, served, ...) at the same concurrency. Printed: TTFT p50 (first
non-empty token) and TT_ACK p50 per target, the added TTFT, the throughput (completed requests
and tokens per second in the measurement window) and the share lost, and each process's CPU.

    .venv/bin/python benchmarks/bench_server_overhead.py                # c=100, 2 rounds of 20 s
    .venv/bin/python benchmarks/bench_server_overhead.py --concurrency 10 --seconds 10

Goals (issue 4): added TTFT p50 <= 5 ms, throughput lost <= 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psutil

from hawkeye_bench.scripted_server import ScriptedConfig, start_subprocess

MODEL = "scripted-model"


# -- the load client (runs in its own process: `... client --url ...`) -------------------------


async def _one_request(session: aiohttp.ClientSession, url: str, payload: bytes) -> dict[str, Any]:
    sent = time.perf_counter()
    ack = first_token = last_token = None
    tokens = 0
    error = None
    async with session.post(url, data=payload, headers={"Content-Type": "application/json"}) as r:
        if r.status != 200:
            error = f"HTTP {r.status}"
        async for line in r.content:
            now = time.perf_counter()
            if not line.startswith(b"data:"):
                continue
            if ack is None:
                ack = now
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                error = str(chunk["error"])
                break
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if delta.get("content") or delta.get("reasoning_content"):
                    tokens += 1
                    last_token = now
                    if first_token is None:
                        first_token = now
    done = time.perf_counter()
    return {
        "sent": sent,
        "done": done,
        "tt_ack": None if ack is None else ack - sent,
        "ttft": None if first_token is None else first_token - sent,
        "e2e": None if last_token is None else last_token - sent,
        "tokens": tokens,
        "error": error,
    }


async def _drive(
    url: str, concurrency: int, warmup_s: float, seconds: float, max_tokens: int, spread_s: float
):
    payload = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Say something."}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens,
        }
    ).encode()
    records: list[dict[str, Any]] = []
    start = time.perf_counter()
    window = (start + warmup_s, start + warmup_s + seconds)
    timeout = aiohttp.ClientTimeout(total=600)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def user(index: int) -> None:
            # Users start spread over one request's duration: started together against a
            # deterministic server, they would stay phase-locked and every request would meet
            # a burst of ``concurrency`` arrivals (REFERENCE 4.7).
            await asyncio.sleep(spread_s * index / concurrency)
            while time.perf_counter() < window[1]:
                records.append(await _one_request(session, url, payload))

        process = psutil.Process()
        process.cpu_percent()
        await asyncio.gather(*(user(i) for i in range(concurrency)))
        cpu = process.cpu_percent()
    return records, window, cpu


def client_main(args: argparse.Namespace) -> int:
    records, (w0, w1), cpu = asyncio.run(
        _drive(args.url, args.concurrency, args.warmup, args.seconds, args.max_tokens, args.spread)
    )
    in_window = [r for r in records if w0 <= r["sent"] and r["done"] <= w1]
    finished_in_window = [r for r in records if w0 <= r["done"] <= w1 and not r["error"]]

    def p(values: list[float], q: float) -> float | None:
        return float(np.percentile(values, q) * 1000) if values else None

    ttft = [r["ttft"] for r in in_window if r["ttft"] is not None and not r["error"]]
    ack = [r["tt_ack"] for r in in_window if r["tt_ack"] is not None]
    e2e = [r["e2e"] for r in in_window if r["e2e"] is not None and not r["error"]]
    print(
        json.dumps(
            {
                "requests": len(records),
                "tokens_total": sum(r["tokens"] for r in records),
                "errors": sum(1 for r in records if r["error"]),
                "first_error": next((r["error"] for r in records if r["error"]), None),
                "window_s": w1 - w0,
                "completed_per_s": len(finished_in_window) / (w1 - w0),
                "tokens_per_s": sum(r["tokens"] for r in finished_in_window) / (w1 - w0),
                "ttft_p50_ms": p(ttft, 50),
                "ttft_p99_ms": p(ttft, 99),
                "tt_ack_p50_ms": p(ack, 50),
                "e2e_p50_ms": p(e2e, 50),
                "latency_samples": len(ttft),
                "client_cpu_percent": cpu,
            }
        )
    )
    return 0


# -- the orchestrator ---------------------------------------------------------------------------


def _start_serve(upstream: str) -> tuple[subprocess.Popen[str], str]:
    script = Path(sys.executable).with_name("hawkeye-bench")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "hawkeye_bench.cli"]
    command += ["serve", "--pipeline", "baseline", "--endpoint", upstream, "--model", MODEL,
                "--port", "0"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    first: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(300)
    line = first[0] if first else ""
    if " at http" not in line:
        process.kill()
        raise SystemExit(f"hawkeye-bench serve did not start: {line!r}")
    return process, line.rsplit(" at ", 1)[1].strip()


def _run_client(url: str, args: argparse.Namespace) -> dict[str, Any]:
    request_s = (args.ttft_ms + args.gap_ms * (args.tokens - 1)) / 1000
    command = [sys.executable, __file__, "client", "--url", f"{url}/chat/completions",
               "--concurrency", str(args.concurrency), "--warmup", str(args.warmup),
               "--seconds", str(args.seconds), "--max-tokens", str(args.tokens),
               "--spread", str(request_s)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"load client failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(np.median([r[key] for r in runs]))


def main(args: argparse.Namespace) -> int:
    config = ScriptedConfig(
        ttft_ms=args.ttft_ms, gap_ms=args.gap_ms, tokens=args.tokens, usage="requested"
    )
    upstream_process, upstream = start_subprocess(config)
    serve_process = None
    try:
        serve_process, served = _start_serve(upstream)
        watched = {"upstream": psutil.Process(upstream_process.pid),
                   "serve": psutil.Process(serve_process.pid)}  # fmt: skip
        runs: dict[str, list[dict[str, Any]]] = {"direct": [], "served": []}
        for round_number in range(args.rounds):
            for name, url in (("direct", upstream), ("served", served)):
                cpu_before = {k: _cpu_seconds(p) for k, p in watched.items()}
                wall = time.perf_counter()
                result = _run_client(url, args)
                wall = time.perf_counter() - wall
                cpu_s = {k: _cpu_seconds(p) - cpu_before[k] for k, p in watched.items()}
                result["cpu_percent"] = {k: 100 * v / wall for k, v in cpu_s.items()}
                # All-in CPU per streamed token (request handling included), in microseconds.
                result["cpu_us_per_token"] = {
                    k: 1e6 * v / max(result["tokens_total"], 1) for k, v in cpu_s.items()
                }
                runs[name].append(result)
                print(f"round {round_number + 1} {name:>6}: " + json.dumps(result), flush=True)
    finally:
        for process in (serve_process, upstream_process):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()

    direct, served_runs = runs["direct"], runs["served"]
    errors = sum(r["errors"] for r in direct + served_runs)
    print()
    print(f"concurrency {args.concurrency}; upstream TTFT {args.ttft_ms:g} ms, gap "
          f"{args.gap_ms:g} ms, {args.tokens} tokens; {args.rounds} rounds of {args.seconds:g} s "
          f"(medians over rounds); host load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores; errors {errors}")  # fmt: skip
    print(f"{'':24}{'direct':>10}{'served':>10}{'added/ratio':>14}")
    for key, label in (("tt_ack_p50_ms", "TT_ACK p50 ms"), ("ttft_p50_ms", "TTFT p50 ms"),
                       ("ttft_p99_ms", "TTFT p99 ms"), ("e2e_p50_ms", "E2E p50 ms")):  # fmt: skip
        a, b = _median(direct, key), _median(served_runs, key)
        print(f"{label:24}{a:10.2f}{b:10.2f}{b - a:+14.2f}")
    for key, label in (("completed_per_s", "requests/s"), ("tokens_per_s", "tokens/s")):
        a, b = _median(direct, key), _median(served_runs, key)
        print(f"{label:24}{a:10.1f}{b:10.1f}{b / a:14.3f}")
    added = _median(served_runs, "ttft_p50_ms") - _median(direct, "ttft_p50_ms")
    lost = 1 - _median(served_runs, "tokens_per_s") / _median(direct, "tokens_per_s")
    cpu = {k: np.median([r["cpu_percent"][k] for r in served_runs]) for k in ("upstream", "serve")}
    client_cpu = _median(served_runs, "client_cpu_percent")
    per_token_serve = _median([r["cpu_us_per_token"] for r in served_runs], "serve")
    per_token_upstream = _median([r["cpu_us_per_token"] for r in direct], "upstream")
    print(f"CPU while served (% of one core): upstream {cpu['upstream']:.0f}, serve "
          f"{cpu['serve']:.0f}, load client {client_cpu:.0f}")  # fmt: skip
    print(f"CPU per streamed token, all-in: serve {per_token_serve:.1f} us "
          f"(the scripted upstream itself: {per_token_upstream:.1f} us)")  # fmt: skip
    print(f"added TTFT p50: {added:.2f} ms (goal <= 5 ms) -> {'PASS' if added <= 5 else 'FAIL'}")
    print(f"throughput lost: {lost:.1%} (goal <= 5 %) -> {'PASS' if lost <= 0.05 else 'FAIL'}")
    return 0 if errors == 0 and added <= 5 and lost <= 0.05 else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    client = sub.add_parser("client", help="(internal) the load client process")
    client.add_argument("--url", required=True)
    for target in (parser, client):
        target.add_argument("--concurrency", type=int, default=100)
        target.add_argument("--warmup", type=float, default=3.0, help="seconds not measured")
        target.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    client.add_argument("--max-tokens", type=int, default=64)
    client.add_argument("--spread", type=float, default=0.0, help="seconds to spread starts over")
    parser.add_argument("--rounds", type=int, default=2, help="direct/served alternations")
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=64)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    sys.exit(client_main(arguments) if arguments.mode == "client" else main(arguments))
