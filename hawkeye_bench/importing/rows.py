"""What an input format reads from one line of a file: one :class:`ImportedRow` per output."""

from __future__ import annotations

from dataclasses import dataclass, field

from hawkeye_bench.core.errors import HawkeyeError


class ImportInputError(HawkeyeError):
    """An input to ``import`` cannot be used: a malformed line, a mapping that names a missing
    field, a file with no usable row, a tokenizer that does not load."""


class RowError(ValueError):
    """A line a format cannot read (the runner names its file and line, and may skip it)."""


class PassedLine(RowError):
    """A line a format reads past on purpose (not an error): counted under ``reason``."""

    reason = "passed over"


@dataclass
class ImportedStage:
    """One model call as the file recorded it. Counts are None where the file has none."""

    role: str
    content: str
    reasoning: str = ""
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    #: the generated token ids, where the file lists them (their number is the count)
    token_ids: list[int] | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    #: a failed call (e.g. a Batch line with an error): kept as an error, never graded
    error: str | None = None
    error_type: str | None = None


@dataclass
class ImportedRow:
    """One output for one problem, with what the file says about which problem it answers.

    ``line`` is the 1-based line (or, in a JSON list, the line where the item starts).
    """

    line: int
    stages: list[ImportedStage]
    id: str | None = None
    question: str | None = None
    #: index into the dataset (lm-eval's ``doc_id``)
    position: int | None = None
    #: the sample index when the file gives one (a repeat of it is a duplicate)
    sample: int | None = None
    #: the gold answer as the file writes it (checked against the dataset's)
    file_gold: str | None = None
    #: the file's own verdict on this output (upstream ``score``, lm-eval metrics)
    verdict: bool | None = None
    #: anything else worth keeping per record (e.g. the lm-eval filter)
    extra: dict[str, object] = field(default_factory=dict)


def verdict_of(value: object) -> bool | None:
    """A file's score as a verdict: 1/0, true/false, "1"/"0"; None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if value in (0, 1):
            return bool(value)
        return None
    if isinstance(value, str) and value.strip() in ("0", "1", "0.0", "1.0"):
        return float(value) == 1.0
    return None


def optional_int(value: object, what: str) -> int | None:
    """An integer count from a file, None when absent; anything else is a RowError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise RowError(f"{what} is not an integer: {value!r}")
    return int(value)


def optional_float(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(f"{what} is not a number: {value!r}")
    return float(value)


def text_of(value: object, what: str) -> str:
    """A generated text; None is the empty string (a model that wrote nothing)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowError(f"{what} is not a string: {type(value).__name__}")
    return value
