"""OpenAI Batch output (``vllm run-batch``, hosted batch APIs): one line per request,
``{id, custom_id, response: {status_code, request_id, body}, error}``, where ``body`` is a chat
completion (or a completion) with its ``usage``.

``custom_id`` names the problem (its id, or ``<task>/<id>``); ``<id>#<k>`` names sample k. A
request that failed (``error``, or a status other than 200) becomes an errored record: counted
as an error, never dropped. A body with several choices gives one sample per choice.
"""

from __future__ import annotations

from typing import Any

from hawkeye_bench.importing.formats import FormatOptions, InputFormat, RowReader, register_format
from hawkeye_bench.importing.rows import (
    ImportedRow,
    ImportedStage,
    RowError,
    optional_int,
    text_of,
)


def _detect(value: Any) -> bool:
    return isinstance(value, dict) and "custom_id" in value and "response" in value


def _object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def split_custom_id(custom_id: str) -> tuple[str, int | None]:
    """``"gsm8k/3#2"`` -> (``"gsm8k/3"``, 2); an id without ``#<k>`` has no sample index."""
    head, sep, tail = custom_id.rpartition("#")
    if sep and head and tail.isdigit():
        return head, int(tail)
    return custom_id, None


def _usage_stage(
    body: dict[str, Any], choice: dict[str, Any], role: str, model: str
) -> ImportedStage:
    message = choice.get("message")
    if isinstance(message, dict):
        content = text_of(message.get("content"), "message.content")
        reasoning = text_of(
            message.get("reasoning_content") or message.get("reasoning"), "message.reasoning"
        )
    else:
        content, reasoning = text_of(choice.get("text"), "choices[].text"), ""
    usage = _object(body.get("usage"))
    several = (
        len(body.get("choices") or []) > 1
    )  # usage then sums every choice: no per-choice count
    details = _object(usage.get("completion_tokens_details"))
    return ImportedStage(
        role=role,
        content=content,
        reasoning=reasoning,
        model=str(body.get("model") or model),
        prompt_tokens=optional_int(usage.get("prompt_tokens"), "usage.prompt_tokens"),
        completion_tokens=None
        if several
        else optional_int(usage.get("completion_tokens"), "usage.completion_tokens"),
        reasoning_tokens=None
        if several
        else optional_int(details.get("reasoning_tokens"), "reasoning_tokens"),
        finish_reason=choice.get("finish_reason"),
    )


def read_batch_line(value: Any, line: int, options: FormatOptions) -> list[ImportedRow]:
    if not isinstance(value, dict) or not isinstance(value.get("custom_id"), str):
        raise RowError("not an OpenAI Batch output line (no string custom_id)")
    problem_id, sample = split_custom_id(value["custom_id"])
    response = _object(value.get("response"))
    status = response.get("status_code")
    body = _object(response.get("body"))
    error = value.get("error")
    if error or status != 200 or not body.get("choices"):
        message = error.get("message") if isinstance(error, dict) else error
        failed = ImportedStage(
            role=options.role,
            content="",
            model=str(body.get("model") or options.model),
            error=str(message or (f"HTTP {status}" if status != 200 else "no choices")),
            error_type=f"http_{status}" if isinstance(status, int) and status != 200 else "batch",
        )
        return [ImportedRow(line=line, stages=[failed], id=problem_id, sample=sample)]
    choices = body["choices"]
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise RowError("response.body.choices is not a list of objects")
    rows = []
    for index, choice in enumerate(choices):
        stage = _usage_stage(body, choice, options.role, options.model)
        choice_sample = sample if len(choices) == 1 else (sample or 0) * len(choices) + index
        rows.append(ImportedRow(line=line, stages=[stage], id=problem_id, sample=choice_sample))
    return rows


def _reader(options: FormatOptions) -> RowReader:
    return lambda line, value: read_batch_line(value, line, options)


register_format(
    InputFormat(
        "openai-batch",
        "OpenAI Batch output JSONL (vllm run-batch, hosted batch APIs): custom_id -> problem",
        detect=_detect,
        reader=_reader,
    )
)
