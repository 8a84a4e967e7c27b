"""What one model call produced (StageResult) and what one pipeline run produced (Trace).

These are the records every consumer reads (run store, lm-eval metrics, the pipeline server,
judges, reports), so their JSON form is a contract: add fields, never rename them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, NotRequired, TypedDict, cast

#: Where a token count came from. ``usage`` = the server's own usage block; ``tokenize`` = the
#: server's tokenize endpoint applied to the generated text; ``tokenizer`` = the model's own
#: tokenizer loaded in-process (the embedded model's GGUF vocabulary); ``chunks`` = counted
#: streamed chunks (approximate: a chunk may hold several tokens); ``logprobs`` = the tokens the
#: server listed in its per-token logprobs (the route pipeline's kept parts of a call);
#: ``token_ids`` = the generated token ids an imported file lists (``hawkeye-bench import``).
TokenSource = Literal["usage", "tokenize", "tokenizer", "chunks", "logprobs", "token_ids"]
#: The sources that are exact counts by the model's tokenizer.
EXACT_TOKEN_SOURCES = frozenset({"usage", "tokenize", "tokenizer", "logprobs", "token_ids"})


class TokenLogprob(TypedDict):
    """One generated token with its log-probability and the server's top alternatives
    (OpenAI-style completion ``logprobs``: token -> logprob; ``logprob`` None where the server
    gave none)."""

    token: str
    logprob: float | None
    top_logprobs: dict[str, float]


class StageResultJson(TypedDict, total=False):
    """The JSON form of a :class:`StageResult` (every field, as :func:`dataclasses.asdict`
    writes it; older files may lack the newer ones)."""

    role: str
    model: str
    endpoint: str
    content: str
    reasoning: str
    prompt_tokens: int | None
    completion_tokens: int | None
    token_source: TokenSource | None
    reasoning_tokens: int | None
    finish_reason: str | None
    started_at: float
    ttft_s: float | None
    latency_s: float | None
    chunk_count: int
    attempts: int
    error: str | None
    error_type: str | None
    #: the request body's sampling params as sent: any JSON a caller merged in
    request: dict[str, Any]
    token_logprobs: list[TokenLogprob] | None
    choice_fields: dict[str, list[Any]] | None
    cached_prompt_tokens: int | None
    duration_s: float | None


class TraceJson(TypedDict):
    """The JSON form of a :class:`Trace` (``extra`` only when set)."""

    pipeline: str
    stages: list[StageResultJson]
    final_text: str
    stage2_input: str | None
    extra: NotRequired[dict[str, Any]]


THINK_BLOCK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)


def split_thinking(content: str, reasoning: str = "") -> tuple[str, str]:
    """Return (thinking, answer) from a completion.

    Servers either deliver reasoning in a separate field (``reasoning``) or inline as
    ``<think>...</think>``; R1-style templates open the think block in the prompt, so the
    completion may hold only a closing ``</think>``. An unclosed ``<think>`` means the model was
    cut off while thinking: all of it is thinking and the answer is empty.
    """
    thinking_parts = [reasoning] if reasoning else []
    answer = content
    if "</think>" in answer and "<think>" not in answer.split("</think>", 1)[0]:
        head, answer = answer.split("</think>", 1)
        thinking_parts.append(head)
    for match in THINK_BLOCK.finditer(answer):
        thinking_parts.append(match.group(1))
    answer = THINK_BLOCK.sub("", answer)
    return "\n".join(p.strip() for p in thinking_parts if p.strip()), answer.strip()


@dataclass
class StageResult:
    """One model call: text, tokens (with their source), timings, error."""

    role: str
    model: str
    endpoint: str = ""  # base_url, never a key
    content: str = ""  # the raw streamed content (may contain inline <think> blocks)
    reasoning: str = ""  # text from the reasoning_content / reasoning delta fields
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    token_source: TokenSource | None = None
    # For chat servers that separate reasoning: how many of completion_tokens were reasoning.
    reasoning_tokens: int | None = None
    finish_reason: str | None = None
    started_at: float = 0.0  # wall clock (epoch seconds) when the request was sent
    ttft_s: float | None = None  # send -> first non-empty token (reasoning or content)
    latency_s: float | None = None  # send -> last token
    chunk_count: int = 0
    attempts: int = 1
    error: str | None = None
    error_type: str | None = None  # e.g. "http_500", "timeout", "stream_cut", "connection"
    request: dict[str, Any] = field(default_factory=dict)  # the sampling params sent (no secrets)
    #: per generated token, when the call asked for logprobs and the server gave them; else None
    token_logprobs: list[TokenLogprob] | None = None
    #: fields a server adds to a reply's choice (SGLang's hidden states, ...): per field, its
    #: value in each chunk that carried it; kept only for calls that asked for logprobs
    choice_fields: dict[str, list[Any]] | None = None
    #: prompt tokens the server answered from its prefix cache, where its usage reports them
    cached_prompt_tokens: int | None = None
    #: send -> end of the response, tokens or not (a call that streamed none still took time)
    duration_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def thinking(self) -> str:
        return split_thinking(self.content, self.reasoning)[0]

    @property
    def answer(self) -> str:
        return split_thinking(self.content, self.reasoning)[1]

    @property
    def completion(self) -> str:
        """The whole completion as one text, thinking inline: ``<think>...</think>answer``."""
        if self.reasoning:
            return f"<think>{self.reasoning}</think>{self.content}"
        return self.content

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def to_dict(self) -> StageResultJson:
        return cast(StageResultJson, asdict(self))

    @classmethod
    def from_dict(cls, data: StageResultJson) -> StageResult:
        known = {f.name for f in fields(cls)}
        # a key a newer version added is dropped, not an error
        return cls(**cast(StageResultJson, {k: v for k, v in data.items() if k in known}))


@dataclass
class Trace:
    """All stages of one pipeline run on one problem, plus the text that is graded."""

    pipeline: str
    stages: list[StageResult] = field(default_factory=list)
    final_text: str = ""  # the text graded and judged (last stage's answer, thinking removed)
    stage2_input: str | None = None  # hawkeye: full | think-only | answer-masked
    #: pipeline-specific facts about the run (compress: shares, flags); in JSON only when set
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.stages) and all(s.ok for s in self.stages)

    @property
    def error(self) -> str | None:
        for stage in self.stages:
            if stage.error:
                return f"{stage.role}: {stage.error}"
        return None if self.stages else "no stage ran"

    def stage(self, role: str) -> StageResult | None:
        return next((s for s in self.stages if s.role == role), None)

    def to_dict(self) -> TraceJson:
        data: TraceJson = {
            "pipeline": self.pipeline,
            "stages": [s.to_dict() for s in self.stages],
            "final_text": self.final_text,
            "stage2_input": self.stage2_input,
        }
        if self.extra:
            data["extra"] = self.extra
        return data

    @classmethod
    def from_dict(cls, data: TraceJson) -> Trace:
        return cls(
            pipeline=data["pipeline"],
            stages=[StageResult.from_dict(s) for s in data.get("stages", [])],
            final_text=data.get("final_text", ""),
            stage2_input=data.get("stage2_input"),
            extra=dict(data.get("extra") or {}),
        )
