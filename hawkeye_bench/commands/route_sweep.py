"""`hawkeye-bench route-sweep`: accuracy against routed share over routers and thresholds.

Takes every flag of ``eval`` (task, limit, preset, ``--small-*``/``--large-*`` endpoints, route
flags); ``--router`` and ``--threshold`` take comma-separated lists, and ``--random-rates``
adds the random control at the given rates. Each (router, threshold) is an ordinary route run
in ``<out>/runs/``, after the small-only and large-only anchors; rerun with ``--resume`` to
finish or extend a sweep.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from hawkeye_bench.commands.compress_sweep import SweepFolderError
from hawkeye_bench.commands.eval import build_parser, default_out, plan_from_args
from hawkeye_bench.commands.pipeline_options import name_list
from hawkeye_bench.commands.route_arguments import route_options, threshold_list
from hawkeye_bench.eval.route_sweep import (
    DEFAULT_THRESHOLDS,
    SWEEP_FILE,
    RouteRun,
    collect,
    read_sweep_runs,
    sweep_runs,
    write_sweep_file,
    write_tables,
)
from hawkeye_bench.eval.runner import run_eval
from hawkeye_bench.eval.store import RunStore


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "route-sweep",
        help="token routing: accuracy against routed share over routers and thresholds",
        description="Run the route pipeline for every router and threshold (plus the "
        "small-only and large-only anchors on the same prompts) and write route_table.md/.csv "
        "into --out.",
    )
    build_parser(parser)
    parser.add_argument(
        "--random-rates",
        type=threshold_list,
        help="also run the random router (the control) at these rates, comma-separated",
    )
    parser.set_defaults(func=main, pipeline="route")


def main(args: argparse.Namespace) -> int:
    routers = name_list(args.router or "top1")
    thresholds = list(dict.fromkeys(args.threshold or DEFAULT_THRESHOLDS))
    root = Path(args.out) if args.out else default_out(args.task, "route-sweep")
    if (root / SWEEP_FILE).is_file() and not args.resume:
        raise SweepFolderError(
            f"{root} already holds a sweep: add --resume to finish or extend it, or pick --out"
        )
    if args.resume and not (root / SWEEP_FILE).is_file():
        raise SweepFolderError(f"--resume: {root} holds no sweep ({SWEEP_FILE} is missing)")
    runs = sweep_runs(routers, thresholds)
    runs += [RouteRun("random", rate) for rate in args.random_rates or ()]
    listed = list(dict.fromkeys([*read_sweep_runs(root), *runs]))  # an extension keeps the old
    shared = route_options(args, sweep=True)
    shared.pop("router", None)
    settings = {
        "task": args.task,
        "limit": args.limit,
        "preset": args.preset,
        "seed": args.seed,
        "options": shared,
    }
    write_sweep_file(root, listed, settings)
    exit_code = 0
    for run in runs:
        out = root / "runs" / run.folder
        run_args = copy.copy(args)
        run_args.resume = RunStore(out).is_run()
        plan = plan_from_args(run_args, options={**shared, **run.options()}, out=out)
        print(f"== {run.folder} -> {out}", file=sys.stderr)
        code = run_eval(plan)
        if code in (2, 3, 130):  # stopped: the rest would fail the same way
            return code
        exit_code = exit_code or code
    print(write_tables(root, collect(root, listed)))
    return exit_code
