"""Where an imported record came from: ``record.extra["import"]``, written when the record is
built from its row (:func:`build_record`) and read by the agreement and anyone re-reading the
run folder (:meth:`ImportProvenance.of_record`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from hawkeye_bench import pipelines
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import Trace
from hawkeye_bench.importing.matching import Match
from hawkeye_bench.importing.rows import ImportedRow
from hawkeye_bench.importing.tokens import stage_result


@dataclass(frozen=True)
class ImportProvenance:
    """The file and line a record came from, how it was matched to its problem, the file's
    own verdict and gold answer where it has them, and the format's other facts of the row
    (``facts``: lm-eval's ``filter``, ...; kept beside the others in the JSON)."""

    KEY: ClassVar[str] = "import"
    _FIELDS: ClassVar[tuple[str, ...]] = ("where", "matched_by", "verdict", "file_gold")

    where: str  # file:line
    matched_by: str  # "id", "question" or "position"
    verdict: bool | None = None
    file_gold: str | None = None
    facts: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        given = {"verdict": self.verdict, "file_gold": self.file_gold}
        return {
            "where": self.where,
            "matched_by": self.matched_by,
            **{key: value for key, value in given.items() if value is not None},
            **self.facts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportProvenance:
        verdict = data.get("verdict")
        gold = data.get("file_gold")
        return cls(
            where=str(data.get("where") or ""),
            matched_by=str(data.get("matched_by") or ""),
            verdict=verdict if isinstance(verdict, bool) else None,
            file_gold=gold if isinstance(gold, str) else None,
            facts={k: v for k, v in data.items() if k not in cls._FIELDS},
        )

    @classmethod
    def of_record(cls, record: Record) -> ImportProvenance | None:
        """The provenance a record holds (None: not an imported record)."""
        data = record.extra.get(cls.KEY)
        return cls.from_json(data) if isinstance(data, dict) else None


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
    provenance = ImportProvenance(
        where=where,
        matched_by=match.how,
        verdict=row.verdict,
        file_gold=row.file_gold,
        facts=dict(row.extra),
    )
    return Record(
        problem=match.problem,
        sample=match.sample,
        trace=trace,
        extra={ImportProvenance.KEY: provenance.to_json()},
    )
