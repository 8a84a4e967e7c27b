"""`hawkeye-bench eval` end to end on the real embedded model (llama-cpp-python + SmolLM2)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from cli_helpers import CLI, eval_args, read_json, read_jsonl, run_cli

from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.serve.embedded import LocalModelServer

pytestmark = pytest.mark.local_model


@pytest.mark.parametrize(
    ("pipeline", "task"),
    [("hawkeye", "gsm8k"), ("baseline", "math500"), ("hawkeye", "math500")],
)
def test_eval_on_the_real_model_writes_complete_consistent_files(
    local_server: LocalModelServer, tmp_path: Path, pipeline: str, task: str
) -> None:
    out = tmp_path / "run"
    args = eval_args(
        out,
        "--max-tokens",
        "24",
        "--concurrency",
        "2",
        url=local_server.base_url,
        model=local_server.endpoint.model,
        task=task,
        pipeline=pipeline,
        limit=2,
    )
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "records.jsonl")
    assert sorted(r["id"] for r in records) == sorted({r["id"] for r in records})
    assert len(records) == 2
    roles = ["reasoner", "responder"] if pipeline == "hawkeye" else ["single"]
    for record in records:
        assert record["error"] is None
        assert isinstance(record["correct"], bool)
        stages = record["trace"]["stages"]
        assert [s["role"] for s in stages] == roles
        for stage in stages:
            # llama-cpp-python streams no usage: counts come from its tokenize endpoint
            assert stage["token_source"] == "tokenize"
            assert 0 < stage["completion_tokens"] <= 24
            assert stage["finish_reason"] in ("stop", "length")
            assert stage["ttft_s"] > 0 and stage["latency_s"] >= stage["ttft_s"]
            assert stage["content"] or stage["reasoning"]
    summary = read_json(out / "summary.json")
    manifest = read_json(out / "manifest.json")
    assert summary["n"] == 2 and summary["errors"]["count"] == 0
    assert summary["accuracy"]["correct"] == sum(r["correct"] for r in records)
    for role in roles:
        tokens = [
            s["completion_tokens"]
            for r in records
            for s in r["trace"]["stages"]
            if s["role"] == role
        ]
        assert summary["stages"][role]["completion_tokens"]["mean"] == pytest.approx(
            sum(tokens) / 2
        )
        assert summary["stages"][role]["token_sources"] == {"tokenize": 2}
    assert manifest["status"] == "complete"
    assert manifest["endpoints"][roles[0]]["base_url"] == local_server.base_url
    assert (manifest["identity"]["task"], manifest["identity"]["pipeline"]) == (task, pipeline)


def test_eval_without_endpoints_starts_the_embedded_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = eval_args(out, "--max-tokens", "16", "--concurrency", "4", limit=4)
    args.remove("--no-progress")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "starting the embedded default model" in result.stderr
    assert (
        read_json(out / "manifest.json")["endpoints"]["single"]["model"] == "smollm2-135m-instruct"
    )
    assert "100%" in result.stderr  # the progress bar ran to the end
    assert "accuracy" in result.stdout
    # exact counts at any concurrency: the model's own vocabulary, not a queued tokenize call
    summary = read_json(out / "summary.json")
    assert summary["stages"]["single"]["token_sources"] == {"tokenizer": 4}
    assert summary["approximate_token_counts"] == 0


def test_embedded_server_that_dies_stops_the_run_and_names_the_signal(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = eval_args(out, "--max-tokens", "16", "--concurrency", "1", limit=40)
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    store = RunStore(out)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(store.load_records()) < 2:
        time.sleep(0.1)
    servers = [
        child
        for child in psutil.Process(process.pid).children(recursive=True)
        if "llama_cpp.server" in " ".join(child.cmdline())
    ]
    assert len(servers) == 1
    os.kill(servers[0].pid, signal.SIGILL)  # what a build with unsupported instructions gets
    started = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, stderr
    assert time.monotonic() - started < 20
    assert "embedded model server" in stderr and "signal SIGILL (4)" in stderr
    assert "scripts/install.sh" in stderr  # the fix
    assert "--resume" in stderr and "Traceback" not in stderr
    kept = store.load_records()
    assert 2 <= len(kept) < 40 and not [r for r in kept if r.error]
    assert read_json(out / "manifest.json")["status"] == "stopped"
