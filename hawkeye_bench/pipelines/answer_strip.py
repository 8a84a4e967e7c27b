r"""Removing the answer from a writer's chain of thought before it is compressed.

The seed's study removes the final answer from the writer's CoT, so that the responder answers
from the reasoning and not from a stated result. Removed: every ``\boxed{...}`` (also
``\fbox``, ``\framebox``; brace-matched, with its command) and every sentence that states a
final answer ("The answer is 18.", "Final answer: 18", "#### 18"). Nothing else is touched.
"""

from __future__ import annotations

import re

from hawkeye_bench.grading.boxes import boxed_spans

#: a sentence (to its end or the line's) that states the final answer
_ANSWER_SENTENCE = re.compile(
    r"[^.!?\n]*(?:final\s+answer|the\s+answer\s+is|\banswer\s*:|####)[^\n]*?(?:[.!?](?=\s|$)|$)",
    re.IGNORECASE | re.MULTILINE,
)
_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACE_RUNS = re.compile(r"[ \t]{2,}")


def strip_answer(text: str) -> str:
    """``text`` without its boxes and answer statements (see the module doc)."""
    pieces, position = [], 0
    for start, end in boxed_spans(text):
        command = text.rfind("\\", 0, start)
        pieces.append(text[position:command])
        position = end + 1
    pieces.append(text[position:])
    without_boxes = "".join(pieces)
    stripped = _ANSWER_SENTENCE.sub("", without_boxes)
    stripped = _SPACE_RUNS.sub(" ", _BLANK_RUNS.sub("\n\n", stripped))
    return "\n".join(line.rstrip() for line in stripped.splitlines()).strip()
