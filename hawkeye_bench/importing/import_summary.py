"""What an import adds to ``summary.json`` (its ``import`` section: files, rows, matches,
skips, token counts) and to the console summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hawkeye_bench.core.json_form import JsonPayload
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
class TokenCounts(JsonPayload):
    """Where the stages' counts came from (``sources``: source -> stages, ``missing`` among
    them), the tokenizer named, and a note when some count is missing."""

    OMITTED_WHEN_NONE = frozenset({"tokenizer", "note"})

    sources: dict[str, int] = field(default_factory=dict)
    missing: int = 0
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


@dataclass(frozen=True)
class ImportSummary(JsonPayload):
    """``summary.json["import"]``; a part an older summary lacks reads as empty."""

    files: list[FileFacts] = field(default_factory=list)
    rows: int = 0
    records: int = 0
    matched_by: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, Tally] = field(default_factory=dict)
    skipped_file: str | None = None
    gold_differs: Tally = field(default_factory=Tally)
    token_counts: TokenCounts = field(default_factory=TokenCounts)

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
