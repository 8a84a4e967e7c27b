"""lm-eval documents for the hawkeye_* tasks, read through :mod:`hawkeye_bench.datasets.loaders`.

lm-eval calls a task's ``custom_dataset`` as ``fn(**metadata, **dataset_kwargs)``, and its
metadata holds every ``--model_args`` key, so :func:`load_split` accepts any
keyword and uses only ``benchmark``/``subjects`` (from the task YAML's ``dataset_kwargs``),
``data_dir`` (``--metadata data_dir=...``; else ``$HAWKEYE_DATA_DIR``; else the hub) and
``preset`` (which preset's single-model prompt becomes the document's ``prompt``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from hawkeye_bench import datasets as benchmarks
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.pipelines import single_model_role
from hawkeye_bench.presets import load_preset

if TYPE_CHECKING:
    import datasets

#: The split name the task YAMLs use as ``test_split``.
SPLIT = "test"
#: Document fields a hawkeye_* task provides (the hawkeye model reads these from Instance.doc).
DOC_FIELDS = ("id", "dataset", "question", "gold", "subject", "level", "prompt", "metadata")


class TaskDocJson(TypedDict):
    """A hawkeye_* document in the task's dataset (:data:`DOC_FIELDS`)."""

    id: str
    dataset: str
    question: str
    gold: str
    subject: str
    level: Any
    prompt: str
    #: the problem's metadata as JSON text
    metadata: str


@dataclass(frozen=True)
class TaskDoc:
    """One document of a hawkeye_* task as its dataset holds it: the problem, the preset's
    single-model prompt, and the metadata as JSON text (keys differ between benchmarks, and
    Arrow needs one schema)."""

    id: str
    dataset: str
    question: str
    gold: str
    prompt: str = ""
    subject: str = ""
    level: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_problem(cls, problem: Problem, prompt: str) -> TaskDoc:
        metadata = problem.metadata
        return cls(
            id=problem.id,
            dataset=problem.dataset,
            question=problem.question,
            gold=problem.gold,
            prompt=prompt,
            subject=str(metadata.get("subject") or ""),
            level=metadata.get("level"),
            metadata=dict(metadata),
        )

    def problem(self) -> Problem:
        return Problem(
            id=self.id,
            dataset=self.dataset,
            question=self.question,
            gold=self.gold,
            metadata=dict(self.metadata),
        )

    def to_json(self) -> TaskDocJson:
        """The document's fields (:data:`DOC_FIELDS`), metadata as JSON text."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "question": self.question,
            "gold": self.gold,
            "subject": self.subject,
            "level": self.level,
            "prompt": self.prompt,
            "metadata": json.dumps(self.metadata, sort_keys=True, default=str),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TaskDoc | None:
        """The document as lm-eval hands it back; None for a document of any other task."""
        if not all(key in doc for key in ("id", "dataset", "question", "gold")):
            return None
        raw = doc.get("metadata")
        return cls(
            id=str(doc["id"]),
            dataset=str(doc["dataset"]),
            question=str(doc["question"]),
            gold=str(doc["gold"]),
            prompt=str(doc.get("prompt") or ""),
            subject=str(doc.get("subject") or ""),
            level=doc.get("level"),
            metadata=json.loads(raw) if isinstance(raw, str) and raw else {},
        )


def doc_to_problem(doc: dict[str, Any]) -> Problem | None:
    """The Problem behind a hawkeye_* document; None for a document from any other task."""
    task_doc = TaskDoc.from_json(doc)
    return task_doc.problem() if task_doc is not None else None


def load_split(
    benchmark: str,
    subjects: list[str] | None = None,
    data_dir: str | None = None,
    preset: str = "default",
    **_model_args: Any,
) -> dict[str, datasets.Dataset]:
    """``custom_dataset`` for every hawkeye_* task: ``{"test": datasets.Dataset}``.

    The prompt is the preset's single-model template, what a foreign lm-eval model (e.g.
    ``local-chat-completions``) is sent; the hawkeye model renders its own prompts per stage.
    """
    import datasets as hf_datasets

    loaded = load_preset(str(preset))
    role = single_model_role()
    template = loaded.stage(role) if role in loaded.stages else next(iter(loaded.stages.values()))
    problems = benchmarks.load_problems(benchmark, data_dir=data_dir, subjects=subjects)
    if not problems:
        wanted = f" with subjects {subjects}" if subjects else ""
        raise benchmarks.DatasetError(f"dataset {benchmark!r}{wanted} has no problems")
    docs = [TaskDoc.from_problem(p, template.render(p.question)).to_json() for p in problems]
    return {SPLIT: hf_datasets.Dataset.from_list(docs)}
