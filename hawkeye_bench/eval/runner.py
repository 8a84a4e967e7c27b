"""Running one eval plan: prepare the run folder (resume checks), run the pipeline over the
items with a health watch, keep the records, write manifest and summary.

The command line (or a config file) is resolved once into an :class:`EvalPlan` by
``commands/eval.py``; from there the settings flow one way, and nothing here sees argparse.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hawkeye_bench.core.errors import HawkeyeError, RunStopped
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.cost.token_view import summary_cost
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.endpoints.pool import ClientPool
from hawkeye_bench.endpoints.replica_report import ReplicaSetReport
from hawkeye_bench.eval.engine import plan_items, run_items
from hawkeye_bench.eval.health import HealthWatch
from hawkeye_bench.eval.manifest import Manifest, RecordedPlan, RoleEndpoint, environment, now_iso
from hawkeye_bench.eval.store import RunStore, RunStoreError, process_marker
from hawkeye_bench.eval.summary import summarize
from hawkeye_bench.eval.summary_table import format_summary
from hawkeye_bench.pipelines import Pipeline
from hawkeye_bench.presets import Preset
from hawkeye_bench.serve.embedded import endpoints_or_local, running_servers


@dataclass(frozen=True)
class EvalPlan:
    """Everything one eval run is, resolved once: what runs, where, on which data, into which
    folder, and when it counts as failed."""

    task: str
    pipeline: type[Pipeline]
    preset: Preset  # sampling overrides applied
    stage2_input: str | None
    endpoints: Mapping[str, Endpoint]  # empty: the embedded model serves every role
    problems: tuple[Problem, ...]
    dataset: Mapping[str, Any]  # fingerprint: mirror files and sha256, or hub ids
    limit: int | None
    samples: int
    seed: int
    concurrency: int
    out: Path
    resume: bool = False
    retry_errors: bool = False
    baseline: tuple[Record, ...] | None = None
    #: non-inferiority margin against ``baseline``, in percentage points (None: no verdict)
    margin_pp: float | None = None
    max_error_rate: float = 0.1
    max_consecutive_failures: int = 5
    progress: bool = True
    #: the overrides ``preset`` has for every stage (None: the preset's own), for the manifest
    max_tokens: int | None = None
    temperature: float | None = None
    #: the baseline's run folder (its records are ``baseline``), for the manifest
    baseline_run: Path | None = None
    #: options of the pipeline (``--keep``, ``--methods``); part of the run's identity
    pipeline_options: Mapping[str, Any] = field(default_factory=dict)
    #: where a pipeline that caches finished calls keeps them (default: the run folder)
    cache_dir: Path | None = None

    def identity(self) -> dict[str, Any]:
        """Everything that changes the answers of a run: a resumed run must match it exactly.

        Derived from the resolved settings (preset content, dataset checksums, each role's
        server and model), not from the command line's spelling of them. The embedded model is
        one identity whatever port it got.
        """
        preset = {k: v for k, v in self.preset.to_dict().items() if k not in ("path", "source")}
        dataset = dict(self.dataset)
        if dataset.get("source") == "mirror":  # the bytes matter, not where the mirror lives
            dataset["files"] = [
                {k: v for k, v in f.items() if k != "path"} for f in dataset["files"]
            ]
        given = self.pipeline.options.identity(self.pipeline_options)  # the options that name it
        options = {"pipeline_options": given} if given else {}
        return {
            **options,
            "task": self.task,
            "pipeline": self.pipeline.name,
            "limit": self.limit,
            "samples": self.samples,
            "seed": self.seed,
            "stage2_input": self.stage2_input,
            "preset": preset,
            "dataset": dataset,
            "endpoints": {r: _endpoint_identity(e) for r, e in sorted(self.endpoints.items())}
            or "embedded default model",
        }

    def recorded(self, endpoints: Mapping[str, Endpoint]) -> RecordedPlan:
        """The plan as the manifest records it; ``endpoints``: the roles' resolved servers
        (the embedded model's included)."""
        return RecordedPlan(
            task=self.task,
            pipeline=self.pipeline.name,
            preset=self.preset.name,
            limit=self.limit,
            samples=self.samples,
            seed=self.seed,
            concurrency=self.concurrency,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            stage2_input=self.stage2_input,
            pipeline_options=dict(self.pipeline_options),
            roles={
                role: RoleEndpoint(model=e.model, base_url=e.base_url)
                for role, e in endpoints.items()
            },
            baseline_run=str(self.baseline_run) if self.baseline_run else None,
            margin_pp=self.margin_pp,
            max_error_rate=self.max_error_rate,
            max_consecutive_failures=self.max_consecutive_failures,
            resume=self.resume,
            retry_errors=self.retry_errors,
        )


def _endpoint_identity(endpoint: Endpoint) -> dict[str, Any]:
    return {"base_url": endpoint.base_url, "model": endpoint.model, "extra": endpoint.extra_body}


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


def prepare_store(plan: EvalPlan) -> tuple[RunStore, list[Record]]:
    """The run folder and the records a resume keeps; raises before touching the disk when
    the folder cannot be used as asked."""
    out = plan.out
    store = RunStore(out)
    if plan.resume and not store.is_run():
        raise RunStoreError(
            f"--resume: {out} holds no run (no manifest.json or records.jsonl); "
            "leave out --resume to start one there"
        )
    if not store.has_records():
        store.ensure_writable()
        return store, []
    if not plan.resume:
        raise RunStoreError(f"{out} already holds a run: add --resume to finish it, or pick --out")
    manifest = store.read_manifest() or Manifest()
    differences = _identity_differences(manifest.identity, plan.identity())
    if differences:
        raise RunStoreError(
            f"cannot resume {out} with other settings ({'; '.join(differences)}); "
            "use the run's own settings, or another --out"
        )
    store.ensure_writable()
    records = store.load_records(repair=True)
    if plan.retry_errors:
        kept = [r for r in records if not r.error]
        if len(kept) != len(records):
            store.rewrite_records(kept)
        records = kept
    return store, records


def load_baseline(path: Path, task: str) -> tuple[Record, ...]:
    """The records of a baseline run folder; a folder that is not a run of the same task is
    an error, not a silently missing compression ratio."""
    store = RunStore(path)
    if not store.has_records():
        raise RunStoreError(f"--baseline-run {path}: not a run folder (no records.jsonl there)")
    manifest = store.read_manifest() or Manifest()
    baseline_task = manifest.identity.get("task")
    if baseline_task is not None and baseline_task != task:
        raise RunStoreError(f"--baseline-run {path} is a {baseline_task} run, this is {task}")
    records = tuple(store.load_records())
    if not records:  # its one line is torn: nothing to compare with
        raise RunStoreError(f"--baseline-run {path}: no complete record in records.jsonl")
    return records


async def _execute(
    plan: EvalPlan,
    endpoints: Mapping[str, Endpoint],
    store: RunStore,
    done: list[Record],
    replicas: list[ReplicaSetReport],
    manifest: Manifest,
) -> list[Record]:
    """Run the plan's items; ``replicas`` receives what each replica did (also when the run
    stops); the pipeline's setup (:meth:`Pipeline.prepare`) goes into ``manifest``, written
    before the first item."""
    from hawkeye_bench.grading.workers import Grader  # math-verify and sympy: slow to import

    watch = HealthWatch(servers=running_servers, max_consecutive=plan.max_consecutive_failures)
    items = plan_items(plan.problems, plan.samples, (r.key for r in done))
    # one pooled client per distinct endpoint setting (roles sharing a server share it)
    async with contextlib.AsyncExitStack() as stack:
        pool = await stack.enter_async_context(ClientPool(endpoints, concurrency=plan.concurrency))
        stack.callback(lambda: replicas.extend(pool.replica_reports()))
        await pool.check()
        options = {"options": plan.pipeline_options} if plan.pipeline_options else {}
        pipeline = plan.pipeline(plan.preset, pool, stage2_input=plan.stage2_input, **options)
        pipeline.attach_folders(plan.out, plan.cache_dir or plan.out)
        stack.callback(pipeline.close)
        previous = manifest.pipeline_setup if done else None
        setup = await pipeline.prepare([p.question for p in plan.problems], previous)
        manifest.pipeline_setup = setup
        if setup is not None:
            store.write_manifest(manifest)
        grader = stack.enter_context(Grader())
        records = list(done)
        bar = tqdm(
            total=len(items) + len(done),
            initial=len(done),
            desc=f"{plan.pipeline.name} on {plan.task}",
            unit="item",
            disable=not plan.progress,
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
                concurrency=plan.concurrency,
                base_seed=plan.seed,
                on_record=lambda record: keep(watch.admit(record)),
                monitor=watch.poll,
            )
            keep(watch.release())
        finally:
            bar.close()
            store.close()
    return records


def run_eval(plan: EvalPlan) -> int:
    """Run the plan into its folder; the exit code (0, 1 over --max-error-rate, 3 stopped by
    an outage, 130 interrupted). User errors raise HawkeyeError after recording themselves."""
    store, done = prepare_store(plan)
    before = store.read_manifest() if done else None
    manifest = Manifest(
        pipeline_setup=before.pipeline_setup if before else None,
        identity=plan.identity(),
        config=plan.recorded(plan.endpoints),
        started_at=now_iso(),
        status="running",
        writer=process_marker(),
        resumed_from=len(done) if done else None,
        environment=environment(),
    )
    status, exit_code = "failed", 2
    out = plan.out
    replicas: list[ReplicaSetReport] = []  # per replica set: what each replica did
    try:
        with endpoints_or_local(dict(plan.endpoints), plan.pipeline.roles) as endpoints:
            manifest.config = plan.recorded(endpoints)
            manifest.endpoints = {role: e.to_dict() for role, e in endpoints.items()}
            manifest.preset = plan.preset.to_dict()
            manifest.dataset = dict(plan.dataset)
            store.write_manifest(manifest)
            records = asyncio.run(_execute(plan, endpoints, store, done, replicas, manifest))
            status, exit_code = "complete", 0
    except KeyboardInterrupt:
        status, exit_code = "interrupted", 130
        records = store.load_records()
        print(f"\ninterrupted: {len(records)} records are saved in {out}; "
              "finish with the same command plus --resume", file=sys.stderr)  # fmt: skip
    except RunStopped as exc:
        status, exit_code = "stopped", 3
        manifest.error = str(exc)
        records = store.load_records()
        print(f"error: {exc}\nrun stopped: {len(records)} records are saved in {out}; once "
              "fixed, finish with the same command plus --resume", file=sys.stderr)  # fmt: skip
    except HawkeyeError as exc:  # printed by the CLI; the manifest records it as well
        manifest.error = str(exc)
        raise
    finally:
        manifest.ended_at = now_iso()
        manifest.status = status
        manifest.replicas = replicas or None
        manifest.writer = None
        if store.manifest_path.exists() or status == "failed":
            store.write_manifest(manifest)
    summary = summarize(
        records, baseline=plan.baseline, replicas=replicas, margin_pp=plan.margin_pp
    )
    summary.run, summary.pipeline, summary.task = str(out), plan.pipeline.name, plan.task
    summary.status = status
    # no prices given: no cost key
    summary.cost = summary_cost(records, manifest.to_json(), plan.pipeline.name)
    store.write_summary(summary)
    print(format_summary(summary))
    if exit_code:
        return exit_code
    if summary.errors.share > plan.max_error_rate:
        print(f"error: {summary.errors.share:.1%} of items failed "
              f"(--max-error-rate {plan.max_error_rate:.1%})", file=sys.stderr)  # fmt: skip
        return 1
    return 0
