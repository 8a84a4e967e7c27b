"""What the responder receives of the reasoner's output, per mode."""

from __future__ import annotations

import pytest

from hawkeye_bench.core.trace import StageResult, split_thinking
from hawkeye_bench.pipelines.stage2_input import cot_for_stage2


def stage(content: str, reasoning: str = "") -> StageResult:
    return StageResult(role="reasoner", model="m", content=content, reasoning=reasoning)


INLINE = "<think>add 2 and 3</think>So \\boxed{5}."
CLOSING_ONLY = "add 2 and 3\n</think>\n\\boxed{5}"


@pytest.mark.parametrize(
    ("result", "mode", "expected"),
    [
        (stage(INLINE), "full", INLINE),
        (stage(INLINE), "think-only", "add 2 and 3"),
        (stage(INLINE), "answer-masked", "<think>add 2 and 3</think>So \\boxed{[masked]}."),
        (stage(CLOSING_ONLY), "think-only", "add 2 and 3"),
        (stage("\\boxed{5}", reasoning="add 2 and 3"), "think-only", "add 2 and 3"),
        (stage("\\boxed{5}", reasoning="r"), "full", "r\n</think>\n\n\\boxed{5}"),
        (
            stage("no tags, so \\boxed{\\frac{1}{2}}"),
            "think-only",
            "no tags, so \\boxed{\\frac{1}{2}}",
        ),
        (
            stage("a \\boxed{\\frac{1}{2}} b \\fbox{3}"),
            "answer-masked",
            "a \\boxed{[masked]} b \\fbox{[masked]}",
        ),
    ],
)
def test_modes(result: StageResult, mode: str, expected: str) -> None:
    assert cot_for_stage2(result, mode) == expected


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="valid: full, think-only, answer-masked"):
        cot_for_stage2(stage("x"), "everything")


def test_unclosed_think_is_all_thinking() -> None:
    assert split_thinking("<think>still going") == ("still going", "")
