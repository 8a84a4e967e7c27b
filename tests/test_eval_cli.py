"""`hawkeye-bench eval` end to end against the scripted server: records, summary, faults,
resume after a kill, bad input, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hawkeye_bench.runs import RunStore
from hawkeye_bench.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

CLI = [sys.executable, "-m", "hawkeye_bench.cli"]
# The first three GSM8K test problems and their gold answers.
JANET, ROBE, JOSH = "Janet", "A robe takes", "Josh decides to try flipping"


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    config = ScriptedConfig(
        tokens=6,
        rules=[
            ReplyRule(match=JANET, content="She sells 9 eggs for $2, so \\boxed{18}"),
            ReplyRule(match=ROBE, content="2 + 1 = 3 so the answer is \\boxed{3}"),
            ReplyRule(match=JOSH, content="I think \\boxed{12}"),  # wrong: gold is 70000
        ],
    )
    server = ScriptedServer(config)
    server.start()
    yield server
    server.stop()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_baseline_run_writes_consistent_records_manifest_and_summary(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "eval",
        "--task",
        "gsm8k",
        "--pipeline",
        "baseline",
        "--limit",
        "3",
        "--endpoint",
        scripted.base_url,
        "--model",
        "m",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "records.jsonl")
    assert [r["id"] for r in records].count("gsm8k/0") == 1 and len(records) == 3
    by_id = {r["id"]: r for r in records}
    assert by_id["gsm8k/0"]["correct"] is True and by_id["gsm8k/0"]["extracted"] == "18"
    assert by_id["gsm8k/1"]["correct"] is True
    assert by_id["gsm8k/2"]["correct"] is False and by_id["gsm8k/2"]["gold"] == "70000"
    for record in records:
        (stage,) = record["trace"]["stages"]
        assert stage["role"] == "single" and stage["token_source"] == "usage"
        assert stage["completion_tokens"] == len(stage["content"].split())
        assert stage["ttft_s"] is not None and stage["latency_s"] >= stage["ttft_s"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"]["correct"] == 2 and summary["accuracy"]["n"] == 3
    assert summary["stages"]["single"]["token_sources"] == {"usage": 3}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["identity"]["pipeline"] == "baseline"
    assert manifest["dataset"]  # file and sha256 of the mirror
    assert manifest["versions"]["math-verify"] == "0.9.0"
    assert "accuracy       66.7%" in result.stdout


def test_hawkeye_stage2_gets_stage1_output_and_counts_both_stages(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "eval",
        "--task",
        "gsm8k",
        "--pipeline",
        "hawkeye",
        "--limit",
        "1",
        "--endpoint",
        scripted.base_url,
        "--model",
        "m",
        "--out",
        str(out),
        "--stage2-input",
        "full",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(out / "records.jsonl")
    reasoner, responder = record["trace"]["stages"]
    assert (reasoner["role"], responder["role"]) == ("reasoner", "responder")
    stage2_prompt = scripted.requests[-1]["body"]["messages"][-1]["content"]
    assert reasoner["content"] in stage2_prompt
    summary = json.loads((out / "summary.json").read_text())
    full = reasoner["completion_tokens"] + responder["completion_tokens"]
    assert summary["tokens"]["full"]["mean"] == full
    assert summary["tokens"]["cot_only"]["mean"] == reasoner["completion_tokens"]


def test_server_errors_become_error_records_and_the_run_goes_on(tmp_path: Path) -> None:
    config = ScriptedConfig(tokens=4, faults=[Fault(kind="status", status=500, match=JANET)])
    with ScriptedServer(config) as url:
        result = run_cli(
            "eval",
            "--task",
            "gsm8k",
            "--pipeline",
            "baseline",
            "--limit",
            "3",
            "--endpoint",
            url,
            "--model",
            "m",
            "--out",
            str(tmp_path / "r"),
            "--max-retries",
            "1",
            "--no-progress",
            "--max-error-rate",
            "0.5",
        )
    assert result.returncode == 0, result.stderr
    records = read_jsonl(tmp_path / "r" / "records.jsonl")
    failed = [r for r in records if r["error"]]
    assert [r["id"] for r in failed] == ["gsm8k/0"]
    assert failed[0]["correct"] is None and failed[0]["trace"]["stages"][0]["attempts"] == 2
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["errors"]["count"] == 1 and summary["errors"]["by_type"] == {"http_500": 1}
    # above the allowed error share: non-zero exit
    with ScriptedServer(config) as url:
        result = run_cli(
            "eval",
            "--task",
            "gsm8k",
            "--pipeline",
            "baseline",
            "--limit",
            "3",
            "--endpoint",
            url,
            "--model",
            "m",
            "--out",
            str(tmp_path / "r2"),
            "--max-retries",
            "0",
            "--no-progress",
            "--max-error-rate",
            "0.2",
        )
    assert result.returncode == 1
    assert "of items failed" in result.stderr


def test_killed_run_resumes_without_duplicates_or_losses(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = ScriptedConfig(tokens=3, ttft_ms=150)
    with ScriptedServer(config) as url:
        args = [
            "eval",
            "--task",
            "gsm8k",
            "--pipeline",
            "baseline",
            "--limit",
            "30",
            "--endpoint",
            url,
            "--model",
            "m",
            "--out",
            str(out),
            "--concurrency",
            "2",
            "--no-progress",
        ]
        process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        store = RunStore(out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(store.load_records()) < 6:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = store.load_records()
        assert 6 <= len(before) < 30
        # no --resume: refuses to mix runs
        refused = run_cli(*args)
        assert refused.returncode == 2 and "--resume" in refused.stderr
        # other settings: refuses to resume
        other = run_cli(*[a if a != "baseline" else "hawkeye" for a in args], "--resume")
        assert other.returncode == 2 and "other settings" in other.stderr
        resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    after = store.load_records()
    keys = [r.key for r in after]
    assert len(keys) == len(set(keys)) == 30
    assert [r.to_dict() for r in after[: len(before)]] == [r.to_dict() for r in before]
    assert json.loads((out / "summary.json").read_text())["n"] == 30


def test_api_key_comes_from_the_environment_and_never_reaches_any_file(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    secret = "sk-test-" + "9" * 32
    out = tmp_path / "run"
    result = run_cli(
        "eval",
        "--task",
        "gsm8k",
        "--pipeline",
        "baseline",
        "--limit",
        "2",
        "--endpoint",
        scripted.base_url,
        "--model",
        "m",
        "--api-key-env",
        "MY_KEY",
        "--out",
        str(out),
        "--no-progress",
        env={"MY_KEY": secret},
    )
    assert result.returncode == 0, result.stderr
    assert scripted.requests[-1]["authorization"] == f"Bearer {secret}"
    for path in out.iterdir():
        assert secret not in path.read_text(), path
    assert secret not in result.stdout + result.stderr
    assert "MY_KEY" in (out / "manifest.json").read_text()  # the variable's name is recorded


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "gsm9k"], "unknown dataset 'gsm9k'"),
        (["--pipeline", "magic"], "unknown pipeline 'magic'; valid: baseline, hawkeye"),
        (["--preset", "nope"], "unknown preset 'nope'; valid:"),
        (
            ["--reasoner-url", "http://127.0.0.1:9/v1", "--reasoner-model", "a"],
            "no endpoint for role(s) ['responder']",
        ),
    ],
)
def test_bad_names_are_clear_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_cli("eval", "--out", str(tmp_path / "x"), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_endpoint_that_does_not_answer_fails_before_the_run(tmp_path: Path) -> None:
    result = run_cli(
        "eval",
        "--task",
        "gsm8k",
        "--pipeline",
        "baseline",
        "--limit",
        "1",
        "--endpoint",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--out",
        str(tmp_path / "x"),
    )
    assert result.returncode == 2
    assert "http://127.0.0.1:9/v1/models" in result.stderr and "not available" in result.stderr
    assert not (tmp_path / "x" / "records.jsonl").exists()


def test_malformed_dataset_line_names_file_and_line(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n{oops\n')
    result = run_cli(
        "eval",
        "--task",
        "gsm8k",
        "--pipeline",
        "baseline",
        "--data-dir",
        str(tmp_path),
        "--endpoint",
        scripted.base_url,
        "--model",
        "m",
        "--out",
        str(tmp_path / "x"),
    )
    assert result.returncode == 2
    assert f"{tmp_path / 'gsm8k' / 'test.jsonl'}:2" in result.stderr
