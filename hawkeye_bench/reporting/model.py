"""The report as data: sections of tables and figures, every number tied to its source files.

``report.json`` is this structure; ``report.md`` renders it. Table cells hold raw numbers (no
rounding), each row lists the files its numbers were read from, and the renderer formats them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypedDict, TypeVar

#: how a column's numbers are shown in markdown
Format = Literal[
    "text", "int", "float1", "float2", "float3", "float4", "float6", "percent", "ratio"
]


@dataclass
class Column:
    key: str
    header: str
    fmt: Format = "text"
    #: optional key of a [low, high] pair shown after the value as "[low, high]"
    interval_key: str | None = None


#: a row of a table: one of :mod:`hawkeye_bench.reporting.rows`, or a dict built from one
RowT = TypeVar("RowT", bound=Mapping[str, object])


@dataclass
class Table(Generic[RowT]):
    name: str  # stable id in report.json
    title: str
    columns: list[Column]
    rows: list[RowT]  # each row has "sources": [file, ...] besides the column keys
    notes: list[str] = field(default_factory=list)


@dataclass
class Figure:
    file: str  # PNG file name, beside report.md
    caption: str
    sources: list[str]


@dataclass
class Section:
    key: str
    title: str
    intro: list[str] = field(default_factory=list)
    tables: list[Table[Any]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    #: set when the input kind this section needs was not given: the sentence saying so
    missing: str | None = None


#: a detail of an input as the Inputs table shows it (None or "": not shown)
Detail = str | int | float | None


class InputEntryJson(TypedDict):
    """The JSON form of an :class:`InputEntry` (a row of ``report.json``'s ``provenance``)."""

    kind: str
    folder: str
    details: dict[str, Detail]
    files: list[str]


@dataclass
class InputEntry:
    """One row of the report's Inputs table: what an input folder is, and its files."""

    kind: str
    folder: str
    details: dict[str, Detail]
    files: list[str] = field(default_factory=list)

    def to_json(self) -> InputEntryJson:
        return {
            "kind": self.kind,
            "folder": self.folder,
            "details": dict(self.details),
            "files": list(self.files),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputEntry:
        return cls(
            kind=str(data.get("kind") or ""),
            folder=str(data.get("folder") or ""),
            details=dict(data.get("details") or {}),
            files=[str(f) for f in data.get("files") or []],
        )


@dataclass
class Report:
    title: str
    out: Path
    provenance: list[InputEntry] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def sources(self) -> list[str]:
        """Every file a number was read from, in first-use order (S1, S2, ...)."""
        seen: dict[str, None] = {}
        for entry in self.provenance:
            for path in entry.files:
                seen.setdefault(path, None)
        for section in self.sections:
            for table in section.tables:
                for row in table.rows:
                    for path in row.get("sources", []):
                        seen.setdefault(path, None)
            for figure in section.figures:
                for path in figure.sources:
                    seen.setdefault(path, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "sources": self.sources(),
            "provenance": [entry.to_json() for entry in self.provenance],
            "sections": [asdict(s) for s in self.sections],
            "notes": self.notes,
        }
