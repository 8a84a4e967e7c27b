"""One judgement (a line of ``judgements.jsonl``) and reading/writing that file.

Lines are appended and flushed as results arrive, so an interrupted run keeps what it finished.
A retried failure appends a newer line for the same key; readers keep the last line per key.
At the end of a run the file is compacted to the results of that run's plan, so it holds what
``judge_summary.json`` was computed from (judgements no longer asked for stay in the cache).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Protocol

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.jsonl import JsonlWriter, read_jsonl, rewrite_jsonl
from hawkeye_bench.judging.parsing import Status

Task = Literal["single", "pairwise"]
ResultKey = tuple[str, str, str, str, str, int, int, str, str]


class JudgementsFileError(HawkeyeError):
    """A line of ``judgements.jsonl`` is not JSON or not a judgement; the message names it."""


class Judgement(Protocol):
    """What names one judgement besides its judge: a planned job and its stored result."""

    @property
    def task(self) -> Task: ...
    @property
    def run(self) -> str: ...
    @property
    def against(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def sample(self) -> int: ...
    @property
    def repeat(self) -> int: ...
    @property
    def order(self) -> str: ...
    @property
    def cache_key(self) -> str: ...


def result_key(judge: str, judgement: Judgement) -> ResultKey:
    """The one identity of a judgement: a planned job and its stored result share it, which
    is how a rerun finds what is already done.

    ``cache_key`` is the job's request key, the hash of everything that changes the judge's reply
    (endpoint, model, parameters, the messages with the question, answer, reference and rubric
    texts, schema, rubric and prompt versions). Without it a rerun with other criteria, with
    ``--show-reference``, or over a run folder whose answers changed would reuse judgements of
    a different question. A stored line without one (``""``) never matches a job: it is judged
    again (the reply cache still answers it when nothing changed).
    """
    j = judgement
    return (judge, j.task, j.run, j.against, j.id, j.sample, j.repeat, j.order, j.cache_key)


@dataclass
class JudgeResult:
    """One judge's verdict on one answer (``single``) or one ordered pair (``pairwise``).

    ``scores``/``verdicts`` are set only when ``status == "ok"``; a failure keeps the raw reply
    and the error instead, and is excluded from every average.
    """

    judge: str
    model: str
    task: Task
    run: str
    id: str
    sample: int
    status: Status
    repeat: int = 0  # 0 = the rating; 1.. = re-judgements for self-consistency
    against: str = ""  # pairwise: the baseline run the answer is compared with
    order: str = ""  # pairwise: "AB" = baseline shown as A; "BA" = swapped
    scores: dict[str, int] | None = None
    verdicts: dict[str, str] | None = None
    explanations: dict[str, str] = field(default_factory=dict)
    raw_text: str | None = None
    error: str | None = None
    error_kind: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int | None] | None = None
    cost_usd: float | None = None
    cached: bool = False
    latency_s: float | None = None
    system_fingerprint: str | None = None
    answer_chars: int | None = None
    cache_key: str = ""
    prompt_version: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> ResultKey:
        return result_key(self.judge, self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeResult:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_results(path: Path) -> dict[ResultKey, JudgeResult]:
    """The latest result per key in ``path`` (empty if the file does not exist).

    A torn last line (a kill mid-write) is ignored: its item is judged again. Any other line
    that is not JSON, or not a judgement, is an error naming the line.
    """
    results: dict[ResultKey, JudgeResult] = {}
    if not path.is_file():
        return results
    for number, data in read_jsonl(path, error=JudgementsFileError).numbered():
        try:
            result = JudgeResult.from_dict(data)
        except TypeError as exc:
            raise JudgementsFileError(f"{path}:{number}: not a judgement line: {exc}") from exc
        results[result.key] = result
    return results


class ResultWriter:
    """Appends results to ``judgements.jsonl``, one flushed line each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # opening cuts a line torn by a kill mid-write, so the next line stands alone
        self._writer = JsonlWriter(path).open()

    def write(self, result: JudgeResult) -> None:
        self._writer.write(result.to_dict())

    def close(self) -> None:
        self._writer.close()


def compact(path: Path, results: Iterable[JudgeResult]) -> None:
    """Rewrite ``path`` with one line per key (atomically)."""
    rewrite_jsonl(path, (result.to_dict() for result in results))
