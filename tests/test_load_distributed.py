"""Locust's distributed mode: workers ship raw records to the master, which merges them.

The end-to-end test runs the real thing over loopback: ``hawkeye-bench load --master
--expect-workers 2`` and two ``hawkeye-bench load --worker --master-host 127.0.0.1`` processes
(the multi-machine path, on one machine) against the scripted server, over two stages, and checks
the merged samples against what the server saw: every request it answered is in the merged
records exactly once, and the timing matches its script.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from hawkeye_bench.commands import load as load_command
from hawkeye_bench.commands.load import DistributedSetupError
from hawkeye_bench.load.capacity import (
    CAPACITY_ENV,
    new_capacity,
    plan_processes,
    save_capacity,
    stream_event_rate,
    usable_cores,
)
from hawkeye_bench.load.cpu import CpuSample
from hawkeye_bench.load.metrics import chunk_gaps
from hawkeye_bench.load.records import RequestRecord, read_cpu_samples, read_requests
from hawkeye_bench.load.runner import LoadPlan, StageRun, Target, analyse_stage, locust_command
from hawkeye_bench.load.shipping import (
    RAW_MESSAGE,
    TRANSFERS_FILE,
    RawBatch,
    RawCollector,
    RawShipper,
    transfer_problems,
)
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer

WORKER = [sys.executable, "-c", "import sys; from hawkeye_bench.cli import main; sys.exit(main())"]
EPSILON_MS = 0.01  # rounding of the recorded times; a timer may fire a clock tick early


def cli(argv: list[str]) -> int:
    return int(load_command.main(_parse(argv)))


def _parse(argv: list[str]) -> Any:
    import argparse

    parser = argparse.ArgumentParser(prog="hawkeye-bench")
    load_command.register(parser.add_subparsers())
    return parser.parse_args(["load", *argv])


@pytest.mark.slow
def test_master_and_two_workers_over_loopback_merge_every_request_once(
    tmp_path: Path, loopback_port: int
) -> None:
    port = loopback_port  # held: no other process binds it before the master does
    config = ScriptedConfig(ttft_ms=60, gap_ms=10, tokens=12, request_log=-1)
    worker_command = [*WORKER, "load", "--worker", "--master-host", "127.0.0.1", "--master-port",
              str(port)]  # fmt: skip
    workers = [
        subprocess.Popen(
            [*worker_command, "--out", str(tmp_path / f"worker{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    out = tmp_path / "out"
    server = ScriptedServer(config)
    try:
        with server as url:
            code = cli(
                ["--master", "--expect-workers", "2", "--master-port", str(port),
                 "--target", f"s={url}", "--concurrency", "2,4", "--requests", "16",
                 "--prompt-limit", "3", "--max-tokens", "64", "--stop-timeout", "20",
                 "--out", str(out)]
            )  # fmt: skip
        seen = [entry["request_id"] for entry in server.requests]
        worker_output = [w.communicate(timeout=120)[0] for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert code == 0, worker_output
    assert [w.returncode for w in workers] == [0, 0], worker_output  # ended after stage 2
    stages = json.loads((out / "load_results.json").read_text())["stages"]
    assert [s["concurrency"] for s in stages] == [2, 4]
    all_ids: list[str] = []
    for stage in stages:
        raw = Path(stage["raw_dir"])
        transfers = json.loads((raw / TRANSFERS_FILE).read_text())
        assert len(transfers) == 2 and all(t["complete"] for t in transfers)
        assert len(list(raw.glob("requests-*.jsonl"))) == 2  # one per worker process
        assert len(read_cpu_samples(raw)) == 2 and stage["load_processes"] == 2
        records = read_requests(raw)
        assert len({(r.host, r.pid) for r in records}) == 2
        all_ids += [r.request_id for r in records]
        ok = [r for r in records if r.measured and r.ok]
        assert stage["requests"]["ok"] == len(ok) >= 16
        # the tables come from the merged raw samples
        assert stage["metrics"]["ttft_ms"]["p50"] == pytest.approx(
            np.median([r.ttft_ms for r in ok])
        )
        # nothing is measured before the script sends it: TTFT 60 ms, then 11 gaps of 10 ms
        # (the figures themselves: benchmarks/bench_load_fidelity.py)
        assert all(r.ttft_ms >= 60 - EPSILON_MS for r in ok)
        assert all(r.e2e_ms >= 60 + 11 * 10 - EPSILON_MS for r in ok)
        gaps = [chunk_gaps(r) for r in ok]
        assert all(len(g) == 11 and (g >= 0).all() for g in gaps)
        assert all(r.output_tokens == 12 for r in ok)
        assert stage["reliable"], stage["unreliable_reasons"]
    # every request the server answered is in the merged records exactly once, and no other
    assert len(all_ids) == len(set(all_ids))
    assert sorted(all_ids) == sorted(seen)


def test_shipper_sends_bounded_numbered_batches_and_the_collector_merges(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []
    shipper = RawShipper(lambda kind, data: sent.append(data), "hostA", 7, batch_records=3)
    for seq in range(7):
        shipper.request(_record(seq, 7, "hostA"))
    shipper.cpu(CpuSample(t=1.0, cpu=10.0))
    shipper.close()
    assert [len(b["requests"]) for b in sent] == [3, 3, 1]  # never more than the bound
    assert [b["batch"] for b in sent] == [0, 1, 2] and sent[-1]["final"]
    assert sent[-1]["sent_requests"] == 7 and sent[-1]["sent_cpu"] == 1
    collector = RawCollector(tmp_path)
    for batch in sent:
        collector.receive(RawBatch.from_json(batch), "client-a")
    assert collector.finished_clients() == {"client-a"}
    collector.close()
    assert transfer_problems(tmp_path) == []
    rows = (tmp_path / "requests-hostA-7.jsonl").read_text().splitlines()
    assert [json.loads(r)["seq"] for r in rows] == list(range(7))
    assert (tmp_path / "cpu-hostA-7.jsonl").is_file()
    assert RAW_MESSAGE == "hawkeye_raw"
    long: list[dict[str, Any]] = []
    by_chunks = RawShipper(lambda kind, data: long.append(data), "h", 1, batch_chunks=100)
    for seq in range(4):
        by_chunks.request(dataclasses.replace(_record(seq, 1, "h"), chunks=[[1.0, 1, "c"]] * 60))
    by_chunks.close()
    assert [len(b["requests"]) for b in long] == [2, 2, 0]  # long replies fill a batch first


def test_lost_batches_and_a_missing_last_batch_are_named(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []
    shipper = RawShipper(lambda kind, data: sent.append(data), "hostB", 9, batch_records=2)
    for seq in range(5):
        shipper.request(_record(seq, 9, "hostB"))
    shipper.close()
    collector = RawCollector(tmp_path)
    collector.receive(RawBatch.from_json(sent[0]))
    collector.receive(RawBatch.from_json(sent[2]))  # batch 1 lost
    other = RawShipper(
        lambda kind, data: collector.receive(RawBatch.from_json(data)), "hostC", 3, batch_records=2
    )
    other.request(_record(0, 3, "hostC"))
    other.flush()  # sent, but the worker never sent its last batch
    collector.close()
    problems = transfer_problems(tmp_path)
    assert any("hostB-9: received 3 of 5 raw records" in p and "1 batches missing" in p
               for p in problems)  # fmt: skip
    assert any("hostC-3 never sent its last raw batch" in p for p in problems)
    # a worker lost before its first batch is named by its Locust id
    assert collector.lose("client-d") == "client-d"
    collector.close()
    assert any("worker client-d was lost mid-stage" in p for p in transfer_problems(tmp_path))


def _record(seq: int, pid: int, host: str) -> RequestRecord:
    return RequestRecord(
        t_send_wall=1000.0 + seq, t_send_perf=50.0 + seq, pid=pid, seq=seq, host=host,
        status=200, tt_ack_ms=1.0, ttft_ms=100.0, e2e_ms=120.0, e2e_done_ms=121.0,
        output_tokens=3, output_tokens_source="usage",
        chunks=[[100.0 + 10 * k, 1, "c"] for k in range(3)],
    )  # fmt: skip


def test_a_saturated_worker_makes_the_stage_unreliable_and_exit_1(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for host, pid, cpu in (("hostA", 1, 40.0), ("hostB", 2, 97.0)):
        lines = [_record(s, pid, host).to_json() for s in range(5)]
        (raw / f"requests-{host}-{pid}.jsonl").write_text("\n".join(lines) + "\n")
        samples = [json.dumps({"t": float(t), "cpu": cpu}) for t in range(4)]
        (raw / f"cpu-{host}-{pid}.jsonl").write_text("\n".join(samples) + "\n")
    log = tmp_path / "locust.log"
    log.write_text("")
    plan = LoadPlan(targets=[Target("t", "http://x")], concurrencies=[4], out_dir=tmp_path,
                    requests=10)  # fmt: skip
    stage = analyse_stage(plan, StageRun(plan.targets[0], 4, raw, log, 0, 3.0))
    assert stage.requests.ok == 10  # both workers' samples, merged
    assert not stage.reliable
    assert any("hostB-2" in r and "saturated" in r for r in stage.unreliable_reasons)
    assert load_command._load_exit_code([stage]) == 1


def test_processes_auto_from_the_measured_ceiling() -> None:
    capacity = new_capacity(events_per_s=5000, lag_p99_ms=2.0, concurrency=100, bound_ms=5.0)
    # 1000 streams x 50 events/s = 50k events/s: 10 processes; here only 4 cores
    plan = plan_processes(1000, 50.0, capacity, cores=4)
    assert (plan.processes, plan.needed) == (4, 10) and "needs 10 cores" in plan.note
    assert plan_processes(60, 50.0, capacity, cores=4).processes == 0  # one process is enough
    assert plan_processes(150, 50.0, capacity, cores=4).processes == 2
    no_ceiling = plan_processes(1000, 50.0, None, cores=3)
    assert no_ceiling.processes == 3 and "no measured ceiling" in no_ceiling.note


def test_master_command_and_bad_flag_combinations(tmp_path: Path) -> None:
    plan = LoadPlan(targets=[Target("a", "http://x"), Target("b", "http://y")],
                    concurrencies=[2, 4], out_dir=tmp_path, requests=5, master=True,
                    expect_workers=3, master_port=6000)  # fmt: skip
    command = " ".join(locust_command(plan, plan.targets[0], 2, tmp_path))
    assert "--master --expect-workers 3" in command and "--master-bind-port 6000" in command
    assert "--stages-left 3" in command and "--processes" not in command
    assert "--stages-left 0" in " ".join(locust_command(plan, plan.targets[1], 4, tmp_path))
    for argv, message in (
        (["--worker"], "--master-host"),
        (["--master", "--target", "a=http://x", "--requests", "1"], "--expect-workers"),
        (["--master", "--expect-workers", "2", "--processes", "2"], "give --processes to"),
        (["--worker", "--master-host", "h", "--target", "a=http://x"], "from the master"),
    ):
        with pytest.raises(DistributedSetupError, match=message):
            cli([*argv, "--out", str(tmp_path / "o")])


def test_probe_measures_the_stream_rate() -> None:
    # 10 gaps of 50 ms after a 1 s TTFT: 20 events/s from first to last token. Timed from the
    # send instead it would read 10 / 1.5 s = 6.7 events/s; a reader that buffers the stream,
    # hundreds. Either bound breaks only when the machine stalls for half a second.
    with ScriptedServer(ScriptedConfig(ttft_ms=1000, gap_ms=50, tokens=11)) as url:
        body = {"model": "scripted-model", "messages": [{"role": "user", "content": "hi"}]}
        rate = stream_event_rate(f"{url}/chat/completions", body, {})
    assert rate is not None and 10 < rate < 200


@pytest.mark.slow
def test_processes_auto_sizes_the_stage_from_the_kept_ceiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a (made-up) ceiling of 50 events/s: c=2 streams at ~100 events/s need 4 processes,
    # capped at the usable cores
    path = tmp_path / "capacity.json"
    save_capacity(new_capacity(events_per_s=50, lag_p99_ms=1.0, concurrency=10, bound_ms=5), path)
    monkeypatch.setenv(CAPACITY_ENV, str(path))
    out = tmp_path / "out"
    with ScriptedServer(ScriptedConfig(ttft_ms=5, gap_ms=10, tokens=11)) as url:
        code = cli(["--processes", "auto", "--target", f"s={url}", "--concurrency", "2",
                    "--requests", "6", "--prompt-limit", "2", "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads((out / "load_results.json").read_text())
    expected = min(4, usable_cores())
    assert results["plan"]["processes_by_concurrency"] == {"2": expected if expected > 1 else 0}
    (stage,) = results["stages"]
    assert stage["load_processes"] == max(expected, 1)


@pytest.mark.slow
def test_a_lost_worker_ends_the_stage_names_the_worker_and_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "out"
    raw = out / "raw" / "s" / "c4"
    result: dict[str, int] = {}
    with ScriptedServer(ScriptedConfig(ttft_ms=20, gap_ms=20, tokens=5)) as url:
        argv = ["--target", f"s={url}", "--concurrency", "4", "--processes", "2",
                "--duration", "300", "--prompt-limit", "2", "--stop-timeout", "20",
                "--out", str(out)]  # fmt: skip
        stage_thread = threading.Thread(target=lambda: result.update(code=cli(argv)))
        stage_thread.start()
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and stage_thread.is_alive() and time.monotonic() < deadline:
            # a worker's records reach the master within a second: its file names the worker
            files = sorted(raw.glob("requests-*.jsonl")) if raw.is_dir() else []
            if files:
                victim = files[0].stem.removeprefix("requests-")
                pid = int(victim.rsplit("-", 1)[1])
                assert "locust" in " ".join(psutil.Process(pid).cmdline())
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        stage_thread.join(timeout=280)
    assert victim is not None and not stage_thread.is_alive()
    assert result["code"] == 1
    (stage,) = json.loads((out / "load_results.json").read_text())["stages"]
    assert stage["reliable"] is False
    assert any(f"worker {victim} was lost" in r for r in stage["unreliable_reasons"])
    transfers = {t["source"]: t for t in json.loads((raw / TRANSFERS_FILE).read_text())}
    assert transfers[victim]["lost"] and not transfers[victim]["complete"]
    assert stage["seconds"] < 150  # ended by the loss, not by the 300 s --duration
