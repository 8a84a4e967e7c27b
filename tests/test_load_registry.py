"""The load metric registry: one entry reaches the stage statistics, load_results.json,
load_table.csv, load_table.md and the report's latency-under-load table with no other edit."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hawkeye_bench.load.metrics import SLO_METRICS, goodput, stage_metrics
from hawkeye_bench.load.plan import PlanDescription
from hawkeye_bench.load.records import RequestRecord
from hawkeye_bench.load.registry import (
    LoadMetric,
    csv_load_metrics,
    load_metric,
    load_metrics,
    register_load_metric,
    slo_metric_names,
    unregister_load_metric,
)
from hawkeye_bench.load.results import STAT_KEYS, build_results, write_outputs
from hawkeye_bench.load.stage_result import LoadStageResult, StageStatistics
from hawkeye_bench.reporting.latency_tables import LATENCY_COLUMNS, load_latency_table
from hawkeye_bench.reporting.load_inputs import LoadStage
from hawkeye_bench.reporting.load_levels import CLOSED, LoadLevel

CLOSED_C1 = LoadLevel(CLOSED, concurrency=1)

#: the order of load_results.json's definitions and load_table.md's definitions table
DEFINITIONS_ORDER = [
    "e2e_ms",
    "e2e_done_ms",
    "tt_ack_ms",
    "ttft_ms",
    "ttft_reasoning_ms",
    "ttft_content_ms",
    "tbt_ms",
    "cot_tbt_ms",
    "reasoning_end_ms",
    "chunk_gap_ms",
    "tpot_ms",
    "output_tokens",
    "reasoning_tokens",
    "cot_tokens",
    "delivery_lag_ms",
]
#: the order of the metric columns in load_table.csv
CSV_ORDER = [
    "e2e_ms",
    "ttft_ms",
    "ttft_content_ms",
    "ttft_reasoning_ms",
    "reasoning_end_ms",
    "tt_ack_ms",
    "tbt_ms",
    "chunk_gap_ms",
    "tpot_ms",
    "output_tokens",
    "reasoning_tokens",
    "e2e_done_ms",
    "delivery_lag_ms",
    "cot_tbt_ms",
    "cot_tokens",
]
PLAN = {
    "targets": [{"name": "baseline", "url": "u1"}, {"name": "hawkeye", "url": "u2"}],
    "baseline": "baseline",
    "prompts": "gsm8k",
    "max_tokens": 64,
    "model": "m",
    "requests_per_stage": 3,
    "warmup_s": 0.0,
}


def time_to_10th_token(record: RequestRecord) -> float | None:
    """Send -> the chunk that holds the 10th output token."""
    seen = 0
    for chunk in record.chunks:
        seen += chunk[1]
        if seen >= 10:
            return float(chunk[0])
    return None


TT10 = LoadMetric(
    "tt10_ms",
    "ms",
    "TT10: send -> the chunk holding the 10th output token",
    per_request=time_to_10th_token,
    table_column="tt10",
    table_stats=("mean", "p90"),
    slo=True,
)


@pytest.fixture
def tt10() -> Iterator[LoadMetric]:
    register_load_metric(TT10)
    try:
        yield TT10
    finally:
        unregister_load_metric(TT10.name)


def request(
    first_ms: float, n_chunks: int, tokens_per_chunk: int, k: int, cot_end_ms: float | None = None
) -> RequestRecord:
    chunks: list[list[object]] = [
        [first_ms + 10.0 * i, tokens_per_chunk, "c"] for i in range(n_chunks)
    ]
    return RequestRecord(
        t_send_wall=0.0,
        t_send_perf=float(k),
        pid=1,
        seq=k,
        tt_ack_ms=1.0,
        ttft_ms=first_ms,
        ttft_content_ms=first_ms,
        e2e_ms=chunks[-1][0],  # type: ignore[arg-type]
        output_tokens=n_chunks * tokens_per_chunk,
        output_tokens_source="usage",
        cot_end_ms=cot_end_ms,
        cot_end_source=None if cot_end_ms is None else "stage_end",
        reasoning_tokens=None if cot_end_ms is None else 4,
        chunks=chunks,
    )


def stage(target: str, tokens_per_chunk: int, cot_end_ms: float | None = None) -> dict[str, object]:
    stats = stage_metrics([request(100.0, 12, tokens_per_chunk, k, cot_end_ms) for k in range(3)])
    stats.update(
        target=target,
        url=f"http://{target}",
        concurrency=4,
        stage=f"{target}/c4",
        reliable=True,
        unreliable_reasons=[],
    )
    return stats


def test_builtin_registry_keeps_the_output_layout() -> None:
    assert [m.name for m in load_metrics()] == DEFINITIONS_ORDER
    assert [m.name for m in csv_load_metrics()] == CSV_ORDER
    assert set(SLO_METRICS) == {"ttft_ms", "ttft_content_ms", "tpot_ms", "e2e_ms"}
    # every built-in table cell is one of the paper's latency columns
    stats = StageStatistics.from_json(stage_metrics([request(100.0, 4, 1, 0)]))
    entry = LoadStageResult("baseline", 1, statistics=stats)
    load = LoadStage(
        "run", "baseline", 1, "gsm8k", "baseline", True, stats, "raw", [], CLOSED_C1, entry
    )
    table = load_latency_table([load], str)
    assert [c for c in table.columns if c.key not in ("load", "level")] == [
        c for c in LATENCY_COLUMNS if c.key != "concurrency"
    ]
    keys = {c.key for c in LATENCY_COLUMNS}
    assert {k for k in table.rows[0] if k.startswith(("time_", "ttft_", "tbt_", "tokens_"))} <= keys
    assert table.rows[0]["time_p90_s"] == pytest.approx(0.13)  # e2e_ms in seconds


def test_a_registered_metric_reaches_every_output(tt10: LoadMetric, tmp_path: Path) -> None:
    assert load_metrics()[-1] is tt10 and load_metric("tt10_ms") is tt10
    # baseline: 1 token per chunk -> 10th token in chunk 10; hawkeye: 2 per chunk -> chunk 5
    stages = [stage("baseline", 1), stage("hawkeye", 2, cot_end_ms=130.0)]
    assert stages[0]["metrics"]["tt10_ms"]["mean"] == 190.0  # type: ignore[index]
    assert stages[1]["metrics"]["tt10_ms"]["mean"] == 140.0  # type: ignore[index]
    typed = [LoadStageResult.from_json(s) for s in stages]
    paths = write_outputs(build_results(PlanDescription.from_json(PLAN), typed), tmp_path)

    saved = json.loads(paths["json"].read_text())
    assert list(saved["definitions"]) == [*DEFINITIONS_ORDER, "tt10_ms"]
    assert saved["definitions"]["tt10_ms"] == {"unit": "ms", "definition": tt10.definition}
    assert saved["stages"][1]["metrics"]["tt10_ms"]["p90"] == 140.0

    header, *rows = list(csv.reader(paths["csv"].open()))
    added = [f"tt10_ms_{stat}" for stat in STAT_KEYS]
    start = header.index("cot_tokens_p99") + 1  # after the built-in metric columns
    assert header[start : start + len(added)] == added
    assert float(rows[0][header.index("tt10_ms_mean")]) == 190.0

    markdown = paths["markdown"].read_text()
    assert f"| `tt10_ms` | ms | {tt10.definition} |" in markdown

    loads = [
        LoadStage("run", s.target, 4, "gsm8k", "baseline", True, stats, "raw", [], CLOSED_C1, s)
        for s in typed
        if (stats := s.statistics) is not None
    ]
    table = load_latency_table(loads, str)
    keys = [c.key for c in table.columns if c.key not in ("load", "level")]
    paper = [c.key for c in LATENCY_COLUMNS[:-2] if c.key != "concurrency"]
    assert keys[: len(paper)] == paper
    assert keys[-4:] == ["tt10_mean_s", "tt10_p90_s", "speedup", "token_share"]
    assert [c.header for c in table.columns[-4:-2]] == ["tt10 mean s", "tt10 p90 s"]
    by_method = {r["method"]: r for r in table.rows}
    assert by_method["hawkeye"]["tt10_mean_s"] == pytest.approx(0.14)
    # the CoT-only row takes its columns from the metrics registered for it, or leaves them empty
    cot = by_method["hawkeye (CoT only)"]
    assert cot["time_mean_s"] == pytest.approx(0.13) and cot["tokens_mean"] == 4.0
    assert cot["tt10_mean_s"] is None
    assert cot["tbt_mean_s"] is not None  # the gaps within the CoT (cot_tbt_ms)

    # an SLO may bound it
    assert "tt10_ms" in slo_metric_names()
    records = [request(100.0, 12, 1, 0), request(100.0, 12, 2, 1)]
    assert goodput(records, {"tt10_ms": 150.0})["good"] == 1


def test_unregistering_removes_it_everywhere(tt10: LoadMetric) -> None:
    unregister_load_metric(tt10.name)
    try:
        assert "tt10_ms" not in stage_metrics([request(100.0, 12, 1, 0)])["metrics"]
        assert "tt10_ms" not in build_results(PlanDescription.from_json(PLAN), []).definitions
    finally:
        register_load_metric(tt10)  # the fixture removes it again


def test_a_pooled_metric_pools_samples_over_requests() -> None:
    chunk_tokens = LoadMetric(
        "chunk_tokens",
        "tokens",
        "tokens per token-bearing chunk, pooled",
        pooled=lambda record: [c[1] for c in record.chunks],
        in_csv=False,
    )
    register_load_metric(chunk_tokens)
    try:
        stats = stage_metrics([request(100.0, 3, 2, 0), request(100.0, 5, 4, 1)])
        assert stats["metrics"]["chunk_tokens"]["n"] == 8
        assert stats["metrics"]["chunk_tokens"]["mean"] == pytest.approx((3 * 2 + 5 * 4) / 8)
        assert chunk_tokens not in csv_load_metrics()
    finally:
        unregister_load_metric("chunk_tokens")


def test_bad_entries_are_refused(tt10: LoadMetric) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        LoadMetric("x_ms", "ms", "x")
    with pytest.raises(ValueError, match="exactly one"):
        LoadMetric("x_ms", "ms", "x", per_request=lambda r: 1.0, pooled=lambda r: [1.0])
    with pytest.raises(ValueError, match="per-request"):
        LoadMetric("x_ms", "ms", "x", pooled=lambda r: [1.0], slo=True)
    with pytest.raises(ValueError, match="table stats"):
        LoadMetric("x_ms", "ms", "x", per_request=lambda r: 1.0, table_stats=("median",))
    with pytest.raises(ValueError, match="already registered"):
        register_load_metric(tt10)
    with pytest.raises(ValueError, match="table column 'ttft'"):
        register_load_metric(
            LoadMetric("x_ms", "ms", "x", per_request=lambda r: 1.0, table_column="ttft")
        )
    with pytest.raises(KeyError, match="no load metric 'nope'"):
        load_metric("nope")
