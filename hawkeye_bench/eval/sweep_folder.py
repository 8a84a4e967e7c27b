"""What every sweep folder shares (compress-sweep, route-sweep): the JSON file that lists what was
asked and the runs (:class:`SweepFile`, one writer and one reader), the accuracy columns of its
table, and that table written as markdown and CSV next to it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypedDict, TypeVar

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.json_form import JsonFormError, JsonPayload
from hawkeye_bench.core.markdown import markdown_table
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import wilson_interval


class SweepFileError(HawkeyeError):
    """A sweep's file that cannot be read back (edited by hand, or not a sweep's)."""


@dataclass(frozen=True)
class SweepModel(JsonPayload):
    """One model a sweep runs in a role (a writer, a responder): its folder name, as given."""

    folder: str
    model: str | None = None
    #: where it is served: one base URL, or a list (a --endpoint given several replica URLs)
    url: str | list[str] | None = None


class SweepSettingsJson(TypedDict, total=False):
    """:class:`SweepSettings` in the sweep's file, beside ``kind`` and ``runs``; ``responders``
    and ``writers`` (:class:`SweepModel`'s form) only where a sweep swept models."""

    task: str | None
    limit: int | None
    preset: str | None
    seed: int | None
    options: dict[str, Any]
    responders: list[dict[str, str | list[str] | None]]
    writers: list[dict[str, str | list[str] | None]]


@dataclass
class SweepSettings:
    """What a sweep was asked, as its file records it: the command line's task, limit, preset
    and seed, the pipeline options every run shares, and the models of the swept roles (a
    compress sweep's writers and responders; none in a route sweep)."""

    task: str | None = None
    limit: int | None = None
    preset: str | None = None
    seed: int | None = None
    #: the pipeline options every run shares, by option name (as the pipeline reads them)
    options: dict[str, Any] = field(default_factory=dict)
    responders: list[SweepModel] = field(default_factory=list)
    writers: list[SweepModel] = field(default_factory=list)

    def to_json(self) -> SweepSettingsJson:
        data: SweepSettingsJson = {
            "task": self.task,
            "limit": self.limit,
            "preset": self.preset,
            "seed": self.seed,
            "options": dict(self.options),
        }
        # a route sweep has no swept roles: its file has neither list
        if self.responders:
            data["responders"] = [m.to_json() for m in self.responders]
        if self.writers:
            data["writers"] = [m.to_json() for m in self.writers]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepSettings:
        """Tolerant of what an older sweep left out (no options, no swept roles)."""
        limit, seed, options = data.get("limit"), data.get("seed"), data.get("options")
        return cls(
            task=_text(data.get("task")),
            limit=limit if isinstance(limit, int) else None,
            preset=_text(data.get("preset")),
            seed=seed if isinstance(seed, int) else None,
            options=dict(options) if isinstance(options, dict) else {},
            responders=_models(data, "responders"),
            writers=_models(data, "writers"),
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _models(data: Mapping[str, Any], name: str) -> list[SweepModel]:
    listed = data.get(name) or []
    if not isinstance(listed, list) or not all(isinstance(m, dict) for m in listed):
        raise ValueError(f"{name}: expected a list of objects")
    if any("folder" not in m for m in listed):
        raise ValueError(f"{name}: an entry without 'folder'")
    try:
        return [SweepModel.from_json(m) for m in listed]
    except JsonFormError as exc:
        raise ValueError(f"{name}: {exc}") from None


#: a run's JSON form, as its type writes it (a TypedDict of its keys)
J_co = TypeVar("J_co", covariant=True)


class SweepRunEntry(Protocol[J_co]):
    """A run of a sweep as its file lists it (a compress sweep's ``SweepRun``, a route
    sweep's ``RouteRun``)."""

    @property
    def folder(self) -> str: ...

    def to_json(self) -> J_co: ...

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """One run as the file lists it (KeyError, TypeError or ValueError when it cannot
        be)."""
        ...


R = TypeVar("R", bound="SweepRunEntry[object]")


@dataclass
class SweepFile(Generic[R]):
    """A sweep's file: what kind of sweep, its runs (each with its folder) and what was asked.
    Each sweep subclasses it with its ``KIND``, its file's ``NAME`` and its runs' type
    (``RUN``); on disk the settings sit beside ``kind`` and ``runs``."""

    KIND: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    #: the type of its runs
    RUN: ClassVar[type[SweepRunEntry[object]]]

    runs: list[R]
    settings: SweepSettings = field(default_factory=SweepSettings)
    #: the kind the file names (``KIND`` when this sweep wrote it; "" when it names none)
    kind: str = ""

    @classmethod
    def of(cls, runs: Sequence[R], settings: SweepSettings) -> Self:
        """The file this sweep writes for ``runs`` and ``settings``."""
        return cls(list(runs), settings, cls.KIND)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "runs": [run.to_json() for run in self.runs],
            **self.settings.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """The file's JSON read back; one that is not an object whose runs are objects, or a
        run that cannot be read, is a :class:`SweepFileError` naming the entry."""
        runs = data.get("runs", []) if isinstance(data, dict) else None
        if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
            raise SweepFileError("not a sweep file (a JSON object whose runs are objects)")
        read: list[Any] = []  # of RUN, the type R stands for
        for index, entry in enumerate(runs):
            try:
                read.append(cls.RUN.from_json(entry))
            except KeyError as exc:
                raise SweepFileError(f"runs[{index}]: no {exc.args[0]!r}") from None
            except (TypeError, ValueError) as exc:
                raise SweepFileError(f"runs[{index}]: {exc}") from None
        try:
            settings = SweepSettings.from_json(data)
        except ValueError as exc:
            raise SweepFileError(str(exc)) from None
        return cls(read, settings, str(data.get("kind") or ""))

    def write(self, root: Path) -> None:
        """Write the file into the sweep folder ``root``."""
        path = root / self.NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, root: Path) -> Self | None:
        """The file of the sweep folder ``root`` (None when there is none); one that cannot be
        read is a :class:`SweepFileError` naming the file."""
        path = root / cls.NAME
        if not path.is_file():
            return None
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except SweepFileError as exc:  # what from_json found wrong in the file's JSON
            raise SweepFileError(f"{path}: {exc}") from None
        except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError
            raise SweepFileError(f"{path}: not valid JSON ({exc})") from None

    @classmethod
    def write_runs(cls, root: Path, runs: Sequence[R], settings: SweepSettings) -> None:
        """Write the sweep folder's file: its runs and what was asked."""
        cls.of(runs, settings).write(root)

    @classmethod
    def read_runs(cls, root: Path) -> list[R]:
        """The runs the sweep folder's file lists (empty when there is none)."""
        sweep = cls.read(root)
        return sweep.runs if sweep is not None else []


class AccuracyCells(TypedDict):
    """The accuracy cells of every sweep table's row."""

    n: int
    correct: int
    #: None with no answers, as are the interval's bounds
    accuracy: float | None
    ci95_low: float | None
    ci95_high: float | None
    errors: int


class ReportedAccuracy(TypedDict):
    """The accuracy cells as the report's rows hold them: the interval as one pair."""

    n: int
    correct: int
    accuracy: float | None
    errors: int
    #: [low, high] of the 95% Wilson interval (both None with no answers)
    accuracy_ci: list[float | None]


#: The accuracy columns of every sweep table, as :func:`accuracy_cells` fills them.
ACCURACY_COLUMNS = tuple(AccuracyCells.__annotations__)


def accuracy_cells(records: Sequence[Record]) -> AccuracyCells:
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
