"""Turn a judge reply into scores or a typed failure; never into a made-up score.

Which JSON object, if any, is the judge's verdict:

1. The whole reply is a JSON object, or (after stripping a code fence around all of it) one
   fenced JSON object: that object is the verdict. Its explanations are not searched for
   refusal words (a schema-following reply always has this form, and "I can't see a flaw" is
   an explanation, not a refusal).
2. Otherwise the reply is prose, and only the LAST JSON object in it is a candidate: an earlier
   one is a draft or a quote, and when the last one does not validate the reply is a
   ``parse_error``, never an earlier object that happens to fit. The candidate is rejected when
   the prose around it has refusal language ("I can't", "I'm unable", "I'm sorry", "as an
   AI", ...): the reply is a ``refusal`` (a refusal quoting an example reply is not a rating);
   or when the words just before it introduce it as an example ("for example", "e.g.",
   "such as", "template", ...): a ``parse_error``.
3. Prose with no usable object is ``truncated`` when the provider stopped at the token limit,
   else a ``refusal`` when it has refusal language, else a ``parse_error``.

Only a bounded reply is parsed: at most :data:`MAX_REPLY_CHARS` characters, brackets nested at
most :data:`MAX_JSON_DEPTH` deep, integers of at most :data:`MAX_INT_DIGITS` digits and at most
:data:`MAX_CANDIDATES` places that look like the start of an object. Anything beyond is a
``parse_error`` (``truncated`` at the token limit) of that judgement, found in time linear in
the reply, never a crash of the whole run.

Pydantic then validates the object: every criterion present, each score a number on that
criterion's scale (an integer, or a float or string holding one; ``true``/``false`` are not
numbers, although Python counts bool as int), each verdict A/B/tie. Anything else is a typed
failure; the caller keeps the raw text.
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

#: A reply that is one code-fenced block and nothing else.
_WHOLE_FENCE = re.compile(r"\A```[a-zA-Z]*[ \t]*\n?(.*?)\n?[ \t]*```\Z", re.DOTALL)
_APOSTROPHE = "['\u2019]"
#: First-person refusal phrases; looked for only in prose around (or instead of) the JSON.
_REFUSAL = re.compile(
    rf"\bI(?:\s+can(?:{_APOSTROPHE}t|not|\s+not)|\s+won{_APOSTROPHE}t|\s+will\s+not"
    rf"|(?:\s+am|{_APOSTROPHE}m)\s+(?:not\s+able|unable|sorry|afraid)"
    r"|\s+must\s+decline|\s+decline|\s+apologi[sz]e)\b"
    r"|\bas\s+an\s+AI\b"
    r"|\bunable\s+to\s+(?:rate|grade|evaluate|assess|score|judge|comply|help|assist)\b",
    re.IGNORECASE,
)
#: Words that present the JSON after them as an example rather than as the verdict.
_EXAMPLE_INTRO = re.compile(
    r"\b(?:for\s+example|for\s+instance|such\s+as|an\s+example|example\s+"
    r"(?:reply|response|output|answer|json)|template|placeholder)\b|\be\.g\.",
    re.IGNORECASE,
)
#: How far before the candidate object an example introduction is looked for.
_INTRO_WINDOW = 80
#: A verdict is a few hundred characters; a longer reply is not parsed.
MAX_REPLY_CHARS = 100_000
#: A verdict nests two levels; deeper brackets are not parsed (the decoder recurses per level).
MAX_JSON_DEPTH = 32
#: Scores are small; a longer integer is not converted (Python refuses over 4,300 digits).
MAX_INT_DIGITS = 64
#: Places in prose where an object may start (``{`` then ``"`` or ``}``) that are tried.
MAX_CANDIDATES = 1000
#: Where an object may start: an empty object or a first key.
_OBJECT_START = re.compile(r'\{\s*["}]')
_BRACKET = re.compile(r"[\[\]{}]")
_VERDICT_ALIASES = {"a": "A", "b": "B", "tie": "tie", "c": "tie", "equal": "tie"}


class ReplyTooLarge(Exception):
    """The reply is beyond what is parsed (:data:`MAX_REPLY_CHARS` and the other bounds)."""


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ReplyTooLarge(
            f"an integer of {len(digits.lstrip('-'))} digits (at most {MAX_INT_DIGITS} are read)"
        )
    return int(digits)


_DECODER = json.JSONDecoder(parse_int=_bounded_int)


def check_bounds(text: str) -> None:
    """Raise :class:`ReplyTooLarge` when ``text`` is too long or nests brackets too deep.

    The depth counts every bracket, in strings too: an over-estimate, never an under-estimate.
    """
    if len(text) > MAX_REPLY_CHARS:
        raise ReplyTooLarge(
            f"a reply of {len(text)} characters (at most {MAX_REPLY_CHARS} are parsed)"
        )
    depth = 0
    for match in _BRACKET.finditer(text):
        if match.group(0) in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ReplyTooLarge(f"brackets nested more than {MAX_JSON_DEPTH} deep (not parsed)")
        elif depth:
            depth -= 1


@dataclass
class ParsedReply:
    status: Status
    scores: dict[str, int] | None = None  # criterion -> score, when ok and rating answers
    verdicts: dict[str, str] | None = None  # criterion -> "A"/"B"/"tie", when ok and pairwise
    explanations: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def values(self) -> dict[str, int] | dict[str, str] | None:
        """The scores or the verdicts, whichever this reply holds (None for a failure)."""
        return self.scores if self.scores is not None else self.verdicts


def _normalise_verdict(value: Any) -> Any:
    if isinstance(value, str):
        return _VERDICT_ALIASES.get(value.strip().strip("[]").lower(), value)
    return value


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a score")
    return value


@cache
def _reply_model(criteria: tuple[Criterion, ...], leaf: Leaf) -> type[BaseModel]:
    """A pydantic model of the expected reply for these criteria (extra keys ignored)."""
    fields: dict[str, Any] = {}
    for c in criteria:
        if leaf == "score":
            leaf_type: Any = Annotated[
                int, Field(ge=c.scale.min, le=c.scale.max), BeforeValidator(_not_bool)
            ]
        else:
            leaf_type = Annotated[Literal["A", "B", "tie"], BeforeValidator(_normalise_verdict)]
        item_fields: dict[str, Any] = {"explanation": (str, ""), leaf: (leaf_type, ...)}
        item = create_model(f"{c.name}_{leaf}", **item_fields)
        fields[c.name] = (item, ...)
    return create_model(f"JudgeReply_{leaf}", **fields)


@dataclass
class Located:
    """Where the verdict object was found. ``whole``: the reply is that object (rule 1)."""

    data: dict[str, Any] | None
    whole: bool = False
    prose: str = ""  # the reply without the candidate object (rule 2); all of it if none
    before: str = ""  # the text just before the candidate object


def _whole_object(text: str) -> tuple[bool, dict[str, Any] | None]:
    """(is the text one JSON value, that value if it is an object)."""
    try:
        data = _DECODER.decode(text)
    except json.JSONDecodeError:
        return False, None
    return True, data if isinstance(data, dict) else None


def locate_verdict(text: str) -> Located:
    """The JSON object that may be the verdict in ``text``, by rules 1 and 2 of this module;
    :class:`ReplyTooLarge` when ``text`` is beyond the bounds parsed."""
    stripped = text.strip()
    check_bounds(stripped)
    is_json, data = _whole_object(stripped)
    if is_json:
        return Located(data, whole=True)
    fenced = _WHOLE_FENCE.match(stripped)
    if fenced is not None:
        is_json, data = _whole_object(fenced.group(1).strip())
        if is_json:
            return Located(data, whole=True)
    span = _last_top_level_object(stripped)
    if span is None:
        return Located(None, prose=stripped)
    obj, start, end = span
    return Located(
        obj,
        prose=stripped[:start] + " " + stripped[end:],
        before=stripped[max(0, start - _INTRO_WINDOW) : start],
    )


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The candidate verdict object in ``text`` (see :func:`locate_verdict`), if any."""
    return locate_verdict(text).data


def _last_top_level_object(text: str) -> tuple[dict[str, Any], int, int] | None:
    """Scan left to right, skipping over each object decoded; keep the last one and its span.

    Only a ``{`` followed by ``"`` or ``}`` is tried (a failed try costs time in proportion to
    its position), at most :data:`MAX_CANDIDATES` of them.
    """
    last = None
    tried = 0
    start = _OBJECT_START.search(text)
    while start is not None:
        tried += 1
        if tried > MAX_CANDIDATES:
            raise ReplyTooLarge(f"more than {MAX_CANDIDATES} places where an object may start")
        position = start.start()
        try:
            obj, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            start = _OBJECT_START.search(text, position + 1)
            continue
        if isinstance(obj, dict):
            last = (obj, position, end)
        start = _OBJECT_START.search(text, end)
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
    if not text.strip():
        return ParsedReply("parse_error", error="empty reply")
    try:
        found = locate_verdict(text)
    except ReplyTooLarge as exc:
        if reply.finish_reason == "length":
            return ParsedReply("truncated", error=f"hit the token limit ({exc})")
        return ParsedReply("parse_error", error=str(exc))
    refusal = None if found.whole else _REFUSAL.search(found.prose)
    error: str
    if found.data is None:
        error = "no JSON object in the reply"
    elif refusal is not None:
        return ParsedReply(
            "refusal",
            error=f"refusal language around the only JSON object ({refusal.group(0)!r})",
        )
    elif not found.whole and (intro := _EXAMPLE_INTRO.search(found.before)):
        return ParsedReply(
            "parse_error",
            error=f"the JSON object in the reply is introduced as an example "
            f"({intro.group(0)!r}), not given as the verdict",
        )
    else:
        try:
            parsed = _reply_model(tuple(criteria), leaf).model_validate(_lower_keys(found.data))
        except ValidationError as exc:
            error = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
        else:
            items = {c.name: getattr(parsed, c.name) for c in criteria}
            values = {name: getattr(item, leaf) for name, item in items.items()}
            explanations = {name: item.explanation for name, item in items.items()}
            if leaf == "score":
                return ParsedReply("ok", scores=values, explanations=explanations)
            return ParsedReply("ok", verdicts=values, explanations=explanations)
    if reply.finish_reason == "length":
        return ParsedReply("truncated", error=f"hit the token limit ({error})")
    if refusal is not None:
        return ParsedReply("refusal", error=f"refusal language, no verdict ({refusal.group(0)!r})")
    return ParsedReply("parse_error", error=error)
