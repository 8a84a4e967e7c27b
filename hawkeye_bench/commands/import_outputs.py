"""`hawkeye-bench import`: grade, count and summarise outputs generated elsewhere, into an
ordinary run folder that summary, --baseline-run, judge, report, cost and reward read as any
other."""

from __future__ import annotations

import argparse
from pathlib import Path

from hawkeye_bench import datasets
from hawkeye_bench.commands.eval import default_out
from hawkeye_bench.eval.runner import load_baseline
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.importing.formats import format_names
from hawkeye_bench.importing.mapping import parse_mapping
from hawkeye_bench.importing.matching import MATCH_MODES
from hawkeye_bench.importing.rows import ImportInputError
from hawkeye_bench.importing.runner import ImportPlan, run_import
from hawkeye_bench.importing.tokens import tokenizer_choice


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import",
        help="grade and count outputs generated elsewhere (vLLM batch, lm-eval samples, ...)",
        description="Turn recorded outputs (a generic JSONL/JSON list with --map, OpenAI "
        "Batch output, lm-eval --log_samples files, the upstream Hawkeye result files) into a "
        "run folder: matched to the benchmark's problems, graded, token counts with their "
        "source, and agreement with the file's own verdicts. No model is called.",
    )
    parser.add_argument("files", nargs="+", type=Path, help="files of outputs (one format)")
    parser.add_argument(
        "--format",
        default="auto",
        help=f"auto (from the first line) or one of: {', '.join(format_names())}",
    )
    parser.add_argument(
        "--task", required=True, help=f"dataset: {', '.join(datasets.dataset_names())}"
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="KEY=FIELD,...",
        help="generic format: fields, e.g. id=idx,question=problem,text=model_output,gold=answer "
        "or reasoner=cot_text,responder=answer_text; per stage: <stage>.completion_tokens=F, "
        ".latency_s, .finish_reason, .token_ids, ...; dotted paths reach nested fields",
    )
    parser.add_argument(
        "--match",
        choices=MATCH_MODES,
        default="auto",
        help="how rows find their problem: auto = by id when the row has one, else by "
        "question text, else by position (default: %(default)s)",
    )
    parser.add_argument(
        "--pipeline", help="the pipeline the outputs came from (default: from the stages)"
    )
    parser.add_argument("--model", default="", help="model name for stages whose file has none")
    parser.add_argument(
        "--tokenizer",
        help="count tokens the file does not: a tokenizer.json (or its folder), or a .gguf",
    )
    parser.add_argument(
        "--tokenize-url", help="count tokens the file does not with this server's tokenize endpoint"
    )
    parser.add_argument("--tokenize-model", default="", help="model name for --tokenize-url")
    parser.add_argument(
        "--lm-eval-filter", help="lm-eval: the filter whose lines are read (default: the first)"
    )
    parser.add_argument(
        "--skip-bad-lines",
        action="store_true",
        help="skip (and count) malformed or unreadable lines instead of stopping",
    )
    parser.add_argument("--data-dir", help="local mirror <dir>/<name>/test.jsonl "
                        "(default: $HAWKEYE_DATA_DIR, else the Hugging Face hub)")  # fmt: skip
    parser.add_argument("--out", help="run folder (default: runs/<task>-import-<time>)")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted import")
    parser.add_argument(
        "--baseline-run", help="baseline run folder: adds the compression ratio to the summary"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=main)


def plan_from_args(args: argparse.Namespace) -> ImportPlan:
    """Every name and file checked before anything is read or written."""
    from hawkeye_bench.pipelines import all_roles, get_pipeline, single_model_role

    for path in args.files:
        if path.is_dir():
            raise ImportInputError(f"{path}: a folder, not a file of outputs")
        if not path.is_file():
            raise ImportInputError(f"{path}: no such file")
    if args.pipeline is not None:
        get_pipeline(args.pipeline)
    role = single_model_role() or "single"
    mapping = parse_mapping(args.map, all_roles(), role) if args.map else None
    tokenizer = tokenizer_choice(args.tokenizer, args.tokenize_url, args.tokenize_model)
    problems = datasets.load_problems(args.task, data_dir=args.data_dir)
    out = Path(args.out) if args.out else default_out(args.task, "import")
    baseline = load_baseline(Path(args.baseline_run), args.task) if args.baseline_run else None
    return ImportPlan(
        files=tuple(args.files),
        format=args.format,
        task=args.task,
        problems=tuple(problems),
        dataset=datasets.fingerprint(args.task, args.data_dir),
        out=out,
        pipeline=args.pipeline,
        mapping=mapping,
        match=args.match,
        tokenizer=tokenizer,
        model=args.model,
        lm_eval_filter=args.lm_eval_filter,
        role=role,
        skip_bad_lines=args.skip_bad_lines,
        resume=args.resume,
        baseline=baseline,
        progress=not args.no_progress,
    )


def main(args: argparse.Namespace) -> int:
    if args.format != "auto":
        from hawkeye_bench.importing.formats import get_format

        get_format(args.format)
    plan = plan_from_args(args)
    with RunStore(plan.out).lock("import"):
        return run_import(plan)
