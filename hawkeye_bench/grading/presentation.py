r"""One value and the presentation around it: ``\text{}`` wrappers, LaTeX spacing, units,
degrees, ordinals, currency, times of day and equation chains ending in their result, turned
into a plain number (:func:`clean_value`), or None when the answer is not that shape.

These work on a "flattened" answer (:func:`flatten_presentation`): ``\text{...}`` wrappers
opened, LaTeX spacing commands turned into spaces (``\!`` removed, ``{,}`` read as a comma).
"""

from __future__ import annotations

import re

_ANY_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textnormal|textrm|textbf|textit|mbox|mathrm|mathbf|mathit|operatorname)"
    r"\s*\{([^{}]*)\}"
)
_LATEX_SPACE = re.compile(
    r"\\[,;: ]|\\(?:thinspace|enspace|quad|qquad)(?![A-Za-z])|~|[\u2009\u202f\u00a0]"
)
# Digits grouped by three (``130 000``, ``2,640``) or plain, optional decimals.
_FLAT_NUMBER = r"-?(?:\d{1,3}(?:[, ]\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_CURRENCY_SIGN = r"(?:\\\$|\$|€|£|¥|₹)"
_DEGREE_SIGN = r"(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|º|\\degree|\\textdegree|\\circ)"
_ORDINAL_SUFFIX = r"(?:\^\s*\{\s*(?:st|nd|rd|th)\s*\}|\^\s*(?:st|nd|rd|th)|(?:st|nd|rd|th))"
_UNIT_WORD = r"[A-Za-z]+\.?(?:\s*\^\s*\{?\s*[23]\s*\}?)?"
# Unit abbreviations people write glued to the number (``800ml``); any other word must be
# set apart by a space, or ``5xy`` would lose its variables.
_GLUED_UNITS = (
    "ml|cl|dl|cm|mm|km|kg|mg|lbs?|oz|ft|yds?|mph|kph|km/h|hrs?|mins?|secs?|gal|qt|kcal|cal"
)
_UNITS = (
    rf"(?:(?:(?<=\d)(?:{_GLUED_UNITS})(?![A-Za-z])\.?)?"
    rf"(?:(?:\s+|\s*/\s*|\s+per\s+){_UNIT_WORD}){{0,4}})"
)
_DECORATED_NUMBER = re.compile(
    rf"(?:{_CURRENCY_SIGN}\s*)?(?P<number>{_FLAT_NUMBER})"
    rf"(?:\s*{_ORDINAL_SUFFIX}(?![A-Za-z]))?"
    rf"(?P<degree>\s*{_DEGREE_SIGN}(?:\s*(?:[CFK](?![A-Za-z])|celsius|fahrenheit|kelvin))?)?"
    rf"(?:\s*{_CURRENCY_SIGN})?"
    rf"(?P<units>{_UNITS})"
    r"\s*\.?",
    re.IGNORECASE,
)
# Words after a number that change its value or are math, not a unit.
_NOT_UNITS = {
    "and", "or", "to", "times", "plus", "minus", "over", "divided", "squared", "cubed",
    "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion",
    "billions", "trillion", "dozen", "dozens", "half", "halves", "quarter", "quarters",
    "percent", "percentage", "pct", "pi", "ln", "log", "sin", "cos", "tan", "cot", "sec",
    "csc", "exp", "sqrt", "mod", "sinh", "cosh", "tanh", "infty", "infinity",
}  # fmt: skip
_CLOCK_SUFFIX = r"(?:[ap]\.?\s*m\b\.?|o'?\s*clock\b)"
_CLOCK_TIME = re.compile(
    rf"(?P<hour>\d{{1,2}})(?::(?P<minute>[0-5]\d))?\s*(?P<suffix>{_CLOCK_SUFFIX})?\s*\.?",
    re.IGNORECASE,
)
_CLOCK_IN_PROSE = re.compile(
    rf"(?<![\d:.,])(?P<hour>\d{{1,2}})(?::(?P<minute>[0-5]\d))?(?![\d:])"
    rf"\s*(?P<suffix>{_CLOCK_SUFFIX})?",
    re.IGNORECASE,
)
_CHAIN_OPERATOR = re.compile(r"\s*(?:[-+*/×÷·]|\\times|\\cdot|\\div)\s*")
_CHAIN_TERM = re.compile(
    rf"\(?\s*(?:{_CURRENCY_SIGN}\s*)?{_FLAT_NUMBER}(?:\s*\))?(?P<units>{_UNITS})\s*",
    re.IGNORECASE,
)


def flatten_presentation(answer: str) -> str:
    r"""``\text{...}`` wrappers opened, LaTeX spacing turned into spaces, ``\!`` dropped.

    ``130\,000\text{ people}`` -> ``130 000 people``; ``2,\!640`` -> ``2,640``; ``14{,}916``
    -> ``14,916``.
    """
    text = answer
    for _ in range(3):  # \text{\textbf{...}} nests at most a level or two
        unwrapped = _ANY_TEXT_WRAPPER.sub(lambda m: f" {m.group(1)} ", text)
        if unwrapped == text:
            break
        text = unwrapped
    text = text.replace("{,}", ",").replace("\\!", "").replace("\u2212", "-")
    text = _LATEX_SPACE.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


def clock_value(match: re.Match[str], *, bare: bool) -> str | None:
    hour, minute, suffix = int(match["hour"]), match["minute"], match["suffix"]
    if suffix is None and not (bare and minute is not None):
        return None
    if hour > (12 if suffix else 24):
        return None
    minutes = int(minute or 0)
    return str(hour) if minutes == 0 else rf"\frac{{{hour * 60 + minutes}}}{{60}}"


def clock_time_value(answer: str, *, bare: bool = False) -> str | None:
    r"""A time of day as a number of hours on the clock face, or None.

    ``2:00 pm`` -> ``2``, ``\text{4:30 p.m.}`` -> ``\frac{270}{60}``, ``9\text{ a.m.}`` -> ``9``.
    Without am/pm or o'clock, ``h:mm`` is a ratio unless ``bare`` (the gold is a plain number or
    itself a time of day, so a ratio cannot be meant).
    """
    match = _CLOCK_TIME.fullmatch(flatten_presentation(answer))
    return clock_value(match, bare=bare) if match else None


def _are_units(units: str, answer: str) -> bool:
    """True if the words after a number are units: no value-changing or math words, and no
    lone letter (a variable) unless the answer set it as text (``\\text{ F}``) or a rate."""
    words = re.findall(r"[A-Za-z]+", units)
    if any(word.lower() in _NOT_UNITS for word in words):
        return False
    if re.search(r"/|\bper\b", units):
        return True
    as_text = {w for m in _ANY_TEXT_WRAPPER.finditer(answer) for w in m.group(1).split()}
    return all(len(word) > 1 or word in as_text for word in words)


def plain_number(answer: str) -> str | None:
    r"""The number in ``answer`` when everything around it is presentation, else None.

    ``-3°C`` -> ``-3``; ``49 \degree\text{F}`` -> ``49``; ``130\,000\text{ people}`` ->
    ``130000``; ``2,\!640 \text{\$}`` -> ``2640``; ``6^\text{th}`` -> ``6``; ``800 ml.`` ->
    ``800``. Not presentation: words that change the value or are math (``5 thousand``,
    ``28 percent``, ``2 \pi``) and lone letters, which are variables (``3 x``).
    """
    return _number_in(flatten_presentation(answer), answer)


def _number_in(flat: str, answer: str) -> str | None:
    match = _DECORATED_NUMBER.fullmatch(flat.strip())
    if not match or not _are_units(match["units"], answer):
        return None
    number = match["number"]
    if re.match(r"-?0[, ]", number):  # 0,111 is a decimal comma, not thousands
        return None
    return number.replace(",", "").replace(" ", "")


def _numeric_side(side: str, answer: str) -> bool:
    """True if ``side`` is numbers (each maybe with unit words) joined by operators."""
    side = side.strip()
    position, want_term = 0, True
    while position < len(side):
        match = (_CHAIN_TERM if want_term else _CHAIN_OPERATOR).match(side, position)
        if not match or match.end() == position:
            return False
        if want_term and not _are_units(match["units"], answer):
            return False
        position, want_term = match.end(), not want_term
    return not want_term


def chain_result(answer: str) -> str | None:
    """The result of a computation written as an equation chain, or None.

    ``470 cows + 230 chickens = 700 animals`` -> ``700``. Every side but the last must be
    numbers joined by operators (unit words allowed after each number) and the last side one
    number, so equations with variables (``x = 3``) never qualify.
    """
    flat = flatten_presentation(answer)
    if "=" not in flat or len(flat) > 400:
        return None
    *left_sides, last = flat.split("=")
    if not all(_numeric_side(side, answer) for side in left_sides):
        return None
    return _number_in(last, answer)


def clean_value(answer: str, *, bare_clock: bool = False) -> str | None:
    """One value with presentation around it (a time of day, units, ordinals, spacing, or an
    equation chain ending in it) as a plain number; None when ``answer`` is not that shape."""
    return clock_time_value(answer, bare=bare_clock) or plain_number(answer) or chain_result(answer)


def clock_times(text: str, *, bare: bool = False) -> list[tuple[int, int, str]]:
    """(start, end, hours) of every time of day in free text (``2:00 pm``; ``2:00`` too when
    ``bare``)."""
    found = []
    for match in _CLOCK_IN_PROSE.finditer(text):
        value = clock_value(match, bare=bare)
        if value is not None:
            found.append((match.start(), match.end(), value))
    return found
