"""`hawkeye-bench judge`: rate the answers of runs with a judge panel and compare the runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from hawkeye_bench.core.errors import RunStopped
from hawkeye_bench.core.folder_lock import FolderLock
from hawkeye_bench.core.writable import check_writable_folder
from hawkeye_bench.judging.config import DEFAULT_CRITERIA
from hawkeye_bench.judging.options import JudgeOptions
from hawkeye_bench.judging.session import JudgeSettings, run_judge
from hawkeye_bench.judging.stats import N_RESAMPLES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from hawkeye_bench.core.ranges import non_negative_float, positive_int, share

    parser = subparsers.add_parser(
        "judge",
        help="rate answers of runs with an LLM judge panel (clarity, coherence, conciseness...)",
        description="Rate every answer of each run with the judges of a panel (judges/panels/) "
        "on the chosen criteria (judges/rubrics/), one call per answer and judge, and compare "
        "the runs per criterion with paired bootstrap 95%% intervals. The first run is the "
        "baseline. Without --panel: the paper's panel if its API keys are set, else the "
        "embedded local model.",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run folders written by eval")
    parser.add_argument("--panel", help="panel name in judges/panels/ (default, local, ...)")
    parser.add_argument("--out", type=Path, default=Path("judgements"), help="output folder")
    parser.add_argument(
        "--criteria",
        default=",".join(DEFAULT_CRITERIA),
        help="comma-separated criteria from judges/rubrics/ (also: completeness, correctness)",
    )
    parser.add_argument(
        "--show-reference", action="store_true", help="show the judge the reference answer"
    )
    parser.add_argument(
        "--show-cot",
        action="store_true",
        help="show the judge the reasoning written before the answer",
    )
    parser.add_argument(
        "--pairwise",
        action="store_true",
        help="also compare each run with the first, in both orders",
    )
    parser.add_argument(
        "--limit", type=positive_int, help="judge the first N answers of each run only"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="estimate calls, tokens and cost; send nothing"
    )
    parser.add_argument(
        "--budget",
        type=non_negative_float,
        help="stop before this invocation spends more than USD "
        "(each call's worst case is reserved before it is sent)",
    )
    parser.add_argument(
        "--rejudge-fraction",
        type=share,
        default=0.0,
        help="judge this share of answers twice, for self-consistency",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="for the re-judged subset and bootstrap"
    )
    parser.add_argument("--bootstrap-resamples", type=positive_int, default=N_RESAMPLES)
    parser.add_argument(
        "--max-error-rate",
        type=share,
        help="exit 1 when more than this share (0 to 1) of the judgements failed (default: "
        "only when every one did)",
    )
    parser.add_argument(
        "--judges-dir", type=Path, help="folder with panels/ and rubrics/ (default: ./judges)"
    )
    parser.add_argument("--cache-dir", type=Path, help="reply cache (default: OUT/cache)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    for folder, what in ((args.out, "--out folder"), (args.cache_dir, "--cache-dir folder")):
        if folder is not None:
            check_writable_folder(folder, what)
    settings = JudgeSettings(
        runs=args.runs,
        out=args.out,
        panel=args.panel,
        criteria=[c.strip() for c in args.criteria.split(",") if c.strip()],
        options=JudgeOptions(
            show_reference=args.show_reference,
            show_cot=args.show_cot,
            pairwise=args.pairwise,
            rejudge_fraction=args.rejudge_fraction,
            limit=args.limit,
            seed=args.seed,
        ),
        dry_run=args.dry_run,
        budget_usd=args.budget,
        judges_dir=args.judges_dir,
        cache_dir=args.cache_dir,
        bootstrap_resamples=args.bootstrap_resamples,
        max_error_rate=args.max_error_rate,
    )
    try:
        with FolderLock(args.out, what="judgements folder", command="judge"):
            return run_judge(settings)
    except RunStopped as exc:
        exc.add_note("judge stopped: the judgements made so far are saved; the same command "
                     "judges only what is missing")  # fmt: skip
        raise
