"""Pairwise swap logic with hand-worked verdicts."""

from __future__ import annotations

import pytest

from hawkeye_bench.judging.pairwise import candidate_outcome, combine_orders, summarize


@pytest.mark.parametrize(
    ("ab", "ba", "outcome", "flipped"),
    [
        ("B", "A", "win", False),  # candidate preferred in both positions
        ("A", "B", "loss", False),  # baseline preferred in both positions
        ("B", "B", "tie", True),  # second position wins each time: position bias -> tie
        ("tie", "A", "tie", True),  # tie vs candidate win: inconsistent -> tie
        ("tie", "tie", "tie", False),
    ],
)
def test_combine_orders(ab: str, ba: str, outcome: str, flipped: bool) -> None:
    assert combine_orders(ab, ba) == (outcome, flipped)


def test_candidate_outcome_depends_on_the_order() -> None:
    assert candidate_outcome("B", "AB") == "win" and candidate_outcome("B", "BA") == "loss"
    assert candidate_outcome("A", "BA") == "win" and candidate_outcome("tie", "BA") == "tie"


def test_summary_rates_by_hand() -> None:
    pairs = [("B", "A"), ("A", "B"), ("B", "B"), ("tie", "A"), ("tie", "tie")]
    s = summarize(pairs)
    assert (s.n, s.wins, s.losses, s.ties, s.flips) == (5, 1, 1, 3, 2)
    assert s.win_rate_adjusted == pytest.approx((1 + 0.5 * 3) / 5)
    assert s.flip_rate == pytest.approx(2 / 5) and s.tie_rate == pytest.approx(3 / 5)
    # decisive single-order verdicts: B,A | A,B | B,B | A -> 7, of which "A" (shown first) 3
    assert s.first_position_rate == pytest.approx(3 / 7)
    assert summarize([]).win_rate_adjusted is None
