"""One judge call: the boundary between the judge engine and a model provider.

The engine talks to a :class:`ChatBackend` (``complete(messages, params) -> ChatReply``, raising
:class:`JudgeAPIError`). :class:`OpenAIChatBackend` implements it with the openai SDK's
``AsyncOpenAI`` against any OpenAI-compatible ``base_url``; tests inject a fake backend at this
same interface. Retries and timeouts are the SDK's own (``max_retries``, ``timeout``), never a
second loop around them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from hawkeye_bench.core.secrets import api_key_from_env, redact
from hawkeye_bench.cost.pricing import Usage
from hawkeye_bench.judging.config import JudgeSpec
from hawkeye_bench.judging.request_body import ChatMessage, JsonSchema, RequestParams

ErrorKind = Literal[
    "quota",
    "rate_limit",
    "auth",
    "bad_request",
    "not_found",
    "server",
    "timeout",
    "connection",
    "invalid_response",
    "other",
]

#: How much of an unusable reply body (an HTML error page, say) a failure keeps.
RAW_BODY_MAX_CHARS = 4000

#: Key-shaped substrings (OpenAI ``sk-...``, Anthropic ``sk-ant-...``, xAI ``xai-...``) are
#: removed from any provider message before it is stored: a 401 message echoes part of the key.
#: llama-cpp-python's server checks no key, but the SDK insists on one.
NO_KEY = "not-needed"


class JudgeAPIError(Exception):
    """A provider call failed after the SDK's own retries."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        status: int | None = None,
        code: str | None = None,
        raw_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status
        self.code = code
        self.raw_text = raw_text  # the body that came back, when there was one (redacted)

    def describe(self) -> str:
        status = f" HTTP {self.status}" if self.status else ""
        code = f" ({self.code})" if self.code else ""
        return f"{self.kind}{status}{code}: {self.message}"


class ChatReplyJson(TypedDict):
    """:class:`ChatReply`'s JSON form (a judge cache file)."""

    text: str | None
    finish_reason: str | None
    refusal: str | None
    usage: dict[str, int | None] | None
    model: str | None
    system_fingerprint: str | None
    latency_s: float | None


@dataclass(frozen=True)
class ChatReply:
    """What came back from one successful HTTP exchange (the reply may still be unusable)."""

    text: str | None
    finish_reason: str | None = None
    refusal: str | None = None
    usage: Usage | None = None
    model: str | None = None
    system_fingerprint: str | None = None
    latency_s: float | None = None

    def to_dict(self) -> ChatReplyJson:
        return ChatReplyJson(
            text=self.text,
            finish_reason=self.finish_reason,
            refusal=self.refusal,
            usage=self.usage.to_dict() if self.usage else None,
            model=self.model,
            system_fingerprint=self.system_fingerprint,
            latency_s=self.latency_s,
        )

    @classmethod
    def from_dict(cls, data: ChatReplyJson) -> ChatReply:
        """A TypeError, as the dataclass's own constructor gives, for an object that is not one
        (not a JSON object, no ``text``, or a key this version does not know)."""
        if not isinstance(data, dict) or "text" not in data or data.keys() - _REPLY_KEYS:
            raise TypeError(f"not a chat reply: {str(data)[:80]}")
        return cls(
            text=data["text"],
            finish_reason=data.get("finish_reason"),
            refusal=data.get("refusal"),
            usage=Usage.from_dict(data.get("usage")),
            model=data.get("model"),
            system_fingerprint=data.get("system_fingerprint"),
            latency_s=data.get("latency_s"),
        )


_REPLY_KEYS = frozenset(ChatReplyJson.__annotations__)


class ChatBackend(Protocol):
    """What the engine needs from a provider client."""

    async def complete(self, messages: list[ChatMessage], params: RequestParams) -> ChatReply:
        """Send one chat completion; raise :class:`JudgeAPIError` on failure."""
        ...

    async def aclose(self) -> None: ...


def request_params(
    spec: JudgeSpec, schema: JsonSchema | None, schema_name: str = "judgement"
) -> RequestParams:
    """Sampling parameters for ``spec``, honouring what its provider supports."""
    caps = spec.capabilities
    params: RequestParams = {"temperature": spec.effective_temperature}
    if caps.token_limit_param == "max_completion_tokens":
        params["max_completion_tokens"] = spec.max_tokens
    else:
        params["max_tokens"] = spec.max_tokens
    if caps.seed and spec.seed is not None:
        params["seed"] = spec.seed
    if schema is not None:
        if caps.structured_output == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
        elif caps.structured_output == "json_object_schema":
            params["response_format"] = {"type": "json_object", "schema": schema}
        elif caps.structured_output == "json_object":
            params["response_format"] = {"type": "json_object"}
    return params


def api_key_for(spec: JudgeSpec) -> str:
    if spec.api_key_env is None:
        return NO_KEY
    return api_key_from_env(spec.api_key_env, f"judge {spec.name!r}")


def _classify(exc: openai.APIError) -> tuple[ErrorKind, int | None]:
    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.RateLimitError):
        return ("quota" if exc.code == "insufficient_quota" else "rate_limit"), status
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return "auth", status
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return "bad_request", status
    if isinstance(exc, openai.NotFoundError):
        return "not_found", status
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", None
    if isinstance(exc, openai.APIConnectionError):
        return "connection", None
    if status is not None and status >= 500:
        return "server", status
    return "other", status


def _message_params(messages: list[ChatMessage]) -> list[ChatCompletionMessageParam]:
    """The judge's plain ``{"role", "content"}`` messages as the SDK's typed message params."""
    params: list[ChatCompletionMessageParam] = []
    for message in messages:
        role, content = message["role"], message["content"]
        if role == "system":
            params.append({"role": "system", "content": content})
        elif role == "user":
            params.append({"role": "user", "content": content})
        elif role == "assistant":
            params.append({"role": "assistant", "content": content})
        else:
            raise ValueError(f"a judge message has role {role!r} (system, user or assistant)")
    return params


class OpenAIChatBackend:
    """:class:`ChatBackend` over ``openai.AsyncOpenAI`` for one judge."""

    def __init__(self, spec: JudgeSpec) -> None:
        if spec.base_url is None or spec.model is None:
            raise ValueError(f"judge {spec.name!r} has no base_url/model yet (embedded?)")
        self.spec = spec
        self._model: str = spec.model
        self._key = api_key_for(spec)
        self._client = openai.AsyncOpenAI(
            base_url=spec.base_url,
            api_key=self._key,
            max_retries=spec.max_retries,
            timeout=spec.timeout_s,
        )

    async def complete(self, messages: list[ChatMessage], params: RequestParams) -> ChatReply:
        started = time.perf_counter()
        try:
            response = await self._client.chat.completions.create(
                model=self._model,
                messages=_message_params(messages),
                # llama.cpp's {"type": "json_object", "schema": ...} is not among the SDK's types
                **params,  # type: ignore[arg-type]
            )
        except openai.APIError as exc:
            kind, status = _classify(exc)
            raise JudgeAPIError(
                kind, redact(str(exc.message), (self._key,)), status=status, code=exc.code
            ) from None
        latency = time.perf_counter() - started
        if not isinstance(response, ChatCompletion):
            # The SDK hands back the body as text when it is not JSON (a proxy's HTML page).
            raw = redact(str(response), (self._key,))
            kept = raw[:RAW_BODY_MAX_CHARS]
            if len(raw) > len(kept):
                kept += f"\n[... {len(raw) - len(kept)} more characters not kept]"
            raise JudgeAPIError(
                "invalid_response",
                f"HTTP 200 but the body is not a chat completion JSON object "
                f"({type(response).__name__}, {len(raw)} characters)",
                status=200,
                raw_text=kept,
            )
        if not getattr(response, "choices", None):
            raise JudgeAPIError("other", "the provider returned no choices", status=200)
        choice = response.choices[0]
        return ChatReply(
            text=choice.message.content,
            finish_reason=choice.finish_reason,
            refusal=getattr(choice.message, "refusal", None),
            usage=_usage(response.usage),
            model=response.model,
            system_fingerprint=response.system_fingerprint,
            latency_s=latency,
        )

    async def aclose(self) -> None:
        await self._client.close()


def _usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=getattr(prompt_details, "cached_tokens", None),
        reasoning_tokens=getattr(completion_details, "reasoning_tokens", None),
    )
