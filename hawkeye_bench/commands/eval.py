"""`hawkeye-bench eval`: run a pipeline on a benchmark, grade, store, summarise."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hawkeye_bench import datasets
from hawkeye_bench.config import (
    ConfigError,
    add_endpoint_arguments,
    add_pipeline_arguments,
    resolve_endpoints,
)
from hawkeye_bench.endpoints import Endpoint, EndpointClient, EndpointUnavailable
from hawkeye_bench.secrets import MissingApiKey
from hawkeye_bench.engine import plan_items, run_items
from hawkeye_bench.local import LocalModelUnavailable, endpoints_or_local
from hawkeye_bench.manifest import environment, now_iso
from hawkeye_bench.pipelines import get_pipeline
from hawkeye_bench.presets import PresetError, load_preset
from hawkeye_bench.record import Record
from hawkeye_bench.runs import RunStore, RunStoreError
from hawkeye_bench.summary import summarize
from hawkeye_bench.summary_table import format_summary

#: Settings that define what a run is; --resume refuses a run folder made with other values.
IDENTITY_KEYS = ("task", "pipeline", "preset", "limit", "samples", "seed", "stage2_input",
                 "max_tokens", "temperature")  # fmt: skip


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--task", default="gsm8k", help=f"dataset: {', '.join(datasets.dataset_names())}"
    )
    add_pipeline_arguments(parser)
    parser.add_argument("--limit", type=int, help="first N problems only")
    parser.add_argument("--samples", type=int, default=1, help="samples per problem (avg@k)")
    parser.add_argument("--concurrency", type=int, default=8, help="problems in flight at once")
    parser.add_argument("--seed", type=int, default=0, help="base seed (distinct per sample)")
    parser.add_argument("--max-tokens", type=int, help="max new tokens for every stage")
    parser.add_argument("--temperature", type=float, help="temperature for every stage")
    parser.add_argument("--data-dir", help="local mirror <dir>/<name>/test.jsonl "
                        "(default: $HAWKEYE_DATA_DIR, else the Hugging Face hub)")  # fmt: skip
    parser.add_argument("--out", help="run folder (default: runs/<task>-<pipeline>-<time>)")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted run")
    parser.add_argument(
        "--retry-errors", action="store_true", help="with --resume: run failed items again"
    )
    parser.add_argument(
        "--baseline-run", help="baseline run folder: adds the compression ratio to the summary"
    )
    parser.add_argument(
        "--max-error-rate",
        type=float,
        default=0.1,
        help="exit non-zero when more than this share of items failed (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_endpoint_arguments(parser)
    parser.set_defaults(func=main)
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "eval",
        help="run a pipeline on a benchmark and grade it",
        description="Run a pipeline (baseline or hawkeye) on a benchmark, grade every answer "
        "with math-verify, and write records.jsonl, manifest.json and summary.json.",
    )
    build_parser(parser)


def run_identity(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, key) for key in IDENTITY_KEYS}


def default_out(args: argparse.Namespace) -> Path:
    return Path("runs") / f"{args.task}-{args.pipeline}-{time.strftime('%Y%m%d-%H%M%S')}"


def _prepare_store(args: argparse.Namespace, out: Path) -> tuple[RunStore, list[Record]]:
    store = RunStore(out)
    if not store.has_records():
        return store, []
    if not args.resume:
        raise RunStoreError(f"{out} already holds a run: add --resume to finish it, or pick --out")
    manifest = store.read_manifest() or {}
    previous = manifest.get("identity", {})
    mismatched = {
        key: (previous.get(key), value)
        for key, value in run_identity(args).items()
        if key in previous and previous[key] != value
    }
    if mismatched:
        details = ", ".join(f"{k}: run has {a!r}, asked {b!r}" for k, (a, b) in mismatched.items())
        raise RunStoreError(f"cannot resume {out} with other settings ({details})")
    records = store.load_records(repair=True)
    if args.retry_errors:
        kept = [r for r in records if not r.error]
        if len(kept) != len(records):
            store.rewrite_records(kept)
        records = kept
    return store, records


async def _execute(
    args: argparse.Namespace, endpoints: dict[str, Endpoint], store: RunStore, done: list[Record]
) -> list[Record]:
    from hawkeye_bench.grading import Grader  # math-verify and sympy: slow to import

    problems = datasets.load_problems(args.task, data_dir=args.data_dir, limit=args.limit)
    preset = load_preset(args.preset).with_overrides(
        max_tokens=args.max_tokens, temperature=args.temperature
    )
    pipeline_cls = get_pipeline(args.pipeline)
    items = plan_items(problems, args.samples, (r.key for r in done))
    # one pooled client per distinct endpoint setting (roles sharing a server share it)
    clients: dict[str, EndpointClient] = {}
    role_clients: dict[str, EndpointClient] = {}
    async with contextlib.AsyncExitStack() as stack:
        for role, endpoint in endpoints.items():
            key = repr(replace(endpoint, name=""))
            if key not in clients:
                clients[key] = await stack.enter_async_context(EndpointClient(endpoint))
                await clients[key].check(role)
            role_clients[role] = clients[key]
        pipeline = pipeline_cls(preset, role_clients, stage2_input=args.stage2_input)
        grader = stack.enter_context(Grader())
        records = list(done)
        bar = tqdm(
            total=len(items) + len(done),
            initial=len(done),
            desc=f"{args.pipeline} on {args.task}",
            unit="item",
            disable=args.no_progress,
            file=sys.stderr,
        )

        def on_record(record: Record) -> None:
            store.append(record)
            records.append(record)
            errors = sum(1 for r in records if r.error)
            correct = sum(1 for r in records if r.correct)
            bar.set_postfix(acc=f"{correct / len(records):.1%}", errors=errors, refresh=False)
            bar.update(1)

        try:
            await run_items(
                pipeline,
                grader,
                items,
                concurrency=args.concurrency,
                base_seed=args.seed,
                on_record=on_record,
            )
        finally:
            bar.close()
            store.close()
    return records


def main(args: argparse.Namespace) -> int:
    try:
        datasets.get_spec(args.task)
        pipeline_cls = get_pipeline(args.pipeline)
        load_preset(args.preset).stage  # noqa: B018  (validates the name early)
        resolved = resolve_endpoints(args, pipeline_cls.roles)
        out = Path(args.out) if args.out else default_out(args)
        store, done = _prepare_store(args, out)
        baseline = RunStore(Path(args.baseline_run)).load_records() if args.baseline_run else None
    except (ConfigError, PresetError, RunStoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manifest: dict[str, Any] = {
        "kind": "hawkeye-bench-run",
        "identity": run_identity(args),
        "config": {k: v for k, v in vars(args).items() if k not in ("func", "config_endpoints")},
        "started_at": now_iso(),
        "status": "running",
        "resumed_from": len(done) if done else None,
        **environment(),
    }
    status = "complete"
    try:
        with endpoints_or_local(resolved, pipeline_cls.roles) as endpoints:
            manifest["endpoints"] = {role: e.to_dict() for role, e in endpoints.items()}
            manifest["preset"] = load_preset(args.preset).to_dict()
            manifest["dataset"] = datasets.dataset_fingerprint(args.task, args.data_dir)
            store.write_manifest(manifest)
            records = asyncio.run(_execute(args, endpoints, store, done))
    except KeyboardInterrupt:
        status = "interrupted"
        records = store.load_records()
        print(f"\ninterrupted: {len(records)} records are saved in {out}; "
              "finish with the same command plus --resume", file=sys.stderr)  # fmt: skip
    except (
        EndpointUnavailable,
        MissingApiKey,
        LocalModelUnavailable,
        datasets.DatasetError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        manifest["ended_at"] = now_iso()
        manifest["status"] = status
        if store.manifest_path.exists():
            store.write_manifest(manifest)
    summary = summarize(records, baseline=baseline)
    summary["run"] = str(out)
    summary["pipeline"] = args.pipeline
    summary["task"] = args.task
    summary["status"] = status
    store.write_summary(summary)
    print(format_summary(summary))
    if status != "complete":
        return 130
    if summary["errors"]["share"] > args.max_error_rate:
        print(f"error: {summary['errors']['share']:.1%} of items failed "
              f"(--max-error-rate {args.max_error_rate:.1%})", file=sys.stderr)  # fmt: skip
        return 1
    return 0
