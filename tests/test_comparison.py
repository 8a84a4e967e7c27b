"""The paired accuracy comparison of a run with its baseline: difference, interval, verdict."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from cli_helpers import eval_args, read_json, read_jsonl, run_cli
from scipy.stats import binomtest
from test_eval_cli import JANET, JOSH, ROBE

from hawkeye_bench import cli
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.eval.comparison import (
    BOOTSTRAP,
    NEWCOMBE,
    AccuracyComparison,
    compare_accuracy,
    compare_scores,
    newcombe_interval,
    verdict_at,
)
from hawkeye_bench.eval.summary import summarize
from hawkeye_bench.eval.summary_table import format_summary
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer


def _record(pid: str, correct: bool, pipeline: str = "hawkeye", sample: int = 0) -> Record:
    stage = StageResult(role="single" if pipeline == "baseline" else "responder", model="m")
    problem = Problem(id=pid, dataset="gsm8k", question="q", gold="1")
    return Record(problem, sample, Trace(pipeline, [stage]), correct=correct)


def _runs(both: int, base_only: int, cand_only: int, neither: int) -> tuple[list, list]:
    """Candidate and baseline records over the same problems, with these concordance counts."""
    cells = [(True, True)] * both + [(False, True)] * base_only
    cells += [(True, False)] * cand_only + [(False, False)] * neither
    cand = [_record(f"p{i}", c) for i, (c, _) in enumerate(cells)]
    base = [_record(f"p{i}", b, "baseline") for i, (_, b) in enumerate(cells)]
    return cand, base


def test_the_posters_gsm8k_drop_is_not_shown_non_inferior_at_two_points() -> None:
    # 1,319 problems, baseline 90.7% (1,196), Hawkeye 88.9% (1,173): 46 lost, 23 gained
    cand, base = _runs(both=1150, base_only=46, cand_only=23, neither=100)
    result = compare_accuracy(cand, base, margin_pp=2)
    assert result is not None
    assert result.n_problems == 1319
    assert result.baseline_accuracy == pytest.approx(1196 / 1319)
    assert result.accuracy == pytest.approx(1173 / 1319)
    assert result.difference_pp == pytest.approx((23 - 46) / 1319 * 100)
    # one sample per problem: Newcombe's interval, close to the paired normal one at this size
    d = result.difference_pp / 100
    se = math.sqrt(((23 + 46) / 1319 - d * d) / 1319) * 100
    assert result.ci95_pp is not None
    low, high = result.ci95_pp
    assert low == pytest.approx(result.difference_pp - 1.96 * se, abs=0.1)
    assert high == pytest.approx(result.difference_pp + 1.96 * se, abs=0.1)
    assert low < -2 < high
    assert result.ci_method == NEWCOMBE
    assert result.verdict == "not shown"
    assert (result.candidate_only, result.baseline_only) == (23, 46)
    assert result.mcnemar_p == pytest.approx(binomtest(23, 69).pvalue)
    # a wider margin the same interval clears
    wide = compare_accuracy(cand, base, margin_pp=4)
    assert wide is not None and wide.verdict == "non-inferior"


def test_a_clear_drop_is_inferior_and_equal_runs_are_non_inferior() -> None:
    cand, base = _runs(both=50, base_only=40, cand_only=0, neither=10)
    drop = compare_accuracy(cand, base, margin_pp=2)
    assert drop is not None and drop.verdict == "inferior"
    assert drop.ci95_pp is not None and drop.ci95_pp[1] < -2
    same, same_base = _runs(both=600, base_only=0, cand_only=0, neither=400)
    equal = compare_accuracy(same, same_base, margin_pp=2)
    assert equal is not None and equal.verdict == "non-inferior" and equal.mcnemar_p == 1.0


@pytest.mark.parametrize(("both", "neither", "half_width"), [(0, 3, 56.15), (30, 20, 4.04)])
def test_no_discordant_problem_is_no_proof_on_few_problems(
    both: int, neither: int, half_width: float
) -> None:
    # a bootstrap over these collapses to [0, 0] and would call 3 problems non-inferior
    cand, base = _runs(both=both, base_only=0, cand_only=0, neither=neither)
    result = compare_accuracy(cand, base, margin_pp=2)
    assert result is not None and result.difference_pp == 0.0
    assert result.ci95_pp == pytest.approx((-half_width, half_width), abs=0.01)
    assert result.verdict == "not shown"


def test_newcombe_interval_reference_values() -> None:
    # the data of Altman et al., Statistics with Confidence (2000), table 6.2; the bounds
    # worked by hand from Newcombe's method 10 (Wilson intervals, corrected correlation)
    assert newcombe_interval(14, 5, 0, 22) == pytest.approx((0.0115, 0.2265), abs=5e-4)
    low, high = newcombe_interval(22, 0, 5, 14)  # the runs swapped: the interval mirrored
    assert (low, high) == pytest.approx((-0.2265, -0.0115), abs=5e-4)


@pytest.mark.parametrize(
    ("interval", "verdict"),
    [
        ((-1.9, 1.0), "non-inferior"),
        ((-2.0, 1.0), "not shown"),  # touching the margin is not clearing it
        ((-3.0, -1.0), "not shown"),
        ((-5.0, -2.1), "inferior"),
        (None, "not shown"),
    ],
)
def test_verdict_from_the_interval(interval: tuple[float, float] | None, verdict: str) -> None:
    assert verdict_at(interval, 2.0) == verdict


def test_pairs_only_shared_problems_and_averages_samples_per_problem() -> None:
    cand = {"a": [1.0, 0.0], "b": [1.0, 1.0], "only-here": [0.0, 0.0]}
    base = {"a": [1.0, 1.0], "b": [0.0, 1.0], "only-there": [1.0, 1.0]}
    result = compare_scores(cand, base)
    assert result is not None
    assert result.n_problems == 2
    assert result.difference_pp == pytest.approx(0.0)  # a: -50, b: +50
    assert result.mcnemar_p is None  # several samples per problem: no McNemar
    assert result.ci_method == BOOTSTRAP and result.ci95_pp is not None
    assert result.verdict is None  # no margin given
    assert compare_scores({"x": [1.0]}, {"y": [1.0]}) is None
    one = compare_scores({"x": [1.0]}, {"x": [0.0]}, margin_pp=2)
    assert one is not None and one.verdict == "not shown"
    flat = compare_scores({"a": [1.0, 0.0], "b": [1.0, 0.0]}, {"a": [1.0, 0.0], "b": [0.0, 1.0]},
                          margin_pp=2)  # fmt: skip
    assert flat is not None and flat.ci95_pp is None and flat.verdict == "not shown"
    assert flat.ci_method.startswith("none")


def test_summary_and_console_show_the_comparison() -> None:
    cand, base = _runs(both=8, base_only=1, cand_only=1, neither=0)
    summary = summarize(cand, baseline=base, margin_pp=2)
    paired = summary.to_json()["accuracy_vs_baseline"]
    assert paired["n_problems"] == 10 and paired["difference_pp"] == pytest.approx(0.0)
    assert paired["margin_pp"] == 2 and paired["verdict"] == "not shown"
    assert AccuracyComparison.from_dict(paired).ci95_pp == tuple(paired["ci95_pp"])
    text = format_summary(summary)
    assert "vs baseline    +0.0 pp  95% CI [" in text
    assert "non-inferiority at 2 pp: not shown" in text
    assert "no --margin" in format_summary(summarize(cand, baseline=base))
    assert "accuracy_vs_baseline" not in summarize(cand).to_json()
    other = [_record("elsewhere", True, "baseline")]
    assert "no problem shared" in format_summary(summarize(cand, baseline=other))


def test_margin_without_a_baseline_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--task", "gsm8k", "--limit", "1", "--out", str(tmp_path / "o")]
    argv += ["--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--margin", "2"]
    assert cli.main(argv) == 2
    assert "--margin judges a run against its baseline" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_eval_pairs_a_hawkeye_run_with_its_baseline_run(tmp_path: Path) -> None:
    """End to end: the baseline boxes its answers; the responder answers Janet in prose that
    restates a given after the answer (graded right only with the question)."""
    config = ScriptedConfig(
        tokens=6,
        rules=[
            ReplyRule(match=JANET, content="Janet makes $18 every day at $2 per egg."),
            ReplyRule(match=ROBE, content="2 + 1 = 3 so the answer is \\boxed{3}"),
            ReplyRule(match=JOSH, content="I think \\boxed{12}"),  # wrong in both runs
        ],
    )
    with ScriptedServer(config) as url:
        base = run_cli(*eval_args(tmp_path / "base", url=url))
        assert base.returncode == 0, base.stderr
        hawk = run_cli(
            *eval_args(tmp_path / "hawk", url=url, pipeline="hawkeye"),
            *("--baseline-run", str(tmp_path / "base"), "--margin", "2"),
        )
    assert hawk.returncode == 0, hawk.stderr
    records = {r["id"]: r for r in read_jsonl(tmp_path / "hawk" / "records.jsonl")}
    assert records["gsm8k/0"]["extracted"] == "18" and records["gsm8k/0"]["correct"] is True
    summary = read_json(tmp_path / "hawk" / "summary.json")
    paired = summary["accuracy_vs_baseline"]
    assert paired["n_problems"] == 3 and paired["difference_pp"] == pytest.approx(0.0)
    assert (paired["candidate_only"], paired["baseline_only"]) == (0, 0)
    assert paired["margin_pp"] == 2 and paired["verdict"] == "not shown"
    assert paired["ci_method"] == NEWCOMBE
    assert summary["end_to_end_s"]["n"] == 3 and summary["end_to_end_s"]["missing"] == 0
    assert "non-inferiority at 2 pp: not shown" in hawk.stdout
