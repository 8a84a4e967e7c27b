"""Multiple-choice grading (gold format ``choice``): the letter, or the choice text, the model
commits to.

The gold is ``"(A) bank"`` (the letter, then that choice's text) or a bare letter. The model
commits to an answer with its last ``\\boxed{...}``, else the rest of the line after its last
answer marker ("Answer: B", "the answer is (B) bookstore", "Answer: bookstore"), else the last
line that is a letter alone ("(B)", "B."). A committed letter is compared with the gold letter;
committed text (no letter) with the gold choice's text, ignoring case, surrounding punctuation
and a leading article.
"""

from __future__ import annotations

import re

from hawkeye_bench.core.boxed import last_boxed_content
from hawkeye_bench.grading.extraction import (
    after_answer_marker,
    strip_thinking,
)
from hawkeye_bench.grading.grade import Grade

#: Choice letters (``I`` is left out: it is far more often the pronoun).
_LETTER = r"[A-HJ]"
_GOLD = re.compile(rf"^\s*\(?({_LETTER})\)?(?:[.:]?\s+(.*\S))?\s*$", re.DOTALL)
_LEADING_LETTER = re.compile(rf"^\(?({_LETTER})\)?(?=$|[\s.:,)])")
_LETTER_LINE = re.compile(rf"^\s*\(?({_LETTER})\)?[.:]?\s*$", re.MULTILINE)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")


def parse_choice_gold(gold: str) -> tuple[str, str | None]:
    """(letter, choice text or None) of a ``choice`` gold."""
    match = _GOLD.match(gold)
    if match is None:
        raise ValueError(f"a choice gold is a letter, optionally with its text: {gold!r}")
    return match.group(1), match.group(2)


def normalise_choice(text: str) -> str:
    cleaned = text.strip().strip(" \t\"'`*.,;:!?()[]").lower()
    return _ARTICLE.sub("", " ".join(cleaned.split()))


def committed_answer(text: str) -> tuple[str | None, str | None]:
    """(letter, text) the completion commits to; both None when it commits to nothing."""
    answer = strip_thinking(text)
    committed = last_boxed_content(answer)
    if committed is None:
        committed = after_answer_marker(answer)
    if committed is not None:
        committed = committed.replace("\\text{", "").replace("}", "").strip()
        letter = _LEADING_LETTER.match(committed)
        if letter is not None:
            return letter.group(1), None
        return None, committed or None
    lines = _LETTER_LINE.findall(answer)
    return (lines[-1], None) if lines else (None, None)


def grade_choice(text: str, gold: str) -> Grade:
    """Grade a multiple-choice answer against ``gold`` (see the module docstring)."""
    gold_letter, gold_text = parse_choice_gold(gold)
    letter, committed = committed_answer(text)
    if letter is not None:
        return Grade(letter, letter == gold_letter, method="choice", answer_source="final")
    if committed is not None:
        correct = gold_text is not None and normalise_choice(committed) == normalise_choice(
            gold_text
        )
        return Grade(committed, correct, method="choice", answer_source="final")
    return Grade(extracted=None, correct=False, method=None)
