"""The training figures (same conventions as :mod:`reporting.figures`): CoT length over steps
and reward over steps, one line per run, as the poster's two GRPO training figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from hawkeye_bench.reporting.figures import PANEL_SIZE, _save
from hawkeye_bench.reporting.model import Figure
from hawkeye_bench.reporting.tables import Rel
from hawkeye_bench.reporting.trl_logs import LENGTH_KEY, REWARD_KEY, TrainingLog

LENGTH_FILE = "training_cot_length.png"
REWARD_FILE = "training_reward.png"


def _over_steps(
    logs: Sequence[TrainingLog], key: str, ylabel: str, out: Path, name: str, rel: Rel
) -> tuple[str, list[str]] | None:
    """One line per log that has ``key``; the file name and the sources drawn, or None."""
    drawn = [(log, series) for log in logs if (series := log.series(key))]
    if not drawn:
        return None
    fig, ax = plt.subplots(figsize=PANEL_SIZE)
    for index, (log, series) in enumerate(drawn):
        steps, values = zip(*series, strict=True)
        ax.plot(steps, values, color=f"C{index % 10}", label=log.label)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out, name), [rel(log.source) for log, _ in drawn]


def cot_length_over_steps(logs: Sequence[TrainingLog], out: Path, rel: Rel) -> Figure | None:
    drawn = _over_steps(logs, LENGTH_KEY, "CoT length (mean tokens per completion)", out,
                        LENGTH_FILE, rel)  # fmt: skip
    if drawn is None:
        return None
    return Figure(
        drawn[0],
        f"Chain-of-thought length over training steps (TRL's `{LENGTH_KEY}`: the policy's "
        "completion is its chain of thought), one line per run.",
        drawn[1],
    )


def reward_over_steps(logs: Sequence[TrainingLog], out: Path, rel: Rel) -> Figure | None:
    drawn = _over_steps(logs, REWARD_KEY, "reward (batch mean)", out, REWARD_FILE, rel)
    if drawn is None:
        return None
    return Figure(
        drawn[0],
        f"Reward over training steps (TRL's `{REWARD_KEY}`: the weighted sum of the reward "
        "functions, averaged over the batch), one line per run.",
        drawn[1],
    )
