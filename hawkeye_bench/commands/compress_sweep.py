"""`hawkeye-bench compress-sweep`: the compression study over methods and kept shares.

Takes every flag of ``eval`` (task, limit, preset, endpoints per role, ...); ``--keep`` and
``--methods`` take comma-separated lists. Each (method, share) is an ordinary compress run in
``<out>/runs/``; all share one call cache in ``<out>``, so the writer's CoT is written once per
problem and no finished call is ever made again (rerun with ``--resume`` to finish or extend
a sweep).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from hawkeye_bench.commands.eval import build_parser, default_out, plan_from_args
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.eval.compress_sweep import (
    DEFAULT_KEEPS,
    DEFAULT_METHODS,
    SWEEP_FILE,
    collect,
    read_sweep_runs,
    sweep_runs,
    write_sweep_file,
    write_tables,
)
from hawkeye_bench.eval.runner import run_eval
from hawkeye_bench.eval.store import RunStore


class SweepFolderError(HawkeyeError):
    """A sweep folder that cannot be used as asked."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "compress-sweep",
        help="compression study: accuracy against the kept share of a writer's CoT",
        description="Run the compress pipeline for every compression method and kept share "
        "(plus the no-CoT and full-CoT anchors), reusing the writer's CoT of each problem, and "
        "write compress_table.md/.csv and achieved.csv into --out.",
    )
    build_parser(parser)
    parser.set_defaults(func=main, pipeline="compress")


def main(args: argparse.Namespace) -> int:
    keeps = list(dict.fromkeys(args.keep or DEFAULT_KEEPS))
    methods = list(dict.fromkeys(args.methods or DEFAULT_METHODS))
    root = Path(args.out) if args.out else default_out(args.task, "compress-sweep")
    if (root / SWEEP_FILE).is_file() and not args.resume:
        raise SweepFolderError(
            f"{root} already holds a sweep: add --resume to finish or extend it, or pick --out"
        )
    if args.resume and not (root / SWEEP_FILE).is_file():
        raise SweepFolderError(f"--resume: {root} holds no sweep ({SWEEP_FILE} is missing)")
    runs = sweep_runs(methods, keeps)
    listed = list(dict.fromkeys([*read_sweep_runs(root), *runs]))  # an extension keeps the old
    settings = {"task": args.task, "limit": args.limit, "preset": args.preset, "seed": args.seed}
    write_sweep_file(root, listed, settings)
    exit_code = 0
    for run in runs:
        out = root / "runs" / run.folder
        run_args = copy.copy(args)
        run_args.resume = RunStore(out).is_run()
        plan = plan_from_args(
            run_args, options={"keep": run.keep, "method": run.method}, out=out, cache_dir=root
        )
        print(f"== {run.method} keep {run.keep:g} -> {out}", file=sys.stderr)
        code = run_eval(plan)
        if code in (2, 3, 130):  # stopped: the rest would fail the same way
            return code
        exit_code = exit_code or code
    rows, items = collect(root, listed)
    print(write_tables(root, rows, items))
    return exit_code
