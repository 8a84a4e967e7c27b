"""What a judge is asked: the messages and the JSON schema of the reply.

One call rates all chosen criteria at once and returns ``{criterion: {explanation, score}}``
(explanation first, so a schema-following model reasons before it scores). The static part
(instructions and rubrics) comes first in the system message so provider prompt caching
applies; the answer-specific part is the user message.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from hawkeye_bench.judging.config import Criterion
from hawkeye_bench.judging.request_body import ChatMessage, JsonSchema

#: Part of every cache key: bump when the wording or layout below changes.
PROMPT_VERSION = "hawkeye-judge-v1"
PAIRWISE_VERDICTS = ("A", "B", "tie")


@dataclass(frozen=True)
class AnswerView:
    """What the judge is shown about one answer. ``reference``/``reasoning`` only if asked for."""

    question: str
    answer: str
    reference: str | None = None
    reasoning: str | None = None


def _rubric_block(criteria: Sequence[Criterion]) -> str:
    parts = []
    for c in criteria:
        title = c.title or c.name.capitalize()
        parts.append(
            f"### {c.name} ({title}): integer score {c.scale.min}-{c.scale.max}\n{c.rubric.strip()}"
        )
    return "\n\n".join(parts)


def _explanation_schema(max_chars: int | None) -> JsonSchema:
    schema: JsonSchema = {"type": "string"}
    if max_chars is not None:
        schema["maxLength"] = max_chars
    return schema


def _object(properties: dict[str, JsonSchema]) -> JsonSchema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def score_schema(
    criteria: Sequence[Criterion], explanation_max_chars: int | None = None
) -> JsonSchema:
    """Strict-mode JSON schema: every field required, no extra fields, explanation first.

    Scores are an integer ``enum`` rather than minimum/maximum because llama.cpp's grammar
    compiler ignores integer bounds but honours enums; OpenAI strict mode accepts both.
    """
    return _object(
        {
            c.name: _object(
                {
                    "explanation": _explanation_schema(explanation_max_chars),
                    "score": {
                        "type": "integer",
                        "enum": list(range(c.scale.min, c.scale.max + 1)),
                    },
                }
            )
            for c in criteria
        }
    )


def pairwise_schema(
    criteria: Sequence[Criterion], explanation_max_chars: int | None = None
) -> JsonSchema:
    return _object(
        {
            c.name: _object(
                {
                    "explanation": _explanation_schema(explanation_max_chars),
                    "verdict": {"type": "string", "enum": list(PAIRWISE_VERDICTS)},
                }
            )
            for c in criteria
        }
    )


def schema_hash(schema: JsonSchema) -> str:
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


def _shape_example(criteria: Sequence[Criterion], leaf: str) -> str:
    return json.dumps({c.name: {"explanation": "...", leaf: "..."} for c in criteria})


def single_messages(criteria: Sequence[Criterion], view: AnswerView) -> list[ChatMessage]:
    """Messages for rating one answer on all ``criteria`` in one call."""
    system = (
        "You are an impartial expert grader of solutions to math problems. Rate the answer on "
        "each criterion below, independently of the others, using its rubric. Do not let the "
        "length of the answer influence you beyond what a criterion asks for.\n\n"
        f"{_rubric_block(criteria)}\n\n"
        "Reply with only a JSON object, no other text, of this shape: "
        f"{_shape_example(criteria, 'score')}\n"
        "For each criterion write a brief explanation first, then the integer score."
    )
    user = [f"## Question\n{view.question.strip()}"]
    if view.reference is not None:
        user.append(f"## Reference answer\n{view.reference.strip()}")
    if view.reasoning is not None:
        user.append(f"## The model's reasoning before its answer\n{view.reasoning.strip()}")
    user.append(f"## Answer to rate\n{view.answer.strip()}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(user)}]


def pairwise_messages(
    criteria: Sequence[Criterion],
    question: str,
    answer_a: str,
    answer_b: str,
    reference: str | None = None,
) -> list[ChatMessage]:
    """Messages for comparing two answers; the caller asks twice with the answers swapped."""
    system = (
        "You are an impartial expert grader comparing two solutions to the same math problem. "
        "For each criterion below, decide which answer is better by that criterion's rubric: "
        '"A", "B", or "tie" if they are equally good. Avoid any position bias: the order in '
        "which the answers appear must not influence you. Do not let the length of the answers "
        "influence you beyond what a criterion asks for.\n\n"
        f"{_rubric_block(criteria)}\n\n"
        "Reply with only a JSON object, no other text, of this shape: "
        f"{_shape_example(criteria, 'verdict')}\n"
        'For each criterion write a brief explanation first, then the verdict "A", "B" or "tie".'
    )
    user = [f"## Question\n{question.strip()}"]
    if reference is not None:
        user.append(f"## Reference answer\n{reference.strip()}")
    user.append(f"## Answer A\n{answer_a.strip()}")
    user.append(f"## Answer B\n{answer_b.strip()}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(user)}]
