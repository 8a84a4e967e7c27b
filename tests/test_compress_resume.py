"""A compress sweep killed (SIGKILL) mid-run and resumed against the scripted server: the
resumed sweep completes every run, and the only calls made twice are those in flight at the
kill (at most --concurrency of them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from cli_helpers import CLI, read_jsonl, run_cli

from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer

COT = "She has 16 - 3 - 4 = 9 eggs left. She makes 9 * 2 = 18 dollars. Done."
PROBLEMS, CONCURRENCY = 6, 2
RUNS = ("none-keep0", "full-keep1", "llm-keep0.5")


def _bodies(server: ScriptedServer) -> list[str]:
    return [json.dumps(r["body"], sort_keys=True) for r in server.requests if "body" in r]


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_sweep_killed_mid_run_resumes_without_repeating_finished_calls(tmp_path: Path) -> None:
    config = ScriptedConfig(
        ttft_ms=150,
        rules=[
            ReplyRule(match="showing every intermediate calculation", content=COT),
            ReplyRule(match="Shorten the reasoning below", content="16 - 3 - 4 = 9, 9 * 2 = 18."),
            ReplyRule(match="Using the reasoning above", content="So \\boxed{18}"),
        ],
    )
    out = tmp_path / "sweep"
    server = ScriptedServer(config)
    url = server.start()
    args = ["compress-sweep", "--task", "gsm8k", "--limit", str(PROBLEMS), "--out", str(out)]
    args += ["--no-progress", "--endpoint", url, "--model", "m", "--keep", "0.5"]
    args += ["--methods", "llm", "--concurrency", str(CONCURRENCY)]
    try:
        process = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        cache = out / "call_cache.jsonl"
        deadline = time.monotonic() + 120
        while _lines(cache) < PROBLEMS // 2 and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert process.stderr is not None
        process.stderr.close()
        last_run = out / "runs" / "m" / RUNS[-1] / "records.jsonl"
        assert _lines(last_run) < PROBLEMS  # killed before the sweep was done
        before = _bodies(server)
        resumed = run_cli(*args, "--resume")
        assert resumed.returncode == 0, resumed.stderr
        after = _bodies(server)
    finally:
        server.stop()
    for run in RUNS:
        records = read_jsonl(out / "runs" / "m" / run / "records.jsonl")
        assert sorted(r["id"] for r in records) == [f"gsm8k/{i}" for i in range(PROBLEMS)]
        assert all(r["error"] is None and isinstance(r["correct"], bool) for r in records)
    repeated = [body for body, count in Counter(after).items() if count > 1]
    # only calls still in flight at the kill were sent again: they never finished
    assert len(repeated) <= CONCURRENCY
    assert all(body in before for body in repeated)
    # each distinct call once otherwise: 6 writer, 6 compressor, 6 x 3 responder calls
    # (the none, full and llm runs give the responder three different CoTs)
    assert len(set(after)) == PROBLEMS * 5
    assert len(after) == len(set(after)) + sum(Counter(after)[b] - 1 for b in repeated)
    cache_roles = Counter(json.loads(x)["role"] for x in (out / "call_cache.jsonl").open())
    assert cache_roles["writer"] == PROBLEMS and cache_roles["compressor"] == PROBLEMS
