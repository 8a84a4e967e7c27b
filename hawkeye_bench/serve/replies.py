"""What the pipeline server's client receives: the text's channels, the token report and the
error bodies, as typed payloads with their JSON form.

Every stage but the last streams as ``reasoning_content`` (the reasoner's reasoning and
content, in the order they arrive; ``\\n\\n`` is inserted where the source switches), then the
last stage streams its reasoning (if any) as ``reasoning_content`` and its content as
``content``. A non-streamed answer carries the same text (``message.reasoning_content``,
``message.content``), put together once the pipeline is done: per stage, its reasoning, then
its content (an upstream that interleaves the two gets fewer separators than in the stream).
``finish_reason`` is the last stage's.

Token accounting (never invented; a count an upstream did not give is ``null``):
``usage.completion_tokens`` = all stages, ``usage.prompt_tokens`` = all stages' prompts,
``usage.completion_tokens_details.reasoning_tokens`` = every token streamed as reasoning
(earlier stages' completion tokens plus the last stage's own reasoning tokens). The extra field
``x_hawkeye`` = ``{pipeline, token_source, approximate, stages: [...]}`` says where the counts
came from (``usage``, ``tokenize``, ``chunks`` = approximate, ``mixed``, or null) per stage.

Failures are OpenAI-style errors (``{"error": {"message", "type", "param", "code"}}``). An
upstream that refuses the request itself (400, 413, 422, ... and 429) is passed on with its
status and type ``invalid_request_error`` (``upstream_error`` for 429); a refusal that
concerns the server's own upstream settings (401, 403, 404, 407: key, model name) stays 502;
a timeout is 504. Error texts are redacted: upstreams may echo the API key they were sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.core.secrets import redact
from hawkeye_bench.core.trace import StageResult, Trace

Channel = Literal["reasoning", "content"]

#: The roles whose text is the answer (a pipeline's ``answer_roles``: usually the last role).
AnswerRoles = tuple[str, ...]


def _answers(role: str, final_role: AnswerRoles) -> bool:
    return role in final_role


class DeltaRouter:
    """Maps (stage role, upstream channel) to the channel the client sees, per the module doc.

    ``emit(channel, text)`` receives each routed piece; a ``\\n\\n`` separator is emitted on the
    reasoning channel where its source (stage or upstream channel) changes.
    """

    def __init__(self, final_role: AnswerRoles, emit: Callable[[Channel, str], Any]) -> None:
        self.final_role = final_role
        self.emit = emit
        self._reasoning_source: tuple[str, str] | None = None

    def __call__(self, role: str, channel: str, text: str) -> Any:
        out: Channel = (
            "content" if _answers(role, self.final_role) and channel == "content" else "reasoning"
        )
        if out == "reasoning":
            source = (role, channel)
            if source != self._reasoning_source:
                if self._reasoning_source is not None:
                    text = "\n\n" + text
                self._reasoning_source = source
        return self.emit(out, text)


@dataclass(frozen=True)
class Usage:
    """The OpenAI ``usage`` object; a total is null where any stage lacks its count."""

    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usage:
        details = data.get("completion_tokens_details") or {}
        return cls(
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
            reasoning_tokens=details.get("reasoning_tokens"),
        )


@dataclass(frozen=True)
class StageTokens:
    """One stage in ``x_hawkeye.stages``: its counts, their source, timings and error."""

    role: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    token_source: str | None = None
    finish_reason: str | None = None
    ttft_s: float | None = None
    latency_s: float | None = None
    attempts: int = 1
    error_type: str | None = None

    @classmethod
    def of(cls, stage: StageResult) -> StageTokens:
        return cls(**{f.name: getattr(stage, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class TokenReport(JsonPayload):
    """``x_hawkeye``: where a reply's token counts came from, per stage. Its JSON is its
    fields in order, each stage's too."""

    pipeline: str
    token_source: str | None = None
    approximate: bool = False
    stage2_input: str | None = None
    stages: tuple[StageTokens, ...] = ()


def _sum_or_none(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _streamed_reasoning_tokens(stage: StageResult, final_role: AnswerRoles) -> int | None:
    if not _answers(stage.role, final_role):
        return stage.completion_tokens
    return stage.reasoning_tokens if stage.reasoning else 0


def token_report(trace: Trace, final_role: AnswerRoles) -> tuple[Usage, TokenReport]:
    """(usage, x_hawkeye) for a finished trace; a count any stage lacks makes its total null."""
    stages = trace.stages
    usage = Usage(
        prompt_tokens=_sum_or_none([s.prompt_tokens for s in stages]),
        completion_tokens=_sum_or_none([s.completion_tokens for s in stages]),
        reasoning_tokens=_sum_or_none([_streamed_reasoning_tokens(s, final_role) for s in stages]),
    )
    sources = {s.token_source for s in stages}
    source = next(iter(sources)) if len(sources) == 1 else (None if None in sources else "mixed")
    report = TokenReport(
        pipeline=trace.pipeline,
        token_source=source,
        approximate="chunks" in sources,
        stage2_input=trace.stage2_input,
        stages=tuple(StageTokens.of(s) for s in stages),
    )
    return usage, report


def finish_reason(trace: Trace) -> str | None:
    """The reply's ``finish_reason``: the last stage's."""
    return trace.stages[-1].finish_reason if trace.stages else None


@dataclass(frozen=True)
class Completion:
    """A non-streamed answer: the ``chat.completion`` body."""

    id: str
    created: int
    model: str
    content: str
    reasoning: str | None
    finish_reason: str | None
    usage: Usage
    report: TokenReport

    @classmethod
    def of(
        cls, trace: Trace, completion_id: str, model: str, final_role: AnswerRoles
    ) -> Completion:
        """The answer to a finished trace: its stages' text routed as the stream routes it."""
        texts: dict[Channel, list[str]] = {"reasoning": [], "content": []}
        router = DeltaRouter(final_role, lambda channel, text: texts[channel].append(text))
        for stage in trace.stages:
            for channel, text in (("reasoning", stage.reasoning), ("content", stage.content)):
                if text:
                    router(stage.role, channel, text)
        usage, report = token_report(trace, final_role)
        return cls(
            id=completion_id,
            created=int(time.time()),
            model=model,
            content="".join(texts["content"]),
            reasoning="".join(texts["reasoning"]) or None,
            finish_reason=finish_reason(trace),
            usage=usage,
            report=report,
        )

    def to_json(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.content}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": self.usage.to_json(),
            "x_hawkeye": self.report.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Completion:
        choice = data["choices"][0]
        message = choice["message"]
        return cls(
            id=data["id"],
            created=data["created"],
            model=data["model"],
            content=message.get("content") or "",
            reasoning=message.get("reasoning_content"),
            finish_reason=choice.get("finish_reason"),
            usage=Usage.from_json(data.get("usage") or {}),
            report=TokenReport.from_json(data["x_hawkeye"]),
        )


@dataclass(frozen=True)
class ApiError:
    """An OpenAI-style error; ``kind`` is its ``type``."""

    message: str
    kind: str
    code: str | None = None
    param: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApiError:
        error = data["error"]
        return cls(error["message"], error["type"], error.get("code"), error.get("param"))


#: Upstream refusals that concern the server's own settings for that upstream (its API key,
#: the model name), not the client's request: the client gets 502 for these.
UPSTREAM_SETTINGS_STATUSES = frozenset({401, 403, 404, 407})
_HTTP_ERROR = re.compile(r"http_(\d{3})")


def upstream_status(error_type: str | None) -> int:
    """The HTTP status the client gets for a stage that failed with ``error_type``."""
    if error_type in ("timeout", "http_408", "http_504"):
        return 504
    matched = _HTTP_ERROR.fullmatch(error_type or "")
    if matched:
        status = int(matched[1])
        if 400 <= status < 500 and status not in UPSTREAM_SETTINGS_STATUSES:
            return status  # the upstream refused the request itself: pass that on
    return 502


def upstream_error(trace: Trace) -> tuple[int, ApiError]:
    """HTTP status and OpenAI-style error for a pipeline run that failed upstream.

    The message is redacted: an upstream may echo the API key it was sent in its error body.
    """
    stage = next((s for s in trace.stages if s.error), None)
    if stage is None:
        return 500, ApiError(redact(f"pipeline error: {trace.error}"), "server_error")
    status = upstream_status(stage.error_type)
    if 400 <= status < 500 and status != 429:
        kind, what = "invalid_request_error", "refused the request"
    else:
        kind, what = "upstream_error", f"failed after {stage.attempts} attempt(s)"
    message = f"upstream {stage.role} model {stage.model!r} {what}: {stage.error}"
    return status, ApiError(redact(message), kind, stage.error_type)
