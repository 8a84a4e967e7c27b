"""TRL training logs as report input: the metrics ``GRPOTrainer`` logs per step.

A folder is a training log when it holds ``trainer_state.json`` (what ``Trainer.save_state()``
writes into ``output_dir``, and every ``checkpoint-N/`` holds; without one at the top the
latest checkpoint's is read), or a CSV of the same metrics (a ``step`` column and at least one
GRPO metric, e.g. exported from Weights & Biases, whose ``train/`` prefix is dropped). Each
``log_history`` entry is one point: its ``step`` and its numeric metrics under TRL's names
(``reward``, ``rewards/<name>/mean``, ``completions/mean_length``, ...). Evaluation entries
(``eval_`` keys) are left out: the figures follow training.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hawkeye_bench.core.errors import HawkeyeError

TRAINER_STATE = "trainer_state.json"
#: TRL's mean completion length in tokens (the policy's completion is its chain of thought)
LENGTH_KEY = "completions/mean_length"
#: TRL's total reward: the weighted sum of the reward functions, averaged over the batch
REWARD_KEY = "reward"
#: metrics whose presence marks a CSV as GRPO metrics
GRPO_KEYS = (REWARD_KEY, LENGTH_KEY, "reward_std", "completions/max_length")
#: what exporters put before TRL's own names
EXPORT_PREFIXES = ("train/",)
STEP_COLUMNS = ("step", "Step", "global_step", "train/global_step")
_CHECKPOINT = re.compile(r"checkpoint-(\d+)$")
_PER_REWARD = re.compile(r"^rewards/(.+)/mean$")


class TrainingLogError(HawkeyeError):
    """A training log that does not parse; the message names the file."""


@dataclass(frozen=True)
class TrainingPoint:
    """One logged step: its number and its numeric training metrics."""

    step: int
    metrics: dict[str, float]


@dataclass
class TrainingLog:
    """The training metrics of one run, in logging order."""

    path: Path  # the folder given
    source: Path  # the file read
    points: list[TrainingPoint]
    notes: list[str] = field(default_factory=list)
    #: the folder's shortest path suffix no other log given shares (set by the report's
    #: ``read_inputs``; the folder name until then)
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.path.name

    def series(self, key: str) -> list[tuple[int, float]]:
        """(step, value) of every point that logged ``key``."""
        return [(p.step, p.metrics[key]) for p in self.points if key in p.metrics]

    @property
    def reward_functions(self) -> list[str]:
        """The reward functions logged (``rewards/<name>/mean``), by name."""
        names = {m.group(1) for p in self.points for k in p.metrics if (m := _PER_REWARD.match(k))}
        return sorted(names)


def _metric_name(key: str) -> str | None:
    """TRL's name of a logged key; None for evaluation metrics."""
    for prefix in EXPORT_PREFIXES:
        key = key.removeprefix(prefix)
    return None if key.startswith(("eval_", "eval/")) else key


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _point(step: Any, entry: dict[str, Any]) -> TrainingPoint | None:
    number = _number(step)
    if number is None:
        return None
    metrics = {
        name: value
        for key, raw in entry.items()
        if (name := _metric_name(str(key))) is not None
        and name not in ("step", *STEP_COLUMNS)
        and (value := _number(raw)) is not None
    }
    return TrainingPoint(int(number), metrics) if metrics else None


def state_file(path: Path) -> Path | None:
    """``trainer_state.json`` of ``path``, else that of its latest ``checkpoint-N/``."""
    if (path / TRAINER_STATE).is_file():
        return path / TRAINER_STATE
    checkpoints = [
        (int(m.group(1)), child / TRAINER_STATE)
        for child in path.glob("checkpoint-*")
        if (m := _CHECKPOINT.search(child.name)) and (child / TRAINER_STATE).is_file()
    ]
    return max(checkpoints)[1] if checkpoints else None


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError):
        return []


def csv_file(path: Path) -> Path | None:
    """The first CSV in ``path`` with a step column and a GRPO metric column."""
    for candidate in sorted(path.glob("*.csv")):
        header = _csv_header(candidate)
        names = {_metric_name(h) for h in header}
        if any(c in header for c in STEP_COLUMNS) and names & set(GRPO_KEYS):
            return candidate
    return None


def is_training_log(path: Path) -> bool:
    return state_file(path) is not None or csv_file(path) is not None


def _read_state(source: Path) -> list[TrainingPoint]:
    try:
        state = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingLogError(f"{source}: not a readable JSON file ({exc})") from exc
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        raise TrainingLogError(f"{source}: no 'log_history' list (not a trainer_state.json)")
    entries = [e for e in history if isinstance(e, dict)]
    return [p for e in entries if (p := _point(e.get("step"), e)) is not None]


def _read_csv(source: Path) -> list[TrainingPoint]:
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return []
    step_column = next(c for c in STEP_COLUMNS if rows and c in rows[0])
    return [p for row in rows if (p := _point(row.get(step_column), dict(row))) is not None]


def read_training_log(path: Path) -> TrainingLog:
    source = state_file(path) or csv_file(path)
    if source is None:
        raise TrainingLogError(f"{path}: no {TRAINER_STATE} and no CSV of GRPO metrics")
    points = _read_state(source) if source.suffix == ".json" else _read_csv(source)
    notes = []
    if not any(REWARD_KEY in p.metrics or LENGTH_KEY in p.metrics for p in points):
        notes.append(f"{source}: no '{REWARD_KEY}' or '{LENGTH_KEY}' logged: nothing to draw")
    return TrainingLog(path, source, points, notes)
