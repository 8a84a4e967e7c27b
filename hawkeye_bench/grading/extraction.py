r"""Find the final answer in a model's text and normalise how it is written.

Pure string functions, no sympy: they decide *which* part of a completion is the answer (the
post-think text, or the think block's final boxed answer when the post-think summary was cut)
and rewrite presentation-only details (thousands separators, LaTeX spacing, currency, units,
degrees, ordinals, times of day, percent words, ``\text{}`` wrappers, lists joined with words,
equation chains ending in their result) so that :mod:`hawkeye_bench.grading.equivalence` can hand
math-verify a clean LaTeX string. Nothing here knows about particular datasets or test cases.
"""

from __future__ import annotations

import re

from hawkeye_bench.core.trace import split_thinking

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

# ----------------------------------------------------------------- presentation around one value
# These work on a "flattened" answer: ``\text{...}`` wrappers opened, LaTeX spacing commands
# turned into spaces (``\!`` removed, ``{,}`` read as a comma).
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
_CLAUSE_END = re.compile(r"[.;!?](?=\s|$)|,\s+(?=[A-Za-z])")
_BOXED_OPEN = re.compile(r"\\(?:boxed|fbox|framebox)\s*\{")
# After the think block's last boxed answer only a short remark may follow (no more numbers).
_THINK_TAIL_LIMIT = 200


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
    clocks = []
    for match in _CLOCK_IN_PROSE.finditer(text):
        value = _clock_value(match, bare=bare_clock)
        if value is not None:
            clocks.append((match.start(), match.end(), value))
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


# ----------------------------------------------------------------- one value and its presentation


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


def _clock_value(match: re.Match[str], *, bare: bool) -> str | None:
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
    return _clock_value(match, bare=bare) if match else None


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


def boxed_spans(text: str) -> list[tuple[int, int]]:
    r"""(start, end) of the content of every brace-matched ``\boxed{...}``, outermost only."""
    spans: list[tuple[int, int]] = []
    position = 0
    while (match := _BOXED_OPEN.search(text, position)) is not None:
        depth = 1
        for index in range(match.end(), len(text)):
            char = text[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    spans.append((match.end(), index))
                    position = index + 1
                    break
        else:
            break  # unbalanced: nothing further is a complete box
    return spans


def clean_boxed_answers(text: str, *, bare_clock: bool = False) -> str:
    r"""Rewrite each ``\boxed{...}`` that holds one value with presentation around it.

    ``\boxed{2:00 pm}`` -> ``\boxed{2}``, ``\boxed{-3°C}`` -> ``\boxed{-3}``,
    ``\boxed{10\,000}`` -> ``\boxed{10000}``; other boxes are left for math-verify.
    """
    parts: list[str] = []
    position = 0
    for start, end in boxed_spans(text):
        content = text[start:end]
        cleaned = clean_value(content, bare_clock=bare_clock)
        if cleaned is not None and cleaned != content.strip():
            parts += [text[position:start], cleaned]
            position = end
    return "".join(parts) + text[position:] if parts else text


def _value_key(content: str) -> str:
    key = flatten_presentation(content)
    key = re.sub(r"\\(?:left|right|displaystyle)(?![A-Za-z])", "", key)
    key = re.sub(r"\\[dt]frac(?![A-Za-z])", r"\\frac", key)
    return re.sub(r"\s+", "", key)


def repeated_boxed_answer(text: str) -> str | None:
    r"""The boxed content when ``text`` boxes the same value more than once and nothing else.

    ``... = \boxed{18}. **Final Answer** \boxed{18}`` is one answer, not the list ``18, 18``.
    """
    contents = [text[start:end] for start, end in boxed_spans(text)]
    if len(contents) < 2 or len({_value_key(content) for content in contents}) > 1:
        return None
    return contents[-1].strip()


def boxed_answer_ending_thinking(text: str) -> str | None:
    r"""The think block's final ``\boxed{}`` content when the text after ``</think>`` has none.

    That is a completion whose post-think summary was cut by the token limit after the model
    had committed to an answer at the end of its closed think block. None when there is no
    closed think block, when the post-think part has its own box, or when the think block's
    last box is followed by more working (any digit, or more than a short remark).
    """
    if "</think>" not in text:
        return None
    thinking, answer = split_thinking(text)
    if any(marker in answer for marker in ("\\boxed", "\\fbox", "\\framebox")):
        return None
    spans = boxed_spans(thinking)
    if not spans:
        return None
    start, end = spans[-1]
    tail = thinking[end + 1 :]
    if len(tail) > _THINK_TAIL_LIMIT or re.search(r"\d", tail):
        return None
    return thinking[start:end].strip() or None
