"""`hawkeye-bench load`'s flags checked together, before anything runs: the distributed mode's
and the open loop's."""

from __future__ import annotations

import argparse

from hawkeye_bench.commands.load_arguments import SWEEP
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.load.sweep import MIN_SWEEP_POINTS


class DistributedSetupError(HawkeyeError):
    """--master/--worker flags that do not fit together."""


class OpenLoopSetupError(HawkeyeError):
    """--rate and its flags (--arrival, --burstiness, --seed, --max-concurrency) that do not fit
    together."""


def check_distributed(args: argparse.Namespace) -> None:
    if args.worker and not args.master_host:
        raise DistributedSetupError("--worker needs --master-host HOST (the master's address)")
    if args.worker and (args.master or args.calibrate or args.target):
        raise DistributedSetupError(
            "--worker takes its workload from the master: give only --master-host, "
            "--master-port and --processes"
        )
    if args.master_host and not args.worker:
        raise DistributedSetupError("--master-host is for --worker")
    if args.master and not args.expect_workers:
        raise DistributedSetupError("--master needs --expect-workers N (worker processes)")
    if args.expect_workers and not args.master:
        raise DistributedSetupError("--expect-workers is for --master")
    if args.master and args.processes:
        raise DistributedSetupError(
            "--master runs no users itself: give --processes to the workers "
            "(`hawkeye-bench load --worker --processes N`)"
        )
    if args.master and args.calibrate:
        raise DistributedSetupError("--calibrate runs on one machine: drop --master")


def check_open_loop(args: argparse.Namespace) -> None:
    if args.sweep_points is not None and args.rate != SWEEP:
        raise OpenLoopSetupError("--sweep-points: only with --rate sweep")
    if args.rate == SWEEP and args.sweep_points is not None and args.sweep_points < 2:
        raise OpenLoopSetupError(
            f"--sweep-points {args.sweep_points}: a sweep needs at least {MIN_SWEEP_POINTS} "
            "points (the synchronous and the throughput stage)"
        )
    if args.trace_speed is not None and args.trace is None:
        raise OpenLoopSetupError("--trace-speed: only with --trace FILE")
    if args.trace is not None and (args.rate is not None or args.concurrency is not None):
        raise OpenLoopSetupError(
            "--trace sets the arrivals itself: drop --rate and --concurrency (cap the requests "
            "in flight with --max-concurrency)"
        )
    if args.rate is None:
        flags = (("--arrival", args.arrival), ("--burstiness", args.burstiness),
                 ("--seed", args.seed))  # fmt: skip
        given = [flag for flag, value in flags if value is not None]
        if args.max_concurrency is not None and args.trace is None:
            given.append("--max-concurrency")
        if given:
            raise OpenLoopSetupError(f"{', '.join(given)}: only with --rate R (open loop)")
        if args.trace is not None and (args.calibrate or args.worker):
            raise OpenLoopSetupError("--trace is for a load run (not --calibrate or --worker)")
        return
    if args.concurrency is not None:
        raise OpenLoopSetupError(
            "--rate and --concurrency exclude each other: cap the requests in flight of an "
            "open-loop stage with --max-concurrency"
        )
    if args.calibrate or args.worker:
        raise OpenLoopSetupError("--rate is for a load run (--calibrate and --worker take none)")
    if args.burstiness is not None and args.burstiness != 1 and args.arrival != "gamma":
        raise OpenLoopSetupError("--burstiness is the shape of --arrival gamma")
