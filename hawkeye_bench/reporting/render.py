"""``report.md``: the report model as markdown, each table row citing its source files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hawkeye_bench.core.markdown import markdown_table
from hawkeye_bench.reporting.model import Column, Report, Table

MISSING = "–"


def format_value(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return MISSING
    if fmt == "int":
        return str(round(value))
    if fmt == "percent":
        return f"{value * 100:.1f}"
    if fmt == "ratio":
        return f"{value:.2f}×"
    if fmt.startswith("float"):
        return f"{value:.{int(fmt[-1])}f}"
    return str(value)  # markdown_table escapes what would break the table


def format_cell(row: Mapping[str, Any], column: Column) -> str:
    text = format_value(row.get(column.key), column.fmt)
    if column.interval_key and text != MISSING:
        low, high = (row.get(column.interval_key) or [None, None])[:2]
        if low is not None and high is not None:
            text += f" [{format_value(low, column.fmt)}, {format_value(high, column.fmt)}]"
    return text


def render_table(table: Table, source_ids: dict[str, str]) -> list[str]:
    header = [c.header for c in table.columns] + ["source"]
    rows = [
        [
            *(format_cell(row, c) for c in table.columns),
            ", ".join(source_ids[s] for s in row.get("sources", [])) or MISSING,
        ]
        for row in table.rows
    ]
    lines = [f"#### {table.title}", "", *markdown_table(header, rows), ""]
    lines += [f"- {note}" for note in table.notes]
    if table.notes:
        lines.append("")
    return lines


def _provenance(report: Report, source_ids: dict[str, str]) -> list[str]:
    rows = []
    for entry in report.provenance:
        details = "; ".join(f"{k}: {v}" for k, v in entry.details.items() if v not in (None, ""))
        files = ", ".join(source_ids[f] for f in entry.files)
        rows.append([entry.kind, f"`{entry.folder}`", details, files])
    header = ["kind", "folder", "what it is", "files"]
    return ["## Inputs", "", *markdown_table(header, rows), ""]


def render(report: Report) -> str:
    sources = report.sources()
    source_ids = {path: f"S{i}" for i, path in enumerate(sources, start=1)}
    lines = [f"# {report.title}", ""]
    lines += [
        "Every number below is read from a file listed under *Sources* (cited per row as S1, "
        "S2, ...); `report.json` holds the same numbers unrounded. A dash means the input did "
        "not contain the value.",
        "",
    ]
    lines += _provenance(report, source_ids)
    for number, section in enumerate(report.sections, start=1):
        lines += [f"## {number}. {section.title}", ""]
        if section.missing:
            lines += [f"*{section.missing}*", ""]
        for paragraph in section.intro:
            lines += [paragraph, ""]
        for table in section.tables:
            if table.rows:
                lines += render_table(table, source_ids)
        for figure in section.figures:
            cited = ", ".join(source_ids[s] for s in figure.sources)
            lines += [
                f"![{figure.caption}]({figure.file})",
                "",
                f"*{figure.caption}* ({cited})",
                "",
            ]
    if report.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in report.notes), ""]
    lines += ["## Sources", ""]
    lines += [f"- **{source_ids[path]}** `{path}`" for path in sources]
    return "\n".join(lines) + "\n"
