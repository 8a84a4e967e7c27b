r"""Find the final answer in a model's text and normalise how it is written.

Pure string functions, no sympy: they decide *which* part of a completion is the answer (the
post-think text, an answer marker's line, the last number of prose) and rewrite
presentation-only details (thousands separators, currency, percent words, degrees, ``\text{}``
wrappers, lists joined with words, computations ending in their result) so that
:mod:`hawkeye_bench.grading.equivalence` can hand math-verify a clean LaTeX string. One value
with presentation around it is :mod:`~hawkeye_bench.grading.presentation`'s, boxes are
:mod:`~hawkeye_bench.grading.boxes`'. Nothing here knows about particular datasets or test
cases.
"""

from __future__ import annotations

import re

from hawkeye_bench.core.trace import split_thinking
from hawkeye_bench.grading.boxes import boxed_spans
from hawkeye_bench.grading.presentation import chain_result, clean_value, clock_times

# LaTeX commands that show up double-escaped (``\\frac``) when a string went through one JSON or
# Python-literal escaping too many. A row break ``\\`` followed by one of these is not plausible.
_COMMON_COMMANDS = (
    "frac|dfrac|tfrac|sqrt|boxed|fbox|left|right|le|leq|ge|geq|lt|gt|ne|neq|pm|mp|cdot|times|"
    "div|pi|infty|text|textbf|textnormal|mathrm|mathbf|mbox|in|cup|cap|circ|theta|alpha|beta|"
    "gamma|log|ln|sin|cos|tan|quad|qquad|begin|end|dots|ldots|approx"
)
_DOUBLE_ESCAPED = re.compile(rf"(?<!\\)\\\\(?=(?:{_COMMON_COMMANDS})(?![A-Za-z]))")

# ``$...$`` needs two unescaped dollars: a lone ``220 $`` is a currency sign.
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_MATH_OPENERS = re.compile(r"\\\(|\\\[|\\boxed|\\fbox|\\framebox")

# "The answer is", "Final answer:", French/Spanish/German/Chinese/Japanese equivalents; a
# bare "answer 42" only before a value, so the verb ("To answer this, ...") marks nothing.
_ANSWER_MARKER = re.compile(
    r"(?:final\s+answer|answer|r[ée]ponse|respuesta|antwort|答案|答)"
    r"(?:\s*(?:is|est|es|ist|:|：|=)\s*|\s+(?=[-−$\\\d]))",
    re.IGNORECASE,
)
_LAST_BRACKET = re.compile(r"\[([^\[\]]{1,80})\]")

# A number as people write it: optional sign, thousands groups, decimals (either separator),
# an optional fraction ``a/b``; not glued to a preceding ASCII letter ("AZYUK2A" has no number).
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:[.,]\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?"
)
_LATEX_FRACTION = re.compile(r"-?\\[dt]?frac\s*\{[^{}]*\}\s*\{[^{}]*\}")

# Runs of two words of ordinary text mean prose, not a formula.
_PROSE = re.compile(r"[A-Za-z]{2,}[\s,.;:!?]+[A-Za-z]{2,}")
_WORD = re.compile(r"(?<![A-Za-z])[A-Za-z]{4,}(?![A-Za-z])")
_MATH_WORDS = {"sqrt", "frac", "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan", "infty"}
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
# Command arguments that are names, not math: \text{...} and friends, environment names.
_TEXT_ARGUMENT = re.compile(
    r"\\(?:text|textnormal|textbf|textit|mbox|mathrm|mathbf|operatorname|begin|end)\s*\{[^{}]*\}"
)
_MATH_SYMBOLS = set("²³°π√×÷−·∞≤≥≠±€£¥\u2009\u202f\u00a0")

_THOUSANDS_WHOLE = re.compile(
    r"^-?(?!0\D)\d{1,3}(?:(?:,|\\,|\\!|\\;|\\ |~|\s|\{,\})\d{3})+(?:\.\d+)?$"
)
_SPACING_COMMANDS = re.compile(r"\\[,;:! ]|~")
_CURRENCY = re.compile(r"\\\$|\$|€|£|¥|\b(?:dollars?|euros?|USD|cents?)\b", re.IGNORECASE)
_PERCENT_WORD = re.compile(r"\s*(?:\\%|%|\bpercent(?:age)?\b|\bpct\b)", re.IGNORECASE)
_DEGREES = re.compile(r"\s*(?:\^\s*\{?\\circ\}?|°|\\degree|\bdegrees?\b)", re.IGNORECASE)
_LIST_JOINERS = re.compile(
    r"\s*(?:\\q?quad\s*)*(?:\\text\s*\{\s*(?:and|or)\s*\}|\b(?:and|or)\b|\\q?quad)"
    r"(?:\s*\\q?quad)*\s*",
    re.IGNORECASE,
)
# Inside math, only the explicit ``\text{and}`` form: bare "and" there may be prose.
_TEXT_JOINERS = re.compile(
    r"\s*(?:\\q?quad\s*)*\\text\s*\{\s*(?:and|or)\s*\}(?:\s*\\q?quad)*\s*", re.IGNORECASE
)
_TRAILING_TEXT = re.compile(
    r"^(?P<value>.*?[\d})a-zA-Z])\s*\\(?:text|textnormal|mbox|mathrm)\s*\{\s*[^{}]*\}(?:\^\d)?$"
)
_WRAPPER = re.compile(r"^\\(?:text|textnormal|textbf|textit|mbox|mathrm|mathbf|mathit)\s*\{(.*)\}$")

_CLAUSE_END = re.compile(r"[.;!?](?=\s|$)|,\s+(?=[A-Za-z])")


def strip_thinking(text: str) -> str:
    """The answer part of a completion (everything after the thinking)."""
    return split_thinking(text)[1]


def fix_double_escapes(text: str) -> str:
    r"""``\\frac`` -> ``\frac`` (over-escaped strings); matrix row breaks ``\\`` are kept."""
    return _DOUBLE_ESCAPED.sub(r"\\", text)


def has_math_delimiters(text: str) -> bool:
    r"""True if the text marks its math (``$..$``, ``\(..\)``, ``\[..\]``, ``\boxed{}``)."""
    return len(_UNESCAPED_DOLLAR.findall(text)) >= 2 or bool(_MATH_OPENERS.search(text))


def looks_like_prose(text: str) -> bool:
    """True if the text reads as sentences rather than one formula.

    Prose: two words in a row, letters outside ASCII (other scripts), or a number next to a
    word of four or more letters that is not a math function (``33 eggs``, ``Total: 2,74``).
    """
    bare = _TEXT_ARGUMENT.sub(" ", text)
    bare = _LATEX_COMMAND.sub(" ", bare)
    if _PROSE.search(bare):
        return True
    if any(ord(ch) > 127 and ch not in _MATH_SYMBOLS for ch in bare):
        return True
    words = {w.lower() for w in _WORD.findall(bare)} - _MATH_WORDS
    return bool(words) and bool(re.search(r"\d", bare))


def after_answer_marker(text: str) -> str | None:
    """The rest of the line after the last "answer is" / "Answer:" marker, if any."""
    matches = list(_ANSWER_MARKER.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :]
    line = rest.strip().splitlines()[0] if rest.strip() else ""
    return line.strip() or None


def last_bracketed(text: str) -> str | None:
    """Content of the last ``[...]`` (answers written as ``The angle is [90].``)."""
    found = _LAST_BRACKET.findall(text)
    return found[-1].strip() if found else None


def pick_number(
    text: str, *, last: bool = True, decimal_comma: bool = True, bare_clock: bool = False
) -> str | None:
    r"""The last (or first) number, ``\frac{a}{b}`` or ``a/b`` in free text.

    The last number is what GSM8K-style graders take from a worked answer; right after an
    answer marker the first one is the answer ("Answer: 220 $ to pay within 12 months").
    A time of day counts as one number (``2:00 pm`` is 2, not 0; ``2:00`` too with
    ``bare_clock``). With ``decimal_comma`` off a comma between digits is never a decimal point
    (``-2,1`` stays a list of two numbers).
    """
    clocks = clock_times(text, bare=bare_clock)
    candidates = [(start, value) for start, _, value in clocks]
    for match in _NUMBER.finditer(text):
        if any(start <= match.start() < end for start, end, _ in clocks):
            continue
        number = normalise_number(match.group(0).replace(" ", ""), decimal_comma=decimal_comma)
        candidates.append((match.start(), number))
    candidates += [(m.start(), m.group(0).replace(" ", "")) for m in _LATEX_FRACTION.finditer(text)]
    if not candidates:
        return None
    return (max(candidates) if last else min(candidates))[1]


def numbers_in(text: str) -> list[str]:
    """Every number in free text, in order, thousands separators removed (``1,200`` ->
    ``1200``); ``a/b`` stays one number."""
    return [normalise_number(m.group(0).replace(" ", "")) for m in _NUMBER.finditer(text)]


def normalise_number(number: str, *, decimal_comma: bool = True) -> str:
    """``1,000`` -> ``1000``; a comma that cannot be a thousands separator is a decimal comma
    (unless ``decimal_comma`` is off: then it is left alone, a list separator)."""
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", number) and not number.lstrip(
        "-"
    ).startswith("0,"):
        return number.replace(",", "")
    if not decimal_comma:
        return number
    return re.sub(r"(?<=\d),(?=\d+$)", ".", number)


def unwrap_text(text: str) -> str:
    r"""``\text{E}`` -> ``E`` (repeatedly), for answers that are words or letters."""
    current = text.strip()
    while True:
        match = _WRAPPER.match(current)
        if not match:
            return current
        current = match.group(1).strip()


def normalise_bare_answer(
    answer: str, *, decimal_comma: bool = True, bare_clock: bool = False
) -> str:
    r"""Rewrite one bare answer (no ``$`` delimiters) into plain LaTeX math-verify can parse.

    Presentation only: one value with units, degrees, ordinals, currency or LaTeX spacing
    around it (:func:`clean_value`), thousands separators, currency, percent words, degrees,
    trailing unit text, list words (``6 and 8`` -> ``6, 8``), a trailing period or backslash,
    and brackets around a single value (``[90]``). ``decimal_comma`` off: ``-2,1`` is a list.
    """
    text = fix_double_escapes(answer).strip()
    text = text.rstrip("\\").strip().rstrip(".").strip()
    cleaned = clean_value(text, bare_clock=bare_clock)
    if cleaned is not None:
        return cleaned
    if len(text) > 2 and text[0] == "[" and text[-1] == "]" and "," not in text:
        text = text[1:-1].strip()
    text = _CURRENCY.sub("", text).strip()
    text = _DEGREES.sub("", text).strip()
    text = _PERCENT_WORD.sub(r"\\%", text).strip()
    trailing = _TRAILING_TEXT.match(text)
    if trailing and re.search(r"\d", trailing.group("value")):
        text = trailing.group("value").strip()
    if _THOUSANDS_WHOLE.match(text.replace("\u2009", " ").replace("\u202f", " ")):
        text = re.sub(r"[^\d.\-]", "", _SPACING_COMMANDS.sub("", text))
    elif re.fullmatch(r"-?\d+,\d+", text):
        text = normalise_number(text, decimal_comma=decimal_comma)
    text = last_side_of_computation(text)
    return join_listed_answers(text, _LIST_JOINERS)


def join_listed_answers(text: str, joiners: re.Pattern[str] = _TEXT_JOINERS) -> str:
    r"""Answers joined by words become one list: ``6 and 8`` -> ``6, 8``.

    When every joined part is itself a comma group (``p=5, q=2 and p=7, q=2``) the groups are
    kept apart with ``;``, which math-verify reads as a set of tuples.
    """
    parts = [part.strip().strip(",").strip() for part in joiners.split(text)]
    parts = [part for part in parts if part]
    if len(parts) <= 1:
        return text.strip().strip(",").strip()
    separator = "; " if all("," in part for part in parts) else ", "
    return separator.join(parts)


def last_side_of_computation(text: str) -> str:
    r"""``(35 + 70 = 105)`` -> ``105``: a worked computation ends in its result.

    Only when every left side is numeric (no variables), so ``y = x^2`` and ``x = 3`` stay
    equations for math-verify to compare.
    """
    if "=" not in text or "," in text or re.search(r"[<>]|\\[lg]e|\\neq", text):
        return text
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    *left_sides, result = text.split("=")
    if any(re.search(r"[A-Za-z]", _LATEX_COMMAND.sub("", side)) for side in left_sides):
        return text
    return result.strip() or text


def text_key(answer: str) -> str:
    """A comparison key for word/letter answers: unwrapped, lower-case, no spaces or ``$``."""
    text = fix_double_escapes(answer).strip().strip("$").strip().rstrip(".").strip()
    text = unwrap_text(text)
    text = text.strip().rstrip(".").strip()
    return re.sub(r"\s+", "", text).lower()


def ends_in_plain_prose(text: str) -> bool:
    """True when :func:`final_answer_span` falls back on a number in the prose: no answer
    marker, not a formula, no ``[...]``."""
    text = text.strip()
    return (
        bool(text)
        and after_answer_marker(text) is None
        and looks_like_prose(text)
        and last_bracketed(text) is None
    )


def echoed_think_statement(text: str) -> str | None:
    """The final statement of a ``<think>`` block that is never closed, for a model that
    echoed the ``<think>`` its prompt ended with and then answered inside it.

    The block's boxed answer when it has one (the whole block is returned), else its last
    paragraph with a digit (else its last paragraph). None when every think block is closed
    or there is an answer outside them. Use it only for a model that stopped by itself: a
    reasoner cut by the token limit while thinking has no answer.
    """
    start = text.rfind("<think>")
    if start < 0 or "</think>" in text[start:] or strip_thinking(text):
        return None
    block = text[start + len("<think>") :].strip()
    if not block or boxed_spans(block):
        return block or None
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", block) if p.strip()]
    with_digits = [p for p in paragraphs if re.search(r"\d", p)]
    return (with_digits or paragraphs)[-1]


def final_answer_span(
    text: str, *, decimal_comma: bool = True, bare_clock: bool = False
) -> str | None:
    """Pick the answer out of a prediction written without math delimiters.

    Order: after an answer marker (a worked computation there gives its result, else its first
    number); the whole text if it reads as a formula; the last ``[...]``; else the last number
    in the prose. None if nothing answer-like is there.
    """
    text = text.strip()
    if not text:
        return None
    marked = after_answer_marker(text)
    if marked is not None:
        if looks_like_prose(marked):
            clause = _CLAUSE_END.split(marked, maxsplit=1)[0]
            result = chain_result(clause)
            if result is not None:
                return result
            return pick_number(
                marked, last=False, decimal_comma=decimal_comma, bare_clock=bare_clock
            )
        return marked
    if not looks_like_prose(text):
        return text
    bracketed = last_bracketed(text)
    if bracketed is not None:
        return bracketed
    return pick_number(text, decimal_comma=decimal_comma, bare_clock=bare_clock)
