"""`hawkeye-bench import`: each input format on small files written from its documented layout,
matching to problems, token counts with their source, and bad input refused before anything is
written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hawkeye_bench.cli import main
from hawkeye_bench.core.record import Record
from hawkeye_bench.datasets import load_problems
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.importing import reading
from hawkeye_bench.importing.matching import normalise_question

GSM = load_problems("gsm8k", limit=6)
MATH500 = load_problems("math500", limit=3)


def gsm_rationale(index: int) -> str:
    """The GSM8K answer field as the dataset writes it (a rationale ending ``#### N``)."""
    return f"Some steps.\n#### {GSM[index].gold}"


def answer(index: int, right: bool = True) -> str:
    return f"So the answer is \\boxed{{{GSM[index].gold if right else 99999}}}."


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run_import(*args: str | Path) -> int:
    return main(["import", *map(str, args), "--no-progress"])


def records(out: Path) -> list[Record]:
    return RunStore(out).load_records()


def summary(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "summary.json").read_text()))


# --------------------------------------------------------------------------- formats


def test_generic_jsonl_one_stage_with_mapping_and_counts(tmp_path: Path) -> None:
    rows = [
        {"idx": i, "problem": GSM[i].question, "out": answer(i, right=i != 2), "n": 10 + i,
         "ms": {"total": 1.5}, "gold": gsm_rationale(i)}
        for i in range(4)
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "gen.jsonl", rows)
    out = tmp_path / "run"
    mapping = "id=idx,question=problem,text=out,gold=gold,completion_tokens=n,latency_s=ms.total"
    assert run_import(path, "--task", "gsm8k", "--format", "generic", "--map", mapping,
                      "--out", out) == 0  # fmt: skip
    got = records(out)
    assert [r.problem.id for r in got] == [f"gsm8k/{i}" for i in range(4)]  # idx 0 -> gsm8k/0
    assert [r.correct for r in got] == [True, True, False, True]
    stage = got[1].trace.stages[0]
    assert (stage.role, stage.completion_tokens, stage.token_source) == ("single", 11, "usage")
    assert stage.latency_s == 1.5 and got[1].trace.pipeline == "baseline"
    data = summary(out)
    assert data["accuracy"]["correct"] == 3 and data["import"]["matched_by"] == {"id": 4}
    assert data["import"]["gold_differs"]["count"] == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["import"]["mapping"]["single"] == {
        "text": "out", "completion_tokens": "n", "latency_s": "ms.total"
    }  # fmt: skip
    assert manifest["import"]["files"][0]["sha256"] == reading_sha(path)


def reading_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_generic_json_list_two_stages_is_a_hawkeye_run(tmp_path: Path) -> None:
    rows = [
        {"q": GSM[i].question, "cot": f"think {i}", "ans": answer(i), "cot_ids": [1] * (5 + i),
         "ans_tokens": 3}
        for i in range(3)
    ]  # fmt: skip
    path = tmp_path / "two.json"
    path.write_text(json.dumps(rows, indent=2))
    out = tmp_path / "run"
    mapping = ["question=q,reasoner=cot,responder=ans", "reasoner.token_ids=cot_ids",
               "responder.completion_tokens=ans_tokens"]  # fmt: skip
    args = ["--task", "gsm8k", "--format", "generic", "--out", out]
    assert run_import(path, *args, *[a for m in mapping for a in ("--map", m)]) == 0
    got = records(out)
    assert [r.trace.pipeline for r in got] == ["hawkeye"] * 3
    reasoner = got[2].trace.stage("reasoner")
    assert reasoner is not None
    assert (reasoner.completion_tokens, reasoner.token_source) == (7, "token_ids")
    data = summary(out)
    assert data["import"]["matched_by"] == {"question": 3}
    assert data["tokens"]["cot_only"]["mean"] == 6.0 and data["tokens"]["full"]["mean"] == 9.0
    assert data["import"]["files"][0]["layout"] == "json list"


def batch_line(custom_id: str, content: str, *, choices: int = 1, **extra: Any) -> dict[str, Any]:
    message = {"role": "assistant", "content": content, "reasoning_content": "hmm, let me see"}
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "r1-distill",
        "choices": [
            {"index": i, "message": message, "finish_reason": "stop"} for i in range(choices)
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 42, "total_tokens": 62,
                  "completion_tokens_details": {"reasoning_tokens": 30}},
    }  # fmt: skip
    return {
        "id": "batch_req_1",
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": "r", "body": body},
        "error": None,
        **extra,
    }


def test_openai_batch_output(tmp_path: Path) -> None:
    failed = {
        "id": "batch_req_9",
        "custom_id": "gsm8k/3",
        "response": {"status_code": 500, "request_id": "r", "body": {}},
        "error": {"code": "server_error", "message": "the model crashed"},
    }
    path = write_jsonl(
        tmp_path / "batch_output.jsonl",
        [batch_line("gsm8k/0", answer(0)), batch_line("1", answer(1, right=False)),
         batch_line("gsm8k/2#1", answer(2)), failed, batch_line("gsm8k/4", answer(4), choices=2)],
    )  # fmt: skip
    out = tmp_path / "run"
    assert run_import(path, "--task", "gsm8k", "--out", out) == 0
    got = {r.key: r for r in records(out)}
    assert set(got) == {("gsm8k/0", 0), ("gsm8k/1", 0), ("gsm8k/2", 1), ("gsm8k/3", 0),
                        ("gsm8k/4", 0), ("gsm8k/4", 1)}  # fmt: skip
    first = got[("gsm8k/0", 0)].trace.stages[0]
    assert (first.model, first.reasoning, first.finish_reason) == (
        "r1-distill",
        "hmm, let me see",
        "stop",
    )
    assert (first.completion_tokens, first.reasoning_tokens, first.prompt_tokens) == (42, 30, 20)
    assert first.token_source == "usage" and got[("gsm8k/0", 0)].correct
    assert got[("gsm8k/1", 0)].correct is False
    crashed = got[("gsm8k/3", 0)]
    assert crashed.correct is None and crashed.error == "single: the model crashed"
    # several choices share one usage block: their counts are missing, not split by guess
    assert got[("gsm8k/4", 1)].trace.stages[0].completion_tokens is None
    data = summary(out)
    assert data["errors"]["count"] == 1 and data["errors"]["by_type"] == {"http_500": 1}
    assert data["import"]["files"][0]["format"] == "openai-batch"


def lm_eval_line(doc_id: int, text: str, flt: str, metric: int) -> dict[str, Any]:
    doc = {"question": GSM[doc_id].question, "answer": gsm_rationale(doc_id)}
    prompt = f"Question: {doc['question']}\nAnswer:"
    return {
        "doc_id": doc_id,
        "doc": doc,
        "target": gsm_rationale(doc_id),
        "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": ["Question:"]}}},
        "resps": [[text]],
        "filtered_resps": [GSM[doc_id].gold],
        "filter": flt,
        "metrics": ["exact_match"],
        "doc_hash": "d",
        "prompt_hash": "p",
        "target_hash": "t",
        "exact_match": metric,
    }


def test_lm_eval_log_samples(tmp_path: Path) -> None:
    texts = [answer(0), "The answer is 3", answer(2, right=False)]
    lines = []
    for i, text in enumerate(texts):
        # strict-match scored the prose answer 0; the harness reads the number
        lines.append(lm_eval_line(i, text, "strict-match", int(i == 0)))
        lines.append(lm_eval_line(i, text, "flexible-extract", int(i < 2)))
    path = write_jsonl(tmp_path / "samples_gsm8k_2026-01-01T00-00-00.jsonl", lines)
    out = tmp_path / "run"
    assert run_import(path, "--task", "gsm8k", "--out", out) == 0
    got = records(out)
    assert [r.problem.id for r in got] == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]
    assert [r.extra["import"]["filter"] for r in got] == ["strict-match"] * 3
    data = summary(out)
    assert data["import"]["skipped"]["other filter"]["count"] == 3
    assert data["agreement"]["n"] == 3 and data["agreement"]["disagreeing"] == 1
    assert data["agreement"]["harness_right_file_wrong"] == 1
    out2 = tmp_path / "run2"
    args = ["--task", "gsm8k", "--out", out2, "--lm-eval-filter", "flexible-extract"]
    assert run_import(path, *args) == 0
    assert summary(out2)["agreement"]["agreement_rate"] == 1.0


def test_upstream_gsm8k_json_list_by_position_with_agreement(tmp_path: Path) -> None:
    outputs = [answer(0), answer(1, right=False), answer(2), "no idea"]
    scores = [1, 1, 1, 0]  # the authors' judge passed item 1, the harness does not
    rows = [{"model_output": o, "answer": gsm_rationale(i), "score": s}
            for i, (o, s) in enumerate(zip(outputs, scores, strict=True))]  # fmt: skip
    path = tmp_path / "gsm_results.json"
    path.write_text(json.dumps(rows))
    out = tmp_path / "run"
    assert run_import(path, "--task", "gsm8k", "--out", out) == 0
    data = summary(out)
    assert data["import"]["files"][0]["format"] == "hawkeye-gsm8k"
    assert data["import"]["matched_by"] == {"position": 4}
    agreed = data["agreement"]
    assert (agreed["file_accuracy"], agreed["harness_accuracy"]) == (0.75, 0.5)
    assert agreed["agreement_rate"] == 0.75
    (line,) = [json.loads(x) for x in (out / "disagreements.jsonl").read_text().splitlines()]
    assert line["id"] == "gsm8k/1" and line["file_verdict"] and not line["harness_verdict"]
    assert line["where"] == "gsm_results.json:1"


def test_upstream_math500_jsonl_by_id(tmp_path: Path) -> None:
    rows = [
        {"unique_id": p.id, "problem": p.question,
         "final_answer": f"Therefore, the final answer is: $\\boxed{{{p.gold}}}$.",
         "ground_truth": p.gold, "score": 1}
        for p in MATH500
    ]  # fmt: skip
    rows[1]["final_answer"] = "Therefore, the final answer is: $\\boxed{17}$."
    path = write_jsonl(tmp_path / "math500.jsonl", rows)
    out = tmp_path / "run"
    assert run_import(path, "--task", "math500", "--out", out) == 0
    got = records(out)
    assert [r.problem.id for r in got] == [p.id for p in MATH500]
    assert [r.correct for r in got] == [True, False, True]
    data = summary(out)
    assert data["import"]["matched_by"] == {"id": 3}
    assert data["agreement"]["disagreeing"] == 1


# --------------------------------------------------------------------------- matching


def test_question_text_matches_after_normalisation() -> None:
    question = GSM[0].question
    assert normalise_question(f"  {question.upper()}  \n") == normalise_question(question)
    assert normalise_question(question.replace("\u2019", "'")) == normalise_question(question)


def test_unmatched_and_duplicated_rows_are_counted_and_named(tmp_path: Path) -> None:
    rows = [
        {"id": "gsm8k/0", "s": 0, "t": answer(0)},
        {"id": "gsm8k/0", "s": 0, "t": answer(0)},  # the same sample again
        {"id": "nope/7", "s": 0, "t": answer(0)},
        {"id": "gsm8k/1", "s": 0, "t": answer(1)},
    ]
    path = write_jsonl(tmp_path / "o.jsonl", rows)
    out = tmp_path / "run"
    assert run_import(path, "--task", "gsm8k", "--map", "id=id,sample=s,text=t", "--format",
                      "generic", "--out", out) == 0  # fmt: skip
    skipped = summary(out)["import"]["skipped"]
    assert skipped["duplicate"]["count"] == 1 and skipped["duplicate"]["first"][0].startswith(
        "o.jsonl:2: duplicate: gsm8k/0 sample 0"
    )
    assert skipped["unmatched"]["first"] == ["o.jsonl:3: no gsm8k problem has id 'nope/7'"]
    listed = [json.loads(x) for x in (out / "import_skipped.jsonl").read_text().splitlines()]
    assert [(s["line"], s["reason"]) for s in listed] == [(2, "duplicate"), (3, "unmatched")]
    assert len(records(out)) == 2


def test_several_outputs_per_problem_become_samples(tmp_path: Path) -> None:
    rows = [{"q": GSM[i].question, "t": answer(i, right=right)}
            for right in (True, False, True) for i in range(2)]  # fmt: skip
    path = write_jsonl(tmp_path / "o.jsonl", rows)
    out = tmp_path / "run"
    assert run_import(path, "--task", "gsm8k", "--map", "question=q,text=t", "--format",
                      "generic", "--out", out) == 0  # fmt: skip
    accuracy = summary(out)["accuracy"]
    assert accuracy["samples_per_problem"] == 3
    assert accuracy["avg@3"] == pytest.approx(2 / 3) and accuracy["pass@k"]["3"] == 1.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["identity"]["samples"] == 3


def test_a_file_gold_that_differs_from_the_dataset_is_counted(tmp_path: Path) -> None:
    rows = [{"model_output": answer(i), "answer": gsm_rationale(i + 1), "score": 1}
            for i in range(2)]  # fmt: skip  # shifted by one: matched by position, wrongly
    path = tmp_path / "shifted.json"
    path.write_text(json.dumps(rows))
    out = tmp_path / "run"
    assert run_import(path, "--task", "gsm8k", "--out", out) == 0
    differs = summary(out)["import"]["gold_differs"]
    assert differs["count"] == 2 and "gsm8k/0 gold" in differs["first"][0]


# --------------------------------------------------------------------------- token counts


def plain_rows(n: int = 2) -> list[dict[str, Any]]:
    return [{"q": GSM[i].question, "t": f"<think>steps here</think>{answer(i)}"} for i in range(n)]


def import_plain(tmp_path: Path, *extra: str) -> Path:
    path = write_jsonl(tmp_path / "plain.jsonl", plain_rows())
    out = tmp_path / "run"
    assert run_import(path, "--task", "gsm8k", "--format", "generic", "--map",
                      "question=q,text=t", "--out", out, *extra) == 0  # fmt: skip
    return out


def test_counts_missing_without_a_tokenizer_and_the_summary_says_so(tmp_path: Path) -> None:
    out = import_plain(tmp_path)
    counts = summary(out)["import"]["token_counts"]
    assert counts["missing"] == 2 and "--tokenizer" in counts["note"]
    assert all(r.trace.stages[0].completion_tokens is None for r in records(out))


def test_counts_from_a_gguf_vocabulary(tmp_path: Path) -> None:
    from hawkeye_bench.endpoints.client import local_vocabulary
    from hawkeye_bench.serve.embedded import local_model_path

    gguf = str(local_model_path())
    out = import_plain(tmp_path, "--tokenizer", gguf)
    vocabulary = local_vocabulary(gguf)
    stage = records(out)[0].trace.stages[0]
    assert stage.token_source == "tokenizer"
    assert stage.completion_tokens == vocabulary.count(stage.content)
    assert summary(out)["import"]["token_counts"]["tokenizer"]["kind"] == "gguf"


def test_counts_from_a_tokenizer_json(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    model = tokenizers.models.WordLevel({"[UNK]": 0, "the": 1}, unk_token="[UNK]")
    tokenizer = tokenizers.Tokenizer(model)
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    out = import_plain(tmp_path, "--tokenizer", str(tmp_path))
    stage = records(out)[0].trace.stages[0]
    assert stage.token_source == "tokenizer"
    assert stage.completion_tokens == len(tokenizer.encode(stage.content).ids)


def test_counts_from_a_servers_tokenize_endpoint(tmp_path: Path) -> None:
    from hawkeye_bench.testing.scripted_server import ScriptedServer

    with ScriptedServer() as base_url:
        out = import_plain(tmp_path, "--tokenize-url", base_url)
    stage = records(out)[0].trace.stages[0]
    # the scripted tokenizer counts words; the thinking is counted apart from the answer
    assert stage.token_source == "tokenize"
    assert stage.reasoning_tokens is None  # inline <think>: the content holds both
    assert stage.completion_tokens == len(stage.content.split())


# --------------------------------------------------------------------------- bad input


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    """Run an import that must fail with one error line and leave no run folder."""
    out = tmp_path / "never"
    assert run_import(*args, "--out", out) == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_a_malformed_line_is_named_or_skipped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "o.jsonl"
    lines = [json.dumps({"q": GSM[i].question, "t": answer(i)}) for i in range(3)]
    path.write_text("\n".join([lines[0], '{"q": "cut', lines[1], lines[2]]) + "\n")
    args = [path, "--task", "gsm8k", "--format", "generic", "--map", "question=q,text=t"]
    message = refused(tmp_path, capsys, *args)
    assert f"{path}:2: malformed JSON" in message and "--skip-bad-lines" in message
    out = tmp_path / "run"
    assert run_import(*args, "--skip-bad-lines", "--out", out) == 0
    assert summary(out)["import"]["skipped"]["malformed line"]["first"] == ["o.jsonl:2: not JSON"]
    assert len(records(out)) == 3


def test_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(tmp_path / "o.jsonl", [{"q": GSM[0].question, "t": answer(0)}])
    generic = [path, "--task", "gsm8k", "--format", "generic"]
    assert "names field 'text'" in refused(
        tmp_path, capsys, *generic, "--map", "question=q,text=text"
    )
    assert "needs --map" in refused(tmp_path, capsys, *generic)
    assert "unknown dataset 'gsm9k'" in refused(tmp_path, capsys, path, "--task", "gsm9k")
    unmatched = write_jsonl(tmp_path / "u.jsonl", [{"q": "what?", "t": "1"}])
    message = refused(tmp_path, capsys, unmatched, "--task", "gsm8k", "--format", "generic",
                      "--map", "question=q,text=t")  # fmt: skip
    assert "no usable row" in message and "unmatched 1" in message
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    message = refused(tmp_path, capsys, *generic, "--map", "question=q,text=t", "--tokenizer", bad)
    assert "does not load" in message
    bad_json = tmp_path / "tokenizer.json"
    bad_json.write_text("{}")
    message = refused(tmp_path, capsys, *generic, "--map", "question=q,text=t", "--tokenizer",
                      bad_json)  # fmt: skip
    assert "does not load" in message or "needs the 'tokenizers' package" in message
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert "no rows" in refused(tmp_path, capsys, empty, "--task", "gsm8k")
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"x": 1}])
    assert "no known layout" in refused(tmp_path, capsys, odd, "--task", "gsm8k")
    mapped = [*generic, "--map", "question=q,text=t"]
    message = refused(tmp_path, capsys, *mapped, "--pipeline", "hawkeye")
    assert "--pipeline hawkeye has roles reasoner, responder; the rows have single" in message
    assert "unknown key 'answer'" in refused(tmp_path, capsys, *generic, "--map", "answer=t")


# --------------------------------------------------------------------------- streaming


def test_a_json_list_is_streamed_item_by_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "CHUNK", 5)  # items and characters cut across chunks
    items = [{"i": i, "text": "é→" * i, "n": -1.5e-3, "ok": [True, None]} for i in range(30)]
    items.append({"big": "x" * 200})  # far bigger than a chunk
    path = tmp_path / "list.json"
    path.write_text("[\n" + ",\n".join(json.dumps(x, ensure_ascii=False) for x in items) + "\n]")
    values = reading.FileValues(path)
    got = list(values)
    assert [v for _, v in got] == items
    assert [line for line, _ in got][:3] == [2, 3, 4]
    assert values.sha256 == reading_sha(path) and values.size == path.stat().st_size
    bom = tmp_path / "bom.jsonl"
    bom.write_text('\ufeff{"a": 1}\n{"a": 2}\n', encoding="utf-8")
    assert [v for _, v in reading.FileValues(bom)] == [{"a": 1}, {"a": 2}]
    path.write_text('[{"a": 1}, {"a": 2,, "b": 3}, ' + '{"c": 1}, ' * 20 + "]")
    with pytest.raises(reading.MalformedLine, match="line 1: malformed JSON list item"):
        list(reading.FileValues(path))


def test_a_run_folder_another_writer_holds_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(tmp_path / "o.jsonl", [{"q": GSM[0].question, "t": answer(0)}])
    out = tmp_path / "run"
    with RunStore(out).lock("eval"):
        assert run_import(path, "--task", "gsm8k", "--format", "generic", "--map",
                          "question=q,text=t", "--out", out) == 2  # fmt: skip
    assert "eval" in capsys.readouterr().err
    assert not (out / "records.jsonl").exists()


def test_the_console_summary_calls_missing_counts_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_plain(tmp_path)
    printed = capsys.readouterr().out
    assert "note: 2 stage token counts are missing" in printed
    assert "counted chunks" not in printed


def test_a_tokenize_url_that_does_not_answer_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dead_base_url: str
) -> None:
    path = write_jsonl(tmp_path / "o.jsonl", [{"q": GSM[0].question, "t": answer(0)}])
    message = refused(tmp_path, capsys, path, "--task", "gsm8k", "--format", "generic", "--map",
                      "question=q,text=t", "--tokenize-url", dead_base_url)  # fmt: skip
    assert f"--tokenize-url {dead_base_url}: the server has no tokenize endpoint" in message
