"""What the compress pipeline records per item: ``trace.extra["compress"]``, typed; whether
the CoT already held the gold answer (:class:`AnswerLeaks`, in the record's ``extra``); and one
compression as the call cache keeps it (:class:`Compression`).

The compress pipeline writes it (:mod:`hawkeye_bench.pipelines.compress`); the compression
sweep's table and the report's compression section read it through :meth:`CompressFacts.of`.
The JSON form is the one records always held: the compression's fields (``refused`` to
``truncated``) only once the compressed CoT was made, ``stripped_cot`` only with
``strip_answer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, NotRequired, TypedDict

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, StageResultJson, Trace


class CompressedJson(TypedDict):
    """What one compression made, in the JSON of both :class:`Compression` and
    :class:`CompressFacts` (written only once the compressed CoT was made)."""

    refused: bool
    compressed: str | None
    original_tokens: int | None
    compressed_tokens: int | None
    token_source: str | None
    tokenizer: str | None


def _compressed_json(made: Compression | CompressFacts) -> CompressedJson:
    return {
        "refused": made.refused,
        "compressed": made.compressed,
        "original_tokens": made.original_tokens,
        "compressed_tokens": made.compressed_tokens,
        "token_source": made.token_source,
        "tokenizer": made.tokenizer,
    }


class CompressionJson(TypedDict):
    """The JSON form of a :class:`Compression` (what it made only once it made it)."""

    role: Literal["compression"]
    stage: StageResultJson | None
    refused: NotRequired[bool]
    compressed: NotRequired[str | None]
    original_tokens: NotRequired[int | None]
    compressed_tokens: NotRequired[int | None]
    token_source: NotRequired[str | None]
    tokenizer: NotRequired[str | None]


class CompressFactsJson(TypedDict, total=False):
    """The JSON form of :class:`CompressFacts` (see the module's docstring for which keys are
    written when)."""

    method: str
    requested_keep: float
    percent_means: str
    cache_hits: list[str]
    stripped_cot: str
    compressed: str | None
    refused: bool
    original_tokens: int | None
    compressed_tokens: int | None
    token_source: str | None
    tokenizer: str | None
    achieved_keep: float | None
    longer_than_original: bool
    truncated: dict[str, bool]


@dataclass
class Compression:
    """One compressed CoT with its token counts (and the compressor's stage, for ``llm``): a
    ``compression`` line of ``call_cache.jsonl``, shared by every responder of a sweep. No
    ``compressed`` text: the compressor's call failed (such a row is never stored)."""

    stage: StageResult | None = None
    refused: bool = False
    compressed: str | None = None
    original_tokens: int = 0
    compressed_tokens: int = 0
    #: how the tokens were counted: the tokenizer's source, or ``words``
    token_source: str | None = None
    #: the model whose tokenizer counted them (None: counted in words)
    tokenizer: str | None = None

    def to_json(self) -> CompressionJson:
        data: CompressionJson = {
            "role": "compression",
            "stage": None if self.stage is None else self.stage.to_dict(),
        }
        if self.compressed is not None:
            data.update(_compressed_json(self))
        return data

    @classmethod
    def from_json(cls, data: CompressionJson) -> Compression:
        stage = data.get("stage")
        compressed = data.get("compressed")
        return cls(
            stage=None if stage is None else StageResult.from_dict(stage),
            refused=bool(data.get("refused")),
            compressed=None if compressed is None else str(compressed),
            original_tokens=int(data.get("original_tokens") or 0),
            compressed_tokens=int(data.get("compressed_tokens") or 0),
            token_source=data.get("token_source"),
            tokenizer=data.get("tokenizer"),
        )


@dataclass
class CompressFacts:
    """One item's compression: the method and shares, the compressed text and its counts."""

    KEY: ClassVar[str] = "compress"

    method: str = ""
    requested_keep: float = 0.0
    #: how the compressor's ``{percent}`` read: ``kept`` or ``removed``
    percent_means: str = "kept"
    #: what was answered from the call cache: roles, and ``compression``
    cache_hits: list[str] = field(default_factory=list)
    #: the writer's CoT with its final answer removed (``strip_answer`` only)
    stripped_cot: str | None = None
    #: the compressed CoT (None: the item failed before it was made)
    compressed: str | None = None
    refused: bool = False
    original_tokens: int | None = None
    compressed_tokens: int | None = None
    #: how the tokens were counted: the tokenizer's source, or ``words``
    token_source: str | None = None
    #: the model whose tokenizer counted them (None: counted in words)
    tokenizer: str | None = None
    achieved_keep: float | None = None
    longer_than_original: bool = False
    #: whether each stage stopped at its token limit, by role
    truncated: dict[str, bool] = field(default_factory=dict)

    def to_json(self) -> CompressFactsJson:
        data: CompressFactsJson = {
            "method": self.method,
            "requested_keep": self.requested_keep,
            "percent_means": self.percent_means,
            "cache_hits": list(self.cache_hits),
        }
        if self.stripped_cot is not None:
            data["stripped_cot"] = self.stripped_cot
        if self.compressed is None:
            return data
        data.update(_compressed_json(self))
        data.update(
            {
                "achieved_keep": self.achieved_keep,
                "longer_than_original": self.longer_than_original,
                "truncated": dict(self.truncated),
            }
        )
        return data

    @classmethod
    def from_json(cls, data: CompressFactsJson) -> CompressFacts:
        def number(value: float | None) -> float | None:
            return None if value is None else float(value)

        def count(value: int | None) -> int | None:
            return None if value is None else int(value)

        return cls(
            method=str(data.get("method") or ""),
            requested_keep=float(data.get("requested_keep") or 0.0),
            percent_means=str(data.get("percent_means") or "kept"),
            cache_hits=[str(hit) for hit in data.get("cache_hits") or []],
            stripped_cot=data.get("stripped_cot"),
            compressed=data.get("compressed"),
            refused=bool(data.get("refused")),
            original_tokens=count(data.get("original_tokens")),
            compressed_tokens=count(data.get("compressed_tokens")),
            token_source=data.get("token_source"),
            tokenizer=data.get("tokenizer"),
            achieved_keep=number(data.get("achieved_keep")),
            longer_than_original=bool(data.get("longer_than_original")),
            truncated={str(k): bool(v) for k, v in (data.get("truncated") or {}).items()},
        )

    @classmethod
    def of(cls, trace: Trace) -> CompressFacts | None:
        """The facts a trace holds (None: not a compress item)."""
        data = trace.extra.get(cls.KEY)
        return cls.from_json(data) if data else None

    def store(self, trace: Trace) -> None:
        """Write these facts into the trace (its JSON form)."""
        trace.extra[self.KEY] = self.to_json()


@dataclass(frozen=True)
class AnswerLeaks(JsonPayload):
    """Whether the writer's CoT (the stripped one, with ``strip_answer``) and the compressed
    CoT already hold the gold answer, graded like an answer: the compress pipeline's
    ``analyse``, whose keys sit at the top of the record's ``extra``."""

    OMITTED_WHEN_NONE = frozenset({"compressed_leaks_answer"})

    cot_leaks_answer: bool = False
    #: the answer the grader found in the CoT
    cot_extracted: str | None = None
    #: None: no compressed CoT was made
    compressed_leaks_answer: bool | None = None

    @classmethod
    def of_record(cls, record: Record) -> AnswerLeaks | None:
        """What a record holds (None: not checked, e.g. not a compress item or a failed one)."""
        return cls.from_json(record.extra) if "cot_leaks_answer" in record.extra else None
