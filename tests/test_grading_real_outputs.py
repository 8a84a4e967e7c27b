"""Grader rules for answers written the way reasoning models write them, on real gold answers.

Each case takes its gold from the benchmark data (through the dataset loaders) and wraps it in
the shape a model's completion has: a think block whose post-think summary was cut by the token
limit, a time of day, units, degree signs, ``\\text{}``, ordinals and LaTeX spacing inside
``\\boxed{}``, a unit abbreviation after a number, an equation chain with unit words, a MATH
list gold with a comma, the same value boxed twice. Every rule has a case that must grade
correct and one that must not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.datasets import load_problems
from hawkeye_bench.grading.boxes import boxed_answer_ending_thinking, repeated_boxed_answer
from hawkeye_bench.grading.presentation import chain_result, clock_time_value, plain_number
from hawkeye_bench.grading.workers import Grade, Grader


@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    with Grader(workers=2, timeout_s=10) as pool:
        yield pool


@pytest.fixture(scope="module")
def problems(data_dir: Path) -> dict[str, Problem]:
    return {
        problem.id: problem
        for name in ("gsm8k", "math", "math500")
        for problem in load_problems(name, data_dir=data_dir)
    }


def graded(grader: Grader, problems: dict[str, Problem], problem_id: str, text: str) -> Grade:
    problem = problems[problem_id]
    result = grader.grade(text, problem.gold, problem.dataset)
    assert result.error is None, result
    return result


def test_the_golds_used_here(problems: dict[str, Problem]) -> None:
    """The cases below rely on these golds; a changed loader or data file must show here."""
    golds = {
        "gsm8k/0": "18",
        "gsm8k/1001": "2",
        "gsm8k/1113": "-3",
        "gsm8k/442": "49",
        "gsm8k/1043": "130000",
        "gsm8k/349": "2640",
        "gsm8k/464": "6",
        "gsm8k/129": "10000",
        "gsm8k/586": "800",
        "gsm8k/1138": "700",
        "test/intermediate_algebra/1102.json": "-2,1",
        "test/counting_and_probability/737.json": "58,500",
        "math/4791": "70,110",
        "math/4941": "27,93",
        "math/3881": r"\text{4:30 p.m.}",
        "math/3770": r"\text{1:03 PM}",
        "test/intermediate_algebra/558.json": "(3,4]",
    }
    assert {key: problems[key].gold for key in golds} == golds


# ----------------------------------------------------------------- cut-off post-think summary

JANET_THINK = (
    "<think>\nJanet's ducks lay 16 eggs a day. She eats 3 and bakes with 4, so 16 - 3 - 4 = 9 "
    "eggs are left. At $2 each she makes 9 * 2 = 18 dollars.\n\n**Final Answer**\n"
    "\\boxed{{{answer}}}\n</think>\n\n"
)
# What follows </think> when the token limit cuts the summary: numbers, but no boxed answer.
CUT_SUMMARY = "To find how much Janet makes, subtract the eggs she uses: 16 - 3"


@pytest.mark.parametrize(
    ("text", "correct", "source"),
    [
        (JANET_THINK.format(answer=18) + CUT_SUMMARY, True, "think"),
        (JANET_THINK.format(answer=17) + CUT_SUMMARY, False, "think"),
        # R1 templates open the think block in the prompt: only </think> is in the completion.
        (JANET_THINK.format(answer=18).removeprefix("<think>") + CUT_SUMMARY, True, "think"),
        (JANET_THINK.format(answer=18), True, "think"),  # cut right after </think>
        # The post-think part has its own boxed answer: that one counts.
        (JANET_THINK.format(answer=18) + "So she makes $\\boxed{17}$.", False, "final"),
        (JANET_THINK.format(answer=17) + "So she makes $\\boxed{18}$.", True, "final"),
        # More working after the think block's box: it is no final answer, the summary counts.
        (
            JANET_THINK.format(answer=18).replace("\n</think>", " Wait, 9 * 3 = 27?\n</think>")
            + CUT_SUMMARY,
            False,
            "final",
        ),
    ],
)
def test_think_block_answer_when_the_summary_was_cut(
    grader: Grader, problems: dict[str, Problem], text: str, correct: bool, source: str
) -> None:
    result = graded(grader, problems, "gsm8k/0", text)
    assert (result.correct, result.answer_source) == (correct, source), result


def test_an_unclosed_think_block_still_has_no_answer(
    grader: Grader, problems: dict[str, Problem]
) -> None:
    text = JANET_THINK.format(answer=18).split("</think>")[0]  # cut while still thinking
    result = graded(grader, problems, "gsm8k/0", text)
    assert result == Grade(extracted=None, correct=False)
    assert boxed_answer_ending_thinking(text) is None


def test_the_answer_source_is_recorded() -> None:
    assert Grade(extracted="18", correct=True, answer_source="think").to_dict()["answer_source"]
    assert Grade(extracted=None, correct=False).answer_source is None


# ----------------------------------------------------------------- times of day


@pytest.mark.parametrize(
    ("problem_id", "answer", "correct"),
    [
        ("gsm8k/1001", r"\boxed{2:00 pm}", True),
        ("gsm8k/1001", r"\boxed{2:00 \text{ PM}}", True),
        ("gsm8k/1001", r"\boxed{\text{2 p.m.}}", True),
        ("gsm8k/1001", r"\boxed{2:00}", True),  # a number gold: h:mm is a time, not a ratio
        ("gsm8k/1001", "Jordan must start by 2:00 pm.", True),
        ("gsm8k/1001", r"\boxed{3:00 pm}", False),
        ("gsm8k/1001", r"\boxed{2:30 pm}", False),
        ("gsm8k/1001", "Jordan must start by 3:00 pm.", False),
        ("math/3881", r"\boxed{4:30 \text{ p.m.}}", True),
        ("math/3881", r"\boxed{\text{4:30 PM}}", True),
        ("math/3881", r"\boxed{4:30}", True),  # the gold is a time of day
        ("math/3881", r"\boxed{2:15 \text{ p.m.}}", False),  # same ratio 4:30 = 2:15, other time
        ("math/3881", r"\boxed{4:50 \text{ p.m.}}", False),
        ("math/3770", r"\boxed{1:03}", True),
        ("math/3770", r"\boxed{1:30}", False),
    ],
)
def test_times_of_day(
    grader: Grader, problems: dict[str, Problem], problem_id: str, answer: str, correct: bool
) -> None:
    assert graded(grader, problems, problem_id, answer).correct is correct


# ----------------------------------------------------------------- presentation inside \boxed{}


@pytest.mark.parametrize(
    ("problem_id", "content", "correct"),
    [
        ("gsm8k/1113", r"-3°C", True),
        ("gsm8k/1113", r"-3^\circ \text{C}", True),
        ("gsm8k/1113", r"3°C", False),
        ("gsm8k/442", r"49 \degree\text{F}", True),
        ("gsm8k/442", r"49^{\circ}F", True),
        ("gsm8k/442", r"59 \degree\text{F}", False),
        ("gsm8k/1043", r"130\,000\text{ people}", True),
        ("gsm8k/1043", r"130{,}000 \text{ people}", True),
        ("gsm8k/1043", r"13\,000\text{ people}", False),
        ("gsm8k/1043", r"130 \text{ thousand people}", False),  # a word that scales
        ("gsm8k/349", r"2,\!640 \text{\$}", True),
        ("gsm8k/349", r"\$2,\!640", True),
        ("gsm8k/349", r"2,\!460 \text{\$}", False),
        ("gsm8k/464", r"6^\text{th}", True),
        ("gsm8k/464", r"6^{\text{th}} \text{ place}", True),
        ("gsm8k/464", r"6th", True),
        ("gsm8k/464", r"5^\text{th}", False),
        ("gsm8k/129", r"10\,000", True),
        ("gsm8k/129", r"10\;000 \text{ dollars}", True),
        ("gsm8k/129", r"1\,000", False),
    ],
)
def test_units_and_spacing_inside_boxed(
    grader: Grader, problems: dict[str, Problem], problem_id: str, content: str, correct: bool
) -> None:
    text = f"Let me compute step by step.\n\nThe answer is $\\boxed{{{content}}}$."
    assert graded(grader, problems, problem_id, text).correct is correct


# ----------------------------------------------------------------- units and chains in prose


@pytest.mark.parametrize(
    ("problem_id", "text", "correct"),
    [
        ("gsm8k/586", "The answer is 800 ml.", True),
        ("gsm8k/586", "Answer: 800 mL", True),
        ("gsm8k/586", "The answer is 800ml.", True),
        ("gsm8k/586", "The answer is 80 ml.", False),
        ("gsm8k/1138", "The answer is 470 cows + 230 chickens = 700 animals.", True),
        ("gsm8k/1138", "Answer: 470 cows + 230 chickens = 700 animals in total", True),
        (
            "gsm8k/1138",
            r"$\boxed{470 \text{ cows} + 230 \text{ chickens} = 700 \text{ animals}}$",
            True,
        ),
        ("gsm8k/1138", "The answer is 470 cows + 230 chickens = 600 animals.", False),
        ("gsm8k/1138", "The answer is 700 cows + 230 chickens = 930 animals.", False),
    ],
)
def test_units_and_equation_chains_in_prose(
    grader: Grader, problems: dict[str, Problem], problem_id: str, text: str, correct: bool
) -> None:
    assert graded(grader, problems, problem_id, text).correct is correct


# ----------------------------------------------------------------- MATH golds with a comma


@pytest.mark.parametrize(
    ("problem_id", "text", "correct"),
    [
        ("test/intermediate_algebra/1102.json", r"The integer roots are $\boxed{-2,1}$.", True),
        ("test/intermediate_algebra/1102.json", r"The integer roots are $\boxed{1, -2}$.", True),
        ("test/intermediate_algebra/1102.json", "The integer roots are -2,1", True),
        ("test/intermediate_algebra/1102.json", r"The root is $\boxed{-2.1}$.", False),
        ("test/intermediate_algebra/1102.json", r"The roots are $\boxed{-2, 2}$.", False),
        ("math/4941", r"The radius is $\boxed{27, 93}$.", True),
        ("math/4941", r"The radius is $\boxed{27.93}$.", False),
        # Digits in groups of three: a list or a thousands number, whichever the problem meant.
        ("math/4791", r"The solutions are $\boxed{70, 110}$.", True),
        ("math/4791", r"The solutions are $\boxed{110^\circ, 70^\circ}$.", True),
        ("math/4791", r"The solution is $\boxed{70^\circ}$.", False),
        ("math/4791", r"The solutions are $\boxed{70, 100}$.", False),
        ("test/counting_and_probability/737.json", r"There are $\boxed{58,500}$ plates.", True),
        ("test/counting_and_probability/737.json", r"There are $\boxed{58500}$ plates.", True),
        ("test/counting_and_probability/737.json", r"There are $\boxed{58.5}$ plates.", False),
    ],
)
def test_a_math_gold_with_a_comma_is_a_list(
    grader: Grader, problems: dict[str, Problem], problem_id: str, text: str, correct: bool
) -> None:
    assert graded(grader, problems, problem_id, text).correct is correct


# ----------------------------------------------------------------- the same value boxed twice


@pytest.mark.parametrize(
    ("problem_id", "text", "correct"),
    [
        (
            "test/intermediate_algebra/558.json",
            r"So $x \in \boxed{(3,4]}$ and $\boxed{(3, 4]}$.",
            True,
        ),
        ("test/intermediate_algebra/558.json", r"So $\boxed{(3,4]}$ and $\boxed{[3,4]}$.", False),
        (
            "test/intermediate_algebra/1102.json",
            r"The roots: $\boxed{-2, 1}$ and $\boxed{-2,1}$",
            True,
        ),
        (
            "gsm8k/1043",
            r"That is $\boxed{130\,000}$ people.\n\n**Final Answer** $\boxed{130000}$",
            True,
        ),
        ("gsm8k/1113", r"$\boxed{-3}$, that is $\boxed{-3^\circ C}$", True),
        ("gsm8k/1113", r"$\boxed{-3}$, that is $\boxed{3^\circ C}$", False),
    ],
)
def test_the_same_value_boxed_twice_is_one_answer(
    grader: Grader, problems: dict[str, Problem], problem_id: str, text: str, correct: bool
) -> None:
    assert graded(grader, problems, problem_id, text.replace(r"\n", "\n")).correct is correct


# ----------------------------------------------------------------- the string rules themselves


def test_presentation_rules() -> None:
    assert clock_time_value("2:00 pm") == "2"
    assert clock_time_value(r"\text{4:30 p.m.}") == r"\frac{270}{60}"
    assert clock_time_value("4:30") is None and clock_time_value("4:30", bare=True)
    assert clock_time_value("13:00 pm") is None
    assert plain_number(r"2,\!640 \text{\$}") == "2640"
    assert plain_number(r"6^\text{th}") == "6"
    assert plain_number("0,111") is None  # a decimal comma, not thousands
    assert plain_number("3 x") is None and plain_number("5xy") is None  # variables
    assert plain_number(r"2 \pi") is None and plain_number("28 percent") is None
    assert chain_result("470 cows + 230 chickens = 700 animals") == "700"
    assert chain_result("4x - 5y = -50") is None and chain_result("x = 3") is None
    assert repeated_boxed_answer(r"\boxed{18} so \boxed{ 18 }") == "18"
    assert repeated_boxed_answer(r"\boxed{2}, \boxed{3}") is None


def test_engine_grades_the_whole_completion_and_records_the_answer_source() -> None:
    import asyncio

    from hawkeye_bench.core.problem import Problem
    from hawkeye_bench.core.trace import StageResult, Trace
    from hawkeye_bench.eval.engine import WorkItem, grade_trace
    from hawkeye_bench.grading.workers import Grader

    # a reasoning server: thinking in its own field, the summary after it cut by the limit
    stage = StageResult(role="single", model="m", reasoning="so 9 * 2 = 18, \\boxed{18}",
                        content="Janet sells", finish_reason="length")  # fmt: skip
    trace = Trace(pipeline="baseline", stages=[stage], final_text=stage.answer)
    problem = Problem(id="0", dataset="gsm8k", question="q", gold="#### 18")
    with Grader() as grader:
        record = asyncio.run(grade_trace(grader, WorkItem(problem, 0), trace, seed=0))
    assert record.correct is True and record.answer_source == "think"
    assert record.to_dict()["answer_source"] == "think"
