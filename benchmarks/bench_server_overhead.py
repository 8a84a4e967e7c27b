"""Overhead of `hawkeye-bench serve --pipeline baseline` against calling its upstream directly.

One run: the scripted test server (known TTFT and gap) as a subprocess, one pipeline server per
``--workers`` value as a subprocess in front of it, and a lean aiohttp load client in another
process driving each target in turn (direct, served-w1, served-w2, direct, ...) at the same
concurrency, for each ``--concurrency`` value. Printed per concurrency: TT_ACK, TTFT (first
non-empty token) p50/p99 and E2E p50 per target with the difference to direct, the throughput
(completed requests and tokens per second in the measurement window) as a ratio to direct, and
the CPU each pipeline server spent (all its processes) per streamed token and as a share of a
core.

    .venv/bin/python benchmarks/bench_server_overhead.py                # c=100, workers 1 and 2
    .venv/bin/python benchmarks/bench_server_overhead.py --quick        # c=50, one 5 s round
    .venv/bin/python benchmarks/bench_server_overhead.py --concurrency 100,400 --workers 1,2

Goals (issues 4 and 14): added TTFT p50 <= 5 ms and p99 <= 20 ms, throughput lost <= 5 %.

Read the figures with the host's CPU pressure, which the script prints: on an oversubscribed host
the served path (two processes that must each be scheduled promptly) falls behind first, and its
TTFT grows by tens to hundreds of ms for reasons that are not the server's. The load client, the
upstream and the pipeline server share the host's cores: ``--workers 2`` only helps when a core
is free for the second worker. Users start spread over one request's duration, so they do not
arrive in phase-locked bursts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
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

from hawkeye_bench.serve.client_auth import DEFAULT_CLIENT_KEY_ENV
from hawkeye_bench.testing.scripted_server import ScriptedConfig, start_subprocess

MODEL = "scripted-model"
#: The busiest a worker's core should be for short queueing delays (the projection's assumption).
WORKER_BUSY_SHARE = 0.7


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
            # a burst of ``concurrency`` arrivals.
            await asyncio.sleep(spread_s * index / concurrency)
            while time.perf_counter() < window[1]:
                records.append(await _one_request(session, url, payload))

        process = psutil.Process()
        process.cpu_percent()
        cpu_before = process.cpu_times()
        await asyncio.gather(*(user(i) for i in range(concurrency)))
        cpu = process.cpu_percent()
        cpu_after = process.cpu_times()
    cpu_s = cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system
    return records, window, cpu, cpu_s


def client_main(args: argparse.Namespace) -> int:
    records, (w0, w1), cpu, cpu_s = asyncio.run(
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
                "client_us_per_token": 1e6 * cpu_s / max(sum(r["tokens"] for r in records), 1),
            }
        )
    )
    return 0


# -- the orchestrator ---------------------------------------------------------------------------


def _start_serve(upstream: str, workers: int) -> tuple[subprocess.Popen[str], str]:
    script = Path(sys.executable).with_name("hawkeye-bench")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "hawkeye_bench.cli"]
    command += ["serve", "--pipeline", "baseline", "--endpoint", upstream, "--model", MODEL,
                "--port", "0", "--workers", str(workers)]  # fmt: skip
    # On loopback with no client key: the lean client measures the server, not its auth.
    env = {k: v for k, v in os.environ.items() if k != DEFAULT_CLIENT_KEY_ENV}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    first: list[str] = []
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: first.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(300)
    line = first[0] if first else ""
    if " at http" not in line:
        process.kill()
        raise SystemExit(f"hawkeye-bench serve did not start: {line!r}")
    return process, line.rsplit(" at ", 1)[1].strip()


def _run_client(url: str, concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    request_s = (args.ttft_ms + args.gap_ms * (args.tokens - 1)) / 1000
    command = [sys.executable, __file__, "client", "--url", f"{url}/chat/completions",
               "--concurrency", str(concurrency), "--warmup", str(args.warmup),
               "--seconds", str(args.seconds), "--max-tokens", str(args.tokens),
               "--spread", str(request_s)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"load client failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU seconds of ``processes`` (a server and its workers) so far."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _cpu_pressure() -> str:
    """Share of time tasks waited for a CPU over the last 60 s (Linux PSI), if available."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"
    fields = dict(part.split("=") for part in some.split()[1:])
    return f"{fields.get('avg60', '?')} %"


def _median(runs: list[dict[str, Any]], key: str) -> float:
    """Median over rounds of one figure (NaN when a round had no sample)."""
    values = [r[key] for r in runs]
    return float("nan") if None in values else float(np.median(values))


def _measure(
    url: str, concurrency: int, args: argparse.Namespace, watched: dict[str, list[psutil.Process]]
) -> dict[str, Any]:
    """One client run against ``url``, with the CPU the watched processes spent meanwhile."""
    cpu_before = {k: _cpu_seconds(p) for k, p in watched.items()}
    wall = time.perf_counter()
    result = _run_client(url, concurrency, args)
    wall = time.perf_counter() - wall
    cpu_s = {k: _cpu_seconds(p) - cpu_before[k] for k, p in watched.items()}
    result["cpu_percent"] = {k: 100 * v / wall for k, v in cpu_s.items()}
    # All-in CPU per streamed token (request handling included), in microseconds.
    result["cpu_us_per_token"] = {
        k: 1e6 * v / max(result["tokens_total"], 1) for k, v in cpu_s.items()
    }
    return result


def _projection(
    args: argparse.Namespace, concurrency: int, runs: dict[str, list[dict[str, Any]]]
) -> None:
    """What ``--project-to`` concurrent streams would need, from this run's CPU per token:
    the stream rate grows with concurrency while each request's timing stays the upstream's."""
    target = args.project_to
    direct = runs["direct"]
    rate = _median(direct, "tokens_per_s") * target / concurrency
    upstream = _median([r["cpu_us_per_token"] for r in direct], "upstream") * rate / 1e6
    client = _median(direct, "client_us_per_token") * rate / 1e6
    print(f"projected to c={target} ({rate:,.0f} tokens/s, if the upstream kept its "
          f"timing): scripted upstream {upstream:.1f} cores, this load client {client:.1f} "
          "cores")  # fmt: skip
    for name in runs:
        if name == "direct":
            continue
        cores = _median([r["cpu_us_per_token"] for r in runs[name]], name) * rate / 1e6
        workers = math.ceil(cores / WORKER_BUSY_SHARE)
        print(f"  {name}: the pipeline server {cores:.1f} cores -> serve --workers {workers} or "
              f"more, each on a core of its own (a worker kept under "
              f"{WORKER_BUSY_SHARE:.0%} busy so that queueing stays short)")  # fmt: skip


#: (figure, label, how it compares with direct)
ROWS = (
    ("tt_ack_p50_ms", "TT_ACK p50 ms", "ms"),
    ("ttft_p50_ms", "TTFT p50 ms", "ms"),
    ("ttft_p99_ms", "TTFT p99 ms", "ms"),
    ("e2e_p50_ms", "E2E p50 ms", "ms"),
    ("completed_per_s", "requests/s", "ratio"),
    ("tokens_per_s", "tokens/s", "ratio"),
)


def _report(
    args: argparse.Namespace, concurrency: int, runs: dict[str, list[dict[str, Any]]]
) -> bool:
    """Print the comparison of every served variant with direct; True when all goals hold."""
    direct = runs["direct"]
    errors = sum(r["errors"] for rs in runs.values() for r in rs)
    served = [name for name in runs if name != "direct"]
    print()
    print(f"concurrency {concurrency}; upstream TTFT {args.ttft_ms:g} ms, gap "
          f"{args.gap_ms:g} ms, {args.tokens} tokens; {args.rounds} round(s) of "
          f"{args.seconds:g} s (medians over rounds); host load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; CPU pressure (60 s) "
          f"{_cpu_pressure()}; errors {errors}")  # fmt: skip
    print(f"{'':18}{'direct':>10}" + "".join(f"{n:>20}" for n in served))
    for key, label, unit in ROWS:
        base = _median(direct, key)
        cells = []
        for name in served:
            value = _median(runs[name], key)
            versus = f"{value - base:+.2f}" if unit == "ms" else f"x{value / base:.3f}"
            cells.append(f"{value:9.2f} ({versus:>7})")
        print(f"{label:18}{base:10.2f}" + "".join(f"{c:>20}" for c in cells))
    upstream_us = _median([r["cpu_us_per_token"] for r in direct], "upstream")
    client_direct = _median(direct, "client_cpu_percent")
    print(f"CPU per streamed token, all-in: scripted upstream {upstream_us:.1f} us; load client "
          f"{client_direct:.0f} % of a core against direct")  # fmt: skip
    ok = errors == 0
    for name in served:
        added = _median(runs[name], "ttft_p50_ms") - _median(direct, "ttft_p50_ms")
        added_p99 = _median(runs[name], "ttft_p99_ms") - _median(direct, "ttft_p99_ms")
        lost = 1 - _median(runs[name], "tokens_per_s") / _median(direct, "tokens_per_s")
        us = _median([r["cpu_us_per_token"] for r in runs[name]], name)
        share = _median([r["cpu_percent"] for r in runs[name]], name)
        client = _median(runs[name], "client_cpu_percent")
        goals = {
            f"added TTFT p50 {added:.2f} ms (goal <= 5)": added <= 5,
            f"added TTFT p99 {added_p99:.2f} ms (goal <= 20)": added_p99 <= 20,
            f"throughput lost {lost:.1%} (goal <= 5 %)": lost <= 0.05,
        }
        verdicts = "; ".join(
            f"{text} -> {'PASS' if met else 'FAIL'}" for text, met in goals.items()
        )
        print(f"{name}: {us:.1f} us CPU per token, {share:.0f} % of a core "
              f"(load client {client:.0f} %); {verdicts}")  # fmt: skip
        ok = ok and all(goals.values())
    return ok


def main(args: argparse.Namespace) -> int:
    config = ScriptedConfig(
        ttft_ms=args.ttft_ms, gap_ms=args.gap_ms, tokens=args.tokens, usage="requested"
    )
    upstream_process, upstream = start_subprocess(config)
    processes: list[subprocess.Popen[str]] = [upstream_process]
    verdicts: list[bool] = []
    try:
        targets = {"direct": upstream}
        watched = {"upstream": [psutil.Process(upstream_process.pid)]}
        for workers in args.workers:
            serve_process, served = _start_serve(upstream, workers)
            processes.append(serve_process)
            name = f"served-w{workers}"
            targets[name] = served
            watched[name] = _process_tree(serve_process.pid)
        for concurrency in args.concurrency:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
            for round_number in range(args.rounds):
                for name, url in targets.items():
                    result = _measure(url, concurrency, args, watched)
                    runs[name].append(result)
                    print(f"c={concurrency} round {round_number + 1} {name}: "
                          + json.dumps(result), flush=True)  # fmt: skip
            verdicts.append(_report(args, concurrency, runs))
            _projection(args, concurrency, runs)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    return 0 if all(verdicts) else 1


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}"
        ) from None
    if any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"every value must be >= 1: {text!r}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    client = sub.add_parser("client", help="(internal) the load client process")
    client.add_argument("--url", required=True)
    client.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--concurrency", type=_int_list, default=[100], help="e.g. 100,400")
    parser.add_argument("--workers", type=_int_list, default=[1, 2], help="serve --workers values")
    parser.add_argument(
        "--quick", action="store_true", help="c=50, one round of 5 s: a smoke run of the script"
    )
    for target in (parser, client):
        target.add_argument("--warmup", type=float, default=3.0, help="seconds not measured")
        target.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    client.add_argument("--max-tokens", type=int, default=64)
    client.add_argument("--spread", type=float, default=0.0, help="seconds to spread starts over")
    parser.add_argument("--rounds", type=int, default=2, help="direct/served alternations")
    parser.add_argument(
        "--project-to", type=int, default=1000, help="concurrency to project the CPU needs to"
    )
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args(argv)
    if args.mode != "client" and args.quick:
        args.concurrency, args.rounds, args.seconds, args.warmup = [50], 1, 5.0, 2.0
    return args


if __name__ == "__main__":
    arguments = parse_args()
    sys.exit(client_main(arguments) if arguments.mode == "client" else main(arguments))
