"""`hawkeye-bench eval`: run a pipeline on a benchmark, grade, store, summarise."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hawkeye_bench import datasets
from hawkeye_bench.commands.arguments import (
    FlagsError,
    add_endpoint_arguments,
    add_pipeline_arguments,
)
from hawkeye_bench.commands.pipeline_options import (
    add_pipeline_option_arguments,
    resolve_pipeline_run,
)
from hawkeye_bench.eval.runner import EvalPlan, load_baseline, run_eval
from hawkeye_bench.eval.store import RunStore


def build_parser(
    parser: argparse.ArgumentParser, pipelines: Sequence[str] | None = None
) -> argparse.ArgumentParser:
    """eval's flags; ``pipelines``: only these pipelines' run-option flags (a sweep's)."""
    from hawkeye_bench.core.ranges import non_negative_float, positive_int, share

    parser.add_argument(
        "--task", default="gsm8k", help=f"dataset: {', '.join(datasets.dataset_names())}"
    )
    add_pipeline_arguments(parser)
    parser.add_argument("--limit", type=positive_int, help="first N problems only")
    parser.add_argument(
        "--samples", type=positive_int, default=1, help="samples per problem (avg@k), >= 1"
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=8, help="problems in flight at once, >= 1"
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed (distinct per sample)")
    parser.add_argument(
        "--max-tokens", type=positive_int, help="max new tokens for every stage, >= 1"
    )
    parser.add_argument(
        "--temperature", type=non_negative_float, help="temperature for every stage, >= 0"
    )
    parser.add_argument("--data-dir", help="local mirror <dir>/<name>/test.jsonl "
                        "(default: $HAWKEYE_DATA_DIR, else the Hugging Face hub)")  # fmt: skip
    parser.add_argument("--out", help="run folder (default: runs/<task>-<pipeline>-<time>)")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted run")
    parser.add_argument(
        "--retry-errors", action="store_true", help="with --resume: run failed items again"
    )
    parser.add_argument(
        "--baseline-run",
        help="baseline run folder: adds the compression ratio and the paired accuracy "
        "difference (95%% interval) to the summary",
    )
    parser.add_argument(
        "--margin",
        type=non_negative_float,
        metavar="PP",
        help="with --baseline-run: non-inferiority margin in percentage points (e.g. 2); the "
        "summary says non-inferior, inferior, or not shown when the interval crosses -PP",
    )
    parser.add_argument(
        "--max-error-rate",
        type=share,
        default=0.1,
        help="exit non-zero when more than this share (0 to 1) of items failed "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-consecutive-failures",
        type=positive_int,
        default=5,
        help="stop the run when this many items in a row could not connect to an endpoint "
        "(it stopped answering); --resume finishes the run (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_pipeline_option_arguments(parser, pipelines)
    add_endpoint_arguments(parser)
    parser.set_defaults(func=main)
    return parser


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="run a pipeline on a benchmark and grade it",
        description="Run a pipeline (baseline or hawkeye) on a benchmark, grade every answer "
        "with math-verify, and write records.jsonl, manifest.json and summary.json.",
    )
    build_parser(parser)


def plan_from_args(
    args: argparse.Namespace,
    *,
    options: Mapping[str, Any] | None = None,
    out: Path | None = None,
    cache_dir: Path | None = None,
) -> EvalPlan:
    """Resolve the command line (and its config file) once: every name checked, the preset
    loaded, the endpoints resolved, the dataset loaded and fingerprinted. ``options``, ``out``
    and ``cache_dir`` replace what the command line says (compress-sweep's runs)."""
    check_run_flags(args)
    run = resolve_pipeline_run(args, task=args.task, options=options)
    pipeline, options, endpoints = run.pipeline, run.options, run.endpoints
    preset = run.preset.with_overrides(max_tokens=args.max_tokens, temperature=args.temperature)
    problems = datasets.load_problems(args.task, data_dir=args.data_dir, limit=args.limit)
    out = out or (Path(args.out) if args.out else default_out(args.task, pipeline.name))
    baseline = load_baseline(Path(args.baseline_run), args.task) if args.baseline_run else None
    return EvalPlan(
        task=args.task,
        pipeline=pipeline,
        preset=preset,
        stage2_input=args.stage2_input,
        endpoints=endpoints,
        problems=tuple(problems),
        dataset=datasets.dataset_fingerprint(args.task, args.data_dir),
        limit=args.limit,
        samples=args.samples,
        seed=args.seed,
        concurrency=args.concurrency,
        out=out,
        resume=args.resume,
        retry_errors=args.retry_errors,
        baseline=baseline,
        margin_pp=args.margin,
        max_error_rate=args.max_error_rate,
        max_consecutive_failures=args.max_consecutive_failures,
        progress=not args.no_progress,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        baseline_run=Path(args.baseline_run) if args.baseline_run else None,
        pipeline_options=options,
        cache_dir=cache_dir,
    )


def check_run_flags(args: argparse.Namespace) -> None:
    """Flags that only mean something together: refused rather than ignored."""
    if args.retry_errors and not args.resume:
        raise FlagsError(
            "--retry-errors runs the failed items of an earlier run again: add --resume"
        )
    if args.margin is not None and not args.baseline_run:
        raise FlagsError("--margin judges a run against its baseline: add --baseline-run")


def default_out(task: str, pipeline: str) -> Path:
    return Path("runs") / f"{task}-{pipeline}-{time.strftime('%Y%m%d-%H%M%S')}"


def main(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    with RunStore(plan.out).lock("eval"):
        return run_eval(plan)
