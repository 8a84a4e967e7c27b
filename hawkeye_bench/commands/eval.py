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
    EndpointSettings,
    add_endpoint_arguments,
    add_pipeline_arguments,
    resolve_endpoints,
)
from hawkeye_bench.endpoints import Endpoint, EndpointClient
from hawkeye_bench.engine import plan_items, run_items
from hawkeye_bench.errors import HawkeyeError
from hawkeye_bench.health import HealthWatch, RunStopped
from hawkeye_bench.local import endpoints_or_local, running_servers
from hawkeye_bench.manifest import environment, now_iso
from hawkeye_bench.pipelines import get_pipeline
from hawkeye_bench.presets import Preset, load_preset
from hawkeye_bench.record import Record
from hawkeye_bench.runs import RunStore, RunStoreError, process_marker
from hawkeye_bench.summary import summarize
from hawkeye_bench.summary_table import format_summary


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from hawkeye_bench.cli_args import non_negative_float, positive_int, share

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
        "--baseline-run", help="baseline run folder: adds the compression ratio to the summary"
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


def run_identity(
    args: argparse.Namespace, preset: Preset, endpoints: dict[str, Endpoint]
) -> dict[str, Any]:
    """Everything that changes the answers of a run: a resumed run must match it exactly.

    Derived from the resolved settings (preset content, dataset checksums, each role's server
    and model), not from the command line's spelling of them. The embedded model is one
    identity whatever port it got.
    """
    preset_content = {k: v for k, v in preset.to_dict().items() if k not in ("path", "source")}
    fingerprint = datasets.dataset_fingerprint(args.task, args.data_dir)
    if fingerprint.get("source") == "mirror":  # the bytes matter, not where the mirror lives
        files = [{k: v for k, v in f.items() if k != "path"} for f in fingerprint["files"]]
        fingerprint = {**fingerprint, "files": files}
    return {
        "task": args.task,
        "pipeline": args.pipeline,
        "limit": args.limit,
        "samples": args.samples,
        "seed": args.seed,
        "stage2_input": args.stage2_input,
        "preset": preset_content,
        "dataset": fingerprint,
        "endpoints": {role: _endpoint_identity(e) for role, e in sorted(endpoints.items())}
        or "embedded default model",
    }


def _endpoint_identity(endpoint: Endpoint) -> dict[str, Any]:
    return {"base_url": endpoint.base_url, "model": endpoint.model, "extra": endpoint.extra_body}


def default_out(args: argparse.Namespace) -> Path:
    return Path("runs") / f"{args.task}-{args.pipeline}-{time.strftime('%Y%m%d-%H%M%S')}"


def _identity_differences(previous: Any, current: Any, where: str = "") -> list[str]:
    """Each setting that differs, named by its path (``preset.stages.single.max_tokens``)."""
    if isinstance(previous, dict) and isinstance(current, dict):
        differences = []
        for key in sorted(set(previous) | set(current), key=str):
            path = f"{where}.{key}" if where else str(key)
            differences += _identity_differences(previous.get(key), current.get(key), path)
        return differences
    if previous == current:
        return []
    return [f"{where}: run has {_short(previous)}, asked {_short(current)}"]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _prepare_store(
    args: argparse.Namespace, out: Path, identity: dict[str, Any]
) -> tuple[RunStore, list[Record]]:
    """The run folder and the records a resume keeps; raises before touching the disk when
    the folder cannot be used as asked."""
    store = RunStore(out)
    if args.resume and not store.is_run():
        raise RunStoreError(
            f"--resume: {out} holds no run (no manifest.json or records.jsonl); "
            "leave out --resume to start one there"
        )
    if not store.has_records():
        store.ensure_writable()
        return store, []
    if not args.resume:
        raise RunStoreError(f"{out} already holds a run: add --resume to finish it, or pick --out")
    manifest = store.read_manifest() or {}
    differences = _identity_differences(manifest.get("identity") or {}, identity)
    if differences:
        raise RunStoreError(
            f"cannot resume {out} with other settings ({'; '.join(differences)}); "
            "use the run's own settings, or another --out"
        )
    store.ensure_writable()
    records = store.load_records(repair=True)
    if args.retry_errors:
        kept = [r for r in records if not r.error]
        if len(kept) != len(records):
            store.rewrite_records(kept)
        records = kept
    return store, records


def _load_baseline(path: str | None, task: str) -> list[Record] | None:
    """The records of ``--baseline-run``; a folder that is not a finished run of the same task
    is an error, not a silently missing compression ratio."""
    if not path:
        return None
    store = RunStore(Path(path))
    if not store.has_records():
        raise RunStoreError(f"--baseline-run {path}: not a run folder (no records.jsonl there)")
    manifest = store.read_manifest() or {}
    baseline_task = (manifest.get("identity") or {}).get("task")
    if baseline_task is not None and baseline_task != task:
        raise RunStoreError(f"--baseline-run {path} is a {baseline_task} run, this is {task}")
    return store.load_records()


async def _execute(
    args: argparse.Namespace,
    preset: Preset,
    endpoints: dict[str, Endpoint],
    store: RunStore,
    done: list[Record],
) -> list[Record]:
    from hawkeye_bench.grading import Grader  # math-verify and sympy: slow to import

    problems = datasets.load_problems(args.task, data_dir=args.data_dir, limit=args.limit)
    watch = HealthWatch(servers=running_servers, max_consecutive=args.max_consecutive_failures)
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

        def keep(ready: list[Record]) -> None:
            for record in ready:
                store.append(record)
                records.append(record)
                bar.update(1)
            if records:
                errors = sum(1 for r in records if r.error)
                correct = sum(1 for r in records if r.correct)
                bar.set_postfix(acc=f"{correct / len(records):.1%}", errors=errors, refresh=False)

        try:
            await run_items(
                pipeline,
                grader,
                items,
                concurrency=args.concurrency,
                base_seed=args.seed,
                on_record=lambda record: keep(watch.admit(record)),
                monitor=watch.poll,
            )
            keep(watch.release())
        finally:
            bar.close()
            store.close()
    return records


def main(args: argparse.Namespace) -> int:
    datasets.get_spec(args.task)
    pipeline_cls = get_pipeline(args.pipeline)
    preset = load_preset(args.preset).with_overrides(
        max_tokens=args.max_tokens, temperature=args.temperature
    )
    resolved = resolve_endpoints(EndpointSettings.from_args(args), pipeline_cls.roles)
    out = Path(args.out) if args.out else default_out(args)
    identity = run_identity(args, preset, resolved)
    baseline = _load_baseline(args.baseline_run, args.task)
    store, done = _prepare_store(args, out, identity)
    manifest: dict[str, Any] = {
        "kind": "hawkeye-bench-run",
        "identity": identity,
        "config": {k: v for k, v in vars(args).items() if k not in ("func", "config_endpoints")},
        "started_at": now_iso(),
        "status": "running",
        "writer": process_marker(),
        "resumed_from": len(done) if done else None,
        **environment(),
    }
    status, exit_code = "failed", 2
    try:
        with endpoints_or_local(resolved, pipeline_cls.roles) as endpoints:
            manifest["endpoints"] = {role: e.to_dict() for role, e in endpoints.items()}
            manifest["preset"] = preset.to_dict()
            manifest["dataset"] = datasets.dataset_fingerprint(args.task, args.data_dir)
            store.write_manifest(manifest)
            records = asyncio.run(_execute(args, preset, endpoints, store, done))
            status, exit_code = "complete", 0
    except KeyboardInterrupt:
        status, exit_code = "interrupted", 130
        records = store.load_records()
        print(f"\ninterrupted: {len(records)} records are saved in {out}; "
              "finish with the same command plus --resume", file=sys.stderr)  # fmt: skip
    except RunStopped as exc:
        status, exit_code = "stopped", 3
        manifest["error"] = str(exc)
        records = store.load_records()
        print(f"error: {exc}\nrun stopped: {len(records)} records are saved in {out}; once "
              "fixed, finish with the same command plus --resume", file=sys.stderr)  # fmt: skip
    except HawkeyeError as exc:  # printed by the CLI; the manifest records it as well
        manifest["error"] = str(exc)
        raise
    finally:
        manifest["ended_at"] = now_iso()
        manifest["status"] = status
        manifest.pop("writer", None)
        if store.manifest_path.exists() or status == "failed":
            store.write_manifest(manifest)
    summary = summarize(records, baseline=baseline)
    summary["run"] = str(out)
    summary["pipeline"] = args.pipeline
    summary["task"] = args.task
    summary["status"] = status
    store.write_summary(summary)
    print(format_summary(summary))
    if exit_code:
        return exit_code
    if summary["errors"]["share"] > args.max_error_rate:
        print(f"error: {summary['errors']['share']:.1%} of items failed "
              f"(--max-error-rate {args.max_error_rate:.1%})", file=sys.stderr)  # fmt: skip
        return 1
    return 0
