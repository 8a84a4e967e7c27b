"""A pipeline defined outside the package, with roles hawkeye-bench has never heard of, works
in eval, serve, lm-eval and report with no edit to the package: it is found through the
``hawkeye_bench.pipelines`` entry point of an installed distribution."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import read_json, read_jsonl, run_cli
from test_server_cli import ServeProcess, deltas, serve_process, stream_request

from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer

__all__ = ["serve_process"]  # a fixture shared with test_server_cli

PLUGIN_DIR = Path(__file__).parent / "plugin_pipeline"
PRESET = PLUGIN_DIR / "hawkeye_plugin_example" / "critique.yaml"
# GSM8K test problems 0 and 1; golds 18 and 3
JANET, ROBE = "Janet", "A robe takes"


@pytest.fixture
def plugin_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The plugin distribution on the path of every subprocess (as `pip install` would)."""
    path = os.pathsep.join(p for p in (str(PLUGIN_DIR), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    return {"PYTHONPATH": path}


@pytest.fixture
def scripted() -> Iterator[str]:
    config = ScriptedConfig(
        tokens=4,
        rules=[
            ReplyRule(match=f"Solve: {JANET}", content="draft: 16 - 3 - 4 = 9 eggs, 9 * 2 = 18"),
            ReplyRule(match=f"Solve: {ROBE}", content="draft: 2 + 1 = 3"),
            ReplyRule(match="Draft: draft: 16", content="The draft is right: \\boxed{18}"),
            ReplyRule(match=re.escape("Draft: draft: 2 + 1"), content="Correct, \\boxed{3}"),
        ],
    )
    with ScriptedServer(config) as url:
        yield url


def _roles(url: str) -> list[str]:
    return ["--drafter-url", url, "--drafter-model", "m", "--critic-url", url,
            "--critic-model", "m"]  # fmt: skip


def test_plugin_pipeline_runs_in_eval_and_report(
    plugin_env: dict[str, str], scripted: str, tmp_path: Path
) -> None:
    listed = run_cli("eval", "--help", env=plugin_env)
    assert "--drafter-url" in listed.stdout and "--critic-model" in listed.stdout
    out = tmp_path / "run"
    result = run_cli(
        "eval", "--task", "gsm8k", "--limit", "2", "--pipeline", "critique", "--preset",
        str(PRESET), "--out", str(out), "--no-progress", *_roles(scripted), env=plugin_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = read_jsonl(out / "records.jsonl")
    assert [[s["role"] for s in r["trace"]["stages"]] for r in records] == [
        ["drafter", "critic"]
    ] * 2
    assert all(r["correct"] for r in records)
    summary = read_json(out / "summary.json")
    assert summary["accuracy"]["mean"] == 1.0
    drafter_tokens = [r["trace"]["stages"][0]["completion_tokens"] for r in records]
    assert summary["tokens"]["cot_only"]["mean"] == sum(drafter_tokens) / 2  # the cot_role

    report = run_cli("report", str(out), "--out", str(tmp_path / "report"), env=plugin_env)
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Critique (CoT only)" in text and "Critique (Full)" in text


def test_plugin_pipeline_is_served(
    plugin_env: dict[str, str], scripted: str, serve_process: list[ServeProcess]
) -> None:
    server = ServeProcess("--pipeline", "critique", "--preset", str(PRESET), *_roles(scripted))
    serve_process.append(server)
    events = asyncio.run(
        stream_request(
            server.base_url,
            {"model": "x", "stream": True, "messages": [{"role": "user", "content": JANET}]},
        )
    )
    pieces = deltas(events)
    reasoning = "".join(text for channel, text in pieces if channel == "reasoning_content")
    content = "".join(text for channel, text in pieces if channel == "content")
    assert reasoning.startswith("draft: 16 - 3")  # the drafter streams as reasoning
    assert content == "The draft is right: \\boxed{18}"  # the last role is the answer
    markers = [e["x_hawkeye"] for e in events if isinstance(e, dict) and not e.get("choices")]
    assert {"stage_end": "drafter"} in markers
    assert server.stop() == 0


@pytest.mark.timeout(1260)  # above its two lm-eval runs' own 600 s limits
def test_plugin_pipeline_through_lm_eval(
    plugin_env: dict[str, str], scripted: str, tmp_path: Path
) -> None:
    model_args = (
        f"pipeline=critique,preset={PRESET},drafter_url={scripted},drafter_model=m,"
        f"critic_url={scripted},critic_model=m,model=plugin,traces={tmp_path / 't.jsonl'}"
    )
    result = subprocess.run(
        [sys.executable, "-m", "hawkeye_bench.cli", "lm-eval", "--tasks", "hawkeye_gsm8k",
         "--limit", "2", "--model_args", model_args, "--output_path", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, **plugin_env, "HF_DATASETS_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results_file = next((tmp_path / "out").rglob("results_*.json"))
    results = json.loads(results_file.read_text())
    row = results["results"]["hawkeye_gsm8k"]
    assert row["exact_match,none"] == 1.0
    assert row["cot_tokens,none"] > 0 and row["cot_latency_s,none"] > 0
    assert results["config"]["hawkeye"]["pipeline"] == "critique"
    bad = subprocess.run(
        [sys.executable, "-m", "hawkeye_bench.cli", "lm-eval", "--tasks", "hawkeye_gsm8k",
         "--limit", "1", "--model_args", model_args + ",reasoner_url=http://x"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, **plugin_env},
    )  # fmt: skip
    assert bad.returncode == 2 and "drafter_url" in bad.stderr  # its roles, not hawkeye's
