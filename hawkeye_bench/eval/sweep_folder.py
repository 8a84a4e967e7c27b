"""What every sweep folder shares (compress-sweep, route-sweep): the JSON file that lists what was
asked and the runs, the accuracy columns of its table, and that table written as markdown and
CSV next to it."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.markdown import markdown_table
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import wilson_interval

T = TypeVar("T")


class SweepFileError(HawkeyeError):
    """A sweep's file that cannot be read back (edited by hand, or not a sweep's)."""


#: The accuracy columns of every sweep table, as :func:`accuracy_cells` fills them.
ACCURACY_COLUMNS = ("n", "correct", "accuracy", "ci95_low", "ci95_high", "errors")


def accuracy_cells(records: Sequence[Record]) -> dict[str, Any]:
    """A run's answers counted, its accuracy with a 95% Wilson interval (None with no answers)
    and its errors."""
    correct = sum(1 for r in records if r.correct)
    low, high = wilson_interval(correct, len(records))
    return {
        "n": len(records),
        "correct": correct,
        "accuracy": correct / len(records) if records else None,
        "ci95_low": low if records else None,
        "ci95_high": high if records else None,
        "errors": sum(1 for r in records if r.error),
    }


def table_cell(value: Any) -> str:
    """A value as a markdown cell: empty for None, floats to three decimals."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def write_table(
    root: Path,
    name: str,
    heading: Sequence[str],
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
) -> str:
    """Write ``<name>.md`` (the heading's lines, then the table) and ``<name>.csv`` into
    ``root``; return the markdown."""
    rows = list(rows)
    cells = ([table_cell(row[c]) for c in columns] for row in rows)
    markdown = "\n".join([*heading, "", *markdown_table(columns, cells), ""])
    (root / f"{name}.md").write_text(markdown, encoding="utf-8")
    with (root / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)
    return markdown


def write_sweep_file(
    path: Path, kind: str, runs: Iterable[Mapping[str, Any]], settings: Mapping[str, Any]
) -> None:
    """Write a sweep's file: its kind, its runs (each with its folder) and what was asked."""
    data = {"kind": kind, "runs": list(runs), **settings}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def read_sweep_file(path: Path) -> dict[str, Any]:
    """A sweep's file as written by :func:`write_sweep_file` (empty when there is none); one
    that is not a JSON object whose ``runs`` are objects is a :class:`SweepFileError`."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError
        raise SweepFileError(f"{path}: not valid JSON ({exc})") from None
    runs = data.get("runs", []) if isinstance(data, dict) else None
    if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
        raise SweepFileError(f"{path}: not a sweep file (a JSON object whose runs are objects)")
    return data


def read_sweep_runs(path: Path, parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
    """Each run the sweep file lists, read by ``parse``; an entry it cannot read is a
    :class:`SweepFileError` naming the entry."""
    runs = []
    for index, entry in enumerate(read_sweep_file(path).get("runs", [])):
        try:
            runs.append(parse(entry))
        except KeyError as exc:
            raise SweepFileError(f"{path}: runs[{index}]: no {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise SweepFileError(f"{path}: runs[{index}]: {exc}") from None
    return runs
