"""Decide whether a model's answer equals the gold answer (math-verify + sympy), in-process.

This module does the actual work with math-verify's own timeouts switched off
(``parsing_timeout=None, timeout_seconds=None``): its ``signal.alarm`` timer fails off the main
thread. Callers that need a wall-clock bound use :mod:`hawkeye_bench.grading.workers`,
which runs these functions in worker processes it can kill.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from sympy import And, Eq, Ne, Or, Set, Symbol
from sympy.core.relational import Relational

from hawkeye_bench.core.boxed import last_boxed_content
from hawkeye_bench.datasets.registry import GoldFormat, gold_format_of
from hawkeye_bench.grading.boxes import (
    boxed_answer_ending_thinking,
    boxed_spans,
    clean_boxed_answers,
    repeated_boxed_answer,
)
from hawkeye_bench.grading.choices import grade_choice
from hawkeye_bench.grading.context import AnswerContext
from hawkeye_bench.grading.extraction import (
    echoed_think_statement,
    ends_in_plain_prose,
    final_answer_span,
    fix_double_escapes,
    has_math_delimiters,
    join_listed_answers,
    normalise_bare_answer,
    strip_thinking,
    text_key,
)
from hawkeye_bench.grading.grade import AnswerSource, Grade
from hawkeye_bench.grading.presentation import clock_time_value
from hawkeye_bench.grading.prose import prose_answer
from hawkeye_bench.grading.units import two_unit_values

# math-verify warns once per process that its timeout is off; we bound time ourselves.
logging.getLogger("math_verify").setLevel(logging.ERROR)

PREDICTION_CONFIG = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())
GOLD_DELIMITED_CONFIG = (LatexExtractionConfig(), ExprExtractionConfig())
LATEX_CONFIG = (LatexExtractionConfig(),)
EXPR_CONFIG = (ExprExtractionConfig(),)


def _parse(text: str, config: tuple[Any, ...]) -> list[Any]:
    return parse(text, extraction_config=list(config), parsing_timeout=None)


def _has_math_object(parsed: list[Any]) -> bool:
    """math-verify appends the raw string as a fallback; we want a parsed sympy object."""
    return any(not isinstance(item, str) for item in parsed)


def parse_bare(answer: str, *, decimal_comma: bool = True, bare_clock: bool = False) -> list[Any]:
    """Parse one answer written without ``$``: as LaTeX first, then as a plain expression."""
    normalised = normalise_bare_answer(answer, decimal_comma=decimal_comma, bare_clock=bare_clock)
    if not normalised:
        return []
    parsed = _parse(f"${normalised}$", LATEX_CONFIG)
    if _has_math_object(parsed):
        return parsed
    as_expression = _parse(normalised, EXPR_CONFIG)
    return as_expression if _has_math_object(as_expression) else parsed


def prediction_answer(
    text: str,
    *,
    decimal_comma: bool = True,
    bare_clock: bool = False,
    question: str | None = None,
) -> tuple[str | None, list[Any], str | None]:
    """(answer string, parsed forms, why ambiguous) of a model completion, thinking removed.

    Boxed values lose their presentation first (units, times of day, LaTeX spacing), and one
    value boxed several times is one answer. ``decimal_comma`` off: ``-2,1`` is a list;
    ``bare_clock``: ``4:30`` is a time of day, not a ratio. An answer in plain prose goes
    through :mod:`hawkeye_bench.grading.prose` (bold, then the ``question``'s givens) before
    the last number is taken; where those rules cannot decide, the third item says why.
    """
    answer_text = clean_boxed_answers(
        fix_double_escapes(strip_thinking(text)), bare_clock=bare_clock
    )
    decided = None
    if not boxed_spans(answer_text) and ends_in_plain_prose(answer_text):
        decided = prose_answer(answer_text, question)  # "$18 ... at $2" is prose, not math
    if decided is not None and decided.ambiguous is not None:
        return None, [], decided.ambiguous
    if decided is not None and decided.span is not None:
        return decided.span, parse_bare(decided.span, decimal_comma=decimal_comma), None
    if has_math_delimiters(answer_text):
        repeated = repeated_boxed_answer(answer_text)
        if repeated is not None:
            answer_text = f"$\\boxed{{{repeated}}}$"
        parsed = _parse(join_listed_answers(answer_text), PREDICTION_CONFIG)
        if parsed:
            return _display(parsed, last_boxed_content(answer_text)), parsed, None
    span = final_answer_span(answer_text, decimal_comma=decimal_comma, bare_clock=bare_clock)
    if span is None:
        return None, [], None
    return span, parse_bare(span, decimal_comma=decimal_comma, bare_clock=bare_clock), None


# Digits in groups of three joined by commas: a thousands number or a list of numbers.
_GROUPED_DIGITS = re.compile(r"-?\d{1,3}(?:,\d{3})+")


def gold_answer(gold: str, gold_format: GoldFormat = "auto") -> tuple[str, list[Any]]:
    """(answer string, parsed forms) of a gold answer.

    A LaTeX (MATH) gold with a comma between numbers is a list, never a decimal comma
    (``-2,1``); digits in groups of three (``58,500``, ``70,110``) may be either a thousands
    number or a list, so both readings are kept and either one matches (no list reading when
    a group starts with 0: ``10,080`` is a number).
    """
    gold = fix_double_escapes(gold.strip())
    if gold_format == "number":
        parsed = _parse(gold, EXPR_CONFIG)
        return gold, parsed if _has_math_object(parsed) else parse_bare(gold)
    if gold_format == "latex":
        parsed = parse_bare(gold, decimal_comma=False)
        items = gold.split(",")
        if _GROUPED_DIGITS.fullmatch(gold) and not any(i.startswith("0") for i in items[1:]):
            listed = ", ".join(items)
            parsed = parsed + _parse(f"$\\{{{listed}\\}}$", LATEX_CONFIG)
        return gold, parsed
    if has_math_delimiters(gold):
        parsed = _parse(join_listed_answers(gold), GOLD_DELIMITED_CONFIG)
        return _display(parsed, last_boxed_content(gold)) or gold, parsed
    span = final_answer_span(gold)
    return (span, parse_bare(span)) if span is not None else (gold, [])


def _display(parsed: list[Any], boxed: str | None) -> str | None:
    """A human-readable extracted answer: the matched string math-verify kept, else boxed."""
    strings = [item for item in parsed if isinstance(item, str)]
    if strings:
        return strings[-1]
    if boxed is not None:
        return boxed
    return str(parsed[0]) if parsed else None


def as_solution_sets(parsed: list[Any]) -> list[Any]:
    """Inequalities in one variable as the set they describe (``-2 <= x <= 7`` -> ``[-2, 7]``).

    math-verify compares an interval with a single inequality but not with a chained one, nor
    ``x \\in [a, b]`` with ``a <= x <= b``. Equations are left alone (math-verify handles them).
    """
    converted = []
    for item in parsed:
        if isinstance(item, Eq) and isinstance(item.rhs, Set) and isinstance(item.lhs, Symbol):
            converted.append(item.rhs)
        elif (
            isinstance(item, (And, Or, Relational))
            and not isinstance(item, (Eq, Ne))
            and len(item.free_symbols) == 1
        ):
            try:
                converted.append(item.as_set())
            except (NotImplementedError, TypeError, ValueError):
                converted.append(item)
        else:
            converted.append(item)
    return converted


def compare(
    gold_text: str, gold_parsed: list[Any], pred_text: str | None, pred_parsed: list[Any]
) -> tuple[bool, str | None]:
    """(equal, method): math-verify on the parsed forms, else equal word/letter answers."""
    if gold_parsed and pred_parsed:
        if verify(gold_parsed, pred_parsed, timeout_seconds=None):
            return True, "math-verify"
        gold_sets, pred_sets = as_solution_sets(gold_parsed), as_solution_sets(pred_parsed)
        if (gold_sets != gold_parsed or pred_sets != pred_parsed) and verify(
            gold_sets, pred_sets, timeout_seconds=None
        ):
            return True, "solution-set"
    if pred_text is not None and gold_text is not None:
        gold_key, pred_key = text_key(gold_text), text_key(pred_text)
        if gold_key and gold_key == pred_key:
            return True, "text"
    compared = "math-verify" if gold_parsed and pred_parsed else None
    return False, compared


def gold_format_for(dataset: str | None) -> GoldFormat:
    """How the dataset writes its gold answers, as its registry entry declares."""
    return gold_format_of(dataset)


def _either_unit(
    values: list[str], gold_text: str, gold_parsed: list[Any], source: AnswerSource
) -> Grade:
    """One quantity boxed in two units: right when either value equals the gold."""
    for value in values:
        correct, method = compare(gold_text, gold_parsed, value, parse_bare(value))
        if correct:
            break
    return Grade(" or ".join(values), correct, method=method, answer_source=source)


def grade_unbounded(
    text: str, gold: str, dataset: str | None = None, context: AnswerContext | None = None
) -> Grade:
    """Grade one completion with no time limit (run it where it can be killed).

    When the text after a closed think block has no boxed answer and the think block ends
    with one, that answer is graded and the Grade says ``answer_source="think"``. With a
    ``context`` the question's numbers help read a prose answer, and a model that stopped by
    itself inside an unclosed ``<think>`` is graded on its final statement there.
    """
    context = context or AnswerContext()
    gold_format = gold_format_for(dataset)
    if gold_format == "choice":
        return grade_choice(text, gold)
    gold_text, gold_parsed = gold_answer(gold, gold_format)
    source: AnswerSource = "final"
    thinking_answer = boxed_answer_ending_thinking(text)
    echoed = echoed_think_statement(text) if context.stopped else None
    if thinking_answer is not None:
        text, source = f"$\\boxed{{{thinking_answer}}}$", "think"
    elif echoed is not None:
        text, source = echoed, "unclosed_think"
    two_units = two_unit_values(last_boxed_content(strip_thinking(text)))
    if two_units is not None:
        return _either_unit(two_units, gold_text, gold_parsed, source)
    pred_text, pred_parsed, ambiguous = prediction_answer(
        text,
        decimal_comma=gold_format != "latex",
        bare_clock=gold_format == "number" or clock_time_value(gold) is not None,
        question=context.question,
    )
    correct, method = compare(gold_text, gold_parsed, pred_text, pred_parsed)
    if pred_text is None and not pred_parsed:
        return Grade(extracted=None, correct=False, error=None, method=None, ambiguous=ambiguous)
    return Grade(extracted=pred_text, correct=correct, method=method, answer_source=source)
