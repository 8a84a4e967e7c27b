"""Turn a judge reply into scores or a typed failure; never into a made-up score.

``json.loads`` first; only if that fails, the tolerant path (strip code fences, take the last
JSON object in the text). Then pydantic validates the shape and the score range. Anything that
does not validate is a ``parse_error`` with the raw text kept by the caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, create_model

from hawkeye_bench.judging.client import ChatReply
from hawkeye_bench.judging.config import Criterion

Status = Literal["ok", "parse_error", "refusal", "truncated", "api_error"]
FAILURE_STATUSES = ("parse_error", "refusal", "truncated", "api_error")
Leaf = Literal["score", "verdict"]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_VERDICT_ALIASES = {"a": "A", "b": "B", "tie": "tie", "c": "tie", "equal": "tie"}


@dataclass
class ParsedReply:
    status: Status
    values: dict[str, Any] | None = None  # criterion -> score (int) or verdict ("A"/"B"/"tie")
    explanations: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _normalise_verdict(value: Any) -> Any:
    if isinstance(value, str):
        return _VERDICT_ALIASES.get(value.strip().strip("[]").lower(), value)
    return value


@cache
def _reply_model(criteria: tuple[Criterion, ...], leaf: Leaf) -> type[BaseModel]:
    """A pydantic model of the expected reply for these criteria (extra keys ignored)."""
    fields: dict[str, Any] = {}
    for c in criteria:
        if leaf == "score":
            leaf_type: Any = Annotated[int, Field(ge=c.scale.min, le=c.scale.max)]
        else:
            leaf_type = Annotated[Literal["A", "B", "tie"], BeforeValidator(_normalise_verdict)]
        item = create_model(f"{c.name}_{leaf}", explanation=(str, ""), **{leaf: (leaf_type, ...)})
        fields[c.name] = (item, ...)
    return create_model(f"JudgeReply_{leaf}", **fields)


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in ``text``: the whole text, a fenced block, or the last object in it."""
    try:
        data = json.loads(text)
        return data if isinstance(data, dict) else None
    except json.JSONDecodeError:
        pass
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        found = _last_top_level_object(candidate)
        if found is not None:
            return found
    return None


def _last_top_level_object(text: str) -> dict[str, Any] | None:
    """Scan left to right, skipping over each object decoded; keep the last one."""
    decoder = json.JSONDecoder()
    last = None
    position = text.find("{")
    while position != -1:
        try:
            obj, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(obj, dict):
            last = obj
        position = text.find("{", end)
    return last


def _lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in data.items()}


def parse_reply(
    reply: ChatReply, criteria: Sequence[Criterion], leaf: Leaf = "score"
) -> ParsedReply:
    """Classify ``reply``: ok with one value per criterion, or a typed failure."""
    if reply.refusal:
        return ParsedReply("refusal", error=f"refused: {reply.refusal}")
    if reply.finish_reason == "content_filter":
        return ParsedReply("refusal", error="stopped by the provider's content filter")
    text = reply.text or ""
    data = extract_json_object(text) if text.strip() else None
    error: str
    if data is None:
        error = "no JSON object in the reply" if text.strip() else "empty reply"
    else:
        try:
            parsed = _reply_model(tuple(criteria), leaf).model_validate(_lower_keys(data))
        except ValidationError as exc:
            error = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
        else:
            items = {c.name: getattr(parsed, c.name) for c in criteria}
            return ParsedReply(
                "ok",
                values={name: getattr(item, leaf) for name, item in items.items()},
                explanations={name: item.explanation for name, item in items.items()},
            )
    if reply.finish_reason == "length":
        return ParsedReply("truncated", error=f"hit the token limit ({error})")
    return ParsedReply("parse_error", error=error)
