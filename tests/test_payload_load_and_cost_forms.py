"""The load generator's, the calibration's, cost.json's and the replica reports' payloads now
declared as JsonPayloads: their written form is the one older versions wrote (derived keys
included, optional ones left out), older forms read back and write back the same, and a value
of the wrong type is refused in one line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hawkeye_bench.commands.cost import CostReport, GpuCostRow, LoadCost
from hawkeye_bench.core.json_form import JsonFormError
from hawkeye_bench.endpoints.replica_report import ReplicaReport, ReplicaSetReport
from hawkeye_bench.load.calibration_result import Check, MachineLoad, Measured, Truth
from hawkeye_bench.load.capacity import Capacity
from hawkeye_bench.load.cpu import CpuSample, ProcessCpu
from hawkeye_bench.load.shipping import RawBatch, Transfer


def _through_json(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def test_a_gpu_cost_row_writes_its_derived_reliable_and_reads_it_back_derived() -> None:
    row = GpuCostRow("t", 4, None, "c=4", 1.5, 2.0, 3.0, 0.4, None, [], ["client saturated"])
    data = _through_json(row.to_json())
    assert data["reliable"] is False and data["unreliable_reasons"] == ["client saturated"]
    assert set(data) == {
        "target", "concurrency", "rate_per_s", "level", "mean_latency_s", "throughput",
        "usd_per_hour", "usd_per_1k_requests", "ratio", "why_unknown", "reliable",
        "unreliable_reasons",
    }  # fmt: skip
    assert GpuCostRow.from_json(data | {"reliable": True}) == row  # derived, not read
    report = CostReport(["p"], [], [{"run": "r"}], [LoadCost("l", [row])])
    nested = _through_json(report.to_json())["gpu_view"][0]["stages"][0]
    assert nested == data and CostReport.from_json(_through_json(report.to_json())) == report


def test_a_transfer_row_of_an_older_file_writes_back_the_same() -> None:
    written = {"source": "h-1", "client_id": "w", "batches": 2, "next_batch": 2,
               "missing_batches": 0, "received_requests": 5, "received_cpu": 1,
               "sent_requests": 5, "sent_cpu": 1, "final": True, "lost": False,
               "complete": True}  # fmt: skip
    transfer = Transfer.from_json(written)
    assert transfer.complete and transfer.to_json() == written
    assert list(transfer.to_json())[-1] == "complete"


def test_a_raw_batch_passes_its_records_through_as_they_are() -> None:
    records = [{"seq": 1, "chunks": [[1.0, 1, "c"]], "anything": {"kept": [1, 2]}}]
    batch = RawBatch(host="h", pid=1, batch=0, requests=records, cpu=[CpuSample(1.0, 5.0)])
    data = batch.to_json()
    assert data["requests"] is records
    assert list(data) == [
        "host", "pid", "batch", "requests", "cpu", "final", "sent_requests", "sent_cpu",
    ]  # fmt: skip
    assert data["cpu"] == [{"t": 1.0, "cpu": 5.0, "interval_s": None}]
    assert RawBatch.from_json(_through_json(data)) == batch


def test_machine_load_leaves_out_the_server_figures_it_did_not_measure() -> None:
    assert MachineLoad(0.5, 0.25, 4).to_json() == {"load_1min": 0.5, "load_5min": 0.25, "cores": 4}
    measured = MachineLoad(0.5, 0.25, 4, server_cpu_percent=3.0, server_rss_mb=None)
    assert measured.to_json() == {
        "load_1min": 0.5, "load_5min": 0.25, "cores": 4, "server_cpu_percent": 3.0,
    }  # fmt: skip
    assert MachineLoad.from_json(measured.to_json()) == measured


def test_truth_check_and_measured_read_older_forms() -> None:
    truth = Truth.from_json({"ttft_ms": 50, "gap_ms": 10, "tokens": 8, "e2e_ms": 120.0})
    assert truth == Truth(50.0, 10.0, 8, 1) and truth.to_json()["e2e_ms"] == 120.0
    check = Check.from_json({"check": "errors", "measured": 0, "limit": 0, "passed": True})
    assert check == Check("errors", 0.0, 0.0, True, "")
    assert Measured.from_json({"requests_ok": 3, "unknown": 1}) == Measured(requests_ok=3)


def test_replica_reports_keep_number_kinds_and_read_missing_parts_as_empty() -> None:
    report = ReplicaReport("http://a", calls=2, latency_s={"n": 2, "missing": 0, "mean": 0.5})
    data = _through_json(ReplicaSetReport(("r",), (report,)).to_json())
    assert data["replicas"][0]["latency_s"] == {"n": 2, "missing": 0, "mean": 0.5}
    assert isinstance(data["replicas"][0]["latency_s"]["n"], int)
    assert ReplicaSetReport.from_json({}) == ReplicaSetReport()


def test_a_value_of_the_wrong_type_is_refused_in_one_line() -> None:
    with pytest.raises(JsonFormError, match="cpu") as caught:
        CpuSample.from_json({"t": 1.0, "cpu": "busy"})
    assert "\n" not in str(caught.value) and isinstance(caught.value, ValueError)
    with pytest.raises(JsonFormError, match="samples"):
        ProcessCpu.from_json({"process": "h-1", "samples": "many"})
    with pytest.raises(JsonFormError, match="concurrency"):
        Capacity.from_json({"events_per_s": 10.0, "concurrency": "x"})
    with pytest.raises(JsonFormError, match="stages"):
        LoadCost.from_json({"load": "l", "stages": 3})
