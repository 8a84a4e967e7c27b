"""One import: files of outputs -> an ordinary run folder (records.jsonl, manifest.json,
summary.json), graded and counted as a live run is.

Two passes over the files, both streamed. The first reads every line, matches every row and
loads the tokenizer, so bad input (a malformed line, a mapping naming a missing field, a file
with no usable row, a tokenizer that does not load) is a one-line error before anything is
written. The second builds the records in batches: token counts the file lacks, grading on the
grader's worker processes, one flushed line per record. An interrupted import keeps what it
wrote; ``--resume`` checks the files are the same (sha256) and imports only what is missing.

The passes are ``scan`` and ``writing``; ``provenance`` is what a record keeps of its row,
``import_summary`` what the summary says of the import. Here: the pipeline, the identity a
resume must match, the manifest, and the run from end to end.
"""

from __future__ import annotations

import sys
from typing import Any

from hawkeye_bench import pipelines
from hawkeye_bench.core.jsonl import rewrite_jsonl
from hawkeye_bench.core.record import Record
from hawkeye_bench.eval.manifest import Manifest, RecordedPlan, RoleEndpoint, environment, now_iso
from hawkeye_bench.eval.runner import _identity_differences
from hawkeye_bench.eval.store import RunStore, RunStoreError, process_marker
from hawkeye_bench.eval.summary import summarize
from hawkeye_bench.eval.summary_table import format_summary
from hawkeye_bench.importing.agreement import DISAGREEMENTS_FILE, agreement, disagreement_rows
from hawkeye_bench.importing.import_summary import ImportSummary, format_import, verdict_source
from hawkeye_bench.importing.plan import ImportPlan
from hawkeye_bench.importing.rows import ImportInputError
from hawkeye_bench.importing.scan import Scan, scan
from hawkeye_bench.importing.tokens import load_counter
from hawkeye_bench.importing.writing import write_records

SKIPPED_FILE = "import_skipped.jsonl"


def pipeline_for(roles: tuple[str, ...], asked: str | None) -> type[pipelines.Pipeline]:
    """The pipeline whose roles are the rows' stages (``asked``, or the first that fits)."""
    if asked is not None:
        cls = pipelines.get_pipeline(asked)
        if sorted(cls.roles) != sorted(roles):
            raise ImportInputError(
                f"--pipeline {asked} has roles {', '.join(cls.roles)}; the rows have "
                f"{', '.join(roles)}"
            )
        return cls
    for cls in pipelines.registered().values():
        if sorted(cls.roles) == sorted(roles):
            return cls
    raise ImportInputError(
        f"no pipeline has the roles {', '.join(roles)}; name one with --pipeline"
    )


def identity(plan: ImportPlan, found: Scan, pipeline: type[pipelines.Pipeline]) -> dict[str, Any]:
    """What a resumed import must match: the files' bytes and everything that reads them."""
    return {
        "source": "import",
        "task": plan.task,
        "pipeline": pipeline.name,
        "files": [{"sha256": f.sha256, "format": f.format.name} for f in found.files],
        "mapping": plan.mapping.to_dict() if plan.mapping else None,
        "match": plan.match,
        "tokenizer": plan.tokenizer.to_dict() if plan.tokenizer else None,
        "lm_eval_filter": plan.lm_eval_filter,
        "limit": None,
        "samples": max((m.sample + 1 for m in found.matches if m), default=0),
        "dataset": plan.dataset.identity_json(),
    }


def open_store(plan: ImportPlan, wanted: dict[str, Any]) -> tuple[RunStore, list[Record]]:
    """The run folder and the records a resume keeps (as eval's resume rules)."""
    store = RunStore(plan.out)
    if plan.resume and not store.is_run():
        raise RunStoreError(f"--resume: {plan.out} holds no run; leave out --resume to start one")
    if not store.has_records():
        store.ensure_writable()
        return store, []
    if not plan.resume:
        raise RunStoreError(
            f"{plan.out} already holds a run: add --resume to finish it, or pick --out"
        )
    manifest = store.read_manifest()
    differences = _identity_differences(manifest.identity if manifest else {}, wanted)
    if differences:
        raise RunStoreError(
            f"cannot resume {plan.out} with other inputs ({'; '.join(differences)}); use the "
            "same files and options, or another --out"
        )
    store.ensure_writable()
    return store, store.load_records(repair=True)


def run_import(plan: ImportPlan) -> int:
    """Import the plan's files into its run folder; the exit code (0, or 130 interrupted)."""
    counter = load_counter(plan.tokenizer)
    found = scan(plan)
    pipeline = pipeline_for(found.roles, plan.pipeline)
    wanted = identity(plan, found, pipeline)
    store, done = open_store(plan, wanted)
    manifest = Manifest(
        identity=wanted,
        config=RecordedPlan(
            task=plan.task,
            pipeline=pipeline.name,
            samples=wanted["samples"],
            roles={r: RoleEndpoint(model=m, base_url="") for r, m in found.models.items()},
            resume=plan.resume,
        ),
        started_at=now_iso(),
        status="running",
        writer=process_marker(),
        resumed_from=len(done) if done else None,
        import_={
            "files": [f.facts().to_json() for f in found.files],
            "mapping": wanted["mapping"],
            "match": plan.match,
            "verdict_source": verdict_source(found),
        },
        endpoints={role: {"model": model, "base_url": ""} for role, model in found.models.items()},
        dataset=plan.dataset.to_json(),
        environment=environment(),
    )
    store.write_manifest(manifest)
    skipped_path = plan.out / SKIPPED_FILE
    if found.skips:
        rewrite_jsonl(skipped_path, (s.to_json() for s in found.skips))
    status, exit_code = "failed", 2
    try:
        records = write_records(plan, found, pipeline, store, done, counter)
        status, exit_code = "complete", 0
    except KeyboardInterrupt:
        status, exit_code = "interrupted", 130
        records = store.load_records()
        print(f"\ninterrupted: {len(records)} records are saved in {plan.out}; finish with "
              "the same command plus --resume", file=sys.stderr)  # fmt: skip
    finally:
        manifest.ended_at = now_iso()
        manifest.status = status
        manifest.writer = None
        store.write_manifest(manifest)
    summary = summarize(records, baseline=plan.baseline)
    summary.run, summary.pipeline, summary.task = str(plan.out), pipeline.name, plan.task
    summary.status = status
    info = ImportSummary.of(found, records, skipped_path, plan.tokenizer)
    summary.import_ = info.to_json()
    agreed = agreement(records)
    if agreed is not None:
        summary.agreement = {**agreed.to_dict(), "verdict_source": verdict_source(found)}
        rewrite_jsonl(plan.out / DISAGREEMENTS_FILE, disagreement_rows(agreed))
    store.write_summary(summary)
    print(format_summary(summary))
    print(format_import(info, agreed))
    return exit_code


__all__ = ["SKIPPED_FILE", "ImportPlan", "pipeline_for", "run_import"]
