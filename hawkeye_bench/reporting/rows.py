"""The rows of the report's tables, as the modules that fill them and those that read them
(figures, speedup notes, the renderer, ``report.json``) agree on them.

Rows are plain dicts at run time: ``report.json`` writes them as they are, in the key order
they were built in. Two tables also have cells keyed at run time: the latency-under-load table
one per statistic of each registered load metric (see :mod:`hawkeye_bench.load.registry`; the
built-in metrics' cells are declared here), and the pass@k table one ``pass@<j>`` per j.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

#: [low, high] of a 95% interval; None where it could not be computed
Interval = list[float | None]


class SourcedRow(TypedDict):
    """What every row has: the files its numbers were read from (as the report names them)."""

    sources: list[str]


# --------------------------------------------------------------------------- accuracy


class AccuracyRow(TypedDict):
    """One eval run, or one task of an lm-eval output (whose rows are built in another key
    order, see :func:`hawkeye_bench.reporting.lm_eval_inputs.accuracy_rows`)."""

    dataset: str
    method: str
    #: what sets the run's configuration apart from the other runs of its pipeline
    configuration: NotRequired[str]
    run: str
    n: int | None
    accuracy: float | None
    accuracy_ci: Interval
    ci_method: str
    errors: int | None
    cot_only_tokens: float | None
    full_tokens: float | None
    compression_percent: float | None
    compression_pairs: int | None
    #: the baseline run compression is measured against (lm-eval rows: only when measured)
    compression_vs: NotRequired[str | None]
    accuracy_per_1k_tokens: float | None
    token_sources: str
    sources: list[str]


# --------------------------------------------------------------------------- latency


class LatencyCells(TypedDict):
    """The paper's latency columns, in seconds (tokens: completion tokens per request)."""

    time_mean_s: float | None
    time_p50_s: float | None
    time_p90_s: float | None
    time_p99_s: float | None
    ttft_mean_s: float | None
    ttft_p50_s: float | None
    ttft_p90_s: float | None
    ttft_p99_s: float | None
    tbt_mean_s: float | None
    tokens_mean: float | None


class Speedup(TypedDict):
    """Filled in once all rows of a table are known (None: no baseline row to compare with)."""

    #: the baseline's mean time per request / this row's, at the same dataset and concurrency
    speedup: float | None
    #: this row's mean tokens / the baseline's
    token_share: float | None
    #: the method of that baseline row
    speedup_baseline: str | None


class LatencyRow(LatencyCells, Speedup):
    """What the latency tables' rows share (the speedups are computed from these)."""

    dataset: str
    method: str
    concurrency: int | None  # None: an eval run that did not record its concurrency
    n: int | None
    sources: list[str]


class EvalLatencyRow(LatencyRow):
    """One view (``<Name> (Full)``, ``<Name> (CoT only)``) of an eval run's recorded timings."""

    run: str
    configuration: str
    #: the baseline run the speedup divides by (flagged where its configuration differs)
    baseline_run: str | None


class LoadLatencyRow(LatencyRow):
    """One stage (target, load level) of a load run, or the ``(CoT only)`` view of one.

    Built as: the fields up to ``reliable``, then one cell per statistic of each registered
    load metric with a table column (:class:`LatencyCells` for the built-in ones), then
    ``metrics_from``, ``sources`` and the :class:`Speedup` fields.
    """

    load: str
    level: str  # the stage's load (LoadLevel.label): what pairs it with the baseline's stage
    measured: int
    errors: int
    baseline_target: str
    reliable: bool | None
    metrics_from: str  # "raw" or "load_results.json"


# --------------------------------------------------------------------------- judges


class JudgeScoreRow(TypedDict):
    criterion: str
    judge: str  # a judge's name, or "panel"
    run: str
    configuration: str  # what sets the run's configuration apart (its manifest's)
    judge_output: str  # the judgement folder
    mean: float
    ci95: Interval
    n_questions: int
    n_answers: int
    scale: list[int] | None  # the criterion's [min, max]
    sources: list[str]


class JudgeDifferenceRow(TypedDict):
    criterion: str
    judge: str
    comparison: str  # "<candidate> − <baseline>"
    difference: float | None
    difference_ci: Interval
    #: mean candidate / mean baseline − 1 (None in a summary written before it was computed)
    relative: float | None
    relative_ci: Interval
    length_adjusted: float | None
    adjusted_ci: Interval
    n_questions: int | None
    sources: list[str]


class LengthBiasRow(TypedDict):
    criterion: str
    judge: str
    spearman: float | None
    n: int | None
    sources: list[str]


# --------------------------------------------------------------------------- avg@k / pass@k


class PassAtKRow(TypedDict):
    dataset: str
    method: str
    configuration: NotRequired[str]
    run: str
    k: int
    problems: int
    avg_at_k: float | None
    pass_at: dict[int, float | None]  # j -> pass@j
    sources: list[str]


# --------------------------------------------------------------------------- cost


class TokenCostRow(TypedDict):
    """One eval run in the token view (``cost/token_view.py``'s RunCost)."""

    run: str
    configuration: NotRequired[str]
    dataset: str | None
    pipeline: str | None
    problems: int
    correct: int
    usd_per_1k_problems: float | None
    usd_per_correct: float | None
    ratio: float | None
    baseline: str | None
    why_unknown: str
    sources: list[str]


class GpuCostRow(TypedDict):
    """One load stage in the GPU-time view (``cost/gpu_view.py``'s StageCost)."""

    load: str
    target: str
    level: str
    concurrency: int
    mean_latency_s: float | None
    throughput: float | None
    usd_per_hour: float | None
    usd_per_request: float | None
    usd_per_1k_requests: float | None
    ratio: float | None
    why_unknown: str
    sources: list[str]
