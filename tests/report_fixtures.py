"""Small input folders of every kind the report reads, written with the writers' own code."""

from __future__ import annotations

import json
from pathlib import Path

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.eval.manifest import Manifest
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.judging.answers import load_runs
from hawkeye_bench.judging.config import Criterion, JudgeSpec
from hawkeye_bench.judging.results import JudgeResult
from hawkeye_bench.judging.summary import build_summary
from hawkeye_bench.load.metrics import stage_metrics
from hawkeye_bench.load.plan import PlanDescription
from hawkeye_bench.load.records import RequestRecord, requests_path
from hawkeye_bench.load.results import build_results, write_outputs
from hawkeye_bench.load.stage_result import LoadStageResult

BASE_TOKENS = [100, 200, 300, 400]
BASE_CORRECT = [True, True, False, True]
COT_TOKENS = [40, 60, 80, 100]
ANSWER_TOKENS = [20, 20, 20, 20]
HAWKEYE_CORRECT = [True, False, False, True]
EVAL_CONCURRENCY = 2


def _problem(dataset: str, i: int) -> Problem:
    return Problem(id=f"{dataset}-{i}", dataset=dataset, question=f"q{i}", gold=str(i))


def baseline_record(dataset: str, i: int) -> Record:
    single = StageResult(
        role="single",
        model="r1-7b",
        content=f"<think>long {i}</think>answer {i}",
        completion_tokens=BASE_TOKENS[i],
        token_source="usage",
        finish_reason="stop",
        started_at=1000.0 + i,
        ttft_s=0.5,
        latency_s=2.0 + i,
    )
    trace = Trace("baseline", [single], final_text=f"The long and detailed answer is {i}. " * 3)
    return Record(_problem(dataset, i), 0, trace, extracted=str(i), correct=BASE_CORRECT[i])


def hawkeye_record(dataset: str, i: int, sample: int = 0, correct: bool | None = None) -> Record:
    reasoner = StageResult(
        role="reasoner",
        model="r1-7b",
        content=f"short cot {i}",
        completion_tokens=COT_TOKENS[i],
        token_source="usage",
        finish_reason="stop",
        started_at=1000.0 + i,
        ttft_s=0.2,
        latency_s=1.0,
    )
    responder = StageResult(
        role="responder",
        model="qwen-0.5b",
        content=f"answer {i}",
        completion_tokens=ANSWER_TOKENS[i],
        token_source="tokenize",
        finish_reason="stop",
        started_at=1001.0 + i,
        ttft_s=0.1,
        latency_s=0.5,
    )
    trace = Trace("hawkeye", [reasoner, responder], final_text=f"Answer {i}.", stage2_input="full")
    verdict = HAWKEYE_CORRECT[i] if correct is None else correct
    return Record(_problem(dataset, i), sample, trace, extracted=str(i), correct=verdict)


def write_run(
    folder: Path, pipeline: str, task: str, records: list[Record], samples: int = 1
) -> Path:
    store = RunStore(folder)
    for record in records:
        store.append(record)
    store.close()
    store.write_manifest(
        Manifest.from_json(
            {
                "kind": "hawkeye-bench-run",
                "identity": {
                    "task": task,
                    "pipeline": pipeline,
                    "preset": "default",
                    "limit": 4,
                    "samples": samples,
                    "max_tokens": 64,
                },
                "config": {"concurrency": EVAL_CONCURRENCY},
                "endpoints": {
                    r.role: {
                        "base_url": "http://127.0.0.1:9/v1",
                        "model": r.model,
                        "api_key_env": "SECRET_VAR",
                    }
                    for r in records[0].trace.stages
                },
                "preset": {"name": "default", "stage2_input": "full"},
                "dataset": {
                    "dataset": task,
                    "source": "mirror",
                    "files": [{"name": task, "path": "/x", "sha256": "ab" * 32}],
                },
                "status": "complete",
                "git_revision": "0123456789abcdef",
            }
        )
    )
    return folder


def write_eval_runs(root: Path) -> dict[str, Path]:
    """gsm8k baseline + hawkeye (4 problems), aime hawkeye with 4 samples of 2 problems."""
    aime = [
        hawkeye_record("aime", i, sample=s, correct=(i == 0 and s < 3) or (i == 1 and s == 0))
        for i in range(2)
        for s in range(4)
    ]
    return {
        "baseline": write_run(
            root / "gsm8k-baseline",
            "baseline",
            "gsm8k",
            [baseline_record("gsm8k", i) for i in range(4)],
        ),
        "hawkeye": write_run(
            root / "gsm8k-hawkeye",
            "hawkeye",
            "gsm8k",
            [hawkeye_record("gsm8k", i) for i in range(4)],
        ),
        "aime": write_run(root / "aime-hawkeye", "hawkeye", "aime", aime, samples=4),
    }


# --------------------------------------------------------------------------- load

#: target -> (TTFT ms, gap ms per chunk, tokens per chunk, chunks)
LOAD_SHAPES = {"baseline": (100.0, 20.0, 1, 30), "hawkeye": (80.0, 10.0, 2, 10)}
LOAD_CONCURRENCIES = (1, 4)
REQUESTS_PER_STAGE = 6


def _request(seq: int, target: str, concurrency: int) -> RequestRecord:
    ttft, gap, per_chunk, n_chunks = LOAD_SHAPES[target]
    ttft += seq * 2.0 * concurrency  # spread so percentiles differ from the mean
    # the pipeline streams its reasoning first (channel "r"), then the answer ("c")
    channel = ["r" if target == "hawkeye" and k < n_chunks // 2 else "c" for k in range(n_chunks)]
    chunks = [[ttft + k * gap, per_chunk, channel[k]] for k in range(n_chunks)]
    return RequestRecord(
        t_send_wall=1000.0 + seq,
        t_send_perf=50.0 + seq,
        pid=1,
        seq=seq,
        stage=f"{target}/c{concurrency}",
        status=200,
        tt_ack_ms=1.0,
        ttft_ms=ttft,
        ttft_content_ms=ttft,
        e2e_ms=chunks[-1][0],
        e2e_done_ms=chunks[-1][0] + 1,
        output_tokens=per_chunk * n_chunks,
        output_tokens_source="usage",
        chunk_tokens_source="usage",
        finish_reason="stop",
        chunks=chunks,
    )


def write_load(root: Path) -> Path:
    folder = root / "load-gsm8k"
    stages = []
    for concurrency in LOAD_CONCURRENCIES:
        for target in LOAD_SHAPES:
            raw = folder / "raw" / target / f"c{concurrency}"
            raw.mkdir(parents=True, exist_ok=True)
            records = [_request(s, target, concurrency) for s in range(REQUESTS_PER_STAGE)]
            requests_path(raw, 1).write_text("".join(r.to_json() + "\n" for r in records))
            stage = {
                "target": target,
                "url": f"http://127.0.0.1:9/{target}",
                "concurrency": concurrency,
                "stage": f"{target}/c{concurrency}",
                "raw_dir": str(raw),
            }
            stage.update(stage_metrics(records))
            stage.update(reliable=True, unreliable_reasons=[], cpu={"max_percent": 10.0})
            stages.append(stage)
    plan = {
        "targets": [{"name": t, "url": f"http://127.0.0.1:9/{t}"} for t in LOAD_SHAPES],
        "baseline": "baseline",
        "concurrencies": list(LOAD_CONCURRENCIES),
        "requests_per_stage": REQUESTS_PER_STAGE,
        "duration_s": 0,
        "prompts": "gsm8k",
        "model": "m",
        "max_tokens": 64,
        "warmup_s": 0.0,
    }
    typed = [LoadStageResult.from_json(s) for s in stages]
    write_outputs(build_results(PlanDescription.from_json(plan), typed), folder)
    return folder


# --------------------------------------------------------------------------- judgements

CRITERIA = ("clarity", "conciseness")
JUDGES = ("j1", "j2")


def judge_score(judge: str, criterion: str, run: str, i: int) -> int:
    """Deterministic scores: hawkeye rated higher on conciseness, j2 one point harsher."""
    base = 6 + (i % 3) - (judge == "j2")
    if criterion == "conciseness" and "hawkeye" in run:
        base += 2
    return base


def write_judgements(root: Path, runs: list[Path]) -> Path:
    folder = root / "judged"
    folder.mkdir(parents=True)
    answers = load_runs(runs)
    results = []
    for run in answers:
        for pid, sample in sorted(run.answers):
            i = int(pid.rsplit("-", 1)[1])
            for judge in JUDGES:
                results.append(
                    JudgeResult(
                        judge=judge,
                        model=f"{judge}-model",
                        task="single",
                        run=run.label,
                        id=pid,
                        sample=sample,
                        status="ok",
                        scores={c: judge_score(judge, c, run.label, i) for c in CRITERIA},
                    )
                )
    # a failed judgement: never counted
    results.append(
        JudgeResult(
            judge="j1",
            model="j1-model",
            task="single",
            run=answers[0].label,
            id="gsm8k-0",
            sample=0,
            status="parse_error",
            repeat=0,
            error="bad json",
        )
    )
    (folder / "judgements.jsonl").write_text(
        "".join(json.dumps(r.to_dict()) + "\n" for r in results)
    )
    ok = [r for r in results if r.ok]
    summary = build_summary(
        ok,
        answers,
        [
            JudgeSpec(
                name=j, provider="openai", base_url="http://127.0.0.1:9/v1", model=f"{j}-model"
            )
            for j in JUDGES
        ],
        [Criterion(name=c, rubric="rate it") for c in CRITERIA],
        n_resamples=200,
    ).to_json()
    summary["panel"] = "test"
    (folder / "judge_summary.json").write_text(json.dumps(summary, indent=2))
    (folder / "judge_table.md").write_text("| table |\n")
    return folder


# --------------------------------------------------------------------------- lm-eval

LM_EVAL_DATE = "2026-01-02T03-04-05.000001"
LM_DOCS = {  # pipeline -> per doc (exact_match, cot_tokens, total_tokens)
    "baseline": [(1, None, 300), (0, None, 500), (1, None, 400)],
    "hawkeye": [(1, 90, 130), (0, 110, 150), (0, 100, 140)],
}


def write_lm_eval(root: Path, pipeline: str) -> Path:
    folder = root / f"lm-eval-{pipeline}"
    model_dir = folder / "hawkeye"
    model_dir.mkdir(parents=True)
    task = "hawkeye_gsm8k"
    docs = LM_DOCS[pipeline]
    mean = sum(d[0] for d in docs) / len(docs)
    results = {
        "results": {
            task: {
                "alias": task,
                "exact_match,none": mean,
                "exact_match_stderr,none": 0.2,
                "total_tokens,none": 1.0,
            }
        },
        "config": {
            "model": "hawkeye",
            "model_args": f"pipeline={pipeline},model=m,api_key=SHOULD_NOT_SHOW",
        },
        "lm_eval_version": "0.4.13",
        "date": 1767322800.0,
        "model_name": "hawkeye",
    }
    (model_dir / f"results_{LM_EVAL_DATE}.json").write_text(json.dumps(results))
    lines = []
    for doc_id, (em, cot, total) in enumerate(docs):
        row = {
            "doc_id": doc_id,
            "doc": {},
            "target": "1",
            "filter": "none",
            "metrics": ["exact_match", "cot_tokens", "total_tokens"],
            "exact_match": em,
            "total_tokens": total,
        }
        if cot is not None:
            row["cot_tokens"] = cot
        lines.append(json.dumps(row) + "\n")
    (model_dir / f"samples_{task}_{LM_EVAL_DATE}.jsonl").write_text("".join(lines))
    return folder


def write_all(root: Path) -> dict[str, Path]:
    runs = write_eval_runs(root)
    return {
        **runs,
        "load": write_load(root),
        "judged": write_judgements(root, [runs["baseline"], runs["hawkeye"]]),
        "lm_baseline": write_lm_eval(root, "baseline"),
        "lm_hawkeye": write_lm_eval(root, "hawkeye"),
    }
