"""Round trips of a calibration's payloads (``calibration.json``, ``ceiling.json``) and of the
kept one-process ceiling (``load_capacity.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hawkeye_bench.load.calibration_result import (
    Check,
    Evaluation,
    MachineLoad,
    Measured,
    Truth,
    render,
)
from hawkeye_bench.load.capacity import Capacity, new_capacity, read_capacity, save_capacity
from hawkeye_bench.load.stage_result import LoadStageResult


def _through_json(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def _evaluation() -> Evaluation:
    return Evaluation(
        concurrency=4,
        truth=Truth(ttft_ms=50.0, gap_ms=40.0, tokens=12, tokens_per_chunk=2),
        measured=Measured(ttft_p50_ms=50.4, lag_p99_ms=1.2, requests_ok=20, events_per_s=90.0),
        checks=[
            Check.of("ttft_p50_error_ms", 0.4, 3.0, "|TTFT p50 - configured|"),
            Check.of("errors", None, 0, "failed measured requests"),
        ],
        machine=MachineLoad(0.5, 0.7, 8, server_cpu_percent=12.0, server_rss_mb=40.0),
        stage=LoadStageResult(target="scripted", concurrency=4, stage="scripted/c4"),
        processes=0,
    )


def test_evaluation_round_trip() -> None:
    evaluation = _evaluation()
    assert not evaluation.passed  # a check with nothing measured fails
    data = _through_json(evaluation.to_json())
    assert list(data) == [
        "concurrency", "truth", "measured", "checks", "passed", "machine", "stage", "processes",
    ]  # fmt: skip
    assert data["truth"]["e2e_ms"] == 50 + 5 * 40
    assert Evaluation.from_json(data) == evaluation
    assert "concurrency 4: FAIL (20 requests)" in render([evaluation])


def test_evaluation_old_form_loads() -> None:
    """As ``calibration.json`` was written before the payload was typed."""
    old = {
        "concurrency": 2,
        "truth": {"ttft_ms": 100.0, "gap_ms": 20.0, "tokens": 64, "tokens_per_chunk": 1,
                  "e2e_ms": 1360.0},
        "measured": {"ttft_p50_ms": 100.5, "lag_p99_ms": 0.8, "requests_ok": 10},
        "checks": [{"check": "errors", "measured": 0, "limit": 0, "passed": True,
                    "text": "failed measured requests"}],
        "passed": True,
        "machine": {"load_1min": 0.1, "load_5min": 0.2, "cores": 2},
        "stage": {"target": "scripted", "concurrency": 2},
    }  # fmt: skip
    loaded = Evaluation.from_json(old)
    assert loaded.passed and loaded.truth == Truth() and loaded.processes is None
    assert loaded.measured.events_per_s is None and loaded.machine.server_cpu_percent is None
    assert loaded.to_json()["machine"] == old["machine"]


def test_capacity_round_trip_and_read_back(tmp_path: Path) -> None:
    capacity = new_capacity(events_per_s=4600.0, lag_p99_ms=2.5, concurrency=200, bound_ms=5.0)
    assert Capacity.from_json(_through_json(capacity.to_json())) == capacity
    path = save_capacity(capacity, tmp_path / "load_capacity.json")
    assert read_capacity(path) == capacity
    old = capacity.to_json() | {"lag_p99_ms": None}
    assert Capacity.from_json(old).lag_p99_ms is None
    with pytest.raises(KeyError):
        Capacity.from_json({})
