"""Length and format rewards: hand-computed values, called exactly as TRL calls them."""

from __future__ import annotations

import math
import pickle

import pytest

from hawkeye_bench.rewards import (
    CosineScaledReward,
    KimiLengthReward,
    SoftOverlongPunishment,
    ThinkFormatReward,
)

RIGHT, WRONG = "The answer is \\boxed{4}.", "The answer is \\boxed{5}."


def _ids(*sizes: int) -> list[list[int]]:
    return [[7] * n for n in sizes]


def test_kimi_length_reward_per_question_group() -> None:
    reward = KimiLengthReward()
    # q1: lengths 10, 20, 30 (min 10, max 30); q2: two of length 50 (all equal -> 0)
    out = reward(
        prompts=["q1", "q1", "q1", "q2", "q2"],
        completions=[RIGHT, WRONG, RIGHT, RIGHT, WRONG],
        completion_ids=_ids(10, 20, 30, 50, 50),
        gold=["4"] * 5,
        trainer_state=None,
    )
    # 0.5 - 0 = 0.5 (right); min(0, 0.5 - 0.5) = 0 (wrong); 0.5 - 1 = -0.5 (right)
    assert out == pytest.approx([0.5, 0.0, -0.5, 0.0, 0.0])


def test_cosine_scaled_reward() -> None:
    reward = CosineScaledReward(max_length=100)
    out = reward(
        prompts=["q"] * 4,
        completions=[RIGHT, RIGHT, WRONG, WRONG],
        completion_ids=_ids(0, 50, 0, 200),
        gold=["4"] * 4,
    )
    # right: 0.5 + 0.25 (1 + cos 0) = 1.0; 0.5 + 0.25 (1 + cos π/2) = 0.75
    # wrong: -0.5 + (-0.25)(1 + cos 0) = -1.0; beyond max_length: -0.5 + (-0.25)(1 - 1) = -0.5
    assert out == pytest.approx([1.0, 0.75, -1.0, -0.5])
    assert 0.5 + 0.25 * (1 + math.cos(math.pi / 2)) == pytest.approx(0.75)


def test_soft_overlong_punishment() -> None:
    reward = SoftOverlongPunishment(max_length=100, cache=20)
    out = reward(prompts=["q"] * 4, completions=["x"] * 4, completion_ids=_ids(80, 90, 100, 101))
    assert out == pytest.approx([0.0, -0.5, -1.0, -1.0])


def test_think_format_conversational_and_standard() -> None:
    reward = ThinkFormatReward()
    good, bad = "<think>\nsteps\n</think>\nAnswer 4", "Answer 4 <think>late</think>"
    standard = reward(prompts=["q", "q"], completions=[good, bad])
    conversational = reward(
        prompts=[[{"role": "user", "content": "q"}]] * 2,
        completions=[
            [{"role": "assistant", "content": good}],
            [{"role": "assistant", "content": bad}],
        ],
    )
    assert standard == conversational == [1.0, 0.0]


def test_rewards_pickle_and_have_names() -> None:
    for reward in (KimiLengthReward(), CosineScaledReward(10), SoftOverlongPunishment(10, 5),
                   ThinkFormatReward()):  # fmt: skip
        copy = pickle.loads(pickle.dumps(reward))
        assert copy.__name__ == reward.__name__ and callable(copy)


def test_lengths_in_tokens_need_completion_ids() -> None:
    with pytest.raises(ValueError, match="completion_ids"):
        SoftOverlongPunishment(10, 5)(prompts=["q"], completions=["x"])
    words = SoftOverlongPunishment(3, 1, unit="words")
    assert words(prompts=["q", "q"], completions=["a b", "a b c d"]) == [0.0, -1.0]
