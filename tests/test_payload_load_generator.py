"""Round trips of the load generator's own payloads: the master's workload message, a worker's
raw batch, a row of transfers.json, a CPU sample and a stage's CPU summary."""

from __future__ import annotations

import json
from typing import Any

from hawkeye_bench.load.cpu import CpuSample, CpuSummary, ProcessCpu, summarize_cpu
from hawkeye_bench.load.locustfile_workload import Workload, WorkloadMessage
from hawkeye_bench.load.shipping import RawBatch, Transfer
from hawkeye_bench.load.traces import TraceRow


def _through_json(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def test_workload_message_round_trip_and_old_form() -> None:
    message = WorkloadMessage(
        path="/v1/chat/completions",
        model="m",
        prompts=[[{"role": "user", "content": "hi"}]],
        api_key_env="KEY",
        workers=3,
        stages_left=1,
        trace=[TraceRow(0.0, 10, 5), TraceRow(0.5, 20, 7)],
    )
    assert WorkloadMessage.from_json(_through_json(message.to_json())) == message
    old = {  # as the master sent it before the message was typed
        "path": "/v1/chat/completions",
        "model": "m",
        "prompts": [[{"role": "user", "content": "hi"}]],
        "trace": None,
        "api_key_env": "",
        "workers": 2,
        "stages_left": 0,
    }
    loaded = WorkloadMessage.from_json(old)
    assert loaded.trace is None and loaded.workers == 2 and loaded.to_json() == old
    workload = loaded.workload()
    assert workload.model == "m" and "Authorization" not in workload.headers


def test_workload_message_of_a_workload() -> None:
    workload = Workload("/p", "m", [[{"role": "user", "content": "q"}]], {}, None)
    message = WorkloadMessage.of(workload, api_key_env="", workers=4, stages_left=2)
    assert message.workload().path == "/p" and message.workers == 4


def test_raw_batch_round_trip_and_old_form() -> None:
    batch = RawBatch(
        host="h",
        pid=7,
        batch=2,
        requests=[{"seq": 1, "chunks": [[1.0, 1, "c"]]}],
        cpu=[CpuSample(1.0, 12.5, 1.0)],
        final=True,
        sent_requests=9,
        sent_cpu=3,
    )
    assert RawBatch.from_json(_through_json(batch.to_json())) == batch
    old = {
        "host": "h",
        "pid": 7,
        "batch": 0,
        "requests": [],
        "cpu": [{"t": 2.0, "cpu": 50.0}],
        "final": False,
        "sent_requests": 0,
        "sent_cpu": 1,
    }
    loaded = RawBatch.from_json(old)
    assert loaded.cpu == [CpuSample(2.0, 50.0)] and not loaded.final


def test_transfer_round_trip_and_old_form() -> None:
    transfer = Transfer("h-1", "client", batches=2, next_batch=2, received_requests=5,
                        sent_requests=5, received_cpu=1, sent_cpu=1, final=True)  # fmt: skip
    data = _through_json(transfer.to_json())
    assert data["complete"] is True
    assert Transfer.from_json(data) == transfer
    old = {"source": "h-2", "client_id": "", "batches": 1, "final": False, "complete": False}
    assert not Transfer.from_json(old).complete


def test_cpu_sample_and_summary_round_trip() -> None:
    sample = CpuSample(1.5, 99.0, 0.98)
    assert CpuSample.from_json(_through_json(sample.to_json())) == sample
    assert CpuSample.from_json({"t": 1.0, "cpu": 3.0}).interval_s is None  # older files
    summary = summarize_cpu({"h-1": [CpuSample(0, 90.0), CpuSample(1, 95.0)], "h-2": []})
    assert summary.saturated and summary.sampled
    assert summary.processes[0] == ProcessCpu("h-1", 2, 92.5, 95.0, True)
    assert CpuSummary.from_json(_through_json(summary.to_json())) == summary
    # the stored form (a stage's cpu in load_results.json), as written before it was typed
    old = {
        "threshold_percent": 85.0,
        "consecutive_samples": 2,
        "processes": [
            {"process": "h-1", "samples": 2, "mean_percent": 92.5, "max_percent": 95.0,
             "saturated": True},
            {"process": "h-2", "samples": 0, "mean_percent": None, "max_percent": None,
             "saturated": False},
        ],
        "busiest_mean_percent": 92.5,
        "max_percent": 95.0,
        "saturated": True,
        "sampled": True,
    }  # fmt: skip
    assert summary.to_json() == old and CpuSummary.from_json(old) == summary
    assert CpuSummary.from_json({}) == CpuSummary()
