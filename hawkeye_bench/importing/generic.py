"""The generic format: any JSON Lines file or JSON list of objects, read through ``--map``."""

from __future__ import annotations

from typing import Any

from hawkeye_bench.importing.formats import FormatOptions, InputFormat, RowReader, register_format
from hawkeye_bench.importing.mapping import FieldMap, StageFields, is_missing, lookup
from hawkeye_bench.importing.rows import (
    ImportedRow,
    ImportedStage,
    RowError,
    optional_float,
    optional_int,
    text_of,
    verdict_of,
)


def _field(value: dict[str, Any], path: str) -> Any:
    found = lookup(value, path)
    if is_missing(found):
        raise RowError(f"the mapping names field {path!r}, which this line does not have")
    return found


def _stage(value: dict[str, Any], fields: StageFields, model: str) -> ImportedStage:
    facts = {fact: _field(value, path) for fact, path in fields.facts.items()}
    ids = facts.get("token_ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, int) for i in ids)):
        raise RowError(f"{fields.facts['token_ids']!r} is not a list of token ids")
    finish = facts.get("finish_reason")
    return ImportedStage(
        role=fields.role,
        content=text_of(_field(value, fields.text), fields.text),
        reasoning=text_of(facts.get("reasoning"), "reasoning"),
        model=str(facts.get("model") or model),
        token_ids=ids,
        finish_reason=str(finish) if finish is not None else None,
        prompt_tokens=_count(facts, fields, "prompt_tokens"),
        completion_tokens=_count(facts, fields, "completion_tokens"),
        reasoning_tokens=_count(facts, fields, "reasoning_tokens"),
        latency_s=optional_float(facts.get("latency_s"), fields.facts.get("latency_s", "")),
        ttft_s=optional_float(facts.get("ttft_s"), fields.facts.get("ttft_s", "")),
    )


def _count(facts: dict[str, Any], fields: StageFields, fact: str) -> int | None:
    return optional_int(facts.get(fact), fields.facts.get(fact, fact))


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def read_mapped(value: Any, line: int, mapping: FieldMap, model: str) -> ImportedRow:
    """One row of a mapped object."""
    if not isinstance(value, dict):
        raise RowError(f"expected a JSON object, found {type(value).__name__}")
    row = {key: _field(value, path) for key, path in mapping.row.items()}
    model = str(row.get("model") or model)
    position = row.get("position")
    sample = row.get("sample")
    return ImportedRow(
        line=line,
        stages=[_stage(value, stage, model) for stage in mapping.stages],
        id=_optional_str(row.get("id")),
        question=_optional_str(row.get("question")),
        position=optional_int(position, mapping.row.get("position", "position")),
        sample=optional_int(sample, mapping.row.get("sample", "sample")),
        file_gold=_optional_str(row.get("gold")),
        verdict=verdict_of(row["verdict"]) if "verdict" in row else None,
    )


def _reader(options: FormatOptions) -> RowReader:
    mapping = options.mapping
    assert mapping is not None  # needs_mapping: checked before a reader is built

    def read(line: int, value: Any) -> list[ImportedRow]:
        return [read_mapped(value, line, mapping, options.model)]

    return read


register_format(
    InputFormat(
        "generic",
        "JSONL or a JSON list of objects, fields named with --map",
        detect=None,
        reader=_reader,
        verdict_source="the field --map verdict= names",
        needs_mapping=True,
    )
)
