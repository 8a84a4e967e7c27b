"""`hawkeye-bench load --calibrate`: the harness measured against the scripted server, and
``--ceiling``: one load process's ceiling, kept for ``--processes auto``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hawkeye_bench.load.calibrate import Truth, calibrate, measure_ceiling, render
from hawkeye_bench.load.capacity import save_capacity

#: the concurrencies ``--calibrate --ceiling`` tries with one process (stops after two in a
#: row miss the lag bound)
CEILING_CONCURRENCIES = [10, 25, 50, 100, 200, 400, 800]


def _calibration_truth(args: argparse.Namespace) -> Truth:
    """What the calibration's scripted server is told to send (--calibrate-* flags)."""
    return Truth(
        ttft_ms=args.calibrate_ttft_ms,
        gap_ms=args.calibrate_gap_ms,
        tokens=args.calibrate_tokens,
        tokens_per_chunk=args.calibrate_tokens_per_chunk,
    )


def run_calibration(args: argparse.Namespace, out_dir: Path) -> int:
    truth = _calibration_truth(args)
    evaluations = calibrate(
        args.concurrency or [100],
        out_dir,
        requests_per_user=args.calibrate_requests_per_user,
        warmup_s=1.0 if args.warmup is None else args.warmup,
        processes=args.processes,
        truth=truth,
        pin_cores=not args.no_pin,
    )
    print(render(evaluations))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "calibration.json"
    rows = [ev.to_json() for ev in evaluations]
    report.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {report}")
    return 0 if all(ev.passed for ev in evaluations) else 1


def run_ceiling(args: argparse.Namespace, out_dir: Path) -> int:
    """--calibrate --ceiling: one process's ceiling, kept for --processes auto."""
    truth = _calibration_truth(args)
    capacity, evaluations = measure_ceiling(
        args.concurrency or CEILING_CONCURRENCIES,
        out_dir,
        requests_per_user=args.calibrate_requests_per_user,
        truth=truth,
        pin_cores=not args.no_pin,
    )
    for ev in evaluations:
        m = ev.measured
        print(f"c={ev.concurrency}: {m.events_per_s or 0:.0f} events/s read, lag p99 "
              f"{m.lag_p99_ms or float('nan'):.2f} ms, client CPU max "
              f"{m.client_cpu_max_percent or 0:.0f} %")  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ceiling.json").write_text(
        json.dumps(
            {
                "capacity": capacity and capacity.to_json(),
                "runs": [ev.to_json() for ev in evaluations],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    if capacity is None:
        print("error: no concurrency was read with delivery lag p99 under the bound",
              file=sys.stderr)  # fmt: skip
        return 1
    path = save_capacity(capacity)
    bound = capacity.lag_p99_bound_ms
    print(f"one load process: {capacity.events_per_s:.0f} streamed events/s with lag p99 "
          f"{capacity.lag_p99_ms:.2f} ms (< {bound:g} ms); kept in {path}")  # fmt: skip
    return 0
