"""Markdown tables: the one renderer behind report.md, judge_table.md and load_table.md."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def _cell(text: str) -> str:
    """A pipe escaped so it does not end the cell; a line break (which ends the row) a space."""
    return text.replace("|", "\\|").replace("\n", " ")


def _line(cells: Iterable[str]) -> str:
    return "|" + "".join(f" {_cell(c)} |" if c else " |" for c in cells)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured markdown table as lines: the header, its ``|---|`` rule, the rows.

    Cells are text, written as given except that pipes are escaped and line breaks become
    spaces, so no value can break the table; an empty cell is ``| |``.
    """
    return [_line(header), "|" + "---|" * len(header), *(_line(row) for row in rows)]
