"""The compress pipeline and compress-sweep against the scripted server (one word = one token,
so every share below is hand-computed), plus the model-free methods and the overthinking
measure on their own."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import eval_args, read_json, read_jsonl, run_cli

from hawkeye_bench.eval.analyses import overthinking, prefix_ends
from hawkeye_bench.eval.compress_sweep import folder_name
from hawkeye_bench.pipelines.compress_methods import (
    get_compress_method,
    kept_count,
    random_drop,
    truncate,
)
from hawkeye_bench.presets import load_preset
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer

# The writer's CoTs of the first two GSM8K problems (golds 18 and 3), 20 and 17 words.
JANET_COT = "She has 16 - 3 - 4 = 9 eggs left. She makes 9 * 2 = 18 dollars. Done."
ROBE_COT = "Blue needs 2 bolts. White needs half of 2, which is 1 bolt. Add the two amounts."
JANET_SHORT = "16 - 3 - 4 = 9, 9 * 2 = 18."  # 12 words
ROBE_REFUSAL = (
    "I'm sorry, but I cannot shorten this reasoning because every single step in it is "
    "essential for the answer to be understood correctly."
)  # 23 words: a refusal longer than the original
WRITER = r"showing every intermediate calculation"
COMPRESSOR = r"Shorten the reasoning below"
RESPONDER = r"Using the reasoning above"


def compress_rules(robe_compressed: str) -> list[ReplyRule]:
    """The scripted writer's CoTs, the compressor's answers (Janet's CoT shortened, the robe's
    ``robe_compressed``) and the responder's: 18 to Janet (right), 2 to the robe (wrong)."""
    return [
        ReplyRule(match=rf"{WRITER}[\s\S]*Janet", content=JANET_COT),
        ReplyRule(match=rf"{WRITER}[\s\S]*robe", content=ROBE_COT),
        ReplyRule(match=rf"{COMPRESSOR}[\s\S]*She has 16", content=JANET_SHORT),
        ReplyRule(match=rf"{COMPRESSOR}[\s\S]*Blue needs", content=robe_compressed),
        ReplyRule(match=rf"Janet[\s\S]*{RESPONDER}", content="So \\boxed{18}"),
        ReplyRule(match=rf"robe[\s\S]*{RESPONDER}", content="So \\boxed{2}"),
    ]


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    config = ScriptedConfig(tokens=4, rules=compress_rules(ROBE_REFUSAL))
    server = ScriptedServer(config)
    server.start()
    yield server
    server.stop()


def _prompts(server: ScriptedServer, pattern: str) -> list[str]:
    texts = [r["body"]["messages"][-1]["content"] for r in server.requests if "body" in r]
    return [t for t in texts if pattern in t]


def _by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records}


# -- model-free methods, exact --------------------------------------------------------------


def test_kept_count_rounds_half_up_and_keeps_a_word() -> None:
    assert [kept_count(20, k) for k in (1.0, 0.5, 0.3, 0.25, 0.1, 0.0)] == [20, 10, 6, 5, 2, 0]
    assert kept_count(17, 0.5) == 9 and kept_count(3, 0.1) == 1  # 0.3 words -> at least one


def test_truncate_keeps_the_first_share_of_words() -> None:
    assert truncate("a b c d e f g h i j", 0.3, 0) == "a b c"
    assert truncate(JANET_COT, 0.5, 99) == "She has 16 - 3 - 4 = 9 eggs"
    assert truncate("", 0.5, 0) == ""
    lines = "Step one:\n  add 2 and 3.\n\nStep two: done."
    assert truncate(lines, 1.0, 0) == lines  # cut from the text as written
    assert truncate(lines, 0.5, 0) == "Step one:\n  add 2 and"


def test_random_drop_is_seeded_ordered_and_exact() -> None:
    words = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9"
    dropped = random_drop(words, 0.4, 7)
    # random.Random(7).sample(range(10), 4) == [5, 2, 6, 9] (CPython's Mersenne Twister),
    # kept in their original order
    assert dropped == "w2 w5 w6 w9"
    assert random_drop(words, 0.4, 7) == dropped
    assert random_drop(words, 0.4, 8) != dropped
    assert random_drop(words, 1.0, 3) == words
    assert random_drop("a\nb c\n\nd", 1.0, 3) == "a\nb c\n\nd"
    assert random_drop("a\nb c\n\nd", 0.5, 7) in {
        "a\nb",
        "a c",
        "a\n\nd",
        "b c",
        "b\n\nd",
        "c\n\nd",
    }


def test_compress_presets_have_the_three_roles() -> None:
    for name in ("compress", "paper-observation", "compress-upstream"):
        assert set(load_preset(name).stages) == {"writer", "compressor", "responder"}
    upstream = load_preset("compress-upstream").stage("responder")
    assert upstream.template.startswith("\nBelow is a question followed by a chain of thought.")
    assert upstream.stop == ("Question", "Assistant:") and upstream.temperature == 0.0
    assert "{percent}%" in load_preset("paper-observation").stage("compressor").template


def test_anchor_methods_fix_the_share() -> None:
    assert get_compress_method("full").fixed_keep == 1.0
    assert get_compress_method("none").function is not None
    assert get_compress_method("llm").uses_model


# -- overthinking, exact --------------------------------------------------------------------


class _LastNumberGrader:
    """Right when the prefix's last word, stripped of punctuation, is the gold."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def grade_async(self, text: str, gold: str, dataset: str) -> Any:
        self.calls.append(text)
        last = text.split()[-1].strip(".,") if text.split() else ""

        class _Grade:
            correct = last == gold
            extracted = last

        return _Grade()


def test_overthinking_counts_words_after_the_first_right_prefix() -> None:
    text = "We get 5. Then 7.\nSo 7. Check again. Still 7."
    grader = _LastNumberGrader()
    result = asyncio.run(overthinking(text, "7", "gsm8k", grader))
    assert result is not None
    assert grader.calls == ["We get 5.", "We get 5. Then 7."]
    assert result.first_correct_at == 5 and result.total == 11
    assert result.share_after_first_correct == pytest.approx(6 / 11)


def test_overthinking_grades_at_most_n_prefixes_and_always_the_whole_text() -> None:
    text = " ".join(f"s{i}." for i in range(20))
    ends = prefix_ends(text, 4)
    assert len(ends) == 4 and ends[-1] == len(text)
    grader = _LastNumberGrader()
    result = asyncio.run(overthinking(text, "nothing", "gsm8k", grader, max_prefixes=4))
    assert result is not None and result.share_after_first_correct is None
    assert len(grader.calls) == 4 and result.prefixes_graded == 4


# -- the pipeline through eval ----------------------------------------------------------------


def test_eval_compress_llm_records_shares_leaks_and_flags(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = eval_args(out, "--keep", "0.5", url=scripted.base_url, pipeline="compress", limit=2)
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    records = _by_id(read_jsonl(out / "records.jsonl"))
    janet, robe = records["gsm8k/0"], records["gsm8k/1"]
    assert [s["role"] for s in janet["trace"]["stages"]] == ["writer", "compressor", "responder"]
    info = janet["trace"]["extra"]["compress"]
    assert info["method"] == "llm" and info["requested_keep"] == 0.5
    assert (info["original_tokens"], info["compressed_tokens"]) == (20, 12)
    assert info["achieved_keep"] == pytest.approx(0.6)
    assert info["token_source"] == "tokenize"
    assert info["compressed"] == JANET_SHORT
    assert info["refused"] is False and info["longer_than_original"] is False
    assert info["truncated"] == {"writer": False, "compressor": False, "responder": False}
    assert janet["correct"] is True
    assert janet["extra"]["cot_leaks_answer"] is True  # the CoT ends on 18
    assert janet["extra"]["overthinking"]["share_after_first_correct"] == pytest.approx(1 / 20)
    robe_info = robe["trace"]["extra"]["compress"]
    assert robe_info["refused"] is True and robe_info["longer_than_original"] is True
    assert robe_info["achieved_keep"] == pytest.approx(23 / 17)
    assert robe["extra"]["cot_leaks_answer"] is False and robe["correct"] is False
    # the compressor was asked for the share in percent and the budget in tokens
    (janet_prompt,) = _prompts(scripted, "She has 16")[:1]
    assert "at most 10 tokens (about 50% of its length)" in janet_prompt
    overthinking = read_json(out / "summary.json")["overthinking"]
    assert overthinking["n"] == 2 and overthinking["n_right_before_end"] == 1
    assert overthinking["share_after_first_correct"]["mean"] == pytest.approx(1 / 20)
    manifest = read_json(out / "manifest.json")
    assert manifest["identity"]["pipeline_options"] == {"keep": 0.5}
    assert manifest["identity"]["preset"]["name"] == "compress"


def test_eval_refuses_several_shares_and_unknown_options(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    several = run_cli(*eval_args(tmp_path / "a", "--keep", "0.5,0.3", pipeline="compress"))
    assert several.returncode == 2 and "compress-sweep" in several.stderr
    baseline = run_cli(*eval_args(tmp_path / "b", "--keep", "0.5", url=scripted.base_url))
    assert baseline.returncode == 2 and "takes no option keep" in baseline.stderr
    method = run_cli(*eval_args(tmp_path / "c", "--methods", "zip", pipeline="compress"))
    assert method.returncode == 2 and "unknown compression method 'zip'" in method.stderr


# -- the sweep --------------------------------------------------------------------------------


def _sweep(server: ScriptedServer, out: Path, *extra: str) -> Any:
    args = ["compress-sweep", "--task", "gsm8k", "--limit", "2", "--out", str(out)]
    args += ["--no-progress", "--endpoint", server.base_url, "--model", "m", *extra]
    return run_cli(*args)


def test_sweep_writes_each_call_once_and_a_table_with_anchors(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    result = _sweep(scripted, out, "--keep", "0.5", "--methods", "llm,truncate,random")
    assert result.returncode == 0, result.stderr
    assert len(_prompts(scripted, WRITER)) == 2  # once per problem across five runs
    assert len(_prompts(scripted, COMPRESSOR)) == 2
    assert len(_prompts(scripted, RESPONDER)) == 10  # none, full, llm, truncate, random
    runs = sorted(p.name for p in (out / "runs" / "m").iterdir())
    assert runs == ["full-keep1", "llm-keep0.5", "none-keep0", "random-keep0.5", "truncate-keep0.5"]
    truncated = _by_id(read_jsonl(out / "runs" / "m" / "truncate-keep0.5" / "records.jsonl"))
    info = truncated["gsm8k/0"]["trace"]["extra"]["compress"]
    assert info["compressed"] == "She has 16 - 3 - 4 = 9 eggs" and info["achieved_keep"] == 0.5
    robe = truncated["gsm8k/1"]["trace"]["extra"]["compress"]
    assert robe["compressed_tokens"] == 9 and robe["achieved_keep"] == pytest.approx(9 / 17)
    assert truncated["gsm8k/0"]["trace"]["extra"]["compress"]["cache_hits"] == ["writer"]
    none = _by_id(read_jsonl(out / "runs" / "m" / "none-keep0" / "records.jsonl"))
    assert none["gsm8k/0"]["trace"]["extra"]["compress"]["achieved_keep"] == 0.0
    with (out / "compress_table.csv").open() as handle:
        rows = {(r["method"], r["kept_requested"]): r for r in csv.DictReader(handle)}
    assert set(rows) == {
        ("none", "0.0"),
        ("full", "1.0"),
        ("llm", "0.5"),
        ("truncate", "0.5"),
        ("random", "0.5"),
    }
    llm = rows[("llm", "0.5")]
    assert (llm["n"], llm["correct"], llm["accuracy"]) == ("2", "1", "0.5")
    assert float(llm["kept_achieved"]) == pytest.approx((0.6 + 23 / 17) / 2)
    assert float(llm["compression_requested"]) == 0.5
    assert float(llm["ci95_low"]) < 0.5 < float(llm["ci95_high"])
    assert (llm["refused"], llm["longer_than_original"], llm["cot_leaks"]) == ("1", "1", "1")
    assert "| responder | method | kept_requested |" in (out / "compress_table.md").read_text()
    with (out / "achieved.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 10


def test_sweep_resume_and_extension_repeat_no_finished_call(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    assert _sweep(scripted, out, "--keep", "0.5", "--methods", "llm").returncode == 0
    first = len(scripted.requests)
    again = _sweep(scripted, out, "--keep", "0.5", "--methods", "llm")
    assert again.returncode == 2 and "--resume" in again.stderr
    # a kill that lost the last record of a run: resume redoes it from the cache
    records = out / "runs" / "m" / "llm-keep0.5" / "records.jsonl"
    lines = records.read_text().splitlines(keepends=True)
    records.write_text("".join(lines[:1]))
    resumed = _sweep(scripted, out, "--keep", "0.5", "--methods", "llm", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert len(scripted.requests) == first  # no model call at all
    assert len(read_jsonl(records)) == 2
    # extending the shares: only the new compressions are called; the scripted compressor
    # gives the same texts at every share, so the responder's calls are cached ones too
    extended = _sweep(scripted, out, "--keep", "0.5,0.25", "--methods", "llm", "--resume")
    assert extended.returncode == 0, extended.stderr
    new = [r["body"]["messages"][-1]["content"] for r in scripted.requests[first:]]
    assert sum(WRITER in t for t in new) == 0
    assert sum(COMPRESSOR in t for t in new) == 2 and sum(RESPONDER in t for t in new) == 0
    assert any("at most 5 tokens (about 25% of its length)" in t for t in new)
    table = (out / "compress_table.csv").read_text()
    assert "llm,0.25" in table and "llm,0.5" in table


# -- the real embedded model in every role ----------------------------------------------------


@pytest.mark.local_model
def test_sweep_on_the_real_model_writes_complete_consistent_records(
    local_server: Any, tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    args = ["compress-sweep", "--task", "gsm8k", "--limit", "2", "--out", str(out)]
    args += ["--no-progress", "--endpoint", local_server.base_url]
    args += ["--model", local_server.endpoint.model, "--max-tokens", "16", "--concurrency", "2"]
    result = run_cli(*args, "--keep", "0.5", "--methods", "llm,truncate")
    assert result.returncode == 0, result.stderr
    writers: dict[str, str] = {}
    for run in ("none-keep0", "full-keep1", "llm-keep0.5", "truncate-keep0.5"):
        folder = out / "runs" / folder_name(local_server.endpoint.model) / run
        records = read_jsonl(folder / "records.jsonl")
        assert sorted(r["id"] for r in records) == ["gsm8k/0", "gsm8k/1"]
        for record in records:
            assert record["error"] is None and isinstance(record["correct"], bool)
            stages = record["trace"]["stages"]
            roles = [s["role"] for s in stages]
            assert roles == (
                ["writer", "compressor", "responder"] if run.startswith("llm") else
                ["writer", "responder"]
            )  # fmt: skip
            for stage in stages:
                assert stage["token_source"] == "tokenize"
                assert 0 < stage["completion_tokens"] <= 16
            # the writer's CoT is the same text in every run: written once, then cached
            assert writers.setdefault(record["id"], stages[0]["content"]) == stages[0]["content"]
            info = record["trace"]["extra"]["compress"]
            assert info["token_source"] == "tokenize"
            if info["original_tokens"]:
                expected = info["compressed_tokens"] / info["original_tokens"]
                assert info["achieved_keep"] == pytest.approx(expected)
            assert set(info["truncated"]) == set(roles)
            assert isinstance(record["extra"]["cot_leaks_answer"], bool)
    assert (out / "compress_table.md").is_file() and (out / "achieved.csv").is_file()


@pytest.mark.local_model
def test_sweep_with_no_endpoint_starts_the_embedded_model_and_writes_the_cot_once(
    tmp_path: Path,
) -> None:
    """Each run starts the embedded model on a new port; the cache knows it by its model file."""
    out = tmp_path / "sweep"
    args = ["compress-sweep", "--task", "gsm8k", "--limit", "1", "--out", str(out)]
    args += ["--no-progress", "--max-tokens", "16", "--keep", "0.5", "--methods", "truncate"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    runs = out / "runs" / "embedded"
    assert sorted(p.name for p in runs.iterdir()) == [
        "full-keep1",
        "none-keep0",
        "truncate-keep0.5",
    ]
    for run in ("full-keep1", "truncate-keep0.5"):
        (record,) = read_jsonl(runs / run / "records.jsonl")
        assert record["error"] is None
        assert "writer" in record["trace"]["extra"]["compress"]["cache_hits"]
    cached = [json.loads(line)["role"] for line in (out / "call_cache.jsonl").open()]
    assert cached.count("writer") == 1 and cached.count("responder") == 3


def test_strip_answer_removes_boxes_and_answer_statements() -> None:
    from hawkeye_bench.pipelines.answer_strip import strip_answer

    cot = "Add 2 and 1 to get 3.\nSo the answer is 3.\n\\[ \\boxed{3} \\]\n#### 3"
    assert strip_answer(cot) == "Add 2 and 1 to get 3.\n\n\\[ \\]"
    assert strip_answer("Final answer: \\boxed{\\frac{1}{2}}.\nCheck: ok.") == "Check: ok."
    # "answer" as a verb states nothing: the sentence stays
    assert strip_answer("To answer this, add 2 and 3.") == "To answer this, add 2 and 3."


def test_strip_answer_feeds_the_compressor_and_the_leak_check(tmp_path: Path) -> None:
    """The writer states the answer; with --strip-answer the responder gets the CoT without
    it, the leak check reads the stripped CoT, and the record keeps both texts."""
    rules = compress_rules(JANET_SHORT)
    rules[1] = ReplyRule(match=rf"{WRITER}[\s\S]*robe", content=ROBE_COT + " The answer is 3.")
    server = ScriptedServer(ScriptedConfig(tokens=4, rules=rules))
    out = tmp_path / "run"
    with server as url:
        args = eval_args(out, "--methods", "full", "--strip-answer", url=url,
                         pipeline="compress", limit=2)  # fmt: skip
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
    (robe_prompt,) = [p for p in _prompts(server, RESPONDER) if "robe" in p]
    assert ROBE_COT in robe_prompt and "The answer is 3" not in robe_prompt
    records = _by_id(read_jsonl(out / "records.jsonl"))
    robe = records["gsm8k/1"]
    info = robe["trace"]["extra"]["compress"]
    assert info["stripped_cot"] == ROBE_COT
    assert robe["trace"]["stages"][0]["content"].endswith("The answer is 3.")  # the original
    assert info["compressed"] == ROBE_COT  # "full" keeps the stripped CoT unchanged
    assert robe["extra"]["cot_leaks_answer"] is False  # read on the stripped CoT
    manifest = read_json(out / "manifest.json")
    assert manifest["identity"]["pipeline_options"]["strip_answer"] is True


def test_percent_placeholder_reading_is_an_option_recorded_in_the_run(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = eval_args(out, "--methods", "llm", "--keep", "0.3", "--percent-means", "removed",
                     url=scripted.base_url, pipeline="compress", limit=1)  # fmt: skip
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    (prompt,) = _prompts(scripted, COMPRESSOR)
    assert "about 70% of its length" in prompt  # the removed share, 100 - 30
    (record,) = read_jsonl(out / "records.jsonl")
    assert record["trace"]["extra"]["compress"]["percent_means"] == "removed"
    manifest = read_json(out / "manifest.json")
    assert manifest["identity"]["pipeline_options"]["percent_means"] == "removed"
