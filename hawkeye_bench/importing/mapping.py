"""``--map``: which field of a generic file holds what, e.g.
``id=idx,question=problem,text=model_output,gold=answer`` (one stage) or
``reasoner=cot_text,responder=answer_text`` (one stage per role).

A field is a dotted path into nested objects and lists (``usage.completion_tokens``,
``resps.0.0``). Per-stage facts are ``<stage>.<fact>=FIELD`` (``reasoner.completion_tokens=
cot_tokens``), or plain ``<fact>=FIELD`` when there is one stage; ``text`` is the one-stage
output's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hawkeye_bench.importing.rows import ImportInputError

#: Keys about the row (not a stage).
ROW_KEYS = ("id", "question", "gold", "position", "sample", "verdict", "model")
#: Facts of one stage besides its text.
STAGE_FACTS = (
    "reasoning",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "token_ids",
    "latency_s",
    "ttft_s",
    "finish_reason",
    "model",
)
SINGLE_STAGE = "text"
_MISSING = object()


@dataclass(frozen=True)
class StageFields:
    """Where one stage's text and facts are."""

    role: str
    text: str
    facts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldMap:
    """A parsed ``--map``: row fields and the stages' fields (put in the pipeline's call order
    when records are built)."""

    row: dict[str, str]
    stages: tuple[StageFields, ...]

    def to_dict(self) -> dict[str, Any]:
        """The mapping as given, for the manifest."""
        data: dict[str, Any] = dict(self.row)
        for stage in self.stages:
            data[stage.role] = {"text": stage.text, **stage.facts}
        return data

    @property
    def fields(self) -> list[str]:
        """Every field the mapping names."""
        names = list(self.row.values())
        for stage in self.stages:
            names += [stage.text, *stage.facts.values()]
        return names


def parse_mapping(specs: Sequence[str], roles: Sequence[str], single_role: str) -> FieldMap:
    """Parse ``--map`` values (each ``key=FIELD[,key=FIELD...]``); ``roles`` are the stage names
    a mapping may use, ``single_role`` the role of a ``text=`` stage."""
    pairs: list[tuple[str, str]] = []
    for spec in specs:
        for item in spec.split(","):
            if not item.strip():
                continue
            key, sep, name = item.partition("=")
            if not sep or not key.strip() or not name.strip():
                raise ImportInputError(f"--map: {item!r} is not KEY=FIELD")
            pairs.append((key.strip(), name.strip()))
    row: dict[str, str] = {}
    texts: dict[str, str] = {}
    facts: dict[str, dict[str, str]] = {}
    for key, name in pairs:
        stage, dot, fact = key.partition(".")
        if dot:
            if stage != SINGLE_STAGE and stage not in roles:
                raise ImportInputError(
                    f"--map {key}: no stage {stage!r}; stages are {SINGLE_STAGE} or a role "
                    f"({', '.join(roles)})"
                )
            _check_fact(key, fact)
            facts.setdefault(stage, {})[fact] = name
        elif key == SINGLE_STAGE or key in roles:
            texts[key] = name
        elif key in ROW_KEYS:
            row[key] = name
        elif key in STAGE_FACTS:
            facts.setdefault("", {})[key] = name
        else:
            known = ", ".join([*ROW_KEYS, SINGLE_STAGE, *roles, *STAGE_FACTS])
            raise ImportInputError(f"--map: unknown key {key!r}; known: {known}")
    if not texts:
        raise ImportInputError(
            f"--map names no output: add {SINGLE_STAGE}=FIELD (one stage) or ROLE=FIELD per "
            f"stage ({', '.join(roles)})"
        )
    if SINGLE_STAGE in texts and len(texts) > 1:
        raise ImportInputError(f"--map: {SINGLE_STAGE}= is for one stage; use roles for several")
    loose = facts.pop("", {})
    if loose and len(texts) > 1:
        raise ImportInputError(
            f"--map: {', '.join(loose)} must name its stage (e.g. {next(iter(texts))}."
            f"{next(iter(loose))}=FIELD) when there are several stages"
        )
    stages = tuple(
        StageFields(
            role=single_role if key == SINGLE_STAGE else key,
            text=texts[key],
            facts={**loose, **facts.get(key, {})},
        )
        for key in texts
    )
    extra_facts = set(facts) - set(texts)
    if extra_facts:
        raise ImportInputError(f"--map: facts for stage(s) without text: {sorted(extra_facts)}")
    return FieldMap(row=row, stages=stages)


def _check_fact(key: str, fact: str) -> None:
    if fact not in STAGE_FACTS:
        raise ImportInputError(f"--map {key}: unknown fact {fact!r}; known: {STAGE_FACTS}")


def lookup(value: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``usage.completion_tokens``, ``resps.0.0``), or
    a marker that :func:`is_missing` recognises when some step is absent."""
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step, _MISSING)
        elif isinstance(value, list) and step.lstrip("-").isdigit():
            index = int(step)
            value = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING
