"""The report's paired comparison of each pipeline run with its baseline (accuracy section)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import report_fixtures as fx

from hawkeye_bench.cli import main as cli_main
from hawkeye_bench.eval.comparison import compare_scores
from hawkeye_bench.reporting import write_report


def _comparison(out: Path) -> dict[str, Any]:
    report = json.loads((out / "report.json").read_text())
    accuracy = next(s for s in report["sections"] if s["key"] == "accuracy")
    return next(t for t in accuracy["tables"] if t["name"] == "accuracy_vs_baseline")


def test_every_pipeline_run_is_compared_with_its_baseline_at_the_margin(tmp_path: Path) -> None:
    inputs = fx.write_all(tmp_path / "inputs")
    write_report(list(inputs.values()), tmp_path / "out", margin_pp=2)
    table = _comparison(tmp_path / "out")
    rows = {r["run"]: r for r in table["rows"]}
    # the aime run has no baseline of its dataset: no row; baselines are not compared
    assert set(rows) == {"gsm8k-hawkeye", "hawkeye_gsm8k"}
    run = rows["gsm8k-hawkeye"]
    diff = (np.mean(fx.HAWKEYE_CORRECT) - np.mean(fx.BASE_CORRECT)) * 100
    assert run["baseline"] == "gsm8k-baseline" and run["problems"] == 4
    assert run["difference_pp"] == pytest.approx(diff)
    assert run["ci95_pp"][0] <= diff <= run["ci95_pp"][1]
    assert run["margin_pp"] == 2 and run["verdict"] == "not shown"  # 4 problems prove nothing
    assert run["sources"][1].endswith("gsm8k-baseline/records.jsonl")
    lm = rows["hawkeye_gsm8k"]
    docs = fx.LM_DOCS
    expected = compare_scores(
        {str(i): [d[0]] for i, d in enumerate(docs["hawkeye"])},
        {str(i): [d[0]] for i, d in enumerate(docs["baseline"])},
        margin_pp=2,
    )
    assert expected is not None
    assert lm["difference_pp"] == pytest.approx(expected.difference_pp)
    assert lm["verdict"] == expected.verdict
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Accuracy against the baseline (paired)" in md
    assert "at a margin of 2 percentage points" in md


def test_without_a_margin_the_difference_is_shown_without_a_verdict(tmp_path: Path) -> None:
    runs = fx.write_eval_runs(tmp_path / "inputs")
    out = tmp_path / "cli"
    argv = ["report", str(runs["baseline"]), str(runs["hawkeye"]), "--out", str(out)]
    assert cli_main(argv) == 0
    (row,) = _comparison(out)["rows"]
    assert row["verdict"] == "no margin given" and row["margin_pp"] is None
    with pytest.raises(SystemExit) as refused:
        cli_main([*argv, "--margin", "-1"])
    assert refused.value.code == 2
    assert cli_main([*argv, "--margin", "80"]) == 0
    (row,) = _comparison(out)["rows"]
    assert row["ci95_pp"][0] > -80 and row["verdict"] == "non-inferior"


def test_no_table_without_a_baseline_to_pair_with(tmp_path: Path) -> None:
    runs = fx.write_eval_runs(tmp_path / "inputs")
    write_report([runs["hawkeye"]], tmp_path / "out", margin_pp=2)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    names = [t["name"] for s in report["sections"] for t in s["tables"]]
    assert "accuracy" in names and "accuracy_vs_baseline" not in names
