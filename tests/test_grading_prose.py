"""Grader rules for a small responder's prose answers, on real GSM8K questions and golds.

A 0.5B responder often answers with a sentence that restates the question after its answer
("Ana can bake a total of 36 cookies in 4 hours."), so the last number is a given. The rules:
a number in bold in the final sentence is the answer; when the final sentence's last number is
one of the question's, the number it adds is; one quantity boxed in two units matches either;
a responder that stopped inside an unclosed ``<think>`` answers with its final statement; and
where no rule decides, the grade says the extraction was ambiguous (graded wrong), never a
guess. Every rule has cases where it must fire, must not fire, and must give up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.datasets import load_problems
from hawkeye_bench.eval.engine import WorkItem, grade_trace
from hawkeye_bench.eval.summary import summarize
from hawkeye_bench.eval.summary_table import format_summary
from hawkeye_bench.grading.context import AnswerContext
from hawkeye_bench.grading.equivalence import grade_unbounded
from hawkeye_bench.grading.extraction import final_answer_span
from hawkeye_bench.grading.prose import final_sentence, prose_answer
from hawkeye_bench.grading.units import two_unit_values
from hawkeye_bench.grading.workers import Grade, Grader


@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    with Grader(workers=2, timeout_s=10) as pool:
        yield pool


@pytest.fixture(scope="module")
def problems(data_dir: Path) -> dict[str, Problem]:
    return {p.id: p for p in load_problems("gsm8k", data_dir=data_dir)}


def graded(
    grader: Grader, problem: Problem, text: str, *, question: bool = True, stopped: bool = False
) -> Grade:
    context = AnswerContext(question=problem.question if question else None, stopped=stopped)
    result = grader.grade(text, problem.gold, problem.dataset, context)
    assert result.error is None, result
    return result


def test_the_golds_used_here(problems: dict[str, Problem]) -> None:
    golds = {"gsm8k/0": "18", "gsm8k/2": "70000", "gsm8k/3": "540", "gsm8k/7": "160",
             "gsm8k/18": "7", "gsm8k/19": "6", "gsm8k/32": "35", "gsm8k/36": "75",
             "gsm8k/1001": "2"}  # fmt: skip
    assert {key: problems[key].gold for key in golds} == golds
    assert "3 sprints 3 times a week" in problems["gsm8k/3"].question


# ----------------------------------------------------------------- the question's givens

# (problem, final text, extracted, correct)
QUESTION_CASES = [
    # the last number restates a given: the number the sentence adds is the answer
    ("gsm8k/3", "James runs a total of 540 meters in 3 sprints per week.", "540", True),
    ("gsm8k/3", "In total, James runs 540 meters running 3 sprints 3 times a week.", "540", True),
    ("gsm8k/0", "Janet makes $18 every day by selling her eggs at $2 each.", "18", True),
    ("gsm8k/36", "Terry spends $75.00 on yogurt over 30 days.", "75.00", True),
    ("gsm8k/18", "Claire will eat 7 dozen eggs in 4 weeks.", "7", True),
    ("gsm8k/19", "She needs to walk at 6 miles per hour to average 4 miles per hour.", "6", True),
    ("gsm8k/32", "John spends 35 hours a week taking care of his 10 dogs.", "35", True),
    ("gsm8k/2", "Josh made a profit of $70,000 on the $80,000 house.", "70000", True),
    ("gsm8k/7", "The download takes 160 minutes, including the 20 minutes.", "160", True),
    # after working, only the final sentence counts
    (
        "gsm8k/3",
        "Each week he runs 3 * 3 = 9 sprints.\n9 * 60 = 540.\n\n"
        "So James runs 540 meters in a week with 3 sprints.",
        "540",
        True,
    ),
    # the rule reads the answer, it does not make it right
    ("gsm8k/3", "James runs a total of 180 meters in 3 sprints.", "180", False),
    # must not fire: the last number is not a given, so it is the answer, as before
    ("gsm8k/3", "So James runs 540 meters every week.", "540", True),
    ("gsm8k/2", "Josh made $70,000, having spent $130,000 in total.", "130000", False),
    # must not fire: a sentence whose only number is a given answers with it
    ("gsm8k/18", "She eats 4 dozen.", "4", False),
    # an answer marker comes first, as before
    ("gsm8k/3", "The answer is 540 meters in 3 sprints.", "540", True),
    (
        "gsm8k/3",
        "We answer by multiplying the sprints. Answer: 540 meters in 3 sprints.",
        "540",
        True,
    ),
    # "answer" as a verb marks nothing: the final sentence decides
    (
        "gsm8k/3",
        "To answer this question, we multiply 3 by 3 and by 60.\n"
        "So James runs a total of 540 meters in 3 sprints per week.",
        "540",
        True,
    ),
]


@pytest.mark.parametrize(("problem_id", "text", "extracted", "correct"), QUESTION_CASES)
def test_the_number_the_final_sentence_adds_to_the_question(
    grader: Grader,
    problems: dict[str, Problem],
    problem_id: str,
    text: str,
    extracted: str,
    correct: bool,
) -> None:
    result = graded(grader, problems[problem_id], text)
    assert (result.extracted, result.correct, result.ambiguous) == (extracted, correct, None)


def test_without_the_question_the_last_number_is_taken_as_before(
    grader: Grader, problems: dict[str, Problem]
) -> None:
    result = graded(grader, problems["gsm8k/3"], QUESTION_CASES[0][1], question=False)
    assert (result.extracted, result.correct) == ("3", False)


# (problem, final text, why ambiguous)
AMBIGUOUS_CASES = [
    ("gsm8k/3", "James runs 180 meters a day and 540 meters in 3 days.", "adds several"),
    ("gsm8k/0", "She sells 9 eggs and makes 18 dollars at $2 each.", "adds several"),
    ("gsm8k/3", "James runs 3 sprints of 60 meters 3 times a week.", "every number"),
    ("gsm8k/18", "Claire eats 3 eggs a day for 4 weeks.", "every number"),
    ("gsm8k/0", "Janet makes $16 every day at $2 per egg.", "every number"),  # 16: a given
    ("gsm8k/0", "Janet sells **9** eggs for **$18**.", "several numbers in bold"),
]


@pytest.mark.parametrize(("problem_id", "text", "why"), AMBIGUOUS_CASES)
def test_where_no_rule_decides_the_grade_says_ambiguous(
    grader: Grader, problems: dict[str, Problem], problem_id: str, text: str, why: str
) -> None:
    result = graded(grader, problems[problem_id], text)
    assert result.extracted is None and result.correct is False
    assert result.ambiguous is not None and why in result.ambiguous


# ----------------------------------------------------------------- bold


@pytest.mark.parametrize(
    ("problem_id", "text", "extracted", "correct"),
    [
        ("gsm8k/3", "James runs **540** meters in a 3-sprint week.", "540", True),
        ("gsm8k/3", "James runs **540 meters** every week, 60 meters a sprint.", "540", True),
        ("gsm8k/0", "Janet makes **$18** at $2 per egg, that is **18** dollars.", "18", True),
        ("gsm8k/0", "Janet sells 9 eggs and makes __$18__ a day.", "18", True),
        ("gsm8k/36", "Terry spends **$75** over 30 days on 2 yogurts a day.", "75", True),
        ("gsm8k/3", "James runs **180** meters in 3 sprints.", "180", False),
        # a bold span with several numbers marks none: the question rule decides
        ("gsm8k/0", "**Janet makes $18 a day at $2 per egg.**", "18", True),
        # bold in an earlier sentence is not the final sentence's emphasis
        ("gsm8k/3", "He runs **9** sprints.\nSo James runs 540 meters a week.", "540", True),
    ],
)
def test_a_bold_number_in_the_final_sentence_is_the_answer(
    grader: Grader,
    problems: dict[str, Problem],
    problem_id: str,
    text: str,
    extracted: str,
    correct: bool,
) -> None:
    result = graded(grader, problems[problem_id], text)
    assert (result.extracted, result.correct) == (extracted, correct)


def test_bold_needs_no_question(grader: Grader, problems: dict[str, Problem]) -> None:
    text = "Tom answers **540** meters in a 6-day week."
    result = graded(grader, problems["gsm8k/3"], text, question=False)
    assert (result.extracted, result.correct) == ("540", True)


# ----------------------------------------------------------------- left to the general rules


@pytest.mark.parametrize(
    ("text", "correct"),
    [
        ("Jordan must start by 2:00 pm.", True),  # a time of day: not a count of numbers
        ("Jordan must start by 3:00 pm.", False),
        (r"So she starts at $\boxed{2}$ pm.", True),  # a box is the answer, whatever the prose
    ],
)
def test_times_of_day_and_boxes_keep_their_rules(
    grader: Grader, problems: dict[str, Problem], text: str, correct: bool
) -> None:
    assert graded(grader, problems["gsm8k/1001"], text).correct is correct


# ----------------------------------------------------------------- one quantity, two units


@pytest.mark.parametrize(
    ("problem_id", "text", "correct"),
    [
        ("gsm8k/7", r"It takes $\boxed{9,600 \text{ seconds or } 160 \text{ minutes}}$.", True),
        ("gsm8k/7", r"It takes $\boxed{160 \text{ minutes} (9600 \text{ seconds})}$.", True),
        ("gsm8k/7", r"$\boxed{2 \text{ hours } 40 \text{ minutes}}$", False),  # not two values
        ("gsm8k/7", r"$\boxed{9,000 \text{ seconds or } 150 \text{ minutes}}$", False),
        # not one quantity: the values do not convert into each other (a hedge, not units)
        ("gsm8k/7", r"$\boxed{150 \text{ minutes or } 160 \text{ seconds}}$", False),
        ("gsm8k/7", r"$\boxed{160 \text{ or } 150}$", False),
        ("gsm8k/36", r"He spends $\boxed{\$75 \text{ or } 7500 \text{ cents}}$.", True),
        ("gsm8k/36", r"He spends $\boxed{\$7.50 \text{ or } 750 \text{ cents}}$.", False),
    ],
)
def test_one_quantity_in_two_units_matches_either(
    grader: Grader, problems: dict[str, Problem], problem_id: str, text: str, correct: bool
) -> None:
    assert graded(grader, problems[problem_id], text).correct is correct


def test_two_unit_values() -> None:
    assert two_unit_values("1,200 seconds or 20 minutes") == ["1200", "20"]
    assert two_unit_values("5 feet = 60 inches") == ["5", "60"]
    assert two_unit_values("3 apples or 5 oranges") is None
    assert two_unit_values("20 minutes or 30 seconds") is None
    assert two_unit_values("20 minutes") is None and two_unit_values(None) is None


# ----------------------------------------------------------------- an echoed, unclosed <think>

ECHOED = (
    "<think>\nThe reasoner says: 16 - 3 - 4 = 9 eggs are left, sold at $2 each.\n\n"
    "Janet makes {answer} dollars every day at the farmers' market."
)


@pytest.mark.parametrize(
    ("text", "stopped", "extracted", "source"),
    [
        (ECHOED.format(answer=18), True, "18", "unclosed_think"),
        (ECHOED.format(answer=20), True, "20", "unclosed_think"),
        (ECHOED.format(answer="\\boxed{18}"), True, "18", "unclosed_think"),
        # cut by the token limit while thinking: still no answer
        (ECHOED.format(answer=18), False, None, None),
        # an answer after the think block is graded as ever
        (ECHOED.format(answer=20) + "</think>\nSo she makes $18.", True, "18", "final"),
    ],
)
def test_a_responder_that_stopped_inside_an_unclosed_think_answers_with_its_final_statement(
    grader: Grader,
    problems: dict[str, Problem],
    text: str,
    stopped: bool,
    extracted: str | None,
    source: str | None,
) -> None:
    result = graded(grader, problems["gsm8k/0"], text, stopped=stopped)
    assert (result.extracted, result.answer_source) == (extracted, source), result
    assert result.correct is (extracted == "18")


# ----------------------------------------------------------------- the string rules


def test_answer_as_a_verb_is_no_answer_marker() -> None:
    assert final_answer_span("To answer this, add 2 and 3 to get 5.") == "5"
    assert final_answer_span("We answer it: 7.") == "7"
    assert final_answer_span("Answer 42 cookies in all 3 jars.") == "42"  # bare, before a value
    assert final_answer_span("La réponse est 220 $ dans 12 mois.") == "220"


def test_prose_rules_on_their_own() -> None:
    assert final_sentence("A 1. B 2.\nC 3 and 4. Thanks!") == "C 3 and 4."
    assert final_sentence("no digits") is None
    question = "Ana bakes 9 cookies an hour. How many in 4 hours?"
    decided = prose_answer("Ana can bake a total of 36 cookies in 4 hours.", question)
    assert decided is not None and (decided.rule, decided.span) == ("question", "36")
    assert prose_answer("Ana can bake 36 cookies.", question) is None  # no rule needed
    assert prose_answer("Ana can bake 36 cookies in 4 hours.") is None  # no question
    tom = prose_answer("Tom answers **45** letters in a 6-day week.")
    assert tom is not None and (tom.rule, tom.span) == ("bold", "45")


def test_the_question_changes_the_memo_key() -> None:
    from hawkeye_bench.grading.memo import GradeMemo

    plain = GradeMemo.key("t", "1", "gsm8k")
    assert plain == GradeMemo.key("t", "1", "gsm8k", AnswerContext())
    assert plain != GradeMemo.key("t", "1", "gsm8k", AnswerContext(question="q"))
    assert plain != GradeMemo.key("t", "1", "gsm8k", AnswerContext(stopped=True))


def test_in_process_grading_takes_the_same_context() -> None:
    problem = Problem(id="x", dataset="gsm8k", question="Ana bakes 9 an hour for 4 hours.",
                      gold="36")  # fmt: skip
    text = "Ana can bake a total of 36 cookies in 4 hours."
    assert grade_unbounded(text, problem.gold, "gsm8k").extracted == "4"
    context = AnswerContext(question=problem.question)
    assert grade_unbounded(text, problem.gold, "gsm8k", context).correct is True


# ----------------------------------------------------------------- through the eval engine


def _record(problems: dict[str, Problem], problem_id: str, content: str, finish: str):
    stage = StageResult(role="responder", model="qwen-0.5b", content=content,
                        finish_reason=finish)  # fmt: skip
    trace = Trace(pipeline="hawkeye", stages=[stage], final_text=stage.answer)
    with Grader(workers=1) as pool:
        return asyncio.run(grade_trace(pool, WorkItem(problems[problem_id], 0), trace, seed=0))


def test_the_engine_gives_the_grader_the_question_and_records_ambiguity(
    problems: dict[str, Problem],
) -> None:
    right = _record(problems, "gsm8k/3", QUESTION_CASES[0][1], "stop")
    assert right.correct is True and right.extracted == "540"
    unsure = _record(problems, "gsm8k/3", AMBIGUOUS_CASES[0][1], "stop")
    assert unsure.correct is False and unsure.extracted is None
    assert "adds several" in unsure.extra["extraction_ambiguous"]
    echoed = _record(problems, "gsm8k/0", ECHOED.format(answer=18), "stop")
    assert echoed.correct is True and echoed.answer_source == "unclosed_think"
    cut = _record(problems, "gsm8k/0", ECHOED.format(answer=18), "length")
    assert cut.correct is False and cut.extracted is None
    summary = summarize([right, unsure, echoed, cut])
    assert summary.ambiguous_extractions == 1
    assert "note: 1 answers were ambiguous" in format_summary(summary)


# ----------------------------------------------------------------- a battery over real questions


def _numbers(text: str) -> set[float]:
    from hawkeye_bench.grading.extraction import numbers_in

    return {float(n) for n in numbers_in(text) if "/" not in n}


def _shown(value: int) -> str:
    return f"{value:,}"  # "1,200": thousands separators as a model writes them


def battery(problems: dict[str, Problem], limit: int = 300) -> list[tuple[str, Problem, str]]:
    """(kind, problem, final text) for GSM8K problems with an integer gold that the question
    does not state, each in the shapes of the responder's misses and their controls."""
    cases: list[tuple[str, Problem, str]] = []
    for problem in problems.values():
        if len(cases) >= limit * 6:
            break
        if not problem.gold.lstrip("-").isdigit():
            continue
        gold = int(problem.gold)
        givens = _numbers(problem.question)
        others = [n for n in givens if n.is_integer() and n > 0 and n not in {gold, gold + 1}]
        if not others or {gold, gold + 1, gold + 2} & givens:
            continue
        given = int(others[-1])
        g, wrong, other = _shown(gold), _shown(gold + 1), _shown(gold + 2)
        cases += [
            ("restated", problem, f"So they end up with a total of {g} in {given} days."),
            ("bold", problem, f"The result is **{g}** for all {given} of them."),
            ("last is new", problem, f"After {given} rounds, the total comes to {g}."),
            ("wrong answer", problem, f"That makes {wrong} altogether for {given}."),
            ("ambiguous", problem, f"It is {g} or maybe {other} for the {given}."),
            ("no question", problem, f"So they end up with a total of {g} in {given} days."),
        ]
    return cases


def test_a_battery_of_responder_sentences_on_real_questions(
    grader: Grader, problems: dict[str, Problem]
) -> None:
    cases = battery(problems)
    assert len(cases) >= 1200
    tasks = [
        (
            text,
            p.gold,
            p.dataset,
            AnswerContext(question=None if kind == "no question" else p.question),
        )
        for kind, p, text in cases
    ]
    grades = grader.grade_many(tasks)
    # kind -> (graded correct, extraction ambiguous)
    expected = {
        "restated": (True, False),
        "bold": (True, False),
        "last is new": (True, False),
        "wrong answer": (False, False),
        "ambiguous": (False, True),
        "no question": (False, False),  # the last number, a given: the miss without the rule
    }
    wrong = [
        (kind, text, result)
        for (kind, _, text), result in zip(cases, grades, strict=True)
        if (result.correct, result.ambiguous is not None) != expected[kind]
    ]
    assert not wrong, wrong[:5]
