"""Grading: extraction rules, the time-bounded worker pool, every dataset's real gold answers."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hawkeye_bench.datasets import load_problems
from hawkeye_bench.grading.extraction import (
    final_answer_span,
    has_math_delimiters,
    looks_like_prose,
    normalise_bare_answer,
    pick_number,
    text_key,
)
from hawkeye_bench.grading.workers import Grade, Grader, grade, is_equivalent

PATHOLOGICAL = r"\boxed{10^{10^{10}}}"
DEADLINE_S = 2.0


@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    with Grader(workers=2, timeout_s=10) as pool:
        yield pool


def as_model_would(answer: str) -> str:
    return f"Let me work through it step by step.\n... so the answer is $\\boxed{{{answer}}}$."


# ----------------------------------------------------------------- extraction rules (no sympy)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("7,425,000", "7425000"),
        ("1\u2009000", "1000"),
        (r"1\,000", "1000"),
        ("0,111", "0.111"),
        ("1000,99", "1000.99"),
        (r"\$10", "10"),
        ("28 percent", r"28\%"),
        (r"90^\circ", "90"),
        (r"17\text{ any text}", "17"),
        ("[45]", "45"),
        (r"6 \text{ and } 8", "6, 8"),
        ("19, 46, and 82", "19, 46, 82"),
        ("342.", "342"),
        ("(35 + 70 = 105)", "105"),
        ("x = 3", "x = 3"),
        ("800 ml.", "800"),
        (r"6^\text{th}", "6"),
        (r"-3^\circ\text{C}", "-3"),
        ("2:00 pm", "2"),
        ("470 cows + 230 chickens = 700 animals", "700"),
        ("4x-5y=-50", "4x-5y=-50"),
    ],
)
def test_normalise_bare_answer(raw: str, normalised: str) -> None:
    assert normalise_bare_answer(raw) == normalised


def test_a_comma_is_a_decimal_comma_only_where_asked() -> None:
    assert normalise_bare_answer("-2,1") == "-2.1"
    assert normalise_bare_answer("-2,1", decimal_comma=False) == "-2,1"
    assert normalise_bare_answer("58,500", decimal_comma=False) == "58500"


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("The answer is 90 degrees.", "90"),
        ("Réponse: Janeth aura encore 220 $ à payer d'ici 12 mois.", "220"),
        ("Step 1\nFinal answer: 42", "42"),
        ("First try [30], second try [45].", "45"),
        ("所以一共有3 + 10 = 13只鸟。", "13"),
        ("AZYUK2A", None),  # a digit inside a word is no number
        ("Evelyn", "Evelyn"),
        (r"\frac43", r"\frac43"),
        ("The answer is !!!invalid!!!", "!!!invalid!!!"),  # parses to nothing
        ("", None),
    ],
)
def test_final_answer_span(text: str, span: str | None) -> None:
    assert final_answer_span(text) == span


def test_prose_detection_and_helpers() -> None:
    assert looks_like_prose("33 eggs.") and looks_like_prose("la réponse")
    assert not looks_like_prose(r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}")
    assert not looks_like_prose(r"10\text{ units}") and not looks_like_prose(r"\sin x + 1")
    assert has_math_delimiters("so $x$") and has_math_delimiters(r"\boxed{1}")
    assert not has_math_delimiters("costs 220 $ now") and not has_math_delimiters(r"\$10")
    assert pick_number("from 5 to 1,200 apples") == "1200"
    assert pick_number("from 5 to 1,200", last=False) == "5"
    assert text_key(r"\textbf{ Even }.") == text_key("$even$") == "even"


# ----------------------------------------------------------------- grading through the pool


@pytest.mark.parametrize(
    ("text", "gold", "dataset", "correct"),
    [
        (r"so the answer is $\boxed{18}$", "18", "gsm8k", True),
        ("She earns 1,450,000 dollars.", "1450000", "gsm8k", True),
        (r"\boxed{17}", "18", "gsm8k", False),
        (r"\boxed{025}", "25", "aime", True),
        (r"$\boxed{\dfrac{\pi}{2}}$", r"\frac{\pi}{2}", "math500", True),
        (r"$\boxed{(3, \frac{\pi}{2})}$", r"\left( 3, \frac{\pi}{2} \right)", "math500", True),
        (r"$\boxed{(\frac{\pi}{2}, 3)}$", r"\left( 3, \frac{\pi}{2} \right)", "math500", False),
        (r"\boxed{\text{Evelyn}}", r"\text{Evelyn}", "math", True),
        (r"<think>it is \boxed{5}</think>The answer is \boxed{6}", "5", "math", False),
        (r"<think>it is \boxed{4}</think>The answer is \boxed{5}", "5", "math", True),
        ("<think>cut off while thinking \\boxed{5}", "5", "math", False),
        ("", "5", "math", False),
    ],
)
def test_grade_cases(grader: Grader, text: str, gold: str, dataset: str, correct: bool) -> None:
    result = grader.grade(text, gold, dataset)
    assert result.correct is correct, result
    assert result.error is None


def test_grade_reports_what_it_extracted(grader: Grader) -> None:
    result = grader.grade(r"Thus $x = \boxed{\frac{3}{4}}$.", "0.75", "math")
    assert result == Grade(
        extracted=r"\frac{3}{4}",
        correct=True,
        error=None,
        method="math-verify",
        answer_source="final",
    )
    nothing = grader.grade("I do not know.", "3", "math")
    assert nothing.correct is False and nothing.extracted is None
    assert nothing.answer_source is None


def test_pathological_input_times_out_and_the_pool_recovers() -> None:
    with Grader(workers=1, timeout_s=DEADLINE_S) as pool:
        assert pool.grade(r"\boxed{2}", "2", "math").correct  # worker is up
        start = time.monotonic()
        result = pool.grade(PATHOLOGICAL, "5", "math")
        elapsed = time.monotonic() - start
        assert result == Grade(extracted=None, correct=False, error="timeout")
        assert elapsed >= DEADLINE_S  # killed at its deadline, not left to run for ever
        assert elapsed < DEADLINE_S + 30
        assert pool.restarts == 1
        assert pool.grade(r"\boxed{3}", "3", "math").correct
        # the replacement forks from the preloaded forkserver (a child of it, not of us)
        (worker,) = pool._all
        assert psutil.Process(worker.process.pid).ppid() != os.getpid()


def test_a_killed_worker_is_replaced() -> None:
    with Grader(workers=1, timeout_s=10) as pool:
        pool.warm_up()
        (worker,) = pool._all
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.join(5)
        died = pool.grade(r"\boxed{1}", "1", "math")
        assert died.correct is False and died.error and died.error.startswith("worker died")
        assert pool.grade(r"\boxed{1}", "1", "math").correct


def test_grading_works_off_the_main_thread(grader: Grader) -> None:
    results: list[Grade] = []
    thread = threading.Thread(
        target=lambda: results.append(grader.grade(r"\boxed{0.5}", r"\frac12", "math"))
    )
    thread.start()
    thread.join(30)
    assert results and results[0].correct


async def test_grade_async_runs_concurrently_without_blocking_the_loop(grader: Grader) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    results = await asyncio.gather(
        *(grader.grade_async(rf"\boxed{{{n}}}", str(n), "gsm8k") for n in range(20))
    )
    tick_task.cancel()
    assert all(r.correct for r in results)
    assert ticks > 0


def test_grade_many_keeps_input_order(grader: Grader) -> None:
    tasks = [(rf"\boxed{{{n}}}", str(n if n % 3 else n + 1), "gsm8k") for n in range(30)]
    results = grader.grade_many(tasks)
    assert [r.correct for r in results] == [n % 3 != 0 for n in range(30)]


def test_closed_grader_refuses_work() -> None:
    pool = Grader(workers=1)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.grade(r"\boxed{1}", "1", "math")


def test_module_level_functions_use_a_shared_pool() -> None:
    assert grade(r"\boxed{\frac{1}{2}}", "0.5", "math").correct
    assert is_equivalent(r"\frac43", "4/3")
    assert not is_equivalent("1112122_3", "1112112_3")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        Grader(timeout_s=0)


# ----------------------------------------------------------------- real gold answers, every dataset


def _sample(name: str, data_dir: Path):
    problems = load_problems(name, data_dir=data_dir)
    return problems[::10] if name == "math" else problems  # MATH in full: benchmarks/


@pytest.mark.parametrize("name", ["gsm8k", "math", "math500", "aime"])
def test_every_gold_grades_equal_to_itself(grader: Grader, name: str, data_dir: Path) -> None:
    problems = _sample(name, data_dir)
    results = grader.grade_many([(as_model_would(p.gold), p.gold, name) for p in problems])
    failures = [(p.id, p.gold, r) for p, r in zip(problems, results, strict=True) if not r.correct]
    assert failures == []


@pytest.mark.parametrize("name", ["gsm8k", "math", "math500", "aime"])
def test_a_wrong_answer_grades_false(grader: Grader, name: str, data_dir: Path) -> None:
    """Each gold plus one is wrong (for tuples, sets and words it does not even parse)."""
    problems = _sample(name, data_dir)[::2]
    results = grader.grade_many(
        [(as_model_would(f"{{{p.gold}}}+1"), p.gold, name) for p in problems]
    )
    false_positives = [(p.id, p.gold) for p, r in zip(problems, results, strict=True) if r.correct]
    assert false_positives == []
