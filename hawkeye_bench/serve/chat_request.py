"""A chat-completions request body, validated into what the pipeline server runs.

How a request maps onto the pipeline:

- The question is the text of the last ``user`` message; earlier messages are not sent (each
  stage's prompt comes from the preset's template, as in ``hawkeye-bench eval``).
- ``max_tokens`` (or ``max_completion_tokens``) and ``stop`` apply to the final stage (the
  responder; the single model for the baseline). ``temperature`` and ``top_p`` apply to every
  stage; ``seed`` is the pipeline's seed. What the request does not set, the preset sets.
- Per stage, the extra body field ``stage_params`` overrides those (``extra_body`` in the SDK)::

      "stage_params": {"reasoner": {"max_tokens": 256, "temperature": 0.0}}

  (keys: max_tokens, temperature, top_p, stop; roles: the pipeline's roles).
- ``n`` must be 1; other OpenAI fields (``model``, penalties, ``logprobs``, ...) are accepted
  and ignored; ``stream_options.continuous_usage_stats`` is ignored (no per-chunk usage).

A malformed body raises :class:`BadRequest` naming the field (a wrong JSON type anywhere, NaN
or Infinity: "not a number", a token count or seed out of range); the server answers it 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hawkeye_bench.presets import Preset, StagePrompt


class _ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: str
    text: str | None = None


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: str
    content: str | list[_ContentPart] | None = None


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    include_usage: bool = False


#: Largest token count a request may ask for (the int32 servers take; more is no request).
MAX_TOKENS_LIMIT = 2**31 - 1
#: Seeds are 64-bit integers, as OpenAI's and vLLM's.
SEED_RANGE = (-(2**63), 2**63 - 1)


class _StageParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None


class _ChatBody(BaseModel):
    """The OpenAI chat-completions fields the server reads; others are accepted and ignored."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)
    messages: list[_Message] = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    stream_options: _StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, ge=SEED_RANGE[0], le=SEED_RANGE[1])
    stop: str | list[str] | None = None
    n: int | None = None
    stage_params: dict[str, _StageParams] | None = None


class BadRequest(ValueError):
    """A request the server cannot run: answered with HTTP 400 and this message."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class StageSampling:
    """What a request sets for one stage's sampling (None: the preset's value stands)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None

    def apply(self, stage: StagePrompt) -> StagePrompt:
        """``stage`` with the fields this sets replaced."""
        return replace(
            stage,
            max_tokens=stage.max_tokens if self.max_tokens is None else self.max_tokens,
            temperature=stage.temperature if self.temperature is None else self.temperature,
            top_p=stage.top_p if self.top_p is None else self.top_p,
            stop=stage.stop if self.stop is None else self.stop,
        )


@dataclass
class ChatRequest:
    """A validated request: the question, how to stream, and the sampling per stage."""

    question: str
    stream: bool
    include_usage: bool
    seed: int | None
    stage_params: dict[str, StageSampling] = field(default_factory=dict)


def _message_text(message: _Message) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return "".join(part.text or "" for part in parts if part.type == "text")


#: Pydantic names the member of a union that failed (``content.str``); the path drops it.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|list\[.*\]|dict\[.*\]|_[A-Za-z]+)$")


def _validation_message(error: ValidationError) -> tuple[str, str | None]:
    """A readable 400 message ("field.path: what is wrong") and the first offending field."""
    problems = error.errors(include_url=False)
    first = problems[0]
    if first["type"] == "json_invalid":
        return f"request body is not valid JSON: {first['msg']}", None
    if first["type"] == "model_type" and not first["loc"]:
        return "request body must be a JSON object", None
    by_path: dict[str, list[str]] = {}
    for problem in problems:
        parts = [str(p) for p in problem["loc"] if not _UNION_MEMBER.match(str(p))]
        messages = by_path.setdefault(".".join(parts) or "body", [])
        message = _problem_message(problem)
        if message not in messages:
            messages.append(message)
    described = [f"{path}: {' or '.join(msgs)}" for path, msgs in by_path.items()]
    return "invalid request: " + "; ".join(described), next(iter(by_path))


def _problem_message(problem: Any) -> str:
    """Pydantic's message, but NaN and Infinity are "not a number" (as on the command line),
    not a range violation."""
    if problem["type"] == "finite_number":
        value = problem["input"]
        shown = "NaN" if value != value else ("-Infinity" if value < 0 else "Infinity")
        return f"{shown} is not a number; expected a finite number"
    return str(problem["msg"])


def parse_chat_request(raw: bytes, roles: tuple[str, ...]) -> ChatRequest:
    """Validate a chat-completions body for a pipeline with ``roles`` (the last one answers).

    Raises BadRequest with a message naming the offending field.
    """
    if not raw.strip():
        raise BadRequest("request body is empty: expected a JSON object with 'messages'")
    try:
        body = _ChatBody.model_validate_json(raw)
    except ValidationError as exc:
        message, param = _validation_message(exc)
        raise BadRequest(message, param) from None
    if body.n not in (None, 1):
        raise BadRequest(f"n={body.n} is not supported: one choice per request", "n")
    users = [m for m in body.messages if m.role == "user"]
    if not users:
        raise BadRequest(
            "messages holds no 'user' message: the last one is the question", "messages"
        )
    question = _message_text(users[-1])
    if not question.strip():
        raise BadRequest("the last user message has no text", "messages")
    unknown = sorted(set(body.stage_params or {}) - set(roles))
    if unknown:
        raise BadRequest(
            f"stage_params names unknown stage(s) {unknown}; this pipeline's stages: "
            f"{', '.join(roles)}",
            "stage_params",
        )
    given = body.stage_params or {}
    stage_params: dict[str, StageSampling] = {}
    for role in roles:
        sampling = _stage_sampling(body, given.get(role), final=role == roles[-1])
        if sampling != StageSampling():
            stage_params[role] = sampling
    return ChatRequest(
        question=question,
        stream=body.stream,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        seed=body.seed,
        stage_params=stage_params,
    )


def _stage_sampling(body: _ChatBody, given: _StageParams | None, *, final: bool) -> StageSampling:
    """One stage's sampling: the request's shared fields (and, for the final stage, its token
    limit and stop), each replaced by what ``stage_params`` gives for that stage."""
    max_tokens = (body.max_completion_tokens or body.max_tokens) if final else None
    stop = body.stop if final else None
    temperature, top_p = body.temperature, body.top_p
    if given is not None:
        max_tokens = given.max_tokens if given.max_tokens is not None else max_tokens
        stop = given.stop if given.stop is not None else stop
        temperature = given.temperature if given.temperature is not None else temperature
        top_p = given.top_p if given.top_p is not None else top_p
    return StageSampling(
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=None if stop is None else ((stop,) if isinstance(stop, str) else tuple(stop)),
    )


def preset_for_request(preset: Preset, stage_params: Mapping[str, StageSampling]) -> Preset:
    """The preset with a request's per-stage sampling applied (the preset itself if none)."""
    if not stage_params:
        return preset
    stages = dict(preset.stages)
    for role, sampling in stage_params.items():
        stages[role] = sampling.apply(stages[role])
    return replace(preset, stages=stages)
