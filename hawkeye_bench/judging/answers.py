"""The answers to judge: ``records.jsonl`` of each run folder, matched across runs.

Answers are matched by (problem id, sample) so statistics can be paired. Records that failed
(``error`` set) are skipped and counted: an answer that never arrived is not rated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hawkeye_bench.core.record import Record
from hawkeye_bench.eval.store import RunStore, RunStoreError

AnswerKey = tuple[str, int]


@dataclass(frozen=True)
class Answer:
    run: str
    id: str
    sample: int
    question: str
    gold: str
    text: str  # the judged text: the final answer with thinking removed
    reasoning: str  # what the pipeline wrote before that answer (shown only with --show-cot)


@dataclass
class RunAnswers:
    label: str
    path: Path
    answers: dict[AnswerKey, Answer] = field(default_factory=dict)
    records: int = 0
    skipped_errors: int = 0
    models: set[str] = field(default_factory=set)  # models that produced the answers


def reasoning_text(record: Record) -> str:
    """Everything the pipeline produced before its final answer.

    Earlier stages (Hawkeye's reasoner) count whole, since their output is the CoT handed on;
    the last stage contributes only its thinking.
    """
    parts = []
    stages = record.trace.stages
    for stage in stages[:-1]:
        parts.append("\n".join(p for p in (stage.reasoning, stage.content) if p.strip()))
    if stages:
        parts.append(stages[-1].thinking)
    return "\n\n".join(p.strip() for p in parts if p.strip())


def load_run(path: Path, label: str) -> RunAnswers:
    """Read one run folder (or its records.jsonl) through the run store."""
    folder = path.parent if path.name == RunStore.RECORDS else path
    store = RunStore(folder)
    if not store.records_path.is_file():
        raise RunStoreError(
            f"no {RunStore.RECORDS} in {folder} (give a run folder written by `hawkeye-bench eval`)"
        )
    run = RunAnswers(label=label, path=store.records_path)
    for record in store.load_records():
        run.records += 1
        run.models.update(stage.model for stage in record.trace.stages if stage.model)
        if record.error:
            run.skipped_errors += 1
            continue
        run.answers[record.key] = Answer(
            run=label,
            id=record.problem.id,
            sample=record.sample,
            question=record.problem.question,
            gold=record.problem.gold,
            text=record.trace.final_text,
            reasoning=reasoning_text(record),
        )
    return run


def run_labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, made unique with their parent when two runs share a name."""
    folders = [p.parent if p.name == RunStore.RECORDS else p for p in paths]
    names = [f.resolve().name for f in folders]
    if len(set(names)) == len(names):
        return names
    return [str(f) for f in folders]


def load_runs(paths: Sequence[Path]) -> list[RunAnswers]:
    return [load_run(p, label) for p, label in zip(paths, run_labels(paths), strict=True)]
