"""Open-loop scheduler accuracy: does ``load --rate`` send requests when they are due?

The scripted server (own process, own core) answers with a few tokens, so that reading the
streams stays well under one load process's ceiling. One Locust process sends on a schedule:

- constant spacing at ``--rate`` (default 200/s): achieved rate against the requested one
  (goal: within 1 %), send lag (actual - due) p50/p99 (goal: p99 < 5 ms);
- Poisson at the same rate: send lag, and a Kolmogorov-Smirnov test of the actual gaps between
  sends (the first ``--ks-gaps``, default 2,000) against the exponential of the requested mean
  (goal: not rejected at 5 %); the schedule's own gaps are tested too;
- Poisson at ``--ceiling-share`` (default 80 %) of one process's ceiling in streamed events/s
  (the one ``load --calibrate --ceiling`` kept, else ``--ceiling-events-per-s``, 4,600): the
  same send-lag figure near the client's limit.

    .venv/bin/python benchmarks/bench_load_open_loop.py [--rate 200] [--duration 60]
        [--skip-ceiling] [--no-pin] [--server-processes N] [--out DIR]
    .venv/bin/python benchmarks/bench_load_open_loop.py --quick    # 10 s stages, same checks

Exit code 0 when every goal is met. Figures are ratios and errors, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from hawkeye_bench.load.calibrate import split_cores, write_calibration_prompts
from hawkeye_bench.load.capacity import read_capacity
from hawkeye_bench.load.records import read_requests
from hawkeye_bench.load.runner import LoadPlan, Target, analyse_stage, run_stage
from hawkeye_bench.testing.scripted_server import ScriptedConfig, start_subprocess

TOKENS = 3  # token events per request: a few, so the stream reading stays cheap
RATE_GOAL = 0.01  # achieved within 1 % of the requested rate (constant spacing)
LAG_P99_GOAL_MS = 5.0
KS_ALPHA = 0.05
DEFAULT_CEILING_EVENTS_PER_S = 4600.0
CAP = 64  # --max-concurrency: far above what these rates keep in flight


def run_case(
    name: str,
    url: str,
    out: Path,
    rate: float,
    arrival: str,
    duration_s: float,
    client_cpus: set[int] | None,
) -> dict[str, Any]:
    plan = LoadPlan(
        targets=[Target(name, url)],
        concurrencies=[CAP],
        out_dir=out,
        duration_s=duration_s,
        prompts=str(write_calibration_prompts(out / "prompts.jsonl")),
        model="scripted-model",
        max_tokens=TOKENS,
        stop_timeout_s=30,
        # each user's first request opens its connection: those are not measured
        warmup_s=CAP / rate + 1.0,
        cpus=client_cpus,
        rates=[rate],
        arrival=arrival,
        seed=1,
    )
    print(f"{name}: {arrival} at {rate:g} requests/s for {duration_s:g} s", flush=True)
    run = run_stage(plan, plan.targets[0], CAP, rate=rate)
    stage = analyse_stage(plan, run)
    if stage.failed is not None or stage.open_loop is None:
        raise RuntimeError(f"{name}: {stage.failed or 'no open-loop figures'}")
    records = [r for r in read_requests(run.raw_dir) if not r.warmup]
    sends = np.sort(np.array([r.t_send_perf for r in records]))
    due = np.sort(np.array([r.t_scheduled_perf for r in records], dtype=float))
    open_loop = stage.open_loop
    achieved, scheduled = open_loop.achieved_per_s or 0.0, open_loop.scheduled_per_s
    return {
        "case": name,
        "arrival": arrival,
        "requested_per_s": rate,
        "achieved_per_s": open_loop.achieved_per_s,
        "scheduled_per_s": scheduled,
        "achieved_error": achieved / rate - 1,
        "achieved_vs_schedule_error": achieved / scheduled - 1 if scheduled else None,
        "sent": open_loop.sent,
        "send_lag_p50_ms": open_loop.stat("send_lag_ms", "p50"),
        "send_lag_p99_ms": open_loop.stat("send_lag_ms", "p99"),
        "delayed_by_cap": open_loop.delayed_by_cap,
        "in_flight_max": open_loop.in_flight.max,
        "client_cpu_max_percent": stage.cpu.max_percent,
        "errors": stage.requests.errors,
        "reliable": stage.reliable,
        "unreliable_reasons": stage.unreliable_reasons,
        "gaps": {"sent": np.diff(sends), "due": np.diff(due)},
    }


def ks(gaps: np.ndarray, rate: float, count: int) -> dict[str, Any]:
    """KS test of the first ``count`` gaps against the exponential of mean 1/rate."""
    sample = gaps[:count]
    result = stats.kstest(sample, "expon", args=(0, 1 / rate))
    return {"gaps": int(sample.size), "statistic": float(result.statistic),
            "pvalue": float(result.pvalue), "rejected": bool(result.pvalue < KS_ALPHA)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--ks-gaps", type=int, default=2000)
    parser.add_argument("--ceiling-share", type=float, default=0.8)
    parser.add_argument("--ceiling-events-per-s", type=float, default=None)
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument("--quick", action="store_true", help="10 s stages")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument(
        "--server-processes",
        type=int,
        default=1,
        help="scripted server processes on one port (near the ceiling one may not keep up)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    duration = 10.0 if args.quick else args.duration
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-open-loop-"))
    server_cpus, client_cpus = (None, None) if args.no_pin else split_cores(args.server_processes)
    config = ScriptedConfig(
        ttft_ms=5, gap_ms=2, tokens=TOKENS, request_log=0, processes=args.server_processes
    )
    process, url = start_subprocess(config, cpus=server_cpus)
    cases = []
    try:
        cases.append(run_case("constant", url, out, args.rate, "constant", duration, client_cpus))
        cases.append(run_case("poisson", url, out, args.rate, "poisson", duration, client_cpus))
        if not args.skip_ceiling:
            capacity = read_capacity()
            ceiling = args.ceiling_events_per_s or (
                capacity.events_per_s if capacity else DEFAULT_CEILING_EVENTS_PER_S
            )
            near = args.ceiling_share * ceiling / TOKENS
            print(f"ceiling {ceiling:.0f} events/s: {args.ceiling_share:.0%} is {near:.0f} "
                  f"requests/s of {TOKENS} token events", flush=True)  # fmt: skip
            cases.append(run_case("near_ceiling", url, out, near, "poisson", duration, client_cpus))
    finally:
        process.terminate()
        process.wait(timeout=10)
    poisson = cases[1]
    ks_sent = ks(poisson["gaps"]["sent"], args.rate, args.ks_gaps)
    ks_due = ks(poisson["gaps"]["due"], args.rate, args.ks_gaps)
    goals = {
        "constant: achieved rate within 1 %": abs(cases[0]["achieved_error"]) < RATE_GOAL,
        **{
            f"{c['case']}: send lag p99 < {LAG_P99_GOAL_MS:g} ms": (c["send_lag_p99_ms"] or 1e9)
            < LAG_P99_GOAL_MS
            for c in cases
        },
        f"poisson: KS of {ks_sent['gaps']} sent gaps not rejected at 5 %": not ks_sent["rejected"],
    }
    print()
    print("| case | arrival | requested /s | achieved /s | error | vs schedule | lag p50 / p99 ms "
          "| waited for cap | client CPU max |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for c in cases:
        print(f"| {c['case']} | {c['arrival']} | {c['requested_per_s']:.0f} | "
              f"{c['achieved_per_s']:.2f} | {100 * c['achieved_error']:+.2f} % | "
              f"{100 * c['achieved_vs_schedule_error']:+.2f} % | {c['send_lag_p50_ms']:.2f} / "
              f"{c['send_lag_p99_ms']:.2f} | {c['delayed_by_cap']} | "
              f"{c['client_cpu_max_percent'] or 0:.0f} % |")  # fmt: skip
    print(f"\nKS (exponential, mean 1/{args.rate:g} s): sent gaps D={ks_sent['statistic']:.4f} "
          f"p={ks_sent['pvalue']:.3f}; due gaps D={ks_due['statistic']:.4f} "
          f"p={ks_due['pvalue']:.3f}")  # fmt: skip
    for goal, met in goals.items():
        print(f"{'met' if met else 'NOT MET'}: {goal}")
    for c in cases:
        del c["gaps"]
    out.mkdir(parents=True, exist_ok=True)
    report = {"cases": cases, "ks_sent": ks_sent, "ks_due": ks_due, "goals": goals}
    (out / "bench_load_open_loop.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'bench_load_open_loop.json'}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
