"""What an import adds to ``summary.json`` (its ``import`` section: files, rows, matches,
skips, token counts) and to the console summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawkeye_bench.core.record import Record
from hawkeye_bench.importing.agreement import DISAGREEMENTS_FILE, Agreement
from hawkeye_bench.importing.matching import Tally, skipped_summary
from hawkeye_bench.importing.scan import FileFacts, Scan
from hawkeye_bench.importing.tokens import TokenizerChoice

#: What to do about stages without a count, said once under the summary.
NO_COUNT_NOTE = (
    "{missing} of {stages} stage(s) have no token count: the file records none (usage or token "
    "ids); give --tokenizer (tokenizer.json or GGUF) or --tokenize-url"
)


@dataclass(frozen=True)
class TokenCounts:
    """Where the stages' counts came from (``sources``: source -> stages, ``missing`` among
    them), the tokenizer named, and a note when some count is missing."""

    sources: dict[str, int]
    missing: int
    tokenizer: dict[str, str] | None = None  # TokenizerChoice.to_dict()
    note: str | None = None

    @classmethod
    def of(cls, records: Sequence[Record], tokenizer: TokenizerChoice | None) -> TokenCounts:
        stages = [s for r in records for s in r.trace.stages if s.ok]
        sources = Counter[str](s.token_source or "missing" for s in stages)
        missing = sources.get("missing", 0)
        return cls(
            sources=dict(sources),
            missing=missing,
            tokenizer=tokenizer.to_dict() if tokenizer is not None else None,
            note=NO_COUNT_NOTE.format(missing=missing, stages=len(stages)) if missing else None,
        )

    def to_json(self) -> dict[str, Any]:
        given = {"tokenizer": self.tokenizer, "note": self.note}
        return {
            "sources": dict(self.sources),
            "missing": self.missing,
            **{key: value for key, value in given.items() if value is not None},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenCounts:
        return cls(
            sources={str(k): int(v) for k, v in (data.get("sources") or {}).items()},
            missing=int(data.get("missing") or 0),
            tokenizer=data.get("tokenizer"),
            note=data.get("note"),
        )


@dataclass(frozen=True)
class ImportSummary:
    """``summary.json["import"]``."""

    files: list[FileFacts]
    rows: int
    records: int
    matched_by: dict[str, int]
    skipped: dict[str, Tally]
    skipped_file: str | None
    gold_differs: Tally
    token_counts: TokenCounts

    @classmethod
    def of(
        cls,
        found: Scan,
        records: Sequence[Record],
        skipped_path: Path,
        tokenizer: TokenizerChoice | None,
    ) -> ImportSummary:
        return cls(
            files=[f.facts() for f in found.files],
            rows=len(found.matches),
            records=len(records),
            matched_by=dict(found.matched_by),
            skipped=skipped_summary(found.skips),
            skipped_file=skipped_path.name if found.skips else None,
            gold_differs=Tally.of(found.gold_differs),
            token_counts=TokenCounts.of(records, tokenizer),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [f.to_json() for f in self.files],
            "rows": self.rows,
            "records": self.records,
            "matched_by": dict(self.matched_by),
            "skipped": {reason: tally.to_json() for reason, tally in self.skipped.items()},
            "skipped_file": self.skipped_file,
            "gold_differs": self.gold_differs.to_json(),
            "token_counts": self.token_counts.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportSummary:
        return cls(
            files=[FileFacts.from_json(f) for f in data.get("files") or []],
            rows=int(data.get("rows") or 0),
            records=int(data.get("records") or 0),
            matched_by={str(k): int(v) for k, v in (data.get("matched_by") or {}).items()},
            skipped={
                str(reason): Tally.from_json(tally)
                for reason, tally in (data.get("skipped") or {}).items()
            },
            skipped_file=data.get("skipped_file"),
            gold_differs=Tally.from_json(data.get("gold_differs") or {}),
            token_counts=TokenCounts.from_json(data.get("token_counts") or {}),
        )


def verdict_source(found: Scan) -> str | None:
    """What the files' own verdicts are (the first format that names one)."""
    return next((f.format.verdict_source for f in found.files if f.format.verdict_source), None)


def format_import(info: ImportSummary, agreed: Agreement | None) -> str:
    """The import's lines under the usual console summary."""
    lines = [f"import         {info.rows} rows -> {info.records} records"]
    for reason, tally in info.skipped.items():
        lines.append(f"  skipped      {tally.count} {reason} (first: {tally.first[0]})")
    if info.gold_differs.count:
        lines.append(f"  gold differs {info.gold_differs.count} (the file's gold answer)")
    if info.token_counts.note:
        lines.append(f"  tokens       {info.token_counts.note}")
    if agreed is not None:
        lines.append(
            f"agreement      {agreed.rate:.1%} with the file's verdicts over {agreed.n}: file "
            f"{agreed.file_correct / agreed.n:.1%}, harness "
            f"{agreed.harness_correct / agreed.n:.1%}; {len(agreed.disagreements)} disagreeing "
            f"in {DISAGREEMENTS_FILE}"
        )
    return "\n".join(lines)
