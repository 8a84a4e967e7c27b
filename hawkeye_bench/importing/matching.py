"""Rows to benchmark problems: by id when the file has one, else by question text (normalised),
else by position (the row's index into the named dataset); several outputs for one problem
become samples 0..k-1 in file order.

Nothing is dropped silently: a row that matches no problem, or repeats a (problem, sample) the
file already gave, is a :class:`Skip` with its file, line and reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from hawkeye_bench.core.boxed import last_boxed_content
from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.datasets.gsm8k import gsm8k_gold
from hawkeye_bench.importing.rows import ImportedRow

MatchBy = Literal["auto", "id", "question", "position"]
MATCH_MODES: tuple[MatchBy, ...] = ("auto", "id", "question", "position")
#: Skipped rows named in summary.json per reason (all of them are in the skipped file).
NAMED_PER_REASON = 5

_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalise_question(text: str) -> str:
    """Question text as compared: NFKC, straight quotes, case-folded, whitespace collapsed, no
    trailing full stop."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return _SPACE.sub(" ", text).strip().rstrip(".").strip()


def gold_written_in(text: str) -> str:
    """The answer a file's gold field gives: after GSM8K's ``####``, a solution's last
    ``\\boxed{}``, else the text itself."""
    if "####" in text:
        return gsm8k_gold(text)
    boxed = last_boxed_content(text) if "\\boxed" in text or "\\fbox" in text else None
    return (boxed if boxed is not None else text).strip()


def _gold_key(text: str) -> str:
    return _SPACE.sub("", text).strip("$").replace(",", "")


def gold_differs(file_gold: str | None, problem: Problem) -> bool:
    """Whether the file's gold names another answer than the dataset's (a sign of rows matched
    to the wrong problems)."""
    if file_gold is None:
        return False
    return _gold_key(gold_written_in(file_gold)) != _gold_key(problem.gold)


@dataclass(frozen=True)
class Skip(JsonPayload):
    """A row (or line) that became no record, and why (a line of import_skipped.jsonl)."""

    file: str
    line: int
    reason: str  # "malformed line", "unreadable line", "unmatched", "duplicate", ...
    detail: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Match:
    problem: Problem
    sample: int
    how: str  # "id", "question" or "position"


class Matcher:
    """Matches rows in file order and gives out sample indices."""

    def __init__(self, problems: Sequence[Problem], task: str, by: MatchBy = "auto") -> None:
        self.problems = list(problems)
        self.task = task
        self.by = by
        self.by_id = {p.id: p for p in self.problems}
        self.by_question: dict[str, Problem] = {}
        for problem in self.problems:
            self.by_question.setdefault(normalise_question(problem.question), problem)
        self.used: dict[str, set[int]] = {}
        self.rows_seen = 0  # the file-order position of rows without one of their own
        self.methods: Counter[str] = Counter()

    def _method(self, row: ImportedRow) -> str:
        if self.by != "auto":
            return self.by
        if row.id is not None:
            return "id"
        if row.question is not None:
            return "question"
        return "position"

    def _problem(self, row: ImportedRow, how: str, ordinal: int) -> Problem | str:
        """The problem, or why there is none."""
        if how == "id":
            if row.id is None:
                return "the row has no id"
            found = self.by_id.get(row.id) or self.by_id.get(f"{self.task}/{row.id}")
            return found or f"no {self.task} problem has id {row.id!r}"
        if how == "question":
            if row.question is None:
                return "the row has no question"
            found = self.by_question.get(normalise_question(row.question))
            return found or f"no {self.task} question reads {_short(row.question)!r}"
        position = row.position if row.position is not None else ordinal
        if 0 <= position < len(self.problems):
            return self.problems[position]
        return f"position {position} is outside {self.task} (0..{len(self.problems) - 1})"

    def match(self, row: ImportedRow) -> Match | str:
        """The row's problem and sample index, or why it has none (unmatched, or a duplicate
        whose reason starts with ``duplicate``)."""
        ordinal = self.rows_seen
        self.rows_seen += 1
        how = self._method(row)
        problem = self._problem(row, how, ordinal)
        if isinstance(problem, str):
            return problem
        used = self.used.setdefault(problem.id, set())
        if row.sample is not None:
            if row.sample in used:
                return f"duplicate: {problem.id} sample {row.sample} was given before"
            sample = row.sample
        else:
            sample = len(used)
            while sample in used:
                sample += 1
        used.add(sample)
        self.methods[how] += 1
        return Match(problem, sample, how)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Tally(JsonPayload):
    """How many, and the first few named (``file:line: detail``)."""

    count: int = 0
    first: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, named: Sequence[str]) -> Tally:
        return cls(count=len(named), first=list(named[:NAMED_PER_REASON]))


def skipped_summary(skips: Sequence[Skip]) -> dict[str, Tally]:
    """Per reason: how many, and the first few named ``file:line``."""
    by_reason: dict[str, list[str]] = {}
    for skip in skips:
        by_reason.setdefault(skip.reason, []).append(f"{skip.where}: {skip.detail}")
    return {reason: Tally.of(named) for reason, named in by_reason.items()}
