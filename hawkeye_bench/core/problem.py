"""A benchmark problem, normalised across datasets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One question with its gold answer.

    ``gold`` is the answer alone (``"18"``, ``"\\frac{\\pi}{2}"``), already taken out of the
    dataset's own format (GSM8K ``#### N``, MATH's last ``\\boxed{}``, AIME zero padding).
    """

    id: str
    dataset: str
    question: str
    gold: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
