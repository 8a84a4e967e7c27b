"""summary.json's types: :class:`RunSummary` and its sections, each with ``to_json`` (the JSON
object as written) and ``from_json`` (tolerant of what an older summary left out).

:func:`hawkeye_bench.eval.summary.summarize` computes them. Sections other code writes are held
in that code's type (``route``: :class:`~hawkeye_bench.routing.summary.RouteSummary`,
``accuracy_vs_baseline``: :class:`~hawkeye_bench.eval.comparison.AccuracyComparison`,
``cost``: :class:`~hawkeye_bench.cost.token_view.SummaryCost`) or, where it has none, as its
JSON (``import`` and ``agreement``: ``hawkeye-bench import``'s); ``replicas`` are
:class:`~hawkeye_bench.endpoints.replica_report.ReplicaSetReport`, written with each replica's
share of its set's calls (:func:`replica_set_json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.cost.token_view import SummaryCost
from hawkeye_bench.endpoints.replica_report import ReplicaSetReport
from hawkeye_bench.eval.comparison import AccuracyComparison, AccuracyComparisonJson
from hawkeye_bench.routing.summary import RouteSummary

#: A distribution as ``core.stats.describe`` gives it (n, missing, mean, percentiles, min, max).
Distribution = dict[str, float | int | None]


def replica_set_json(report: ReplicaSetReport) -> dict[str, Any]:
    """A replica set in summary.json: its report, each replica with its share of the set's
    calls (an even spread gives each 1 / replicas)."""
    total = sum(r.calls for r in report.replicas)
    replicas = [
        {**r.to_json(), "share_of_calls": r.calls / total if total else None}
        for r in report.replicas
    ]
    return {**report.to_json(), "replicas": replicas}


def _ci(value: Any) -> tuple[float | None, float | None]:
    low, high = value if isinstance(value, list | tuple) and len(value) == 2 else (None, None)
    return low, high


@dataclass
class AccuracySummary:
    """``accuracy``: over all items (errors count as wrong) with a 95% interval; with several
    samples per problem also avg@k and pass@j (``pass_at``: j -> estimate)."""

    mean: float | None
    ci95: tuple[float | None, float | None]
    ci_method: str
    correct: int
    n: int
    n_graded: int
    mean_excluding_errors: float | None
    samples_per_problem: int | None = None
    avg_at_k: float | None = None  # on disk ``avg@<k>``
    pass_at: dict[str, float] | None = None  # on disk ``pass@k``

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "mean": self.mean,
            "ci95": list(self.ci95),
            "ci_method": self.ci_method,
            "correct": self.correct,
            "n": self.n,
            "n_graded": self.n_graded,
            "mean_excluding_errors": self.mean_excluding_errors,
        }
        if self.samples_per_problem:
            k = self.samples_per_problem
            data |= {"samples_per_problem": k, f"avg@{k}": self.avg_at_k, "pass@k": self.pass_at}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccuracySummary:
        k = data.get("samples_per_problem")
        return cls(
            mean=data.get("mean"),
            ci95=_ci(data.get("ci95")),
            ci_method=str(data.get("ci_method") or ""),
            correct=int(data.get("correct") or 0),
            n=int(data.get("n") or 0),
            n_graded=int(data.get("n_graded") or 0),
            mean_excluding_errors=data.get("mean_excluding_errors"),
            samples_per_problem=k,
            avg_at_k=data.get(f"avg@{k}") if k else None,
            pass_at=data.get("pass@k") if k else None,
        )


@dataclass
class ErrorSummary(JsonPayload):
    """``errors``: failed items, by the error type of their first failed stage."""

    count: int = 0
    share: float = 0.0
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass
class StageSummary(JsonPayload):
    """One role's calls in ``stages``: counts, tokens with their sources, cut-short share,
    TTFT and latency."""

    calls: int = 0
    errors: int = 0
    completion_tokens: Distribution = field(default_factory=dict)
    prompt_tokens: Distribution = field(default_factory=dict)
    token_sources: dict[str, int] = field(default_factory=dict)
    truncated_share: float | None = None
    ttft_s: Distribution = field(default_factory=dict)
    latency_s: Distribution = field(default_factory=dict)


@dataclass
class TokenSummary(JsonPayload):
    """``tokens``: the paper's CoT-only and Full completion tokens per answered item."""

    cot_only: Distribution = field(default_factory=dict)
    full: Distribution = field(default_factory=dict)


@dataclass
class OverthinkingSummary(JsonPayload):
    """``overthinking``: over the items measured (``eval.analyses.Overthinking``)."""

    n: int = 0
    n_right_before_end: int = 0
    share_after_first_correct: Distribution = field(default_factory=dict)


class CompressionJson(TypedDict, total=False):
    """``compression``: ``n_problems`` and ``ratio_percent`` always; the token means, or
    ``note`` where there is no ratio."""

    n_problems: int
    ratio_percent: float | None
    cot_only_tokens: float | None
    baseline_full_tokens: float | None
    note: str


@dataclass
class CompressionSummary:
    """``compression``: CoT-only tokens against the baseline's Full, over the problems both
    runs answered (``note`` says why there are none)."""

    n_problems: int
    ratio_percent: float | None = None
    cot_only_tokens: float | None = None
    baseline_full_tokens: float | None = None
    note: str | None = None

    def to_json(self) -> CompressionJson:
        if self.note is not None:
            return {"n_problems": self.n_problems, "ratio_percent": None, "note": self.note}
        return {
            "n_problems": self.n_problems,
            "cot_only_tokens": self.cot_only_tokens,
            "baseline_full_tokens": self.baseline_full_tokens,
            "ratio_percent": self.ratio_percent,
        }

    @classmethod
    def from_json(cls, data: CompressionJson) -> CompressionSummary:
        return cls(
            n_problems=int(data.get("n_problems") or 0),
            ratio_percent=data.get("ratio_percent"),
            cot_only_tokens=data.get("cot_only_tokens"),
            baseline_full_tokens=data.get("baseline_full_tokens"),
            note=data.get("note"),
        )


class BaselineJson(TypedDict):
    """:class:`BaselineSummary`'s two keys, at the summary's top level."""

    compression: CompressionJson
    accuracy_vs_baseline: AccuracyComparisonJson | None


@dataclass
class BaselineSummary:
    """A run against its baseline run: on disk ``compression`` and ``accuracy_vs_baseline``
    (null when the runs share no problem)."""

    compression: CompressionSummary
    accuracy: AccuracyComparison | None

    def to_json(self) -> BaselineJson:
        return {
            "compression": self.compression.to_json(),
            "accuracy_vs_baseline": self.accuracy.to_dict() if self.accuracy else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaselineSummary | None:
        """From the summary's top level; None for a run without a baseline."""
        if "compression" not in data and "accuracy_vs_baseline" not in data:
            return None
        paired = data.get("accuracy_vs_baseline")
        compression = data.get("compression") or CompressionJson()
        return cls(
            compression=CompressionSummary.from_json(compression),
            accuracy=AccuracyComparison.from_dict(paired) if paired else None,
        )


@dataclass
class RunSummary:
    """summary.json of one run (``eval`` or ``import``)."""

    n: int
    n_problems: int
    accuracy: AccuracySummary
    errors: ErrorSummary
    stages: dict[str, StageSummary]
    tokens: TokenSummary
    end_to_end_s: Distribution
    grading_errors: int = 0
    #: answers where no extraction rule could tell which number is the answer (wrong)
    ambiguous_extractions: int = 0
    #: stage counts that are not exact (counted chunks, or no count at all)
    approximate_token_counts: int = 0
    overthinking: OverthinkingSummary | None = None
    route: RouteSummary | None = None
    vs_baseline: BaselineSummary | None = None
    #: this session's calls per replica set (a resumed run counts anew)
    replicas: list[ReplicaSetReport] | None = None
    run: str | None = None
    pipeline: str | None = None
    task: str | None = None
    status: str | None = None
    cost: SummaryCost | None = None
    import_: dict[str, Any] | None = None  # on disk ``import``
    agreement: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object; a section the run does not have is left out."""
        sections: dict[str, Any] = {
            "overthinking": self.overthinking.to_json() if self.overthinking else None,
            "route": self.route.to_json() if self.route else None,
            "replicas": [replica_set_json(r) for r in self.replicas] if self.replicas else None,
            "run": self.run,
            "pipeline": self.pipeline,
            "task": self.task,
            "status": self.status,
            "cost": self.cost.to_json() if self.cost else None,
            "import": self.import_,
            "agreement": self.agreement,
        }
        return {
            "n": self.n,
            "n_problems": self.n_problems,
            "accuracy": self.accuracy.to_json(),
            "errors": self.errors.to_json(),
            "grading_errors": self.grading_errors,
            "ambiguous_extractions": self.ambiguous_extractions,
            "approximate_token_counts": self.approximate_token_counts,
            "stages": {role: stage.to_json() for role, stage in self.stages.items()},
            "tokens": self.tokens.to_json(),
            "end_to_end_s": self.end_to_end_s,
            **(self.vs_baseline.to_json() if self.vs_baseline else {}),
            **{key: value for key, value in sections.items() if value is not None},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        overthinking, route, cost = data.get("overthinking"), data.get("route"), data.get("cost")
        return cls(
            n=int(data.get("n") or 0),
            n_problems=int(data.get("n_problems") or 0),
            accuracy=AccuracySummary.from_json(data.get("accuracy") or {}),
            errors=ErrorSummary.from_json(data.get("errors") or {}),
            stages={r: StageSummary.from_json(s) for r, s in (data.get("stages") or {}).items()},
            tokens=TokenSummary.from_json(data.get("tokens") or {}),
            end_to_end_s=dict(data.get("end_to_end_s") or {}),
            grading_errors=int(data.get("grading_errors") or 0),
            ambiguous_extractions=int(data.get("ambiguous_extractions") or 0),
            approximate_token_counts=int(data.get("approximate_token_counts") or 0),
            overthinking=OverthinkingSummary.from_json(overthinking) if overthinking else None,
            route=RouteSummary.from_json(route) if route else None,
            vs_baseline=BaselineSummary.from_json(data),
            replicas=[ReplicaSetReport.from_json(r) for r in data["replicas"]]
            if data.get("replicas")
            else None,
            run=data.get("run"),
            pipeline=data.get("pipeline"),
            task=data.get("task"),
            status=data.get("status"),
            cost=SummaryCost.from_json(cost) if cost else None,
            import_=data.get("import"),
            agreement=data.get("agreement"),
        )
