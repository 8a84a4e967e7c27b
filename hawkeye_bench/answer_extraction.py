r"""Find the final answer in a model's text and normalise how it is written.

Pure string functions, no sympy: they decide *which* part of a completion is the answer and
rewrite presentation-only details (thousands separators, currency, units, percent words,
``\text{}`` wrappers, lists joined with words) so that :mod:`hawkeye_bench.equivalence` can hand
math-verify a clean LaTeX string. Nothing here knows about particular datasets or test cases.
"""

from __future__ import annotations

import re

from hawkeye_bench.trace import split_thinking

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

# "The answer is", "Final answer:", French/Spanish/German/Chinese/Japanese equivalents.
_ANSWER_MARKER = re.compile(
    r"(?:final\s+answer|answer|r[ée]ponse|respuesta|antwort|答案|答)"
    r"(?:\s*(?:is|est|es|ist|:|：|=)\s*|\s+)",
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


def strip_thinking(text: str) -> str:
    """The answer part of a completion (everything after the thinking)."""
    return split_thinking(text)[1]


def last_boxed_content(text: str) -> str | None:
    r"""Return the content of the last ``\boxed{...}`` / ``\fbox{...}`` in ``text``, or None.

    Braces are matched by counting (answers nest braces: ``\boxed{\frac{1}{2}}``), so a regex
    cannot do this. ``\boxed 5`` (no braces) yields the token after the space.
    """
    starts = [(text.rfind(marker), marker) for marker in ("\\boxed", "\\fbox", "\\framebox")]
    start, marker = max(starts)
    if start < 0:
        return None
    rest = text[start + len(marker) :]
    if rest.startswith(" "):  # \boxed 5
        token = rest[1:].split("$", 1)[0].split()
        return token[0] if token else None
    brace = rest.find("{")
    if brace < 0 or rest[:brace].strip():
        return None
    depth = 0
    for offset, char in enumerate(rest[brace:]):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return rest[brace + 1 : brace + offset].strip()
    return None  # unbalanced


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


def pick_number(text: str, *, last: bool = True) -> str | None:
    r"""The last (or first) number, ``\frac{a}{b}`` or ``a/b`` in free text.

    The last number is what GSM8K-style graders take from a worked answer; right after an
    answer marker the first one is the answer ("Answer: 220 $ to pay within 12 months").
    """
    candidates = [(m.start(), m.group(0)) for m in _NUMBER.finditer(text)]
    candidates += [(m.start(), m.group(0)) for m in _LATEX_FRACTION.finditer(text)]
    if not candidates:
        return None
    number = (max(candidates) if last else min(candidates))[1].replace(" ", "")
    return normalise_number(number)


def normalise_number(number: str) -> str:
    """``1,000`` -> ``1000``; a comma that cannot be a thousands separator is a decimal comma."""
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", number) and not number.lstrip(
        "-"
    ).startswith("0,"):
        return number.replace(",", "")
    return re.sub(r"(?<=\d),(?=\d+$)", ".", number)


def unwrap_text(text: str) -> str:
    r"""``\text{E}`` -> ``E`` (repeatedly), for answers that are words or letters."""
    current = text.strip()
    while True:
        match = _WRAPPER.match(current)
        if not match:
            return current
        current = match.group(1).strip()


def normalise_bare_answer(answer: str) -> str:
    r"""Rewrite one bare answer (no ``$`` delimiters) into plain LaTeX math-verify can parse.

    Presentation only: thousands separators, currency, percent words, degrees, trailing unit
    text, list words (``6 and 8`` -> ``6, 8``), a trailing period or backslash, and brackets
    around a single value (``[90]``).
    """
    text = fix_double_escapes(answer).strip()
    text = text.rstrip("\\").strip().rstrip(".").strip()
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
        text = normalise_number(text)
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


def final_answer_span(text: str) -> str | None:
    """Pick the answer out of a prediction written without math delimiters.

    Order: after an answer marker; the whole text if it reads as a formula; the last
    ``[...]``; else the last number in the prose. None if nothing answer-like is there.
    """
    text = text.strip()
    if not text:
        return None
    marked = after_answer_marker(text)
    if marked is not None:
        if looks_like_prose(marked):
            return pick_number(marked, last=False)
        return marked
    if not looks_like_prose(text):
        return text
    bracketed = last_bracketed(text)
    if bracketed is not None:
        return bracketed
    return pick_number(text)
