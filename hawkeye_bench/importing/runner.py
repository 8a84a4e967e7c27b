"""One import: files of outputs -> an ordinary run folder (records.jsonl, manifest.json,
summary.json), graded and counted as a live run is.

Two passes over the files, both streamed. The first reads every line, matches every row and
loads the tokenizer, so bad input (a malformed line, a mapping naming a missing field, a file
with no usable row, a tokenizer that does not load) is a one-line error before anything is
written. The second builds the records in batches: token counts the file lacks, grading on the
grader's worker processes, one flushed line per record. An interrupted import keeps what it
wrote; ``--resume`` checks the files are the same (sha256) and imports only what is missing.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hawkeye_bench import pipelines
from hawkeye_bench.core.jsonl import rewrite_jsonl
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import Trace
from hawkeye_bench.eval.engine import answer_context, graded_text, keep_grade
from hawkeye_bench.eval.manifest import environment, now_iso
from hawkeye_bench.eval.runner import _identity_differences
from hawkeye_bench.eval.store import RunStore, RunStoreError, process_marker
from hawkeye_bench.eval.summary import summarize
from hawkeye_bench.eval.summary_table import format_summary
from hawkeye_bench.importing.agreement import DISAGREEMENTS_FILE, agreement, disagreement_rows
from hawkeye_bench.importing.formats import (
    FormatOptions,
    InputFormat,
    RowReader,
    detect_format,
    get_format,
)
from hawkeye_bench.importing.mapping import FieldMap
from hawkeye_bench.importing.matching import (
    NAMED_PER_REASON,
    Match,
    MatchBy,
    Matcher,
    Skip,
    gold_differs,
    skipped_summary,
)
from hawkeye_bench.importing.reading import FileValues, MalformedLine
from hawkeye_bench.importing.rows import ImportedRow, ImportInputError, PassedLine, RowError
from hawkeye_bench.importing.tokens import (
    TextCounter,
    TokenizerChoice,
    count_missing,
    load_counter,
    stage_result,
)

SKIPPED_FILE = "import_skipped.jsonl"
#: Records built, counted and graded at a time.
BATCH = 512


@dataclass(frozen=True)
class ImportPlan:
    """Everything one import is, resolved once from the command line."""

    files: tuple[Path, ...]
    format: str  # "auto" or a registered format's name
    task: str
    problems: tuple[Problem, ...]
    dataset: Mapping[str, Any]  # the dataset's fingerprint
    out: Path
    pipeline: str | None = None  # None: the pipeline whose roles the rows have
    mapping: FieldMap | None = None
    match: MatchBy = "auto"
    tokenizer: TokenizerChoice | None = None
    model: str = ""
    lm_eval_filter: str | None = None
    role: str = "single"
    skip_bad_lines: bool = False
    resume: bool = False
    baseline: tuple[Record, ...] | None = None
    progress: bool = True
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SourceFile:
    """One input file as the first pass found it."""

    path: Path
    format: InputFormat
    sha256: str = ""
    bytes: int = 0
    layout: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path.resolve()),
            "name": self.path.name,
            "format": self.format.name,
            "layout": self.layout,
            "sha256": self.sha256,
            "bytes": self.bytes,
        }


@dataclass
class Scan:
    """What the first pass found: per row (file order) its match or None, and the skips."""

    files: list[SourceFile]
    matches: list[Match | None] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    roles: tuple[str, ...] = ()
    models: dict[str, str] = field(default_factory=dict)
    gold_differs: list[str] = field(default_factory=list)
    matched_by: Counter[str] = field(default_factory=Counter)

    @property
    def usable(self) -> int:
        return sum(1 for m in self.matches if m is not None)


class _Reading:
    """Streams the rows of every file (both passes), turning unreadable lines into skips."""

    def __init__(self, plan: ImportPlan, files: Sequence[SourceFile] | None = None) -> None:
        self.plan = plan
        self.known = files
        self.files: list[SourceFile] = []
        self.skips: list[Skip] = []
        self.options = FormatOptions(
            mapping=plan.mapping,
            role=plan.role,
            model=plan.model,
            lm_eval_filter=plan.lm_eval_filter,
        )

    def rows(self) -> Iterator[ImportedRow]:
        for index, path in enumerate(self.plan.files):
            yield from self._file_rows(index, path)

    def _file_rows(self, index: int, path: Path) -> Iterator[ImportedRow]:
        values = FileValues(path, skip_bad=self.plan.skip_bad_lines)
        source: SourceFile | None = self.known[index] if self.known else None
        reader: RowReader | None = None
        read = 0
        try:
            for line, value in values:
                if source is None:
                    source = SourceFile(path, self._format_of(value, path))
                if reader is None:
                    reader = self._reader(source.format, path)
                read += 1
                try:
                    rows = reader(line, value)
                except PassedLine as exc:
                    self.skips.append(Skip(path.name, line, exc.reason, str(exc)))
                    continue
                except RowError as exc:
                    if not self.plan.skip_bad_lines or read == 1:  # a mapping's error
                        raise ImportInputError(f"{path}:{line}: {exc}") from exc
                    self.skips.append(Skip(path.name, line, "unreadable line", str(exc)))
                    continue
                yield from rows
        except MalformedLine as exc:
            hint = (
                " (--skip-bad-lines skips such lines in JSON Lines)"
                if values.layout == "jsonl"
                else ""
            )
            raise ImportInputError(f"{path}:{exc.line}: {exc.reason}{hint}") from exc
        except OSError as exc:
            raise ImportInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        for line in values.bad_lines:
            self.skips.append(Skip(path.name, line, "malformed line", "not JSON"))
        if source is None:
            if values.bad_lines:  # --skip-bad-lines skipped every line: not an empty file
                raise ImportInputError(
                    f"{path}: every one of its {len(values.bad_lines)} lines is malformed JSON "
                    f"(the first: line {values.bad_lines[0]}); nothing to import"
                )
            raise ImportInputError(f"{path}: no rows (an empty file)")
        if self.known and (source.sha256, source.bytes) != (values.sha256, values.size):
            raise ImportInputError(f"{path} changed while it was imported; import it again")
        source.sha256, source.bytes, source.layout = values.sha256, values.size, values.layout
        self.files.append(source)

    def _format_of(self, first: Any, path: Path) -> InputFormat:
        if self.plan.format != "auto":
            return get_format(self.plan.format)
        return detect_format(first, str(path))

    def _reader(self, spec: InputFormat, path: Path) -> RowReader:
        if spec.needs_mapping and self.plan.mapping is None:
            raise ImportInputError(
                f"{path}: the {spec.name} format needs --map (e.g. --map "
                "id=idx,question=problem,text=model_output,gold=answer)"
            )
        return spec.reader(self.options)


def scan(plan: ImportPlan) -> Scan:
    """The first pass: read and match every row; raise on bad input before anything exists."""
    reading = _Reading(plan)
    matcher = Matcher(plan.problems, plan.task, plan.match)
    result = Scan(files=reading.files)
    roles: set[tuple[str, ...]] = set()
    for row in reading.rows():
        roles.add(tuple(s.role for s in row.stages))
        for stage in row.stages:
            result.models.setdefault(stage.role, stage.model)
        found = matcher.match(row)
        if isinstance(found, str):
            reason = "duplicate" if found.startswith("duplicate") else "unmatched"
            file = _file_of(reading, row)
            reading.skips.append(Skip(file, row.line, reason, found))
            result.matches.append(None)
            continue
        if gold_differs(row.file_gold, found.problem):
            result.gold_differs.append(
                f"{_file_of(reading, row)}:{row.line}: file gold {row.file_gold!r:.60} vs "
                f"{found.problem.id} gold {found.problem.gold!r}"
            )
        result.matches.append(found)
    result.skips = reading.skips
    result.matched_by = matcher.methods
    if len(roles) > 1:
        raise ImportInputError(f"rows have different stages: {sorted(roles)}; import them apart")
    result.roles = next(iter(roles), ())
    if not result.usable:
        skipped = skipped_summary(result.skips)
        detail = "; ".join(
            f"{reason} {item['count']} (first: {item['first'][0]})"
            for reason, item in skipped.items()
        )
        names = ", ".join(str(p) for p in plan.files)
        raise ImportInputError(f"no usable row in {names}: {detail or 'no rows'}")
    return result


def _file_of(reading: _Reading, row: ImportedRow) -> str:
    """The name of the file being read (rows are yielded while their file is open)."""
    return reading.plan.files[len(reading.files)].name


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
    dataset = dict(plan.dataset)
    if dataset.get("source") == "mirror":
        dataset["files"] = [{k: v for k, v in f.items() if k != "path"} for f in dataset["files"]]
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
        "dataset": dataset,
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
    differences = _identity_differences((store.read_manifest() or {}).get("identity") or {}, wanted)
    if differences:
        raise RunStoreError(
            f"cannot resume {plan.out} with other inputs ({'; '.join(differences)}); use the "
            "same files and options, or another --out"
        )
    store.ensure_writable()
    return store, store.load_records(repair=True)


def build_record(
    row: ImportedRow, match: Match, pipeline: type[pipelines.Pipeline], where: str
) -> Record:
    order = list(pipeline.roles)
    stages = [stage_result(s) for s in sorted(row.stages, key=lambda s: order.index(s.role))]
    if all(s.latency_s is not None for s in stages):  # stages ran one after another
        start = 0.0
        for stage in stages:
            stage.started_at = start
            start += stage.latency_s or 0.0
    trace = Trace(pipeline=pipeline.name, stages=stages)
    if trace.ok:
        trace.final_text = stages[-1].answer
    info: dict[str, Any] = {"where": where, "matched_by": match.how}
    if row.verdict is not None:
        info["verdict"] = row.verdict
    if row.file_gold is not None:
        info["file_gold"] = row.file_gold
    info.update(row.extra)
    return Record(problem=match.problem, sample=match.sample, trace=trace, extra={"import": info})


def _grade(records: Sequence[Record], grader: Any) -> None:
    graded = [r for r in records if r.trace.ok]
    tasks = [
        (
            graded_text(r.trace),
            r.problem.gold,
            r.problem.dataset,
            answer_context(r.problem, r.trace),
        )
        for r in graded
    ]
    for record, grade in zip(graded, grader.grade_many(tasks), strict=True):
        keep_grade(record, grade)


class _BatchWriter:
    """Grades a batch on the grader's worker processes while the previous batch is written, so
    the grading and the writing of records overlap; records are written in file order, each
    once its batch is graded."""

    def __init__(
        self,
        grader: Any,
        counter: TextCounter | None,
        store: RunStore,
        on_written: Callable[[list[Record]], None],
    ) -> None:
        self.grader = grader
        self.counter = counter
        self.store = store
        self.on_written = on_written
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="import-grading")
        self._pending: tuple[list[Record], Future[None]] | None = None

    def submit(self, batch: list[Record]) -> None:
        count_missing([s for r in batch for s in r.trace.stages], self.counter)
        graded = self._executor.submit(_grade, batch, self.grader)
        self._write_pending()
        self._pending = (batch, graded)

    def _write_pending(self) -> None:
        if self._pending is None:
            return
        batch, graded = self._pending
        self._pending = None
        graded.result()
        for record in batch:
            self.store.append(record)
        self.on_written(batch)

    def finish(self) -> None:
        self._write_pending()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def write_records(
    plan: ImportPlan,
    found: Scan,
    pipeline: type[pipelines.Pipeline],
    store: RunStore,
    done: list[Record],
    counter: TextCounter | None,
) -> list[Record]:
    """The second pass: build, count, grade and append every record not already done."""
    from hawkeye_bench.grading.workers import Grader  # math-verify and sympy: slow to import

    finished = {r.key for r in done}
    reading = _Reading(plan, found.files)
    records = list(done)
    bar = tqdm(
        total=found.usable,
        initial=len(done),
        desc=f"import {pipeline.name} on {plan.task}",
        unit="answer",
        disable=not plan.progress,
        file=sys.stderr,
    )

    def written(batch: list[Record]) -> None:
        records.extend(batch)
        bar.update(len(batch))

    matches = iter(found.matches)
    batch: list[Record] = []
    try:
        with Grader() as grader:
            writer = _BatchWriter(grader, counter, store, written)
            try:
                for row in reading.rows():
                    match = next(matches)
                    if match is None or (match.problem.id, match.sample) in finished:
                        continue
                    where = f"{_file_of(reading, row)}:{row.line}"
                    batch.append(build_record(row, match, pipeline, where))
                    if len(batch) >= BATCH:
                        writer.submit(batch)
                        batch = []
                writer.submit(batch)
                writer.finish()
            finally:
                writer.close()
    finally:
        bar.close()
        store.close()
    return records


def token_counts(records: Sequence[Record], plan: ImportPlan) -> dict[str, Any]:
    """Where the stages' counts came from, and how many are missing, said plainly."""
    stages = [s for r in records for s in r.trace.stages if s.ok]
    sources = Counter(s.token_source or "missing" for s in stages)
    missing = sources.get("missing", 0)
    result: dict[str, Any] = {"sources": dict(sources), "missing": missing}
    if plan.tokenizer is not None:
        result["tokenizer"] = plan.tokenizer.to_dict()
    if missing:
        result["note"] = (
            f"{missing} of {len(stages)} stage(s) have no token count: the file records none "
            "(usage or token ids); give --tokenizer (tokenizer.json or GGUF) or --tokenize-url"
        )
    return result


def import_summary(
    plan: ImportPlan, found: Scan, records: Sequence[Record], skipped_path: Path
) -> dict[str, Any]:
    return {
        "files": [f.to_dict() for f in found.files],
        "rows": len(found.matches),
        "records": len(records),
        "matched_by": dict(found.matched_by),
        "skipped": skipped_summary(found.skips),
        "skipped_file": skipped_path.name if found.skips else None,
        "gold_differs": {
            "count": len(found.gold_differs),
            "first": found.gold_differs[:NAMED_PER_REASON],
        },
        "token_counts": token_counts(records, plan),
    }


def verdict_source(found: Scan) -> str | None:
    return next((f.format.verdict_source for f in found.files if f.format.verdict_source), None)


def format_import(summary: dict[str, Any]) -> str:
    """The import's lines under the usual console summary."""
    info = summary["import"]
    lines = [f"import         {info['rows']} rows -> {info['records']} records"]
    for reason, item in info["skipped"].items():
        lines.append(f"  skipped      {item['count']} {reason} (first: {item['first'][0]})")
    if info["gold_differs"]["count"]:
        lines.append(f"  gold differs {info['gold_differs']['count']} (the file's gold answer)")
    if info["token_counts"].get("note"):
        lines.append(f"  tokens       {info['token_counts']['note']}")
    agreed = summary.get("agreement")
    if agreed:
        lines.append(
            f"agreement      {agreed['agreement_rate']:.1%} with the file's verdicts over "
            f"{agreed['n']}: file {agreed['file_accuracy']:.1%}, harness "
            f"{agreed['harness_accuracy']:.1%}; {agreed['disagreeing']} disagreeing in "
            f"{DISAGREEMENTS_FILE}"
        )
    return "\n".join(lines)


def run_import(plan: ImportPlan) -> int:
    """Import the plan's files into its run folder; the exit code (0, or 130 interrupted)."""
    counter = load_counter(plan.tokenizer)
    found = scan(plan)
    pipeline = pipeline_for(found.roles, plan.pipeline)
    wanted = identity(plan, found, pipeline)
    store, done = open_store(plan, wanted)
    manifest: dict[str, Any] = {
        "kind": "hawkeye-bench-run",
        "identity": wanted,
        "config": dict(plan.settings),
        "started_at": now_iso(),
        "status": "running",
        "writer": process_marker(),
        "resumed_from": len(done) if done else None,
        "import": {
            "files": [f.to_dict() for f in found.files],
            "mapping": wanted["mapping"],
            "match": plan.match,
            "verdict_source": verdict_source(found),
        },
        "endpoints": {
            role: {"model": model, "base_url": ""} for role, model in found.models.items()
        },
        "dataset": dict(plan.dataset),
        **environment(),
    }
    store.write_manifest(manifest)
    skipped_path = plan.out / SKIPPED_FILE
    if found.skips:
        rewrite_jsonl(skipped_path, (s.to_dict() for s in found.skips))
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
        manifest["ended_at"] = now_iso()
        manifest["status"] = status
        manifest.pop("writer", None)
        store.write_manifest(manifest)
    summary = summarize(records, baseline=plan.baseline)
    summary.update(run=str(plan.out), pipeline=pipeline.name, task=plan.task, status=status)
    summary["import"] = import_summary(plan, found, records, skipped_path)
    agreed = agreement(records)
    if agreed is not None:
        summary["agreement"] = {**agreed.to_dict(), "verdict_source": verdict_source(found)}
        rewrite_jsonl(plan.out / DISAGREEMENTS_FILE, disagreement_rows(agreed))
    store.write_summary(summary)
    print(format_summary(summary))
    print(format_import(summary))
    return exit_code
