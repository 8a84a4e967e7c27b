"""Which number a prose answer gives, when it is written as a sentence rather than boxed.

A small responder often ends with a sentence that restates the question around its answer
("Ana can bake a total of 36 cookies in 4 hours."), so the last number is a given, not the
answer. On the final sentence (the last one with a number), in order:

1. a number emphasised in bold (``**45**``) is the answer; bold spans with different numbers
   are ambiguous (a span holding several numbers marks none of them);
2. when the last number is one of the question's numbers, the one number the sentence adds
   to the question's is the answer; several added, or none added while the sentence has
   several numbers, is ambiguous;
3. otherwise (no bold, no question, the last number new, or the sentence's only number a
   given, which may well be the answer) no rule applies and the general rules decide (a
   boxed or LaTeX answer, else the last number, as graders do).

Nothing is guessed: where no rule decides, :class:`ProseAnswer` says why it is ambiguous.
Sentences with a time of day or a LaTeX fraction are left to the general rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from hawkeye_bench.grading.extraction import numbers_in

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_DIGIT = re.compile(r"\d")
# What the general rules handle better than a number count: clock times, LaTeX fractions.
_LEFT_TO_GENERAL_RULES = re.compile(
    r"\d\s*:\s*\d\d|\d\s*(?:[ap]\.?\s*m\b|o'?\s*clock)|\\[dt]?frac", re.IGNORECASE
)


@dataclass(frozen=True)
class ProseAnswer:
    """A rule's decision: the answer's text, or why the final sentence is ambiguous."""

    rule: str  # "bold" or "question"
    span: str | None = None
    ambiguous: str | None = None


def final_sentence(text: str) -> str | None:
    """The last sentence (or line) of ``text`` that holds a digit."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if _DIGIT.search(s)]
    return sentences[-1] if sentences else None


def _value(number: str) -> float | None:
    """A number's value for comparing with the question's (``a/b`` divided)."""
    top, _, bottom = number.replace(" ", "").partition("/")
    try:
        value = float(top) / float(bottom) if bottom else float(top)
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _distinct(numbers: Iterable[str]) -> list[tuple[float, str]]:
    """(value, text) of each different value, in order of last appearance."""
    seen: list[tuple[float, str]] = []
    for number in numbers:
        value = _value(number)
        if value is None:
            continue
        seen = [(v, t) for v, t in seen if not _same(v, value)] + [(value, number)]
    return seen


def _listed(values: list[tuple[float, str]]) -> str:
    return ", ".join(text for _, text in values)


def _bold_rule(sentence: str) -> ProseAnswer | None:
    marked: list[str] = []
    for match in _BOLD.finditer(sentence):
        inside = _distinct(numbers_in(match.group(1) or match.group(2)))
        if len(inside) == 1:
            marked.append(inside[0][1])
    values = _distinct(marked)
    if not values:
        return None
    if len(values) == 1:
        return ProseAnswer("bold", span=values[0][1])
    return ProseAnswer("bold", ambiguous=f"several numbers in bold: {_listed(values)}")


def _question_rule(sentence: str, question: str) -> ProseAnswer | None:
    numbers = _distinct(numbers_in(sentence))
    givens = [value for value, _ in _distinct(numbers_in(question))]
    if not numbers or not any(_same(numbers[-1][0], g) for g in givens):
        return None  # the last number is not a given: the general rule takes it
    added = [(v, t) for v, t in numbers if not any(_same(v, g) for g in givens)]
    if len(added) == 1:
        return ProseAnswer("question", span=added[0][1])
    if not added and len(numbers) == 1:
        return None  # its only number is a given: it may be the answer, or a restatement
    if added:
        reason = f"the final sentence adds several numbers to the question's: {_listed(added)}"
    else:
        reason = f"every number of the final sentence is in the question: {_listed(numbers)}"
    return ProseAnswer("question", ambiguous=reason)


def prose_answer(text: str, question: str | None = None) -> ProseAnswer | None:
    """The answer the final sentence's bold or the question decides; None when no rule
    applies (then the last number is the answer)."""
    sentence = final_sentence(text)
    if sentence is None or _LEFT_TO_GENERAL_RULES.search(sentence):
        return None
    decided = _bold_rule(sentence)
    if decided is None and question:
        decided = _question_rule(sentence, question)
    return decided
