"""Discover and read report inputs. Each kind of folder is recognised by the files it contains.

Nothing is re-run: the report reads what ``eval``, ``lm-eval``, ``load`` and ``judge`` wrote.
A folder that matches no kind, or a file that does not parse, is an error naming the path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.jsonl import read_jsonl
from hawkeye_bench.core.record import Record
from hawkeye_bench.eval.compress_sweep import SWEEP_FILE, CompressSweepFile, SweepRun
from hawkeye_bench.eval.manifest import Manifest
from hawkeye_bench.eval.route_sweep import SWEEP_FILE as ROUTE_SWEEP_FILE
from hawkeye_bench.eval.store import RunStore, RunStoreError, effective_status
from hawkeye_bench.eval.sweep_folder import SweepFileError
from hawkeye_bench.judging.summary_file import JudgeSummary
from hawkeye_bench.reporting.judgement_line import JudgementLine
from hawkeye_bench.reporting.lm_eval_form import LmEvalConfig, LmEvalMeta
from hawkeye_bench.reporting.trl_logs import (
    TRAINER_STATE,
    TrainingLog,
    is_training_log,
    read_training_log,
)


class ReportInputError(HawkeyeError):
    """An input folder is not usable: unknown kind, missing or corrupt file."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; a parse error names the file and position."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}: not valid JSON ({exc})") from exc
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def read_jsonl_objects(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    """JSON objects of a JSON Lines file; a malformed line is an error naming file:line, except
    a torn last line (a writer killed mid-line), which is left out with a note in ``notes``, as
    the command that wrote the file does when it goes on."""
    read = read_jsonl(path, error=ReportInputError)
    if read.torn:
        notes.append(torn_note(path, len(read.rows)))
    return read.rows


def torn_note(path: Path, rows: int) -> str:
    return (
        f"{path}: its last line is torn (the writer was stopped mid-line) and left out; "
        f"{rows} complete lines read"
    )


# --------------------------------------------------------------------------- eval runs


@dataclass
class EvalRun:
    """A run folder written by ``hawkeye-bench eval``."""

    path: Path
    manifest: Manifest | None  # None: the folder has no manifest.json
    records: list[Record]
    notes: list[str] = field(default_factory=list)
    #: torn last lines left out of records.jsonl (0 or 1)
    torn: int = 0

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def status(self) -> str | None:
        """The manifest's status (``interrupted`` for a dead writer), and ``incomplete`` for a
        run that says it is complete but whose last record is torn."""
        status = effective_status(self.manifest) if self.manifest else None
        if not self.torn:
            return status
        if status in (None, "complete"):
            return "incomplete (last record torn)"
        return f"{status} (last record torn)"

    @property
    def records_file(self) -> Path:
        return self.path / RunStore.RECORDS

    @property
    def manifest_file(self) -> Path:
        return self.path / RunStore.MANIFEST

    @property
    def identity(self) -> dict[str, Any]:
        return dict(self.manifest.identity) if self.manifest else {}

    @property
    def dataset(self) -> str:
        task = self.identity.get("task")
        if task:
            return str(task)
        return self.records[0].problem.dataset if self.records else "?"

    @property
    def pipeline(self) -> str:
        pipeline = self.identity.get("pipeline")
        if pipeline:
            return str(pipeline)
        return self.records[0].trace.pipeline if self.records else "?"

    @property
    def concurrency(self) -> int | None:
        return self.manifest.config.concurrency if self.manifest else None

    def models(self) -> dict[str, str]:
        """Role -> model name (from the manifest's endpoints, else from the records)."""
        models = self.manifest.models() if self.manifest else {}
        if not models:
            for record in self.records[:1]:
                models = {s.role: s.model for s in record.trace.stages}
        return models


def _is_eval_run(path: Path) -> bool:
    return (path / RunStore.RECORDS).is_file()


def read_eval_run(path: Path) -> EvalRun:
    store = RunStore(path)
    try:
        records = store.load_records()
    except RunStoreError as exc:
        raise ReportInputError(str(exc)) from exc
    if not records:
        raise ReportInputError(f"{store.records_path}: no records (an empty run)")
    manifest = (
        Manifest.from_json(read_json(store.manifest_path))
        if store.manifest_path.is_file()
        else None
    )
    notes = [torn_note(store.records_path, len(records))] if store.torn_dropped else []
    return EvalRun(path, manifest, records, notes=notes, torn=store.torn_dropped)


# --------------------------------------------------------------------------- lm-eval outputs


@dataclass
class LmEvalTask:
    """One task of an lm-eval output: its aggregate results and (if logged) its samples."""

    task: str
    results_file: Path
    results: dict[str, Any]  # results_*.json["results"][task]
    config: LmEvalConfig
    samples_file: Path | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class LmEvalOutput:
    """A folder written by ``lm_eval --output_path`` (results_*.json, samples_*.jsonl)."""

    path: Path
    tasks: list[LmEvalTask]
    meta: LmEvalMeta  # of the newest results file

    @property
    def notes(self) -> list[str]:
        return [note for task in self.tasks for note in task.notes]

    @property
    def label(self) -> str:
        return self.path.name


def _lm_eval_results_files(path: Path) -> list[Path]:
    # lm-eval writes <output_path>/<model_name_sanitized>/results_<date>.json
    return sorted([*path.glob("results_*.json"), *path.glob("*/results_*.json")])


def _is_lm_eval(path: Path) -> bool:
    return bool(_lm_eval_results_files(path))


def read_lm_eval(path: Path) -> LmEvalOutput:
    tasks: dict[str, LmEvalTask] = {}
    meta: LmEvalMeta = {}
    for results_file in _lm_eval_results_files(path):  # sorted by date: the newest wins
        data = read_json(results_file)
        if not isinstance(data.get("results"), dict):
            raise ReportInputError(f"{results_file}: no 'results' object (not an lm-eval file)")
        meta = {
            "lm_eval_version": data.get("lm_eval_version"),
            "date": data.get("date"),
            "model_name": data.get("model_name"),
            "git_hash": data.get("git_hash"),
        }
        date_id = results_file.stem.removeprefix("results_")
        for task, results in data["results"].items():
            samples_file = results_file.parent / f"samples_{task}_{date_id}.jsonl"
            notes: list[str] = []
            tasks[task] = LmEvalTask(
                task=task,
                results_file=results_file,
                results=dict(results),
                # lm-eval's object: each reader checks a value's kind before it uses it
                config=cast(LmEvalConfig, dict(data.get("config") or {})),
                samples_file=samples_file if samples_file.is_file() else None,
                samples=read_jsonl_objects(samples_file, notes) if samples_file.is_file() else [],
                notes=notes,
            )
    return LmEvalOutput(path=path, tasks=list(tasks.values()), meta=meta)


# --------------------------------------------------------------------------- load results

LOAD_RESULTS = "load_results.json"


@dataclass
class LoadResult:
    """A folder written by ``hawkeye-bench load``: load_results.json plus raw request files."""

    path: Path
    results: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: the folder's shortest path suffix no other load result given shares (set by
    #: :func:`read_inputs`; the folder name until then)
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.path.name

    @property
    def results_file(self) -> Path:
        return self.path / LOAD_RESULTS


def _is_load(path: Path) -> bool:
    return (path / LOAD_RESULTS).is_file()


def read_load(path: Path) -> LoadResult:
    return LoadResult(path=path, results=read_json(path / LOAD_RESULTS))


# --------------------------------------------------------------------------- judgements

JUDGEMENTS = "judgements.jsonl"
JUDGE_SUMMARY = "judge_summary.json"


@dataclass
class JudgeOutput:
    """A folder written by ``hawkeye-bench judge``: judgements.jsonl and judge_summary.json."""

    path: Path
    summary: dict[str, Any]
    judgements: list[JudgementLine]
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def summary_file(self) -> Path:
        return self.path / JUDGE_SUMMARY

    @cached_property
    def judge_summary(self) -> JudgeSummary:
        """``summary`` (the file's JSON) read through its type; a ReportInputError naming the
        file when a part of it has the wrong type."""
        try:
            return JudgeSummary.from_json(self.summary)
        except ValueError as exc:  # core.json_form's JsonFormError: one line naming the field
            raise ReportInputError(f"{self.summary_file}: {exc}") from None

    @property
    def judgements_file(self) -> Path:
        return self.path / JUDGEMENTS


def _is_judge(path: Path) -> bool:
    return (path / JUDGE_SUMMARY).is_file() or (path / JUDGEMENTS).is_file()


def read_judge(path: Path) -> JudgeOutput:
    summary_file, judgements_file = path / JUDGE_SUMMARY, path / JUDGEMENTS
    for needed in (summary_file, judgements_file):
        if not needed.is_file():
            raise ReportInputError(
                f"{path}: judgement folder without {needed.name} (both {JUDGE_SUMMARY} and "
                f"{JUDGEMENTS} are needed)"
            )
    notes: list[str] = []
    # the judge command's lines, read as written: judge_tables checks what it uses
    judgements = cast(list[JudgementLine], read_jsonl_objects(judgements_file, notes))
    return JudgeOutput(path, read_json(summary_file), judgements, notes=notes)


# --------------------------------------------------------------------------- compress sweeps


@dataclass
class CompressSweep:
    """A folder written by ``hawkeye-bench compress-sweep``: sweep.json and one eval run per
    (responder, method, kept share) under ``runs/``; a listed run not yet written is left out."""

    path: Path
    sweep: CompressSweepFile
    runs: list[tuple[SweepRun, EvalRun]]
    not_run: list[SweepRun] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def sweep_file(self) -> Path:
        return self.path / SWEEP_FILE

    @property
    def notes(self) -> list[str]:
        return [note for _, run in self.runs for note in run.notes]


def _is_compress_sweep(path: Path) -> bool:
    return (path / SWEEP_FILE).is_file()


def read_compress_sweep(path: Path) -> CompressSweep:
    try:
        sweep = CompressSweepFile.read(path)
    except SweepFileError as exc:
        raise ReportInputError(str(exc)) from None
    if sweep is None or sweep.kind != CompressSweepFile.KIND:
        raise ReportInputError(
            f"{path / SWEEP_FILE}: not a compress-sweep file (kind {CompressSweepFile.KIND})"
        )
    result = CompressSweep(path=path, sweep=sweep, runs=[])
    for run in sweep.runs:
        folder = path / run.path_in_sweep
        if RunStore(folder).has_records():
            result.runs.append((run, read_eval_run(folder)))
        else:
            result.not_run.append(run)
    return result


# --------------------------------------------------------------------------- discovery


#: What one input folder reads as.
InputItem = EvalRun | LmEvalOutput | LoadResult | JudgeOutput | CompressSweep | TrainingLog


@dataclass(frozen=True)
class InputKind:
    name: str
    marker: str  # what identifies the folder, for error messages
    matches: Callable[[Path], bool]
    read: Callable[[Path], InputItem]


KINDS: tuple[InputKind, ...] = (
    InputKind("compress sweep", SWEEP_FILE, _is_compress_sweep, read_compress_sweep),
    InputKind("eval run", "records.jsonl (+ manifest.json)", _is_eval_run, read_eval_run),
    InputKind("lm-eval output", "results_*.json (+ samples_*.jsonl)", _is_lm_eval, read_lm_eval),
    InputKind("load result", LOAD_RESULTS, _is_load, read_load),
    InputKind("judgements", f"{JUDGEMENTS} + {JUDGE_SUMMARY}", _is_judge, read_judge),
    InputKind(
        "TRL training log",
        f"{TRAINER_STATE} (or checkpoint-*/) or a CSV of GRPO metrics",
        is_training_log,
        read_training_log,
    ),
)


@dataclass
class Inputs:
    runs: list[EvalRun] = field(default_factory=list)
    lm_evals: list[LmEvalOutput] = field(default_factory=list)
    loads: list[LoadResult] = field(default_factory=list)
    judgements: list[JudgeOutput] = field(default_factory=list)
    sweeps: list[CompressSweep] = field(default_factory=list)
    trainings: list[TrainingLog] = field(default_factory=list)
    #: what the report must say about its inputs (torn last lines left out)
    notes: list[str] = field(default_factory=list)

    def add(self, item: InputItem) -> None:
        self.notes += item.notes
        if isinstance(item, CompressSweep):
            self.sweeps.append(item)
        elif isinstance(item, EvalRun):
            self.runs.append(item)
        elif isinstance(item, LmEvalOutput):
            self.lm_evals.append(item)
        elif isinstance(item, LoadResult):
            self.loads.append(item)
        elif isinstance(item, TrainingLog):
            self.trainings.append(item)
        else:
            self.judgements.append(item)


def detect_kind(path: Path) -> InputKind | None:
    return next((kind for kind in KINDS if kind.matches(path)), None)


def _kinds_help() -> str:
    return "; ".join(f"{k.name}: {k.marker}" for k in KINDS)


def _route_sweep_runs(path: Path) -> list[tuple[Path, InputKind]]:
    """The eval runs of a route-sweep folder (none when ``path`` is not one)."""
    if not (path / ROUTE_SWEEP_FILE).is_file():
        return []
    runs = path / "runs"
    children = sorted(runs.iterdir()) if runs.is_dir() else []
    return [(child, kind) for child in children if (kind := detect_kind(child)) is not None]


def _expand(path: Path) -> list[tuple[Path, InputKind]]:
    """The input folders at ``path``: itself if it is one, else its recognised subfolders."""
    if not path.exists():
        raise ReportInputError(f"{path}: no such folder")
    if not path.is_dir():
        raise ReportInputError(f"{path}: not a folder (give the folder the command wrote)")
    kind = detect_kind(path)
    if kind is not None:
        return [(path, kind)]
    found = _route_sweep_runs(path)
    if not found:
        for child in sorted(path.iterdir()):
            if child.is_dir():
                kind = detect_kind(child)
                found += [(child, kind)] if kind is not None else _route_sweep_runs(child)
    if not found:
        raise ReportInputError(
            f"{path}: not a recognised input folder, and none of its subfolders is one. "
            f"Recognised kinds (by the files they contain): {_kinds_help()}"
        )
    return found


def read_inputs(paths: Iterable[str | Path]) -> Inputs:
    """Read every input folder (a folder of input folders is expanded one level)."""
    inputs = Inputs()
    seen: set[Path] = set()
    for given in paths:
        for path, kind in _expand(Path(given)):
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            inputs.add(kind.read(path))
    for items in (inputs.loads, inputs.trainings):
        names = path_labels([item.path for item in items])
        for item in items:
            item.name = names[item.path]
    return inputs


def path_labels(paths: Sequence[Path]) -> dict[Path, str]:
    """Per folder, its shortest trailing path that no other folder of ``paths`` shares (the
    folder name where that is unique): two ``load`` folders become ``a/load`` and ``b/load``."""
    parts = {p: Path(p).resolve().parts for p in paths}
    labels: dict[Path, str] = {}
    for path, mine in parts.items():
        others = [o for p, o in parts.items() if p != path and o != mine]
        size = 1
        while size < len(mine) and any(o[-size:] == mine[-size:] for o in others):
            size += 1
        labels[path] = "/".join(mine[-size:])
    return labels
