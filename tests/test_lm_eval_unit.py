"""The hawkeye lm-eval model, metrics and wrapper against the scripted server (fast, exact)."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import pytest
from lm_eval.api.instance import Instance

from hawkeye_bench.commands.lm_eval import TaskFileError, check_task_files, prepare
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.datasets import DatasetError
from hawkeye_bench.endpoints.settings import ConfigError
from hawkeye_bench.lmeval import (
    HawkeyeLM,
    PipelineAnswer,
    keep_all_samples,
    load_split,
    process_results,
    tasks_dir,
)
from hawkeye_bench.lmeval.metrics import token_metrics
from hawkeye_bench.testing.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

GSM8K_FIRST_QUESTION = "Janet’s ducks lay 16 eggs"


def gsm8k_docs(n: int) -> list[dict]:
    return list(load_split("gsm8k")["test"].select(range(n)))


def instance(doc: dict, doc_id: int, repeats: int = 1, task: str = "hawkeye_gsm8k") -> Instance:
    return Instance(
        request_type="generate_until",
        doc=doc,
        arguments=(doc["prompt"], {"until": [], "do_sample": False}),
        idx=0,
        metadata=(task, doc_id, repeats),
    )


def sidecar_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_failed_request_is_recorded_not_raised(tmp_path: Path) -> None:
    config = ScriptedConfig(
        rules=[ReplyRule(match="", content="So \\boxed{18}.")],
        faults=[Fault(kind="status", status=500, match=GSM8K_FIRST_QUESTION)],
    )
    traces = tmp_path / "traces.jsonl"
    with ScriptedServer(config) as url:
        lm = HawkeyeLM(
            pipeline="baseline", url=url, model="scripted-model", max_retries=1,
            traces=str(traces), num_concurrent=3,
        )  # fmt: skip
        docs = gsm8k_docs(3)
        answers = lm.generate_until([instance(d, i) for i, d in enumerate(docs)])
    assert [a.failed for a in answers] == [True, False, False]
    failed = process_results(docs[0], [answers[0]])
    assert failed == {"exact_match": 0.0, "request_error": 1.0}  # wrong, counted, no numbers
    good = process_results(docs[1], [answers[1]])
    assert good["request_error"] == 0.0 and good["total_tokens"] > 0
    info = lm.get_model_info()["hawkeye"]
    assert info["requests"] == 3 and info["failures"] == 1
    assert info["failure_types"] == {"http_500": 1}
    lines = sidecar_lines(traces)
    assert sorted((ln["task"], ln["doc_id"], ln["repeat"]) for ln in lines) == [
        ("hawkeye_gsm8k", 0, 0), ("hawkeye_gsm8k", 1, 0), ("hawkeye_gsm8k", 2, 0),
    ]  # fmt: skip
    failed_line = next(ln for ln in lines if ln["doc_id"] == 0)
    assert failed_line["error"].startswith("single: HTTP 500") and failed_line["correct"] is None
    assert failed_line["trace"]["stages"][0]["attempts"] == 2  # retried once, then recorded


def test_repeats_of_one_instance_get_distinct_seeds(tmp_path: Path) -> None:
    traces = tmp_path / "t.jsonl"
    with ScriptedServer(ScriptedConfig(tokens=4)) as server_url:
        lm = HawkeyeLM(
            pipeline="hawkeye", url=server_url, model="scripted-model", traces=str(traces)
        )
        doc = gsm8k_docs(1)[0]
        same = instance(doc, 0, repeats=3)
        answers = lm.generate_until([same, same, same])  # lm-eval passes one object k times
    assert [a.repeat for a in answers] == [0, 1, 2]
    seeds = [a.record.extra["seed"] for a in answers]
    assert len(set(seeds)) == 3
    lines = sidecar_lines(traces)
    assert sorted(ln["repeat"] for ln in lines) == [0, 1, 2]
    for line in lines:  # both stages of a repeat were sent that repeat's seed
        assert {s["request"]["seed"] for s in line["trace"]["stages"]} == {line["extra"]["seed"]}
    # k repeats kept by the keep-all filter score as avg@k and pass@k
    kept = keep_all_samples([answers], [doc])[0]
    metrics = process_results(doc, [kept])
    assert metrics["exact_match"] == 0.0 and metrics["pass@3"] == 0.0
    assert metrics["total_tokens"] == 8.0  # 4 filler tokens per stage, usage-reported


def _answer(stage: StageResult, correct: bool) -> PipelineAnswer:
    problem = Problem(id="p", dataset="gsm8k", question="q", gold="18")
    trace = Trace(pipeline="baseline", stages=[stage], final_text=stage.answer)
    record = Record(problem, 0, trace, extracted="18" if correct else "3", correct=correct)
    return PipelineAnswer(record, task="t", doc_id=0, repeat=0)


def _stage(content: str, reasoning: str = "", **counts: object) -> StageResult:
    return StageResult(
        role="single", model="m", content=content, reasoning=reasoning,
        finish_reason="stop", latency_s=1.0, ttft_s=0.1, **counts,
    )  # fmt: skip


def test_baseline_split_at_the_think_boundary_only_where_honest() -> None:
    plain = token_metrics(_answer(_stage("x", completion_tokens=7, token_source="usage"), True)
                          .record.trace)  # fmt: skip
    assert plain == {"cot_tokens": 0, "response_tokens": 7, "total_tokens": 7}
    counted = _stage("ans", reasoning="think", completion_tokens=10, reasoning_tokens=6,
                     token_source="tokenize")  # fmt: skip
    assert token_metrics(_answer(counted, True).record.trace) == {
        "cot_tokens": 6, "response_tokens": 4, "total_tokens": 10,
    }  # fmt: skip
    inline = _stage("<think>hm</think>ans", completion_tokens=9, token_source="usage")
    assert token_metrics(_answer(inline, True).record.trace) == {"total_tokens": 9}
    approx = _stage("ans", completion_tokens=5, token_source="chunks")
    assert token_metrics(_answer(approx, True).record.trace) == {}  # approximate: left out


def test_metrics_from_answer_and_from_plain_string() -> None:
    doc = {"id": "p", "dataset": "gsm8k", "gold": "18"}
    answer = _answer(_stage("\\boxed{18}", completion_tokens=3, token_source="usage"), True)
    metrics = process_results(doc, [answer])
    assert metrics["exact_match"] == 1.0 and metrics["finish_length"] == 0.0
    assert metrics["answer_latency_s"] == 1.0 and metrics["ttft_s"] == 0.1
    assert "cot_latency_s" not in metrics  # the baseline has no CoT stage
    # A foreign model's plain text: graded by the shared grader, nothing else made up.
    assert process_results(doc, ["<think>2+2</think> so \\boxed{18}"]) == {"exact_match": 1.0}
    assert process_results(doc, ["the answer is 17"]) == {"exact_match": 0.0}


def test_pipeline_answer_survives_pickle_for_use_cache() -> None:
    answer = _answer(_stage("\\boxed{18}", completion_tokens=3, token_source="usage"), True)
    restored = pickle.loads(pickle.dumps(answer))
    assert isinstance(restored, PipelineAnswer) and str(restored) == str(answer)
    assert restored.record.trace.stages[0].completion_tokens == 3 and restored.doc_id == 0


def test_load_split_reads_the_mirror_and_ignores_model_args() -> None:
    algebra = load_split("math", subjects=["Algebra"], pipeline="hawkeye", url="x")["test"]
    assert len(algebra) == 1187 and set(algebra["subject"]) == {"Algebra"}
    doc = load_split("gsm8k", preset="upstream-gsm8k")["test"][0]
    assert doc["gold"] == "18" and doc["prompt"].startswith("Question: Janet")
    with pytest.raises(DatasetError, match="expected mirror file"):
        load_split("gsm8k", data_dir="/nonexistent")


def test_unknown_model_args_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown model_args .*api_key.*valid: .*key_env"):
        HawkeyeLM(url="http://127.0.0.1:9/v1", model="m", api_key="secret")
    with pytest.raises(
        ValueError, match="unknown pipeline 'nope'; valid: baseline, compress, hawkeye"
    ):
        HawkeyeLM(pipeline="nope", url="http://127.0.0.1:9/v1", model="m")


def test_wrapper_adds_tasks_model_and_traces_path(tmp_path: Path) -> None:
    namespace = argparse.Namespace(
        include_path="/mine", model=None, config=None, output_path=str(tmp_path),
        model_args={"pipeline": "baseline", "reasoner_url": "u"},
    )  # fmt: skip
    prepared = prepare(namespace, tasks_dir())
    assert prepared.include_path == [str(tasks_dir()), "/mine"]
    assert prepared.model == "hawkeye"
    assert prepared.model_args["model"] == "hawkeye-baseline"  # lm-eval's output folder name
    traces = Path(prepared.model_args["traces"])
    assert traces.parent == tmp_path / "hawkeye-baseline" and traces.suffix == ".jsonl"


def test_task_files_parse_and_errors_name_the_file(tmp_path: Path) -> None:
    names = check_task_files(tasks_dir())
    assert {"hawkeye_math500", "hawkeye_math", "hawkeye_gsm8k", "hawkeye_aime24",
            "hawkeye_aime25", "hawkeye_aime", "hawkeye_math_precalc"} <= set(names)  # fmt: skip
    broken = tmp_path / "bad.yaml"
    broken.write_text("task: x\n  bad: [unclosed\n")
    with pytest.raises(TaskFileError, match=r"(?s)bad\.yaml is not valid YAML.*line 2"):
        check_task_files(tmp_path)


def test_pipeline_options_are_model_args_of_their_own_names(tmp_path: Path) -> None:
    cot = "one two three four five six seven eight nine ten"
    config = ScriptedConfig(rules=[ReplyRule(match="", content=cot)])
    with ScriptedServer(config) as url:
        lm = HawkeyeLM(
            pipeline="compress", url=url, model="scripted-model", keep=0.3,
            method="truncate", traces=str(tmp_path / "t.jsonl"),
        )  # fmt: skip
        (answer,) = lm.generate_until([instance(gsm8k_docs(1)[0], 0)])
    info = answer.record.trace.extra["compress"]
    assert (info["method"], info["requested_keep"], info["compressed"]) == (
        "truncate",
        0.3,
        "one two three",
    )
    with pytest.raises(HawkeyeError, match="unknown model_args for --model hawkeye: keep"):
        HawkeyeLM(pipeline="baseline", url="http://127.0.0.1:9/v1", model="m", keep=0.3)
