"""The harness's verdicts against the file's own (the upstream ``score``, lm-eval's metric).

Read from the records (their ``ImportProvenance``), so the summary, the report and anyone
re-reading a run folder compute the same numbers. Over the records that carry a file verdict:
both accuracies, the share of items where the two agree, Cohen's kappa, and each disagreeing
item (written to ``disagreements.jsonl`` in the run folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hawkeye_bench.core.record import Record
from hawkeye_bench.importing.provenance import ImportProvenance

DISAGREEMENTS_FILE = "disagreements.jsonl"
#: How much of an answer a disagreement shows (the whole text is in records.jsonl).
ANSWER_CHARS = 300


def file_verdict(record: Record) -> bool | None:
    """The verdict the imported file gave this record's output, if any."""
    provenance = ImportProvenance.of_record(record)
    return provenance.verdict if provenance is not None else None


def _where(record: Record) -> str:
    provenance = ImportProvenance.of_record(record)
    return provenance.where if provenance is not None else ""


@dataclass(frozen=True)
class Disagreement:
    id: str
    sample: int
    where: str  # file:line
    file_verdict: bool
    harness_verdict: bool
    extracted: str | None
    gold: str
    answer: str


@dataclass(frozen=True)
class Agreement:
    n: int
    file_correct: int
    harness_correct: int
    agree: int
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.agree / self.n

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa: agreement beyond what the two accuracies give by chance."""
        p_file, p_harness = self.file_correct / self.n, self.harness_correct / self.n
        chance = p_file * p_harness + (1 - p_file) * (1 - p_harness)
        return (self.rate - chance) / (1 - chance) if chance < 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "file_accuracy": self.file_correct / self.n,
            "harness_accuracy": self.harness_correct / self.n,
            "agreement_rate": self.rate,
            "cohen_kappa": self.kappa,
            "disagreeing": len(self.disagreements),
            "harness_right_file_wrong": sum(1 for d in self.disagreements if d.harness_verdict),
            "file_right_harness_wrong": sum(1 for d in self.disagreements if d.file_verdict),
            "disagreements_file": DISAGREEMENTS_FILE,
        }


def agreement(records: Sequence[Record]) -> Agreement | None:
    """Agreement over the records with a file verdict; None when no record has one. A record
    the harness could not grade (an errored output) counts as wrong, as in accuracy."""
    judged = [(r, v) for r in records if (v := file_verdict(r)) is not None]
    if not judged:
        return None
    disagreements = [
        Disagreement(
            id=record.problem.id,
            sample=record.sample,
            where=_where(record),
            file_verdict=verdict,
            harness_verdict=bool(record.correct),
            extracted=record.extracted,
            gold=record.problem.gold,
            answer=record.trace.final_text[-ANSWER_CHARS:],
        )
        for record, verdict in judged
        if verdict != bool(record.correct)
    ]
    return Agreement(
        n=len(judged),
        file_correct=sum(1 for _, v in judged if v),
        harness_correct=sum(1 for r, _ in judged if r.correct),
        agree=len(judged) - len(disagreements),
        disagreements=disagreements,
    )


def disagreement_rows(result: Agreement) -> list[dict[str, Any]]:
    return [asdict(d) for d in result.disagreements]
