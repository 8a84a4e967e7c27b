"""What a judge run asks of each answer (``hawkeye-bench judge`` flags); recorded in
``judge_summary.json`` as ``options`` (``summary_file.RunFacts``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JudgeOptions:
    show_reference: bool = False
    show_cot: bool = False
    pairwise: bool = False
    rejudge_fraction: float = 0.0
    limit: int | None = None
    seed: int = 0
