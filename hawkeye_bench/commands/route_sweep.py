"""`hawkeye-bench route-sweep`: accuracy against routed share over routers and thresholds.

Takes every flag of ``eval`` (task, limit, preset, ``--small-*``/``--large-*`` endpoints, route
flags); ``--router``, ``--threshold`` and ``--target-share`` take comma-separated lists (a
target share's run finds its threshold before it runs), and ``--random-rates`` adds the random
control at the given rates. Each (router, threshold) is an ordinary route run
in ``<out>/runs/``, after the small-only and large-only anchors; rerun with ``--resume`` to
finish or extend a sweep.
"""

from __future__ import annotations

import argparse

from hawkeye_bench.commands import sweep_runner
from hawkeye_bench.commands.arguments import comma_list
from hawkeye_bench.commands.eval import build_parser, plan_from_args
from hawkeye_bench.commands.pipeline_options import given_options
from hawkeye_bench.core.ranges import non_negative_float
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
from hawkeye_bench.eval.runner import EvalPlan
from hawkeye_bench.pipelines.route_options import RouteOptions


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "route-sweep",
        help="token routing: accuracy against routed share over routers and thresholds",
        description="Run the route pipeline for every router and threshold (plus the "
        "small-only and large-only anchors on the same prompts) and write route_table.md/.csv "
        "into --out.",
    )
    build_parser(parser, ("route",))
    parser.add_argument(
        "--random-rates",
        type=rate_list,
        help="also run the random router (the control) at these rates, comma-separated",
    )
    parser.set_defaults(func=main, pipeline="route")


def rate_list(text: str) -> list[float]:
    """Comma-separated rates, each a finite number >= 0."""
    return comma_list(text, non_negative_float)


def main(args: argparse.Namespace) -> int:
    routers = list(dict.fromkeys(args.router or [RouteOptions.router]))
    shares = list(dict.fromkeys(args.target_share or ()))
    thresholds = list(dict.fromkeys(args.threshold or ([] if shares else DEFAULT_THRESHOLDS)))
    root = sweep_runner.sweep_root(args, "route-sweep", SWEEP_FILE)
    runs = sweep_runs(routers, thresholds, shares)
    runs += [RouteRun("random", rate) for rate in args.random_rates or ()]
    shared = given_options(args, RouteOptions, sweep=True)  # every run's

    def plan(run: RouteRun) -> tuple[str, EvalPlan]:
        out = root / "runs" / run.folder
        options = {**shared, **run.options()}
        return run.folder, plan_from_args(
            sweep_runner.run_args(args, out), options=options, out=out
        )

    with sweep_runner.lock_sweep(root, "route-sweep"):
        plans = [plan(run) for run in runs]  # every run checked before the first model call
        listed = list(dict.fromkeys([*read_sweep_runs(root), *runs]))  # an extension keeps the old
        write_sweep_file(root, listed, sweep_runner.sweep_settings(args, options=shared))
        exit_code = sweep_runner.run_in_turn(plans, "route-sweep")
        if exit_code in sweep_runner.STOPPED:
            return exit_code
        print(write_tables(root, collect(root, listed)))
    return exit_code
