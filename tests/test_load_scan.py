"""Stage statistics in one streaming pass over the raw files: the same figures as the records
held in a list, without holding their chunks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from hawkeye_bench.core.jsonl import JsonlStream, read_jsonl
from hawkeye_bench.load.metrics import POOLED_DTYPE, Samples, scan_stage, stage_metrics
from hawkeye_bench.load.records import RequestRecord, load_requests, requests_path

SLO = {"ttft_ms": 150.0}


def _records(pid: int, n: int, rng: random.Random) -> list[RequestRecord]:
    records = []
    for seq in range(n):
        ttft = 50 + 200 * rng.random()
        chunks = [[ttft + 10 * k + rng.random(), 1 + k % 2, "c", rng.random()] for k in range(20)]
        records.append(
            RequestRecord(
                t_send_wall=100.0 + seq + pid / 10,
                t_send_perf=10.0 + seq + pid / 10,
                pid=pid,
                seq=seq,
                status=200,
                ttft_ms=ttft,
                e2e_ms=chunks[-1][0],
                output_tokens=30,
                output_tokens_source="usage",
                chunk_tokens_source="usage",
                chunks=chunks,
                error="HTTP 500" if seq % 7 == 3 else None,
                warmup=seq == 0,
            )
        )
    return records


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    rng = random.Random(3)
    for pid in (1, 2):
        lines = "".join(r.to_json() + "\n" for r in _records(pid, 40, rng))
        requests_path(tmp_path, pid).write_text(lines)
    with requests_path(tmp_path, 2).open("a") as handle:
        handle.write('{"t_send_wall": 1')  # a torn last line
    return tmp_path


def test_one_pass_gives_the_figures_of_the_held_records(raw_dir: Path) -> None:
    held, torn = load_requests(raw_dir)
    expected = stage_metrics(held, SLO)
    scan = scan_stage(raw_dir, SLO)
    assert scan.torn == torn == 1
    got = scan.metrics
    for key in ("requests", "token_sources", "errors_by_message", "goodput", "throughput"):
        assert got[key] == expected[key], key
    for name, dist in expected["metrics"].items():
        if dist is None:
            assert got["metrics"][name] is None
            continue
        # pooled per-chunk samples are float32: relative error below 6e-8
        assert got["metrics"][name] == pytest.approx(dist, rel=1e-6), name
    assert expected["requests"]["errors"] > 0 and expected["goodput"]["good"] > 0
    # the records come back in send order, without their per-chunk rows
    assert [r.request_id for r in scan.records] == [r.request_id for r in held]
    assert all(r.chunks == [] for r in scan.records)
    assert scan_stage(raw_dir, keep_records=False).records == []


def test_samples_grow_in_blocks_without_losing_a_sample() -> None:
    samples = Samples(POOLED_DTYPE)
    samples.BLOCK = 5  # type: ignore[misc]
    values = np.arange(23, dtype=float)
    for part in np.array_split(values, 6):
        samples.extend(part)
    assert len(samples) == 23
    assert samples.array().dtype == POOLED_DTYPE
    assert samples.array().tolist() == values.tolist()
    assert Samples().array().size == 0


def test_a_jsonl_stream_reads_as_read_jsonl_does(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3}')  # a complete last line without newline
    stream = JsonlStream(path)
    assert list(stream.numbered()) == [(1, {"a": 1}), (3, {"a": 2}), (4, {"a": 3})]
    assert stream.torn == 0
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    stream = JsonlStream(path)
    assert [row["a"] for row in stream] == [1, 2] and stream.torn == 1
    assert list(stream.numbered(repair=True)) == [(1, {"a": 1}), (2, {"a": 2})]
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'  # the torn line cut
    assert read_jsonl(path).rows == [{"a": 1}, {"a": 2}]
    path.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(ValueError, match=r"rows.jsonl:2: malformed JSON"):
        list(JsonlStream(path))
    path.write_text(json.dumps([1]) + "\n")
    with pytest.raises(ValueError, match="expected a JSON object"):
        list(JsonlStream(path))
