"""CommonsenseQA: the dataset (question with lettered choices, gold = letter with its text) and
the multiple-choice grading rule (the letter, or the choice text, the model commits to)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hawkeye_bench.datasets import load_problems
from hawkeye_bench.datasets.registry import gold_format_of
from hawkeye_bench.grading.choices import committed_answer, parse_choice_gold
from hawkeye_bench.grading.workers import grade


def test_the_mirror_loads_with_lettered_choices_and_letter_golds(data_dir: Path) -> None:
    problems = load_problems("commonsenseqa", data_dir=data_dir)
    assert len(problems) == 1197 and len({p.id for p in problems}) == 1197
    first = problems[0]
    assert first.id == "commonsenseqa/1afa02df02c908a558b4036e80242fac"
    assert first.question == (
        "Question: A revolving door is convenient for two direction travel, but it also serves "
        "as a security measure at a what?\nChoices:\nA. bank\nB. library\nC. department store\n"
        "D. mall\nE. new york"
    )
    assert first.gold == "(A) bank"
    assert first.metadata["choices"]["E"] == "new york"
    letters = [parse_choice_gold(p.gold)[0] for p in problems]
    # the answer keys the data manifest counts
    assert {x: letters.count(x) for x in "ABCDE"} == {
        "A": 232,
        "B": 253,
        "C": 238,
        "D": 245,
        "E": 229,
    }
    assert gold_format_of("commonsenseqa") == "choice"


@pytest.mark.parametrize(
    ("text", "extracted", "correct"),
    [
        ("Answer: B", "B", True),
        ("So the answer is (B) bookstore.", "B", True),
        ("Answer: B. bookstore", "B", True),
        ("The best place is a bookstore.\nAnswer: the Bookstore", "the Bookstore", True),
        ("Magazines are sold there.\n(B)\n", "B", True),
        ("\\boxed{B}", "B", True),
        ("Answer: A", "A", False),  # the wrong letter
        ("Answer: doctor", "doctor", False),  # the wrong choice's text
        ("A bookstore sells them, not a doctor.", None, False),  # commits to nothing
        ("<think>maybe A</think>Answer: B", "B", True),  # thinking is not the answer
    ],
)
def test_grading_by_the_letter_or_the_choice_text(
    text: str, extracted: str | None, correct: bool
) -> None:
    verdict = grade(text, "(B) bookstore", "commonsenseqa")
    assert (verdict.extracted, verdict.correct) == (extracted, correct)


def test_a_bare_letter_gold_grades_letters_only() -> None:
    assert grade("Answer: C", "C", "commonsenseqa").correct is True
    assert grade("Answer: mall", "C", "commonsenseqa").correct is False
    assert committed_answer("I think it is E.\nAnswer: E") == ("E", None)
    with pytest.raises(ValueError):
        parse_choice_gold("bank")


def test_route_runs_on_commonsenseqa_default_to_its_lettered_preset() -> None:
    from hawkeye_bench.commands.pipeline_options import preset_name_for
    from hawkeye_bench.pipelines import get_pipeline

    route = get_pipeline("route")
    assert preset_name_for(route, "default", "commonsenseqa") == "route-commonsenseqa"
    assert preset_name_for(route, "default", "gsm8k") == "route"
    assert preset_name_for(route, "route", "commonsenseqa") == "route"  # named: as given
    assert preset_name_for(get_pipeline("hawkeye"), "default", "commonsenseqa") == "default"
