"""``judge_summary.json`` as typed parts: :class:`JudgeSummary` and what it holds.

``summary.build_summary`` computes one from the results, ``session`` adds the invocation's
facts (:class:`RunFacts`) and writes ``to_json()``; ``markdown`` renders it and the report
reads a folder's file back with :meth:`JudgeSummary.from_json`. A part's JSON is its fields
in order (:mod:`hawkeye_bench.core.json_form` converts the dataclasses both ways);
``from_json`` takes what older versions wrote: a field they did not write gets its default, a
key it does not know is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from hawkeye_bench.core.json_form import dump, load
from hawkeye_bench.judging.config import StructuredOutput
from hawkeye_bench.judging.options import JudgeOptions
from hawkeye_bench.judging.pairwise import PairwiseSummary
from hawkeye_bench.judging.request_body import ChatMessage, RequestParams

T = TypeVar("T")

#: name -> name -> value: the two-level maps of the summary's sections (see each field)
Nested = dict[str, dict[str, T]]


@dataclass
class Interval:
    """An estimate with its bootstrap interval (low, high: None where undefined)."""

    estimate: float
    low: float | None
    high: float | None
    n: int
    method: str


@dataclass
class Consistency:
    """A judge against itself on the answers it rated twice."""

    n: int
    exact_agreement: float
    mean_abs_diff: float
    alpha: float | None


@dataclass(frozen=True)
class JudgedRun:
    """A run folder whose answers were judged."""

    label: str
    records: str
    answers: int
    skipped_errors: int = 0


@dataclass(frozen=True)
class CriterionInfo:
    """A criterion as rated: its rubric version and score scale (min, max)."""

    name: str
    version: int = 1
    scale: tuple[int, int] = (1, 10)


@dataclass(frozen=True)
class JudgeCounts:
    """One judge of the panel: who it is and how its calls ended."""

    judge: str
    model: str | None
    family: str
    provider: str
    structured_output: StructuredOutput
    results: int
    ok: int
    failures: dict[str, int]  # failure status -> results that ended so (excluded)
    failure_rate: float | None


@dataclass(frozen=True)
class MeanScore:
    mean: float
    n: int


@dataclass(frozen=True)
class Comparison:
    """A candidate run against the baseline on one criterion, by one judge or the panel."""

    candidate: str
    baseline: str
    criterion: str
    judge: str
    n_questions: int
    n_answers: int
    mean_candidate: float
    mean_baseline: float
    difference: Interval | None = None
    relative_improvement: Interval | None = None
    length_adjusted_difference: Interval | None = None


@dataclass(frozen=True)
class AgreementPair:
    """Two judges on the answers both rated."""

    judges: tuple[str, str]
    n: int
    kappa_quadratic: float | None
    spearman: float | None


@dataclass(frozen=True)
class Agreement:
    """Inter-judge agreement on one criterion."""

    krippendorff_alpha_ordinal: float | None
    n_answers: int
    pairs: tuple[AgreementPair, ...] = ()


@dataclass(frozen=True)
class LengthBias:
    spearman_score_vs_chars: float | None
    n: int


@dataclass(frozen=True)
class PairwiseEntry:
    """One judge's pairwise verdicts on one comparison, per criterion."""

    pairs: int
    pairs_with_failed_order: int
    criteria: dict[str, PairwiseSummary]


@dataclass(frozen=True)
class ExampleRequest:
    """The exact first request to a judge (never its key: only the variable's name)."""

    base_url: str | None
    model: str | None
    api_key_env: str | None
    messages: list[ChatMessage]
    params: RequestParams  # the request body sent to the judge's API, as it went out


@dataclass(frozen=True)
class CallCounts:
    sent: int = 0
    cache_hits: int = 0
    reused_from_earlier_run: int = 0
    not_sent: int = 0


@dataclass(frozen=True)
class RunFacts:
    """What the summary records about the invocation itself: panel, calls, cost, requests.

    In the file its fields stand beside the summary's own (after them)."""

    panel: str
    prompt_version: str = ""
    options: JudgeOptions = field(default_factory=JudgeOptions)
    calls: CallCounts = field(default_factory=CallCounts)
    cost: dict[str, object] = field(default_factory=dict)  # the ledger's JSON
    stopped: str | None = None
    example_requests: dict[str, ExampleRequest] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgeSummary:
    """``judge_summary.json``: scores, paired differences, agreement and length bias."""

    baseline: str | None = None
    runs: tuple[JudgedRun, ...] = ()
    criteria: tuple[CriterionInfo, ...] = ()
    judges: tuple[JudgeCounts, ...] = ()
    #: criterion -> judge or panel -> run -> mean score
    means: dict[str, Nested[MeanScore]] = field(default_factory=dict)
    comparisons: tuple[Comparison, ...] = ()
    #: candidate -> criterion -> whether every judge's difference has the panel's sign
    sign_consistent_with_panel: Nested[bool | None] = field(default_factory=dict)
    agreement: dict[str, Agreement] = field(default_factory=dict)  # criterion -> agreement
    #: judge -> criterion -> its agreement with itself (None: nothing judged twice)
    self_consistency: Nested[Consistency | None] = field(default_factory=dict)
    length_bias: Nested[LengthBias] = field(default_factory=dict)  # judge or panel -> criterion
    pairwise: Nested[PairwiseEntry] = field(default_factory=dict)  # "run vs against" -> judge
    confidence: float = 0.95
    bootstrap_resamples: int = 0
    facts: RunFacts | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary's fields, then the facts' beside them (not nested)."""
        data = dump(replace(self, facts=None))
        del data["facts"]
        if self.facts is not None:
            data.update(dump(self.facts))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JudgeSummary:
        """The file's JSON read back; a JsonFormError (a ValueError) for a part of the wrong
        type."""
        own = {f.name for f in fields(cls)} - {"facts"}
        summary = load(cls, {k: v for k, v in data.items() if k in own})
        facts = load(RunFacts, data) if "panel" in data else None
        return replace(summary, facts=facts)
