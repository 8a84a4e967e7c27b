"""The first pass of an import: read every file (streamed) and match every row, so that bad
input is a one-line error before anything is written. :class:`Reading` streams the rows of
the files for both passes, turning lines it cannot read into skips."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.importing.formats import (
    FormatOptions,
    InputFormat,
    RowReader,
    detect_format,
    get_format,
)
from hawkeye_bench.importing.matching import Match, Matcher, Skip, gold_differs, skipped_summary
from hawkeye_bench.importing.plan import ImportPlan
from hawkeye_bench.importing.reading import FileValues, MalformedLine
from hawkeye_bench.importing.rows import ImportedRow, ImportInputError, PassedLine, RowError


@dataclass(frozen=True)
class FileFacts(JsonPayload):
    """An imported file as the manifest and summary name it (the ``files`` lists)."""

    path: str = ""
    name: str = ""
    format: str = ""
    layout: str = ""  # "jsonl" or "json list"
    sha256: str = ""
    bytes: int = 0


@dataclass
class SourceFile:
    """One input file as the first pass found it."""

    path: Path
    format: InputFormat
    sha256: str = ""
    bytes: int = 0
    layout: str = ""

    def facts(self) -> FileFacts:
        return FileFacts(
            path=str(self.path.resolve()),
            name=self.path.name,
            format=self.format.name,
            layout=self.layout,
            sha256=self.sha256,
            bytes=self.bytes,
        )


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


class Reading:
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
    reading = Reading(plan)
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
            file = file_of(reading, row)
            reading.skips.append(Skip(file, row.line, reason, found))
            result.matches.append(None)
            continue
        if gold_differs(row.file_gold, found.problem):
            result.gold_differs.append(
                f"{file_of(reading, row)}:{row.line}: file gold {row.file_gold!r:.60} vs "
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
            f"{reason} {tally.count} (first: {tally.first[0]})" for reason, tally in skipped.items()
        )
        names = ", ".join(str(p) for p in plan.files)
        raise ImportInputError(f"no usable row in {names}: {detail or 'no rows'}")
    return result


def file_of(reading: Reading, row: ImportedRow) -> str:
    """The name of the file being read (rows are yielded while their file is open)."""
    return reading.plan.files[len(reading.files)].name
