"""Load statistics from raw records, the CPU verdict and the results table (no Locust)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hawkeye_bench.load.cpu import CpuSample, summarize_cpu
from hawkeye_bench.load.metrics import (
    distribution,
    goodput,
    per_token_gap_source,
    per_token_gaps,
    request_counts,
    stage_metrics,
    tpot_ms,
)
from hawkeye_bench.load.plan import PlanDescription
from hawkeye_bench.load.records import RawRecordError, RequestRecord, read_requests
from hawkeye_bench.load.results import build_results, render_markdown, write_outputs
from hawkeye_bench.load.stage_result import LoadStageResult


def record(
    chunks: list[list[object]],
    *,
    tokens: int | None = None,
    source: str = "usage",
    chunk_source: str = "chunks",
    error: str | None = None,
    warmup: bool = False,
    incomplete: bool = False,
    t_send: float = 0.0,
) -> RequestRecord:
    times = [c[0] for c in chunks]
    return RequestRecord(
        t_send_wall=0.0,
        t_send_perf=t_send,
        pid=1,
        seq=0,
        error=error,
        warmup=warmup,
        incomplete=incomplete,
        tt_ack_ms=1.0,
        ttft_ms=times[0] if times else None,
        ttft_content_ms=times[0] if times else None,
        e2e_ms=times[-1] if times else None,
        e2e_done_ms=times[-1] + 1 if times else None,
        output_tokens=tokens if tokens is not None else len(chunks),
        output_tokens_source=source,
        chunk_tokens_source=chunk_source,
        chunks=chunks,
    )


def test_distribution_uses_raw_samples_not_buckets() -> None:
    dist = distribution([101.0, 102.0, 103.0, 104.0, 105.0])
    assert dist is not None
    assert dist["p50"] == 103.0 and dist["mean"] == 103.0 and dist["n"] == 5
    assert dist["p90"] == pytest.approx(104.6)  # Locust would report a 10 ms bucket here
    assert distribution([]) is None


def test_per_token_gaps_split_multi_token_chunks() -> None:
    exact = record([[100.0, 2, "c"], [120.0, 2, "c"], [140.0, 4, "c"]], chunk_source="usage")
    gaps, source = per_token_gaps(exact)
    assert source == "usage"
    assert gaps.tolist() == [10.0, 10.0, 5.0, 5.0, 5.0, 5.0]
    # only a usage total: spread evenly over the chunks (6 tokens in 3 chunks = 2 per chunk)
    spread = record([[100.0, 1, "c"], [120.0, 1, "c"], [140.0, 1, "c"]], tokens=6)
    gaps, source = per_token_gaps(spread)
    assert source == "usage_spread" and gaps.tolist() == [10.0, 10.0]
    counted = record([[100.0, 1, "c"], [130.0, 1, "c"]], source="chunks")
    assert per_token_gaps(counted)[0].tolist() == [30.0]


def test_tbt_token_sources_count_each_request_once() -> None:
    records = [
        record([[100.0, 2, "c"], [120.0, 2, "c"]], chunk_source="usage"),
        record([[100.0, 1, "c"], [120.0, 1, "c"]], tokens=6),
        record([[100.0, 1, "c"]], source="chunks"),
    ]
    assert [per_token_gap_source(r) for r in records] == ["usage", "usage_spread", "chunks"]
    assert [per_token_gaps(r)[1] for r in records] == ["usage", "usage_spread", "chunks"]
    stats = stage_metrics(records)
    assert stats["tbt_token_sources"] == {"usage": 1, "usage_spread": 1, "chunks": 1}
    assert stats["metrics"]["tbt_ms"]["n"] == 2 + 1  # 2 tokens after one gap, then one spread gap


def test_tpot_and_counts_exclude_warmup_incomplete_and_errors() -> None:
    ok = record([[100.0, 1, "c"], [120.0, 1, "c"], [140.0, 1, "c"]])
    assert tpot_ms(ok) == 20.0
    records = [
        ok,
        record([[50.0, 1, "c"], [60.0, 1, "c"]], warmup=True),
        record([[100.0, 1, "c"]], incomplete=True),
        record([[100.0, 1, "c"]], error="HTTP 500: boom"),
    ]
    counts = request_counts(records)
    assert counts == {
        "recorded": 4,
        "warmup": 1,
        "incomplete": 1,
        "measured": 2,
        "ok": 1,
        "errors": 1,
        "refused": 0,  # an HTTP error is an answer, not a refused connection
    }
    stats = stage_metrics(records)
    assert stats["metrics"]["ttft_ms"]["n"] == 1  # only the ok measured request
    assert stats["metrics"]["chunk_gap_ms"]["mean"] == 20.0
    assert stats["errors_by_message"] == {"HTTP 500: boom": 1}


def test_near_zero_share_flags_buffered_delivery() -> None:
    # five chunks arriving together every 100 ms: what a 1024-byte buffering client sees
    times = [100.0 + 100 * (i // 5) + 0.01 * (i % 5) for i in range(20)]
    buffered = record([[t, 1, "c"] for t in times])
    stats = stage_metrics([buffered])
    assert stats["near_zero_gap_share"] == pytest.approx(16 / 19)
    assert stats["metrics"]["chunk_gap_ms"]["p50"] < 1.0


def test_cpu_saturation_needs_consecutive_samples() -> None:
    spiky = {1: [CpuSample(0, 95.0), CpuSample(1, 20.0), CpuSample(2, 95.0)]}
    busy = {1: [CpuSample(0, 30.0)], 2: [CpuSample(0, 90.0), CpuSample(1, 88.0)]}
    assert not summarize_cpu(spiky).saturated
    summary = summarize_cpu(busy)
    assert summary.saturated and summary.max_percent == 90.0
    assert not summarize_cpu({}).sampled


def test_read_requests_merges_process_files(tmp_path: Path) -> None:
    with pytest.raises(RawRecordError, match="no requests"):
        read_requests(tmp_path)
    a = record([[100.0, 1, "c"]], t_send=2.0)
    b = record([[100.0, 1, "c"]], t_send=1.0)
    (tmp_path / "requests-11.jsonl").write_text(a.to_json() + "\n")
    (tmp_path / "requests-22.jsonl").write_text(b.to_json() + "\n")
    merged = read_requests(tmp_path)
    assert [r.t_send_perf for r in merged] == [1.0, 2.0]


def _stage(target: str, e2e: float, tokens: int) -> dict[str, object]:
    gap = 10.0
    n_chunks = tokens
    records = [
        record([[100.0 + gap * i, 1, "c"] for i in range(n_chunks)], t_send=float(k))
        for k in range(3)
    ]
    for r in records:  # stretch the last chunk to the wanted E2E
        r.chunks[-1][0] = e2e
        r.e2e_ms = e2e
    stats = stage_metrics(records)
    stats.update(
        target=target,
        url=f"http://{target}",
        concurrency=10,
        stage=f"{target}/c10",
        cpu=summarize_cpu({1: [CpuSample(0, 10.0)]}).to_json(),
        reliable=True,
        unreliable_reasons=[],
    )
    return stats


def test_table_numbers_and_speedup(tmp_path: Path) -> None:
    plan = {
        "targets": [{"name": "baseline", "url": "u1"}, {"name": "hawkeye", "url": "u2"}],
        "baseline": "baseline",
        "prompts": "gsm8k",
        "max_tokens": 64,
        "model": "m",
        "requests_per_stage": 3,
        "warmup_s": 0.0,
    }
    stages = [_stage("baseline", 3000.0, 30), _stage("hawkeye", 1500.0, 12)]
    results = build_results(
        PlanDescription.from_json(plan), [LoadStageResult.from_json(s) for s in stages]
    )
    (speedup,) = results.speedups
    assert speedup.e2e_speedup == pytest.approx(2.0)
    assert speedup.token_share == pytest.approx(12 / 30)
    paths = write_outputs(results, tmp_path)
    markdown = paths["markdown"].read_text()
    assert "| 10 | baseline | 3 / 3 | 0 | 3.000 |" in markdown
    assert "| 10 | hawkeye | 3 / 3 | 0 | 1.500 |" in markdown and "2.00×" in markdown
    assert "TT_ACK: send -> first SSE chunk" in markdown  # definitions are printed
    rows = list(csv.DictReader(paths["csv"].open()))
    assert float(rows[1]["e2e_ms_mean"]) == 1500.0
    assert float(rows[1]["output_tokens_mean"]) == 12.0
    saved = json.loads(paths["json"].read_text())
    assert saved["stages"][0]["metrics"]["e2e_ms"]["mean"] == 3000.0
    # Avg TBT is the pooled per-token gap mean: (E2E - TTFT) / (tokens - 1) for equal requests
    assert saved["stages"][0]["metrics"]["tbt_ms"]["mean"] == pytest.approx((3000 - 100) / 29)
    assert "| 0.1000 |" in markdown  # baseline Avg TBT in seconds
    assert render_markdown(results) == markdown


def test_goodput_counts_requests_meeting_every_bound() -> None:
    fast = record([[100.0, 1, "c"], [120.0, 1, "c"], [140.0, 1, "c"]])  # TPOT 20
    slow_start = record([[900.0, 1, "c"], [910.0, 1, "c"]])
    failed = record([[100.0, 1, "c"]], error="HTTP 500")
    warm = record([[100.0, 1, "c"]], warmup=True)
    result = goodput([fast, slow_start, failed, warm], {"ttft_ms": 500, "tpot_ms": 25})
    assert (result["good"], result["measured"]) == (1, 3)
    assert result["share"] == pytest.approx(1 / 3)
    # a bound on a value a request lacks (no TPOT for one token) is not met
    assert goodput([record([[100.0, 1, "c"]])], {"tpot_ms": 1000})["good"] == 0
