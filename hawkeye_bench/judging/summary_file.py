"""``judge_summary.json`` as typed parts: :class:`JudgeSummary` and what it holds.

``summary.build_summary`` computes one from the results, ``session`` adds the invocation's
facts (:class:`RunFacts`) and writes ``to_json()``; ``markdown`` renders it and the report
reads a folder's file back with :meth:`JudgeSummary.from_json`. ``from_json`` takes what older
versions wrote: a field they did not write gets its empty value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from hawkeye_bench.judging.config import StructuredOutput
from hawkeye_bench.judging.options import JudgeOptions
from hawkeye_bench.judging.pairwise import PairwiseSummary

T = TypeVar("T")
U = TypeVar("U")

#: name -> name -> value: the two-level maps of the summary's sections (see each field)
Nested = dict[str, dict[str, T]]


def _known(cls: Callable[..., U], data: dict[str, Any]) -> U:
    """``cls`` from the fields of ``data`` it has (a key a newer version added is left out)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def _nested(data: dict[str, dict[str, T]], read: Callable[[T], U]) -> dict[str, dict[str, U]]:
    return {outer: {inner: read(v) for inner, v in by.items()} for outer, by in data.items()}


def _interval(data: Any) -> Interval | None:
    return None if data is None else Interval.from_json(data)


def _interval_json(interval: Interval | None) -> Any:
    return None if interval is None else interval.to_json()


@dataclass
class Interval:
    """An estimate with its bootstrap interval (low, high: None where undefined)."""

    estimate: float
    low: float | None
    high: float | None
    n: int
    method: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Interval:
        return cls(data["estimate"], data.get("low"), data.get("high"), data["n"], data["method"])


@dataclass
class Consistency:
    """A judge against itself on the answers it rated twice."""

    n: int
    exact_agreement: float
    mean_abs_diff: float
    alpha: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Consistency:
        return cls(data["n"], data["exact_agreement"], data["mean_abs_diff"], data.get("alpha"))


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
    version: int
    scale: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "scale": list(self.scale)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CriterionInfo:
        low, high = data.get("scale") or (1, 10)
        return cls(name=data["name"], version=data.get("version", 1), scale=(low, high))


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

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "difference": _interval_json(self.difference),
            "relative_improvement": _interval_json(self.relative_improvement),
            "length_adjusted_difference": _interval_json(self.length_adjusted_difference),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Comparison:
        return cls(
            candidate=data["candidate"],
            baseline=data["baseline"],
            criterion=data["criterion"],
            judge=data["judge"],
            n_questions=data.get("n_questions", 0),
            n_answers=data.get("n_answers", 0),
            mean_candidate=data["mean_candidate"],
            mean_baseline=data["mean_baseline"],
            difference=_interval(data.get("difference")),
            relative_improvement=_interval(data.get("relative_improvement")),
            length_adjusted_difference=_interval(data.get("length_adjusted_difference")),
        )


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

    def to_json(self) -> dict[str, Any]:
        return {
            "krippendorff_alpha_ordinal": self.krippendorff_alpha_ordinal,
            "n_answers": self.n_answers,
            "pairs": [{**asdict(p), "judges": list(p.judges)} for p in self.pairs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Agreement:
        pairs = tuple(
            AgreementPair(
                judges=(p["judges"][0], p["judges"][1]),
                n=p["n"],
                kappa_quadratic=p.get("kappa_quadratic"),
                spearman=p.get("spearman"),
            )
            for p in data.get("pairs", [])
        )
        return cls(data.get("krippendorff_alpha_ordinal"), data.get("n_answers", 0), pairs)


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

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "pairs_with_failed_order": self.pairs_with_failed_order,
            "criteria": {c: s.to_json() for c, s in self.criteria.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairwiseEntry:
        criteria = data.get("criteria", {})
        return cls(
            pairs=data.get("pairs", 0),
            pairs_with_failed_order=data.get("pairs_with_failed_order", 0),
            criteria={c: PairwiseSummary.from_json(s) for c, s in criteria.items()},
        )


@dataclass(frozen=True)
class ExampleRequest:
    """The exact first request to a judge (never its key: only the variable's name)."""

    base_url: str | None
    model: str | None
    api_key_env: str | None
    messages: list[dict[str, str]]
    params: dict[str, Any]  # the request body sent to the judge's API, as it went out


@dataclass(frozen=True)
class CallCounts:
    sent: int = 0
    cache_hits: int = 0
    reused_from_earlier_run: int = 0
    not_sent: int = 0


@dataclass(frozen=True)
class RunFacts:
    """What the summary records about the invocation itself: panel, calls, cost, requests."""

    panel: str
    prompt_version: str
    options: JudgeOptions
    calls: CallCounts
    cost: dict[str, object]  # the ledger's own JSON (budget, spent, per judge)
    stopped: str | None
    example_requests: dict[str, ExampleRequest]

    def to_json(self) -> dict[str, Any]:
        return {
            "panel": self.panel,
            "prompt_version": self.prompt_version,
            "options": self.options.to_json(),
            "calls": asdict(self.calls),
            "cost": self.cost,
            "stopped": self.stopped,
            "example_requests": {k: asdict(v) for k, v in self.example_requests.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunFacts:
        return cls(
            panel=data["panel"],
            prompt_version=data.get("prompt_version", ""),
            options=JudgeOptions.from_json(data.get("options", {})),
            calls=_known(CallCounts, data.get("calls", {})),
            cost=data.get("cost", {}),
            stopped=data.get("stopped"),
            example_requests={
                k: _known(ExampleRequest, v) for k, v in data.get("example_requests", {}).items()
            },
        )


@dataclass(frozen=True)
class JudgeSummary:
    """``judge_summary.json``: scores, paired differences, agreement and length bias."""

    baseline: str | None
    runs: tuple[JudgedRun, ...]
    criteria: tuple[CriterionInfo, ...]
    judges: tuple[JudgeCounts, ...]
    #: criterion -> judge or panel -> run -> mean score
    means: dict[str, Nested[MeanScore]]
    comparisons: tuple[Comparison, ...]
    #: candidate -> criterion -> whether every judge's difference has the panel's sign
    sign_consistent_with_panel: Nested[bool | None]
    agreement: dict[str, Agreement]  # criterion -> agreement
    self_consistency: Nested[Consistency | None]  # judge -> criterion -> ...
    length_bias: Nested[LengthBias]  # judge or panel -> criterion -> ...
    pairwise: Nested[PairwiseEntry]  # "run vs against" -> judge -> ...
    confidence: float
    bootstrap_resamples: int
    facts: RunFacts | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        data = {
            "baseline": self.baseline,
            "runs": [asdict(r) for r in self.runs],
            "criteria": [c.to_json() for c in self.criteria],
            "judges": [asdict(j) for j in self.judges],
            "means": {c: _nested(by, asdict) for c, by in self.means.items()},
            "comparisons": [c.to_json() for c in self.comparisons],
            "sign_consistent_with_panel": self.sign_consistent_with_panel,
            "agreement": {c: a.to_json() for c, a in self.agreement.items()},
            "self_consistency": _nested(
                self.self_consistency, lambda s: None if s is None else s.to_json()
            ),
            "length_bias": _nested(self.length_bias, asdict),
            "pairwise": _nested(self.pairwise, PairwiseEntry.to_json),
            "confidence": self.confidence,
            "bootstrap_resamples": self.bootstrap_resamples,
        }
        return data if self.facts is None else {**data, **self.facts.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JudgeSummary:
        consistency = data.get("self_consistency", {})
        return cls(
            baseline=data.get("baseline"),
            runs=tuple(_known(JudgedRun, r) for r in data.get("runs", [])),
            criteria=tuple(CriterionInfo.from_json(c) for c in data.get("criteria", [])),
            judges=tuple(_known(JudgeCounts, j) for j in data.get("judges", [])),
            means={
                c: _nested(by, lambda m: _known(MeanScore, m))
                for c, by in data.get("means", {}).items()
            },
            comparisons=tuple(Comparison.from_json(c) for c in data.get("comparisons") or []),
            sign_consistent_with_panel=data.get("sign_consistent_with_panel", {}),
            agreement={c: Agreement.from_json(a) for c, a in data.get("agreement", {}).items()},
            self_consistency=_nested(
                consistency, lambda s: None if s is None else Consistency.from_json(s)
            ),
            length_bias=_nested(data.get("length_bias") or {}, lambda b: _known(LengthBias, b)),
            pairwise=_nested(data.get("pairwise", {}), PairwiseEntry.from_json),
            confidence=data.get("confidence", 0.95),
            bootstrap_resamples=data.get("bootstrap_resamples", 0),
            facts=RunFacts.from_json(data) if "panel" in data else None,
        )
