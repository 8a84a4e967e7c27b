"""The report's training section: what TRL logged while training a policy with a Hawkeye
reward, one row and one line per run (e.g. with and without the responder), as the poster's
training figures: CoT length and reward over steps.

Inputs: every training-log folder given (``trainer_state.json`` or a CSV of the same metrics;
see :mod:`hawkeye_bench.reporting.trl_logs`). The section is left out when none is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from hawkeye_bench.reporting.inputs import Inputs
from hawkeye_bench.reporting.model import Column, Section, Table
from hawkeye_bench.reporting.tables import Rel
from hawkeye_bench.reporting.trl_figures import cot_length_over_steps, reward_over_steps
from hawkeye_bench.reporting.trl_logs import LENGTH_KEY, REWARD_KEY, TrainingLog

INTRO = (
    "From TRL's `trainer_state.json` (`log_history`) or the same metrics as CSV. *CoT length* "
    f"is `{LENGTH_KEY}` (mean tokens per completion; the policy's completion is the chain of "
    f"thought); *reward* is `{REWARD_KEY}` (the weighted sum of the reward functions, batch "
    "mean). First and last are the first and last logged values. To compare with and without "
    "a small model, train once with `HawkeyeReward` and once with "
    "`HawkeyeReward.without_responder` (see `examples/grpo_hawkeye.py`) and give both folders."
)
COLUMNS = [
    Column("run", "run"),
    Column("reward_functions", "reward functions"),
    Column("points", "steps logged", "int"),
    Column("last_step", "last step", "int"),
    Column("reward_first", "reward, first", "float3"),
    Column("reward_last", "reward, last", "float3"),
    Column("length_first", "CoT length, first", "float1"),
    Column("length_last", "CoT length, last", "float1"),
    Column("length_ratio", "CoT length last / first", "ratio"),
]


class TrainingRow(TypedDict):
    run: str
    reward_functions: str
    points: int
    last_step: int | None
    reward_first: float | None
    reward_last: float | None
    length_first: float | None
    length_last: float | None
    length_ratio: float | None
    sources: list[str]


def _ends(series: list[tuple[int, float]]) -> tuple[float | None, float | None]:
    return (series[0][1], series[-1][1]) if series else (None, None)


def training_row(log: TrainingLog, rel: Rel) -> TrainingRow:
    drawn = [p.step for p in log.points if REWARD_KEY in p.metrics or LENGTH_KEY in p.metrics]
    reward_first, reward_last = _ends(log.series(REWARD_KEY))
    length_first, length_last = _ends(log.series(LENGTH_KEY))
    ratio = length_last / length_first if length_first and length_last is not None else None
    return TrainingRow(
        run=log.label,
        reward_functions=", ".join(log.reward_functions),
        points=len(drawn),
        last_step=max(drawn, default=None),
        reward_first=reward_first,
        reward_last=reward_last,
        length_first=length_first,
        length_last=length_last,
        length_ratio=ratio,
        sources=[rel(log.source)],
    )


def training_section(inputs: Inputs, out: Path, rel: Rel) -> Section | None:
    """The section, or None when no training log was given."""
    if not inputs.trainings:
        return None
    section = Section("training", "Training (TRL GRPO logs)")
    section.intro.append(INTRO)
    rows = [training_row(log, rel) for log in inputs.trainings]
    section.tables.append(Table("training", "Training runs", COLUMNS, rows))
    for figure in (
        cot_length_over_steps(inputs.trainings, out, rel),
        reward_over_steps(inputs.trainings, out, rel),
    ):
        if figure is not None:
            section.figures.append(figure)
    return section
