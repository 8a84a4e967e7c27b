"""The report's training section from TRL GRPO logs: trainer_state.json written with TRL's
documented metric keys (TRL itself needs torch and is not installed in CI), or a CSV export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hawkeye_bench.reporting.build import write_report
from hawkeye_bench.reporting.inputs import read_inputs
from hawkeye_bench.reporting.trl_logs import TrainingLogError, read_training_log

NAME = "hawkeye_upstream_reward"


def _entry(step: int, reward: float, length: float) -> dict[str, float | int]:
    """One log_history entry as GRPOTrainer logs it (Trainer.log adds step and epoch)."""
    return {
        "step": step,
        "epoch": step / 100,
        "loss": 0.01,
        "learning_rate": 1e-5,
        "grad_norm": 0.5,
        "num_tokens": 1000.0 * step,
        "completions/mean_length": length,
        "completions/min_length": length / 2,
        "completions/max_length": length * 2,
        "completions/clipped_ratio": 0.0,
        "completions/mean_terminated_length": length,
        f"rewards/{NAME}/mean": reward,
        f"rewards/{NAME}/std": 1.0,
        "reward": reward,
        "reward_std": 1.0,
        "frac_reward_zero_std": 0.0,
        "kl": 0.001,
        "entropy": 0.4,
        "clip_ratio/region_mean": 0.0,
    }


def write_state(folder: Path, points: list[tuple[int, float, float]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, object]] = [_entry(*p) for p in points]
    # an evaluation entry and the final summary entry: neither is a training point to draw
    history.insert(1, {"step": points[0][0], "eval_reward": 99.0, "eval_loss": 0.2})
    history.append({"step": points[-1][0], "train_runtime": 12.0, "train_loss": 0.01})
    state = {"global_step": points[-1][0], "log_history": history, "max_steps": points[-1][0]}
    (folder / "trainer_state.json").write_text(json.dumps(state))
    return folder


def test_two_runs_give_the_posters_two_training_figures(tmp_path: Path) -> None:
    with_b = write_state(tmp_path / "with-b", [(5, -650.0, 500.0), (10, -200.0, 300.0),
                                               (15, 100.0, 100.0)])  # fmt: skip
    without_b = write_state(tmp_path / "without-b", [(5, -400.0, 480.0), (10, 0.9, 10.0)])
    report = write_report([with_b, without_b], tmp_path / "report")
    section = next(s for s in report.sections if s.key == "training")
    (table,) = section.tables
    rows = {row["run"]: row for row in table.rows}
    assert rows["with-b"]["reward_first"] == -650.0 and rows["with-b"]["reward_last"] == 100.0
    assert rows["with-b"]["length_first"] == 500.0 and rows["with-b"]["length_last"] == 100.0
    assert rows["with-b"]["length_ratio"] == pytest.approx(0.2)
    assert rows["with-b"]["points"] == 3 and rows["with-b"]["last_step"] == 15
    assert rows["without-b"]["length_last"] == 10.0
    assert rows["with-b"]["reward_functions"] == NAME
    assert rows["with-b"]["sources"] == ["../with-b/trainer_state.json"]
    files = [f.file for f in section.figures]
    assert files == ["training_cot_length.png", "training_reward.png"]
    for name in files:
        assert (tmp_path / "report" / name).stat().st_size > 1000
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Training (TRL GRPO logs)" in md and "training_reward.png" in md
    (entry,) = [p for p in report.provenance if p.folder == "../with-b"]
    assert entry.kind == "TRL training log" and entry.details["steps"] == "5 to 15"


def test_evaluation_entries_are_not_drawn(tmp_path: Path) -> None:
    log = read_training_log(write_state(tmp_path / "run", [(5, 1.0, 50.0), (10, 2.0, 40.0)]))
    assert log.series("reward") == [(5, 1.0), (10, 2.0)]
    assert all(not k.startswith("eval_") for p in log.points for k in p.metrics)


def test_the_latest_checkpoint_is_read_when_the_output_folder_has_no_state(
    tmp_path: Path,
) -> None:
    out = tmp_path / "grpo-out"
    write_state(out / "checkpoint-100", [(5, 1.0, 50.0)])
    write_state(out / "checkpoint-200", [(5, 1.0, 50.0), (200, 3.0, 20.0)])
    write_state(out / "checkpoint-90", [(5, 1.0, 50.0)])  # 90 < 200: not the latest
    inputs = read_inputs([out])
    (log,) = inputs.trainings
    assert log.source == out / "checkpoint-200" / "trainer_state.json"
    assert log.series("completions/mean_length")[-1] == (200, 20.0)


def test_a_csv_export_of_the_same_metrics(tmp_path: Path) -> None:
    folder = tmp_path / "wandb-export"
    folder.mkdir()
    with (folder / "metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["train/global_step", "train/reward", "train/completions/mean_length"])
        writer.writerows([[5, -3.5, 400], [10, "", 250], [15, 0.5, 120]])
    (folder / "notes.csv").write_text("a,b\n1,2\n")  # another CSV: not the metrics
    (log,) = read_inputs([folder]).trainings
    assert log.source.name == "metrics.csv"
    assert log.series("reward") == [(5, -3.5), (15, 0.5)]  # an empty cell is no value
    assert log.series("completions/mean_length") == [(5, 400.0), (10, 250.0), (15, 120.0)]


def test_a_broken_state_file_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "trainer_state.json").write_text('{"global_step": 3}')
    with pytest.raises(TrainingLogError, match="no 'log_history'"):
        read_inputs([folder])
    (folder / "trainer_state.json").write_text("{not json")
    with pytest.raises(TrainingLogError, match=r"broken/trainer_state\.json"):
        read_inputs([folder])
