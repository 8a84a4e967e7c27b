"""The grade memo: a text graded again is not sent to a worker; failures are not kept."""

from __future__ import annotations

from hawkeye_bench.grading.grade import Grade
from hawkeye_bench.grading.memo import GradeMemo
from hawkeye_bench.grading.workers import Grader


def test_a_repeated_grade_comes_from_the_memo_as_an_equal_copy() -> None:
    memo = GradeMemo()
    with Grader(workers=1, memo=memo) as grader:
        first = grader.grade("so \\boxed{42}", "42", "gsm8k")
        again = grader.grade("so \\boxed{42}", "42", "gsm8k")
        other_gold = grader.grade("so \\boxed{42}", "41", "gsm8k")
    assert first.correct and again == first and again is not first
    assert not other_gold.correct
    assert (memo.hits, memo.misses, len(memo)) == (1, 2, 2)


def test_failed_grades_are_not_remembered_and_the_memo_is_bounded() -> None:
    memo = GradeMemo(max_entries=2)
    failed = Grade(extracted=None, correct=False, error="timeout")
    memo.put(memo.key("a", "1", None), failed)
    assert memo.get(memo.key("a", "1", None)) is None
    for text in ("a", "b", "c"):
        memo.put(memo.key(text, "1", None), Grade(extracted=text, correct=False))
    assert len(memo) == 2
    assert memo.get(memo.key("a", "1", None)) is None
    assert memo.get(memo.key("c", "1", None)) is not None


def test_keys_do_not_collide_across_field_boundaries() -> None:
    assert GradeMemo.key("ab", "c", None) != GradeMemo.key("a", "bc", None)
    assert GradeMemo.key("a", "b", None) != GradeMemo.key("a", "b", "gsm8k")
