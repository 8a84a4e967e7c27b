r"""Boxed answers: where each ``\boxed{}`` (``\fbox``, ``\framebox``) is, boxes holding one
value with presentation around it rewritten to the plain value, one answer boxed more than
once, and the think block's final box when the post-think summary was cut."""

from __future__ import annotations

import re

from hawkeye_bench.core.trace import split_thinking
from hawkeye_bench.grading.presentation import clean_value, flatten_presentation

_BOXED_OPEN = re.compile(r"\\(?:boxed|fbox|framebox)\s*\{")
# After the think block's last boxed answer only a short remark may follow (no more numbers).
_THINK_TAIL_LIMIT = 200


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
