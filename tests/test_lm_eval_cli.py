"""The stock `lm_eval` command line (and the `hawkeye-bench lm-eval` wrapper) as subprocesses,
against the real embedded model server: what a user runs, checked file by file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hawkeye_bench.core.trace import split_thinking
from hawkeye_bench.grading.workers import Grader
from hawkeye_bench.lmeval import tasks_dir
from hawkeye_bench.serve.embedded import LOCAL_MODEL_NAME, LocalModelServer
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer

# Above the 600 s limit of the one lm-eval run each test makes (pyproject says 300 s).
pytestmark = pytest.mark.timeout(660)

LM_EVAL = str(Path(sys.executable).parent / "lm_eval")
TASKS = ("hawkeye_gsm8k", "hawkeye_math500")
TOKEN_METRICS = ("cot_tokens", "response_tokens", "total_tokens")
ROLE_LATENCY = {"hawkeye": ("cot_latency_s", "answer_latency_s"),
                "baseline": ("answer_latency_s",)}  # fmt: skip


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=600
    )
    return result


def output_files(out: Path, model_dir: str) -> tuple[dict, dict[str, list[dict]]]:
    folder = out / model_dir
    results = json.loads(next(folder.glob("results_*.json")).read_text())
    samples = {
        task: [json.loads(x) for x in next(folder.glob(f"samples_{task}_*.jsonl")).open()]
        for task in results["results"]
    }
    return results, samples


@pytest.mark.local_model
@pytest.mark.parametrize("pipeline", ["hawkeye", "baseline"])
def test_stock_cli_reports_accuracy_and_server_token_counts(
    pipeline: str, local_server: LocalModelServer, tmp_path: Path
) -> None:
    traces = tmp_path / "traces.jsonl"
    task_files = ",".join(str(tasks_dir() / f"{task}.yaml") for task in TASKS)
    model_args = (
        f"pipeline={pipeline},url={local_server.base_url},model={LOCAL_MODEL_NAME},"
        # one at a time: llama-cpp-python's server interrupts a stream when a request arrives
        f"max_tokens=32,num_concurrent=1,traces={traces}"
    )
    result = run(
        [LM_EVAL, "--tasks", task_files, "--model", "hawkeye", "--model_args", model_args,
         "--limit", "2", "--output_path", str(tmp_path / "out"), "--log_samples"],
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results, samples = output_files(tmp_path / "out", LOCAL_MODEL_NAME)
    info = results["config"]["hawkeye"]
    assert info["pipeline"] == pipeline and info["requests"] == 4 and info["failures"] == 0
    expected = ("exact_match", "request_error", *TOKEN_METRICS, "finish_length", "latency_s",
                "ttft_s", *ROLE_LATENCY[pipeline])  # fmt: skip
    sidecar = {
        (line["task"], line["doc_id"], line["repeat"]): line
        for line in map(json.loads, traces.read_text().splitlines())
    }
    assert len(sidecar) == 4
    with Grader(workers=1) as grader:
        for task in TASKS:
            row = results["results"][task]
            for metric in expected:
                assert f"{metric},none" in row and f"{metric}_stderr,none" in row, metric
            assert row["sample_len"] == 2
            for sample in samples[task]:
                line = sidecar[(task, sample["doc_id"], 0)]
                stages = {s["role"]: s for s in line["trace"]["stages"]}
                assert all(s["token_source"] in ("usage", "tokenize") for s in stages.values())
                if pipeline == "hawkeye":
                    assert sample["cot_tokens"] == stages["reasoner"]["completion_tokens"]
                    assert sample["response_tokens"] == stages["responder"]["completion_tokens"]
                else:  # SmolLM2 writes no think block: all of it is the response
                    assert sample["cot_tokens"] == 0
                    assert sample["response_tokens"] == stages["single"]["completion_tokens"]
                assert sample["total_tokens"] == sum(
                    s["completion_tokens"] for s in stages.values()
                )
                assert sample["total_tokens"] > 0
                assert sample["filtered_resps"] == [line["final_text"]]
                verdict = grader.grade(line["final_text"], line["gold"], line["dataset"])
                assert sample["exact_match"] == float(verdict.correct)
            accuracy = sum(s["exact_match"] for s in samples[task]) / len(samples[task])
            assert row["exact_match,none"] == pytest.approx(accuracy)


@pytest.mark.local_model
def test_stock_cli_foreign_model_gets_accuracy_only(
    local_server: LocalModelServer, tmp_path: Path
) -> None:
    model_args = (
        f"model={LOCAL_MODEL_NAME},base_url={local_server.base_url}/chat/completions,"
        "tokenizer_backend=none"
    )
    result = run(
        [LM_EVAL, "--include_path", str(tasks_dir()), "--tasks", "hawkeye_gsm8k",
         "--model", "local-chat-completions", "--model_args", model_args,
         "--apply_chat_template", "--gen_kwargs", "max_gen_toks=32", "--limit", "2",
         "--output_path", str(tmp_path / "out"), "--log_samples"],
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results, samples = output_files(tmp_path / "out", LOCAL_MODEL_NAME)
    row = results["results"]["hawkeye_gsm8k"]
    metrics = {key.split(",")[0] for key in row if "," in key}
    assert metrics == {"exact_match", "exact_match_stderr"}  # nothing made up
    with Grader(workers=1) as grader:
        for sample in samples["hawkeye_gsm8k"]:
            text = split_thinking(sample["filtered_resps"][0])[1]
            verdict = grader.grade(text, sample["doc"]["gold"], "gsm8k")
            assert sample["exact_match"] == float(verdict.correct)


def test_wrapper_reports_a_data_error_without_a_traceback(tmp_path: Path) -> None:
    with ScriptedServer(ScriptedConfig(tokens=4)) as url:
        result = run(
            [sys.executable, "-m", "hawkeye_bench.cli", "lm-eval", "--tasks", "hawkeye_gsm8k",
             "--model_args", f"pipeline=baseline,url={url},model=scripted-model",
             "--metadata", "data_dir=/nonexistent", "--limit", "1"],
            cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 2
    assert "error: dataset 'gsm8k': expected mirror file /nonexistent/gsm8k/test.jsonl" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
