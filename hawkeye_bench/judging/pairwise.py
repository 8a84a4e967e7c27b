"""Pairwise verdicts with position swap: both orders asked, inconsistent verdicts are ties.

Order ``AB`` shows the baseline's answer as A and the candidate's as B; ``BA`` swaps them.
Each verdict is mapped to the candidate's point of view (win/loss/tie); if the two orders
disagree the pair is a tie and counts as a flip (the judge changed its mind with the order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["win", "loss", "tie"]


def candidate_outcome(verdict: str, order: str) -> Outcome:
    """The candidate's outcome for a verdict ("A"/"B"/"tie") given in ``order`` ("AB"/"BA")."""
    if verdict == "tie":
        return "tie"
    candidate_position = "B" if order == "AB" else "A"
    return "win" if verdict == candidate_position else "loss"


def combine_orders(verdict_ab: str, verdict_ba: str) -> tuple[Outcome, bool]:
    """(outcome for the candidate, whether the verdicts flipped with the order)."""
    first = candidate_outcome(verdict_ab, "AB")
    second = candidate_outcome(verdict_ba, "BA")
    if first == second:
        return first, False
    return "tie", True


@dataclass
class PairwiseSummary:
    n: int = 0
    wins: int = 0
    losses: int = 0
    ties: int = 0
    flips: int = 0
    # Share of decisive single-order verdicts that chose whichever answer was shown first.
    first_position_rate: float | None = None
    win_rate_adjusted: float | None = None  # (wins + 0.5 ties) / n
    tie_rate: float | None = None
    flip_rate: float | None = None


def summarize(pairs: Iterable[tuple[str, str]]) -> PairwiseSummary:
    """Summarise (verdict_ab, verdict_ba) pairs; pairs with a failed order are left out upstream."""
    summary = PairwiseSummary()
    decisive = first_position = 0
    for verdict_ab, verdict_ba in pairs:
        outcome, flipped = combine_orders(verdict_ab, verdict_ba)
        summary.n += 1
        summary.wins += outcome == "win"
        summary.losses += outcome == "loss"
        summary.ties += outcome == "tie"
        summary.flips += flipped
        for verdict in (verdict_ab, verdict_ba):
            if verdict != "tie":
                decisive += 1
                first_position += verdict == "A"
    if summary.n:
        summary.win_rate_adjusted = (summary.wins + 0.5 * summary.ties) / summary.n
        summary.tie_rate = summary.ties / summary.n
        summary.flip_rate = summary.flips / summary.n
    if decisive:
        summary.first_position_rate = first_position / decisive
    return summary
