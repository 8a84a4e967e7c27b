"""Hawkeye's reward: hand-computed values for both variants, TRL's call (keyword arguments,
standard and conversational formats, async), the scripted server and the embedded model."""

from __future__ import annotations

import asyncio
import inspect
import pickle
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from hawkeye_bench.rewards import AsyncHawkeyeReward, HawkeyeReward
from hawkeye_bench.rewards.hawkeye_terms import length_penalty
from hawkeye_bench.testing.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

RESPONDER = {"base_url": "http://127.0.0.1:9/v1", "model": "unused", "max_retries": 0}
# 25 words, ending with GSM8K's answer line: upstream target int(0.3 * 25) = int(7.5) = 7
RATIONALE = " ".join(["step"] * 23) + " #### 18"


class FakeResponder(HawkeyeReward):
    """The responder answers from a table keyed by the chain of thought (None: a failed call)."""

    table: ClassVar[dict[str, str | None]] = {}

    async def answers(self, questions: Sequence[str], cots: Sequence[str]) -> list[str | None]:
        replies = [self.table.get(c, "\\boxed{0}") for c in cots]
        self.responder_failures += sum(r is None for r in replies)
        return replies


def _words(n: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def test_paper_variant_hand_computed() -> None:
    reward = FakeResponder.paper(RESPONDER)  # alpha 0.3, lambda 0.01
    reward.table = {"right-short": "\\boxed{18}", "right-long": "so \\boxed{18}"}
    out = reward(
        prompts=["q"] * 4,
        completions=["right-short", "right-long", "wrong-long", "other"],
        completion_ids=[[1] * 20, [1] * 40, [1] * 50, [1] * 10],
        original_cot_tokens=[100, 100, 100, 100],  # target 0.3 * 100 = 30 tokens
        gold=["18"] * 4,
    )
    # 1 - 0; 1 - 0.01 (40 - 30)^2 = 0; 0 - 0.01 (50 - 30)^2 = -4; "failed" -> \boxed{0}: 0 - 0
    assert out == pytest.approx([1.0, 0.0, -4.0, 0.0])


def test_paper_variant_counts_with_the_tokenizer_given() -> None:
    reward = FakeResponder.paper(RESPONDER, tokenizer=lambda text: list(text))  # chars as tokens
    reward.table = {"x" * 40: "\\boxed{18}"}
    out = reward(
        prompts=["q"],
        completions=["x" * 40],
        original_cot=["y" * 100],  # a text: 100 tokens, target 30
        gold=["18"],
    )
    assert out == pytest.approx([1.0 - 0.01 * 10**2])


def test_upstream_variant_hand_computed() -> None:
    reward = FakeResponder.upstream(RESPONDER)  # whitespace words, reference = gold rationale
    nine, five = _words(9), _words(5)
    reward.table = {nine: "The answer is 18.", five: "\\boxed{17}"}
    out = reward(prompts=["q", "q"], completions=[nine, five], answer=[RATIONALE] * 2)
    # target int(7.5) = 7: 1 - 0.01 (9 - 7)^2 = 0.96; wrong and short: 0 - 0 = 0
    assert out == pytest.approx([0.96, 0.0])
    # the paper's rule would not round the target down: 0.01 (9 - 7.5)^2 = 0.0225
    assert length_penalty(9, 25, alpha=0.3, penalty=0.01) == pytest.approx(0.0225)


def test_failed_responder_call_is_none_and_counted() -> None:
    reward = FakeResponder.upstream(RESPONDER)
    reward.table = {"a": "\\boxed{18}", "b": None}
    metrics: dict[str, float] = {}
    out = reward(
        prompts=["q", "q"],
        completions=["a", "b"],
        answer=[RATIONALE] * 2,
        log_metric=metrics.__setitem__,
    )
    assert out == [1.0, None]
    assert reward.responder_failures == 1
    assert metrics["hawkeye_upstream_reward/failed"] == 1.0


def test_missing_reference_or_gold_or_tokens() -> None:
    reward = FakeResponder.paper(RESPONDER)
    with pytest.raises(ValueError, match="original_cot"):
        reward(prompts=["q"], completions=["c"], completion_ids=[[1]], gold=["1"])
    with pytest.raises(ValueError, match="gold"):
        reward(prompts=["q"], completions=["c"], completion_ids=[[1]], original_cot_tokens=[3])
    with pytest.raises(ValueError, match="tokenizer"):
        reward(prompts=["q"], completions=["c"], original_cot_tokens=[3], gold=["1"])
    with pytest.raises(ValueError, match="variant"):
        HawkeyeReward(RESPONDER, variant="other")  # type: ignore[arg-type]


def test_picklable_with_a_name() -> None:
    for reward in (HawkeyeReward.paper(RESPONDER), AsyncHawkeyeReward.upstream(RESPONDER)):
        copy = pickle.loads(pickle.dumps(reward))
        assert copy.__name__ == reward.__name__ == f"hawkeye_{reward.variant}_reward"
        assert copy.responder == reward.responder and copy.stage == reward.stage
    used = FakeResponder.upstream(RESPONDER)
    used.table = {"a": "\\boxed{18}"}
    assert used(prompts=["q"], completions=["a"], answer=[RATIONALE]) == [1.0]
    assert pickle.loads(pickle.dumps(used)).responder_failures == 0  # the loop thread is dropped
    used.close()


# -- the call exactly as TRL makes it --------------------------------------------------------


def _trl_kwargs(conversational: bool, logs: dict[str, Any]) -> dict[str, Any]:
    question = "Janet has 16 eggs ... how much does she make?"
    cots = ["eat 3 bake 4 sell 9 at 2 each", "sell everything"]
    if conversational:
        prompts: list[Any] = [[{"role": "user", "content": question}]] * 2
        completions: list[Any] = [[{"role": "assistant", "content": c}] for c in cots]
    else:
        prompts, completions = [question] * 2, cots
    return {
        "prompts": prompts,
        "completions": completions,
        "completion_ids": [[5] * 9, [5] * 2],
        "question": [question] * 2,  # the dataset's columns, every one but "prompt"
        "answer": [RATIONALE] * 2,
        "trainer_state": object(),
        "log_extra": lambda column, values: logs.setdefault("extra", {}).update({column: values}),
        "log_metric": lambda name, value: logs.setdefault("metric", {}).update({name: value}),
    }


class TableResponder(FakeResponder):
    table: ClassVar[dict[str, str | None]] = {
        "eat 3 bake 4 sell 9 at 2 each": "\\boxed{18}",
        "sell everything": "\\boxed{32}",
    }


class AsyncTableResponder(AsyncHawkeyeReward):
    async def answers(self, questions: Sequence[str], cots: Sequence[str]) -> list[str | None]:
        await asyncio.sleep(0)
        return [TableResponder.table[c] for c in cots]


@pytest.mark.parametrize("conversational", [False, True])
def test_trl_call_sync(conversational: bool) -> None:
    logs: dict[str, Any] = {}
    reward = TableResponder.upstream(RESPONDER)
    out = reward(**_trl_kwargs(conversational, logs))
    # 9 words, target 7: 1 - 0.04; 2 words, wrong: 0
    assert out == pytest.approx([0.96, 0.0])
    assert logs["extra"]["hawkeye_upstream_reward/em"] == [1.0, 0.0]
    assert logs["extra"]["hawkeye_upstream_reward/length"] == [9, 2]
    assert logs["extra"]["hawkeye_upstream_reward/penalty"] == pytest.approx([0.04, 0.0])
    assert logs["metric"]["hawkeye_upstream_reward/em_mean"] == 0.5


@pytest.mark.parametrize("conversational", [False, True])
async def test_trl_call_async(conversational: bool) -> None:
    reward = AsyncTableResponder.paper(RESPONDER, name="hawkeye")
    # what trainers check before awaiting a reward, on every supported Python (3.11 included)
    assert asyncio.iscoroutinefunction(reward) and inspect.iscoroutinefunction(reward)
    assert list(inspect.signature(reward).parameters)[:3] == [
        "prompts",
        "completions",
        "completion_ids",
    ]
    assert not inspect.iscoroutinefunction(TableResponder.upstream(RESPONDER))
    kwargs = _trl_kwargs(conversational, {})
    kwargs["original_cot_tokens"] = [20, 20]  # paper: tokens from completion_ids, target 6
    # several async rewards are awaited together
    first, second = await asyncio.gather(reward(**kwargs), reward(**kwargs))
    assert first == second == pytest.approx([1 - 0.01 * 3**2, 0.0])
    assert reward.__name__ == "hawkeye"


# -- against a real HTTP server ----------------------------------------------------------------


def test_scripted_responder_and_one_fault() -> None:
    config = ScriptedConfig(
        rules=[ReplyRule(match=r"Problem: eggs", content="\\boxed{18}")],
        faults=[Fault(kind="status", status=500, match=r"Problem: broken")],
    )
    with ScriptedServer(config) as base_url:
        reward = HawkeyeReward.upstream(
            {"base_url": base_url, "model": "scripted-model", "max_retries": 0}, concurrency=2
        )
        try:
            out = reward(
                prompts=["q"] * 4,
                completions=[_words(9), _words(7), _words(3), _words(3)],
                question=["eggs", "eggs", "other", "broken"],
                answer=[RATIONALE] * 4,
            )
        finally:
            reward.close()
    # the filler reply ("tok0 tok1 ...") is wrong; the faulted call gives None
    assert out == pytest.approx([0.96, 1.0, 0.0, None])
    assert reward.responder_failures == 1


async def test_scripted_responder_async_reuses_one_client_per_loop() -> None:
    config = ScriptedConfig(rules=[ReplyRule(match=r"Problem: eggs", content="\\boxed{18}")])
    with ScriptedServer(config) as base_url:
        reward = AsyncHawkeyeReward.upstream({"base_url": base_url, "model": "scripted-model"})
        try:
            for _ in range(2):
                out = await reward(
                    prompts=["eggs"] * 3, completions=[_words(2)] * 3, answer=[RATIONALE] * 3
                )
                assert out == [1.0, 1.0, 1.0]
            assert reward.responder_calls == 6
        finally:
            await reward.aclose()


@pytest.mark.local_model
def test_embedded_model_as_responder(local_server) -> None:
    endpoint = local_server.endpoint
    reward = HawkeyeReward.paper(endpoint, concurrency=2)
    try:
        out = reward(
            prompts=["What is 2 + 3?"] * 2,
            completions=["2 plus 3 is 5.", "Add them: 5."],
            completion_ids=[[1] * 40, [1] * 10],
            original_cot_tokens=[100, 100],
            gold=["5", "5"],
        )
    finally:
        reward.close()
    assert reward.responder_failures == 0
    # EM is 1 or 0, minus 0.01 (40 - 30)^2 = 1 for the long one and 0 for the short one
    assert out[0] in (pytest.approx(0.0), pytest.approx(-1.0))
    assert out[1] in (1.0, 0.0)


# -- hawkeye-bench reward RUN ------------------------------------------------------------------


def test_reward_command_scores_a_run_with_both_variants(tmp_path, capsys) -> None:
    import dataclasses
    import json

    from report_fixtures import baseline_record, hawkeye_record, write_run

    from hawkeye_bench.cli import main

    def with_rationale(record):  # 10 words: upstream target int(0.3 * 10) = 3
        problem = dataclasses.replace(record.problem, metadata={"answer": _words(10)})
        return dataclasses.replace(record, problem=problem)

    # reasoner CoTs "short cot i": 3 words, 40/60/80/100 tokens; baseline CoTs 100..400 tokens
    run = write_run(tmp_path / "hk", "hawkeye", "gsm8k",
                    [with_rationale(hawkeye_record("gsm8k", i)) for i in range(4)])  # fmt: skip
    base = write_run(tmp_path / "base", "baseline", "gsm8k",
                     [baseline_record("gsm8k", i) for i in range(4)])  # fmt: skip
    config = ScriptedConfig(
        rules=[
            ReplyRule(match=r"Problem: q0\b", content="\\boxed{0}"),
            ReplyRule(match=r"Problem: q1\b", content="\\boxed{1}"),
        ],
        faults=[Fault(kind="status", status=500, match=r"Problem: q3\b")],
    )
    with ScriptedServer(config) as base_url:
        code = main(["reward", str(run), "--reference-run", str(base), "--reward", "hawkeye",
                     "--reward", "hawkeye-self", "--reward", "think", "--responder-url", base_url,
                     "--responder-model", "scripted-model", "--max-retries", "0"])  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in (run / "rewards.jsonl").read_text().splitlines()]
    # EM 1, 1, 0 (filler), None (fault); paper targets 30/60/90/120 tokens: 0.01 * 10^2 = 1 for
    # the first; upstream: 3 words within the target of 3
    assert [r["hawkeye_em"] for r in rows] == [1.0, 1.0, 0.0, None]
    assert [r["hawkeye_paper"] for r in rows] == pytest.approx([0.0, 1.0, 0.0, None])
    assert [r["hawkeye_upstream"] for r in rows] == pytest.approx([1.0, 1.0, 0.0, None])
    assert [r["think"] for r in rows] == [0.0] * 4
    # without the responder the CoT "short cot i" is its own answer (gold i): right, and no
    # call fails; paper: the same penalties as with the responder
    assert [r["hawkeye_self_em"] for r in rows] == [1.0] * 4
    assert [r["hawkeye_self_upstream"] for r in rows] == [1.0] * 4
    assert [r["hawkeye_self_paper"] for r in rows] == pytest.approx([0.0, 1.0, 1.0, 1.0])
    printed = capsys.readouterr().out
    assert "hawkeye_paper: mean 0.3333 over 3 (None: 1)" in printed
    assert "hawkeye_paper vs hawkeye_upstream: sign differs 0.3333 of 3" in printed
    assert "ranking differs 0.0000 of 3 pairs (within run)" in printed
    assert "1 responder call(s) failed" in printed


def test_disagreement_within_problem_groups() -> None:
    from hawkeye_bench.commands.reward_scores import Disagreement, disagreement

    a, b = [1.0, 0.0, -1.0, 2.0], [0.0, 1.0, -1.0, 3.0]
    d = disagreement(a, b, ["p", "p", "r", "r"])
    # p: (1 > 0) vs (0 < 1) flipped; r: same order; signs: 1/0, 0/1 differ
    assert d == Disagreement(samples=4, sign_differs=0.5, pairs=2, pairs_within="problem",
                             ranking_differs=0.5)  # fmt: skip


def test_reward_command_on_a_folder_without_records(tmp_path, capsys) -> None:
    from hawkeye_bench.cli import main

    assert main(["reward", str(tmp_path), "--reward", "think"]) == 2
    assert "no records.jsonl" in capsys.readouterr().err


def _hawkeye_run(tmp_path):
    from report_fixtures import hawkeye_record, write_run

    return write_run(tmp_path / "hk", "hawkeye", "gsm8k",
                     [hawkeye_record("gsm8k", i) for i in range(4)])  # fmt: skip


def test_reward_command_exits_1_when_every_responder_call_failed(tmp_path, capsys) -> None:
    from hawkeye_bench.cli import main

    run = _hawkeye_run(tmp_path)
    config = ScriptedConfig(faults=[Fault(kind="status", status=500, match=r"Problem:")])
    with ScriptedServer(config) as base_url:
        flags = ["--responder-url", base_url, "--responder-model", "scripted-model",
                 "--max-retries", "0"]  # fmt: skip
        assert main(["reward", str(run), *flags]) == 1
        assert "every responder call failed (4)" in capsys.readouterr().err
        assert (run / "rewards.jsonl").is_file()  # the values (all None) are still written

    half = ScriptedConfig(faults=[Fault(kind="status", status=500, match=r"Problem: q[01]\b")])
    with ScriptedServer(half) as base_url:
        flags[1] = base_url
        assert main(["reward", str(run), *flags]) == 0  # 2 of 4: no threshold given
        assert main(["reward", str(run), *flags, "--max-error-rate", "0.25"]) == 1
        assert "2 of 4 responder calls failed (50.0%" in capsys.readouterr().err


def test_reward_command_checks_the_responder_before_scoring(tmp_path, capsys) -> None:
    from hawkeye_bench.cli import main

    run = _hawkeye_run(tmp_path)
    code = main(["reward", str(run), "--responder-url", "http://127.0.0.1:9/v1",
                 "--responder-model", "m", "--max-retries", "0"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "responder" in err and "Traceback" not in err
    assert not (run / "rewards.jsonl").exists()


def test_reward_settings_are_checked_where_they_are_given(tmp_path, capsys) -> None:
    from hawkeye_bench.cli import main
    from hawkeye_bench.rewards import CosineScaledReward, SoftOverlongPunishment

    run = _hawkeye_run(tmp_path)
    code = main(["reward", str(run), "--reward", "overlong", "--max-length", "10",
                 "--overlong-cache", "20"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --overlong-cache (20) must be at most --max-length (10)"
    for bad in ({"alpha": float("nan")}, {"penalty": float("inf")}, {"alpha": -1},
                {"penalty": "0.1"}, {"concurrency": 0}):  # fmt: skip
        with pytest.raises(ValueError, match=next(iter(bad))):
            HawkeyeReward(RESPONDER, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"cache \(20\) must be at most max_length \(10\)"):
        SoftOverlongPunishment(10, 20)
    with pytest.raises(ValueError, match="min_value_wrong"):
        CosineScaledReward(100, min_value_wrong=float("nan"))


def test_a_dropped_reward_closes_its_session_and_thread() -> None:
    import gc
    import threading
    import time
    import warnings

    config = ScriptedConfig(rules=[ReplyRule(match=r"Problem: eggs", content="\\boxed{18}")])
    with ScriptedServer(config) as base_url:
        reward = HawkeyeReward.upstream({"base_url": base_url, "model": "scripted-model"})
        assert reward(prompts=["eggs"], completions=["a b"], answer=[RATIONALE]) == [1.0]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del reward
            gc.collect()
        assert not [w for w in caught if "nclosed" in str(w.message)]
    deadline = time.monotonic() + 10
    while any(t.name == "hawkeye-reward" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the reward's event-loop thread is still running"
        time.sleep(0.05)


# -- edge cases and the ablation without a responder -------------------------------------------


class CountingResponder(FakeResponder):
    asked: ClassVar[list[str]] = []

    async def answers(self, questions: Sequence[str], cots: Sequence[str]) -> list[str | None]:
        self.asked.extend(cots)
        return await super().answers(questions, cots)


def test_a_missing_gold_gives_none_and_asks_nothing() -> None:
    reward = CountingResponder.paper(RESPONDER)
    reward.table = {"a": "\\boxed{18}"}
    reward.asked = []
    out = reward(
        prompts=["q"] * 4,
        completions=["a", "b", "c", "d"],
        completion_ids=[[1]] * 4,
        original_cot_tokens=[100] * 4,
        gold=["18", None, float("nan"), "  "],
    )
    assert out == [1.0, None, None, None]
    assert reward.asked == ["a"] and reward.missing_gold == 3


def test_length_rewards_give_none_for_a_missing_gold() -> None:
    from hawkeye_bench.rewards import CosineScaledReward, KimiLengthReward

    kwargs = {"prompts": ["q", "q"], "completions": ["\\boxed{3}", "\\boxed{3}"],
              "completion_ids": [[1] * 5, [1] * 9], "gold": ["3", None]}  # fmt: skip
    assert CosineScaledReward(10)(**kwargs)[1] is None
    assert KimiLengthReward()(**kwargs) == [0.5, None]  # the shortest of its group, correct


@pytest.mark.parametrize("key", ["reasoning_content", "thinking"])
def test_a_chain_of_thought_kept_apart_from_the_content_is_read(key: str) -> None:
    from hawkeye_bench.rewards import ThinkFormatReward

    nine = _words(9)
    reward = TableResponder.upstream(RESPONDER)
    reward.table = {f"{nine}\n\nso 18": "\\boxed{18}"}
    completion = [{"role": "assistant", key: nine, "content": "so 18"}]
    # 11 words against the target 7: 1 - 0.01 (11 - 7)^2
    assert reward(prompts=["q"], completions=[completion], answer=[RATIONALE]) == pytest.approx(
        [1 - 0.16]
    )
    think = ThinkFormatReward()
    assert think(completions=[completion]) == [1.0]
    assert think(completions=[[{"role": "assistant", key: nine, "content": ""}]]) == [0.0]


def test_the_ablation_without_a_responder_grades_the_completion_itself() -> None:
    reward = HawkeyeReward.without_responder("upstream")
    assert reward.__name__ == "hawkeye_self_upstream_reward" and reward.responder is None
    nine = _words(8) + " \\boxed{18}"
    out = reward(prompts=["q"] * 2, completions=[nine, "\\boxed{17}"], answer=[RATIONALE] * 2)
    # 9 words, target 7: 1 - 0.04; wrong: 0
    assert out == pytest.approx([0.96, 0.0])
    assert reward.responder_calls == 0
    assert pickle.loads(pickle.dumps(reward)).responder is None
    reward.close()
