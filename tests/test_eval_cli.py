"""`hawkeye-bench eval` end to end against the scripted server: records, summary, faults,
resume after a kill, bad input, secrets."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import CLI, eval_args, read_json, read_jsonl, run_cli

from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.testing.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

# The first three GSM8K test problems start with these words; their golds are 18, 3, 70000.
JANET, ROBE, JOSH = "Janet", "A robe takes", "Josh decides to try flipping"


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    config = ScriptedConfig(
        tokens=6,
        rules=[
            ReplyRule(match=JANET, content="She sells 9 eggs for $2, so \\boxed{18}"),
            ReplyRule(match=ROBE, content="2 + 1 = 3 so the answer is \\boxed{3}"),
            ReplyRule(match=JOSH, content="I think \\boxed{12}"),  # wrong
        ],
    )
    server = ScriptedServer(config)
    server.start()
    yield server
    server.stop()


def test_baseline_run_writes_consistent_records_manifest_and_summary(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = run_cli(*eval_args(out, url=scripted.base_url))
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "records.jsonl")
    assert sorted(r["id"] for r in records) == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]
    by_id = {r["id"]: r for r in records}
    assert by_id["gsm8k/0"]["correct"] is True and by_id["gsm8k/0"]["extracted"] == "18"
    assert by_id["gsm8k/1"]["correct"] is True
    assert by_id["gsm8k/2"]["correct"] is False and by_id["gsm8k/2"]["gold"] == "70000"
    for record in records:
        (stage,) = record["trace"]["stages"]
        assert stage["role"] == "single" and stage["token_source"] == "usage"
        assert stage["completion_tokens"] == len(stage["content"].split())
        assert stage["ttft_s"] is not None and stage["latency_s"] >= stage["ttft_s"]
    summary = read_json(out / "summary.json")
    assert summary["accuracy"]["correct"] == 2 and summary["accuracy"]["n"] == 3
    assert summary["stages"]["single"]["token_sources"] == {"usage": 3}
    manifest = read_json(out / "manifest.json")
    assert manifest["status"] == "complete"
    assert manifest["identity"]["pipeline"] == "baseline"
    assert manifest["dataset"]  # file and sha256 of the mirror
    assert manifest["versions"]["math-verify"] == "0.9.0"
    assert "accuracy       66.7%" in result.stdout


def test_hawkeye_stage2_gets_stage1_output_and_counts_both_stages(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = eval_args(out, "--stage2-input", "full", url=scripted.base_url, pipeline="hawkeye")
    result = run_cli(*args, "--limit", "1")
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(out / "records.jsonl")
    reasoner, responder = record["trace"]["stages"]
    assert (reasoner["role"], responder["role"]) == ("reasoner", "responder")
    stage2_prompt = scripted.requests[-1]["body"]["messages"][-1]["content"]
    assert reasoner["content"] in stage2_prompt
    summary = read_json(out / "summary.json")
    full = reasoner["completion_tokens"] + responder["completion_tokens"]
    assert summary["tokens"]["full"]["mean"] == full
    assert summary["tokens"]["cot_only"]["mean"] == reasoner["completion_tokens"]


def test_server_errors_become_error_records_and_the_run_goes_on(tmp_path: Path) -> None:
    config = ScriptedConfig(tokens=4, faults=[Fault(kind="status", status=500, match=JANET)])
    with ScriptedServer(config) as url:
        tolerant = eval_args(
            tmp_path / "r", "--max-retries", "1", "--max-error-rate", "0.5", url=url
        )
        result = run_cli(*tolerant)
    assert result.returncode == 0, result.stderr
    records = read_jsonl(tmp_path / "r" / "records.jsonl")
    failed = [r for r in records if r["error"]]
    assert [r["id"] for r in failed] == ["gsm8k/0"]
    assert failed[0]["correct"] is None and failed[0]["trace"]["stages"][0]["attempts"] == 2
    summary = read_json(tmp_path / "r" / "summary.json")
    assert summary["errors"]["count"] == 1 and summary["errors"]["by_type"] == {"http_500": 1}
    # above the allowed error share: non-zero exit
    with ScriptedServer(config) as url:
        strict = eval_args(
            tmp_path / "r2", "--max-retries", "0", "--max-error-rate", "0.2", url=url
        )
        result = run_cli(*strict)
    assert result.returncode == 1
    assert "of items failed" in result.stderr


def test_killed_run_resumes_without_duplicates_or_losses(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with ScriptedServer(ScriptedConfig(tokens=3, ttft_ms=150)) as url:
        args = eval_args(out, "--concurrency", "2", url=url, limit=30)
        process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        store = RunStore(out)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(store.load_records()) < 6:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = store.load_records()
        assert 6 <= len(before) < 30
        refused = run_cli(*args)  # no --resume: refuses to mix runs
        assert refused.returncode == 2 and "--resume" in refused.stderr
        other = run_cli(*eval_args(out, url=url, limit=30, pipeline="hawkeye"), "--resume")
        assert other.returncode == 2 and "other settings" in other.stderr
        resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    after = store.load_records()
    keys = [r.key for r in after]
    assert len(keys) == len(set(keys)) == 30
    assert [r.to_dict() for r in after[: len(before)]] == [r.to_dict() for r in before]
    assert read_json(out / "summary.json")["n"] == 30


def test_api_key_comes_from_the_environment_and_never_reaches_any_file(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    secret = "sk-test-" + "9" * 32
    out = tmp_path / "run"
    args = eval_args(out, "--api-key-env", "MY_KEY", url=scripted.base_url, limit=2)
    result = run_cli(*args, env={"MY_KEY": secret})
    assert result.returncode == 0, result.stderr
    assert scripted.requests[-1]["authorization"] == f"Bearer {secret}"
    for path in out.iterdir():
        assert secret not in path.read_text(), path
    assert secret not in result.stdout + result.stderr
    assert "MY_KEY" in (out / "manifest.json").read_text()  # the variable's name is recorded
    missing = run_cli(
        *eval_args(tmp_path / "r2", "--api-key-env", "UNSET_KEY_VAR", url=scripted.base_url)
    )
    assert missing.returncode == 2 and "UNSET_KEY_VAR" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "gsm9k"], "unknown dataset 'gsm9k'"),
        (["--pipeline", "magic"], "unknown pipeline 'magic'; valid: baseline, compress, hawkeye"),
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
    result = run_cli(*eval_args(tmp_path / "x", url="http://127.0.0.1:9/v1", limit=1))
    assert result.returncode == 2
    assert "http://127.0.0.1:9/v1/models" in result.stderr and "not available" in result.stderr
    assert not (tmp_path / "x" / "records.jsonl").exists()


def test_malformed_dataset_line_names_file_and_line(
    tmp_path: Path, scripted: ScriptedServer
) -> None:
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n{oops\n')
    args = eval_args(tmp_path / "x", "--data-dir", str(tmp_path), url=scripted.base_url)
    result = run_cli(*args)
    assert result.returncode == 2
    assert f"{tmp_path / 'gsm8k' / 'test.jsonl'}:2" in result.stderr


def test_config_file_gives_endpoints_and_settings_and_flags_win(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        f"endpoints:\n  single: {{base_url: {scripted.base_url}, model: from-file}}\n"
        "limit: 2\nconcurrency: 1\n"
    )
    out = tmp_path / "run"
    result = run_cli(
        "eval",
        "--config",
        str(config),
        "--pipeline",
        "baseline",
        "--limit",
        "1",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    assert len(read_jsonl(out / "records.jsonl")) == 1  # --limit 1 beats the file's limit: 2
    manifest = read_json(out / "manifest.json")
    assert manifest["endpoints"]["single"]["model"] == "from-file"
    assert manifest["config"]["concurrency"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("limt: 2\n")
    result = run_cli("eval", "--config", str(bad), "--out", str(tmp_path / "y"))
    assert result.returncode == 2 and "unknown settings in config file: ['limt']" in result.stderr


def test_endpoint_prices_put_the_token_view_in_the_summary(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        f"endpoints:\n  single:\n    base_url: {scripted.base_url}\n    model: m\n"
        "    prices: {input: 0, output: 1000000}\n"  # 1 USD per completion token
    )
    out = tmp_path / "run"
    args = ["eval", "--config", str(config), "--pipeline", "baseline", "--limit", "3"]
    result = run_cli(*args, "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    tokens = sum(r["trace"]["stages"][0]["completion_tokens"]
                 for r in read_jsonl(out / "records.jsonl"))  # fmt: skip
    cost = read_json(out / "summary.json")["cost"]
    assert cost["usd"] == pytest.approx(tokens)
    assert cost["usd_per_1k_problems"] == pytest.approx(tokens / 3 * 1000)
    assert cost["usd_per_correct"] == pytest.approx(tokens / 2)  # 2 of 3 correct
    assert cost["not_priced"] == []
    assert "cost           USD" in result.stdout and "/ 1k problems" in result.stdout
    # without prices: no cost key
    plain = tmp_path / "plain"
    assert run_cli(*eval_args(plain, url=scripted.base_url)).returncode == 0
    assert "cost" not in read_json(plain / "summary.json")
