"""The judge's request body as typed parts: its chat messages, the sampling parameters and the
JSON schema of the reply it asks for.

Kept apart from :mod:`~hawkeye_bench.judging.client` (which imports the openai SDK) because
``judge_summary.json`` records example requests in this form and the report reads that file.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict  # pydantic reads these on Python 3.11 only from here


class ChatMessage(TypedDict):
    """One plain-text chat message as the judge sends it."""

    role: Literal["system", "user", "assistant"]
    content: str


class JsonSchema(TypedDict, total=False):
    """The parts of JSON Schema that :mod:`~hawkeye_bench.judging.prompts` writes (in this key
    order)."""

    type: Literal["object", "string", "integer"]
    properties: dict[str, JsonSchema]
    required: list[str]
    additionalProperties: bool
    enum: list[int] | list[str]
    maxLength: int


class NamedSchema(TypedDict):
    """``response_format.json_schema`` of a strict structured-output request."""

    name: str
    schema: JsonSchema
    strict: bool


class ResponseFormat(TypedDict, total=False):
    """``response_format``: a named strict schema, a JSON object with a schema (llama.cpp's
    form), or a bare JSON object."""

    type: Literal["json_schema", "json_object"]
    json_schema: NamedSchema
    schema: JsonSchema


class RequestParams(TypedDict, total=False):
    """The request body's keys besides ``model`` and ``messages`` (in the order they are set)."""

    temperature: float
    max_tokens: int
    max_completion_tokens: int
    seed: int
    response_format: ResponseFormat
