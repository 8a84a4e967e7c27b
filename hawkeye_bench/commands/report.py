"""`hawkeye-bench report`: turn run, lm-eval, load and judgement folders into one report."""

from __future__ import annotations

import argparse
from pathlib import Path

from hawkeye_bench.core.ranges import non_negative_float
from hawkeye_bench.core.writable import check_writable_folder
from hawkeye_bench.reporting.build import REPORT_JSON, REPORT_MD, write_report
from hawkeye_bench.reporting.inputs import KINDS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kinds = "; ".join(f"{k.name} ({k.marker})" for k in KINDS)
    parser = subparsers.add_parser(
        "report",
        help="write a markdown report with PNG figures from result folders",
        description="Read result folders (never re-running anything) and write report.md, "
        "report.json and PNG figures. Folders are recognised by the files they contain: "
        f"{kinds}. A folder holding such folders is expanded one level.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="result folders, any mix of kinds")
    parser.add_argument("--out", type=Path, required=True, help="report folder, e.g. reports/x/")
    parser.add_argument("--title", help="report title (default: hawkeye-bench report)")
    parser.add_argument(
        "--margin",
        type=non_negative_float,
        metavar="PP",
        help="non-inferiority margin in percentage points for each pipeline run against its "
        "baseline (e.g. 2); without it the paired difference is shown with no verdict",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    check_writable_folder(args.out, "report folder")
    report = write_report(args.inputs, args.out, args.title, args.margin)
    missing = [s.title for s in report.sections if s.missing and not s.tables]
    print(
        f"wrote {args.out / REPORT_MD}, {args.out / REPORT_JSON} and "
        f"{sum(len(s.figures) for s in report.sections)} figures"
    )
    if missing:
        print(f"sections without input: {', '.join(missing)}")
    return 0
