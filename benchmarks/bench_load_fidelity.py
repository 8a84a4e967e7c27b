"""Load-measurement fidelity: how exactly does the Locust harness measure a known server?

The scripted server (own process, own core) answers with TTFT 100 ms, a 20 ms gap and 64 tokens
(scheduled on absolute deadlines, each chunk stamped with its write time). The harness runs the
stock ``locust`` CLI at concurrency 100 against it; the errors against truth must stay within
the goals (TTFT p50 within 3 ms, mean TBT within 1 %, near-zero gaps < 1 %), with the client's
CPU reported. In the same run, as comparisons on the same machine:

- a plain aiohttp + asyncio client (no Locust, no gevent: the most accurate client measured)
  measures the same server: the harness should match it;
- the naive ``iter_lines()`` reader (benchmarks/naive_iter_lines_locustfile.py): what the
  benchmark exists to catch (TTFT ~+45 ms, most gaps near zero).

    .venv/bin/python benchmarks/bench_load_fidelity.py [--concurrency 100] [--skip-naive]
        [--skip-reference] [--no-pin] [--out DIR]
    # scale: c=1000 with Locust's --processes and a multi-process scripted server, plus the
    # ceiling of one load process (events/s it reads with delivery lag p99 under 5 ms)
    .venv/bin/python benchmarks/bench_load_fidelity.py --concurrency 1000 --processes 8 \
        --server-processes 4 --skip-naive --skip-reference --ttft-goal-ms 5 --ceiling
    .venv/bin/python benchmarks/bench_load_fidelity.py --quick   # small and fast, same checks

Exit code 0 when the harness meets the three goals. The server's own first-token write time
(from its per-chunk stamps) is shown beside TTFT: on a busy machine the server itself answers
late, which is not a measurement error; the client's own error is its read lag.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from hawkeye_bench.load.calibrate import (
    Tolerances,
    Truth,
    calibrate,
    evaluate,
    measure_ceiling,
    split_cores,
)
from hawkeye_bench.load.capacity import usable_cores
from hawkeye_bench.load.cpu import CpuSampler, summarize_cpu
from hawkeye_bench.load.metrics import stage_metrics
from hawkeye_bench.load.records import RequestRecord, read_cpu_samples, read_requests
from hawkeye_bench.load.shipping import LocalRawSink
from hawkeye_bench.load.stage_result import LoadStageResult
from hawkeye_bench.load.stream import StreamMeter
from hawkeye_bench.testing.scripted_server import start_subprocess

WARMUP_S = 1.0  # as calibrate()'s default
NAIVE_LOCUSTFILE = Path(__file__).resolve().with_name("naive_iter_lines_locustfile.py")


async def _reference_users(
    url: str, concurrency: int, wanted: int, max_tokens: int, out: LocalRawSink
) -> None:
    """aiohttp + asyncio closed loop: the same requests, measured with the same StreamMeter."""
    import aiohttp

    body = json.dumps(
        {
            "model": "scripted-model",
            "messages": [{"role": "user", "content": "calibration"}],
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        }
    )
    headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
    warm_until = time.perf_counter() + WARMUP_S
    measured = 0
    seq = 0

    async def user(session: aiohttp.ClientSession) -> None:
        nonlocal measured, seq
        while measured < wanted:
            seq += 1
            t_send = time.perf_counter()
            record = RequestRecord(
                t_send_wall=time.time(), t_send_perf=t_send, pid=os.getpid(), seq=seq
            )
            record.warmup = t_send < warm_until
            meter = StreamMeter(t_send)
            async with session.post(url + "/chat/completions", data=body, headers=headers) as r:
                record.status = r.status
                async for line in r.content:
                    if meter.feed(line, time.perf_counter()):
                        break
            record.fill_from(meter)
            record.error = meter.error
            out.request(record)
            measured += not record.warmup

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(user(session) for _ in range(concurrency)))


def reference_client(
    concurrency: int, requests_per_user: int, truth: Truth, tol: Tolerances, out: Path, pin: bool
) -> dict[str, Any]:
    """The same calibration measured by a plain aiohttp client (no Locust, no gevent)."""
    server_cpus, client_cpus = split_cores() if pin else (None, None)
    process, base_url = start_subprocess(truth.server_config(), cpus=server_cpus)
    own_cpus = os.sched_getaffinity(0)
    raw_dir = out / "raw"
    records_out = LocalRawSink(raw_dir)
    sampler = CpuSampler(records_out.cpu)
    try:
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)
        sampler.start()
        wanted = requests_per_user * concurrency
        server = psutil.Process(process.pid)
        server.cpu_percent(None)
        asyncio.run(_reference_users(base_url, concurrency, wanted, truth.tokens, records_out))
        server_cpu = server.cpu_percent(None)
    finally:
        sampler.stop()
        records_out.close()  # after the sampler: its last sample goes into the same sink
        os.sched_setaffinity(0, own_cpus)
        process.terminate()
        process.wait()
    stage = stage_metrics(read_requests(raw_dir))
    stage.update(concurrency=concurrency, cpu=summarize_cpu(read_cpu_samples(raw_dir)).to_json())
    evaluation = evaluate(
        LoadStageResult.from_json({"target": "aiohttp", **stage}), raw_dir, truth, tol
    )
    evaluation.machine.server_cpu_percent = server_cpu
    return evaluation.to_json()


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


#: the benchmark's goals (issue 4); calibrate()'s verdict also checks lag p99, errors and CPU
#: TTFT truth = when the server really wrote its first token (its per-chunk stamp, same clock
#: as our send): on 2 shared cores the scripted server serving 100 streams writes a few ms
#: after its configured 100 ms, which is the server being late, not the harness measuring wrong.
#: The error against the configured 100 ms is printed beside it.
GOAL_CHECKS = ("ttft_p50_vs_server_ms", "tbt_mean_error", "near_zero_gap_share")


def goals_met(ev: dict[str, Any]) -> bool:
    return all(c["passed"] for c in ev["checks"] if c["check"] in GOAL_CHECKS)


def cpu_per_event_us(ev: dict[str, Any]) -> float | None:
    """Client CPU time per streamed event, all load processes together (their mean CPU over
    the stage, start-up included, so an upper bound)."""
    processes = (ev["stage"].get("cpu") or {}).get("processes") or []
    busy = sum(p["mean_percent"] or 0 for p in processes) / 100
    events = ev["measured"].get("events_per_s")
    return busy / events * 1e6 if events else None


def rows(ev: dict[str, Any]) -> list[tuple[str, str]]:
    m, truth = ev["measured"], ev["truth"]
    checks = {c["check"]: c for c in ev["checks"]}
    return [
        ("TTFT p50 (ms)", _f(m["ttft_p50_ms"])),
        ("TTFT p50 error vs configured (ms)", _f(checks["ttft_p50_error_ms"]["measured"])),
        ("TTFT p50 error vs server's write (ms)", _f(checks["ttft_p50_vs_server_ms"]["measured"])),
        ("TT_ACK p50 (ms; role chunk, sent at once)", _f(m["tt_ack_p50_ms"])),
        ("server's first-token write p50 (ms)", _f(m["server_ttft_p50_ms"])),
        ("first-token read lag p50 (ms)", _f(m["first_token_lag_p50_ms"], 3)),
        ("TBT mean (ms)", _f(m["tbt_mean_ms"], 3)),
        ("TBT mean error (%)", _f(100 * (checks["tbt_mean_error"]["measured"] or 0), 3)),
        ("TBT p50 / p99 (ms)", f"{_f(m['tbt_p50_ms'])} / {_f(m['tbt_p99_ms'])}"),
        (f"gaps < {0.1 * truth['gap_ms']:g} ms (%)", _f(100 * (m["near_zero_gap_share"] or 0))),
        ("delivery lag p50 / p99 (ms)", f"{_f(m['lag_p50_ms'], 3)} / {_f(m['lag_p99_ms'], 3)}"),
        ("E2E p50 (ms)", _f(m["e2e_p50_ms"])),
        ("requests measured", str(m["requests_ok"])),
        (
            f"server's own write gaps < {0.1 * truth['gap_ms']:g} ms (%)",
            _f(100 * (m.get("server_near_zero_gap_share") or 0)),
        ),
        ("streamed events/s read", _f(m.get("events_per_s"), 0)),
        ("client CPU per event (µs, approx.)", _f(cpu_per_event_us(ev), 1)),
        (
            "load processes (CPU sampled)",
            str(len((ev["stage"].get("cpu") or {}).get("processes", []))),
        ),
        (
            "client CPU mean / max (%)",
            f"{_f(m['client_cpu_mean_percent'], 0)} / {_f(m['client_cpu_max_percent'], 0)}",
        ),
        ("machine load average", f"{ev['machine']['load_1min']:.1f} on {ev['machine']['cores']}"),
        ("scripted server CPU (%, run average)", _f(ev["machine"].get("server_cpu_percent"), 0)),
        (
            "scripted server memory after the run (MB RSS)",
            _f(ev["machine"].get("server_rss_mb"), 0),
        ),
        ("issue goals met (TTFT, TBT, near-zero gaps)", "yes" if goals_met(ev) else "NO"),
        ("all calibration checks (+ lag p99, errors, CPU)", "yes" if ev["passed"] else "NO"),
    ]


CEILING_CONCURRENCIES = [10, 25, 50, 100, 200, 400, 800]
QUICK_CEILING_CONCURRENCIES = [10, 25, 50]


def print_ceiling(
    bound_ms: float, out: Path, pin: bool, concurrencies: list[int], requests_per_user: int
) -> None:
    """One load process at rising concurrency: the events/s it reads with lag p99 < bound."""
    capacity, runs = measure_ceiling(
        concurrencies, out, bound_ms=bound_ms, pin_cores=pin, requests_per_user=requests_per_user
    )
    evaluations = [ev.to_json() for ev in runs]
    print()
    print(f"Ceiling of one load process (delivery lag p99 < {bound_ms:g} ms, CPU not saturated):")
    print()
    print("| c | events/s read | lag p50 / p99 (ms) | TTFT p50 vs server (ms) | client CPU mean / "
          "max (%) | scripted server CPU (%) | within bound |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for ev in evaluations:
        m = ev["measured"]
        checks = {c["check"]: c["measured"] for c in ev["checks"]}
        within = m["lag_p99_ms"] is not None and m["lag_p99_ms"] < bound_ms
        within = within and not (ev["stage"].get("cpu") or {}).get("saturated")
        print(
            f"| {ev['concurrency']} | {_f(m['events_per_s'], 0)} | {_f(m['lag_p50_ms'])} / "
            f"{_f(m['lag_p99_ms'])} | {_f(checks['ttft_p50_vs_server_ms'])} | "
            f"{_f(m['client_cpu_mean_percent'], 0)} / {_f(m['client_cpu_max_percent'], 0)} | "
            f"{_f(ev['machine'].get('server_cpu_percent'), 0)} | {'yes' if within else 'no'} |"
        )
    print()
    if capacity is None:
        print("ceiling: no concurrency was read within the bound")
        return
    print(
        f"ceiling: {capacity.events_per_s:.0f} streamed events/s per load process "
        f"(at c={capacity.concurrency}, lag p99 {capacity.lag_p99_ms:.2f} ms). Concurrency 1000 "
        f"at 50 events/s per stream = 50000 events/s needs "
        f"{-(-50000 // capacity.events_per_s):.0f} load processes (one core each) plus the "
        f"server's cores; this machine has {usable_cores()}."
    )
    # on a shared machine the lag bound is often missed for scheduling noise long before the
    # client's CPU runs out: the CPU cost per event gives the CPU-bound figure beside it
    costs = [c for ev in evaluations if (c := cpu_per_event_us(ev)) is not None]
    if costs:
        cost = min(costs)
        per_process = 0.5 / (cost / 1e6)
        print(
            f"client CPU per event: {cost:.0f} µs (lowest of the runs, start-up included); at "
            f"half a core per process (lag p99 stays low below ~50 % CPU) one "
            f"process reads ~{per_process:.0f} events/s: 50000 events/s need "
            f"~{-(-50000 // per_process):.0f} load processes by CPU."
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--requests-per-user", type=int, default=5)
    parser.add_argument("--processes", type=int, default=0, help="Locust --processes (harness)")
    parser.add_argument(
        "--server-processes", type=int, default=1, help="scripted server processes (one port)"
    )
    parser.add_argument(
        "--ttft-goal-ms", type=float, default=Tolerances().ttft_p50_ms,
        help="goal for |TTFT p50 - server's first-token write p50| (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--ceiling", action="store_true", help="also measure one load process's ceiling"
    )
    parser.add_argument(
        "--quick", action="store_true", help="concurrency 20, 3 requests per user, small ceiling"
    )
    parser.add_argument("--skip-naive", action="store_true", help="skip the iter_lines run")
    parser.add_argument(
        "--skip-reference", action="store_true", help="skip the aiohttp reference client run"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="leave server and client unpinned (busy machine)"
    )
    parser.add_argument("--out", type=Path, help="keep raw records here (default: temp dir)")
    args = parser.parse_args()
    if args.quick:
        args.concurrency, args.requests_per_user = 20, 3
    truth = Truth(ttft_ms=100, gap_ms=20, tokens=64)
    tolerances = Tolerances(ttft_p50_ms=args.ttft_goal_ms)
    pin = not args.no_pin
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        ours = calibrate(
            [args.concurrency],
            out / "readline",
            requests_per_user=args.requests_per_user,
            processes=args.processes,
            server_processes=args.server_processes,
            truth=truth,
            tolerances=tolerances,
            pin_cores=pin,
        )[0].to_json()
        naive = None
        if not args.skip_naive:
            naive = calibrate(
                [args.concurrency],
                out / "iter_lines",
                requests_per_user=args.requests_per_user,
                truth=truth,
                tolerances=tolerances,
                locustfile=NAIVE_LOCUSTFILE,
                pin_cores=pin,
            )[0].to_json()
        reference = None
        if not args.skip_reference:
            reference = reference_client(
                args.concurrency, args.requests_per_user, truth, tolerances, out / "aiohttp", pin
            )
        print_table(args, truth, tolerances, ours, reference, naive)
        if args.ceiling:
            concurrencies = QUICK_CEILING_CONCURRENCIES if args.quick else CEILING_CONCURRENCIES
            print_ceiling(
                tolerances.lag_p99_ms, out / "ceiling", pin, concurrencies, args.requests_per_user
            )
    return 0 if goals_met(ours) else 1


def print_table(
    args: argparse.Namespace,
    truth: Truth,
    tolerances: Tolerances,
    ours: dict[str, Any],
    reference: dict[str, Any] | None,
    naive: dict[str, Any] | None,
) -> None:
    print()
    print(
        f"Load-measurement fidelity at concurrency {args.concurrency} (Locust processes: "
        f"{args.processes or 1}; scripted server processes: {args.server_processes}; "
        f"{usable_cores()} cores): server TTFT "
        f"{truth.ttft_ms:g} ms, gap {truth.gap_ms:g} ms, {truth.tokens} tokens. Goals: TTFT p50 "
        f"error < {tolerances.ttft_p50_ms:g} ms, TBT mean error < "
        f"{100 * tolerances.tbt_mean_fraction:g} %, near-zero gaps < "
        f"{100 * tolerances.near_zero_share:g} %, delivery lag p99 < {tolerances.lag_p99_ms:g} ms."
    )
    print()
    columns = [("harness (Locust, readline)", ours)]
    if reference is not None:
        columns.append(("aiohttp reference (no Locust)", reference))
    if naive is not None:
        columns.append(("naive iter_lines (Locust)", naive))
    print("| metric | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    table = [dict(rows(ev)) for _, ev in columns]
    for name, _ in rows(ours):
        print(f"| {name} | " + " | ".join(t[name] for t in table) + " |")
    if reference is not None:
        ours_ttft = ours["measured"]["ttft_p50_ms"]
        ref_ttft = reference["measured"]["ttft_p50_ms"]
        print()
        print(
            f"Harness TTFT p50 minus the reference client's, same server and machine: "
            f"{ours_ttft - ref_ttft:+.2f} ms; TBT mean ratio "
            f"{ours['measured']['tbt_mean_ms'] / reference['measured']['tbt_mean_ms']:.4f}."
        )


if __name__ == "__main__":
    sys.exit(main())
