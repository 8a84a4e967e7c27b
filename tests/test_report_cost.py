"""The report's cost section (runs with endpoint prices) and the judges' radar figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_fixtures import write_eval_runs, write_load

from hawkeye_bench.reporting.build import write_report
from hawkeye_bench.reporting.figures import judge_radars
from hawkeye_bench.reporting.rows import JudgeScoreRow

CRITERIA = ("completeness", "coherence", "conciseness", "correctness", "clarity")


def _add_prices(run: Path, prices: dict[str, dict[str, object]]) -> None:
    manifest_file = run / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    for role, endpoint in manifest["endpoints"].items():
        if role in prices:
            endpoint["prices"] = prices[role]
    manifest_file.write_text(json.dumps(manifest))


def test_report_cost_section_only_with_prices(tmp_path: Path) -> None:
    runs = write_eval_runs(tmp_path / "runs")
    plain = write_report([runs["baseline"], runs["hawkeye"]], tmp_path / "plain")
    assert "cost" not in [s.key for s in plain.sections]

    _add_prices(runs["baseline"], {"single": {"input": 0, "output": 1.0}})
    _add_prices(runs["hawkeye"], {"reasoner": {"input": 0, "output": 1.0}})
    report = write_report([runs["baseline"], runs["hawkeye"]], tmp_path / "priced")
    section = next(s for s in report.sections if s.key == "cost")
    rows = {r["run"]: r for r in section.tables[0].rows}
    # baseline: 1000 output tokens at 1 USD / 1M over 4 problems
    assert abs(rows["gsm8k-baseline"]["usd_per_1k_problems"] - 0.25) < 1e-12
    # hawkeye's responder has no prices: no USD, and the reason is named
    assert rows["gsm8k-hawkeye"]["usd_per_1k_problems"] is None
    assert "responder: no prices given" in rows["gsm8k-hawkeye"]["why_unknown"]
    md = (tmp_path / "priced" / "report.md").read_text()
    assert "Cost" in md and "responder: no prices given" in md


def test_report_gpu_time_view_beside_the_token_view(tmp_path: Path) -> None:
    runs = write_eval_runs(tmp_path / "runs")
    load = write_load(tmp_path / "loads")
    inputs = [runs["baseline"], runs["hawkeye"], load]
    # no prices at all: no cost section, load results or not
    plain = write_report(inputs, tmp_path / "plain")
    assert "cost" not in [s.key for s in plain.sections]

    # token prices only: the GPU-time view says no GPU prices were given
    _add_prices(runs["baseline"], {"single": {"input": 0, "output": 1.0}})
    tokens_only = write_report(inputs, tmp_path / "tokens")
    section = next(s for s in tokens_only.sections if s.key == "cost")
    assert [t.name for t in section.tables] == ["cost_tokens"]
    assert any("no GPU prices given" in line for line in section.intro)
    assert "no GPU prices given" in (tmp_path / "tokens" / "report.md").read_text()

    # one GPU at 2 USD/h per role, dedicated: baseline pays 2 USD/h, hawkeye 4 USD/h
    gpu = {"gpu_hour_usd": 2.0, "gpus": 1, "placement": "dedicated"}
    _add_prices(runs["baseline"], {"single": {"input": 0, "output": 1.0, **gpu}})
    _add_prices(runs["hawkeye"], {"reasoner": gpu, "responder": gpu})
    report = write_report(inputs, tmp_path / "priced")
    section = next(s for s in report.sections if s.key == "cost")
    table = next(t for t in section.tables if t.name == "cost_gpu")
    results = json.loads((load / "load_results.json").read_text())
    means = {(s["target"], s["concurrency"]): s["metrics"]["e2e_ms"]["mean"] / 1000
             for s in results["stages"]}  # fmt: skip
    rows = {(r["target"], r["concurrency"]): r for r in table.rows}
    assert set(rows) == set(means)
    for (target, c), mean_s in means.items():
        usd_per_hour = 2.0 if target == "baseline" else 4.0
        row = rows[(target, c)]
        assert row["throughput"] == pytest.approx(c / mean_s)  # Little's law
        assert row["usd_per_request"] == pytest.approx(usd_per_hour * mean_s / (3600 * c))
        assert row["usd_per_1k_requests"] == pytest.approx(usd_per_hour * mean_s / 3.6 / c)
        assert row["why_unknown"] == ""
        if target == "hawkeye":
            assert row["ratio"] == pytest.approx(2.0 * mean_s / means[("baseline", c)])
    assert any("Little's law" in n for n in table.notes)
    assert any("reasoner: 1 GPU x 2 USD/h, dedicated" in n for n in table.notes)
    md = (tmp_path / "priced" / "report.md").read_text()
    assert "GPU-time view" in md and "Token view" in md


def test_report_gpu_time_view_notes_an_unreliable_load_stage(tmp_path: Path) -> None:
    runs = write_eval_runs(tmp_path / "runs")
    load = write_load(tmp_path / "loads")
    results_file = load / "load_results.json"
    results = json.loads(results_file.read_text())
    for stage in results["stages"]:
        if stage["target"] == "baseline" and stage["concurrency"] == 1:
            stage.update(reliable=False, unreliable_reasons=["2 of 8 raw batches lost"])
    results_file.write_text(json.dumps(results))
    gpu = {"gpu_hour_usd": 2.0, "gpus": 1, "placement": "dedicated"}
    _add_prices(runs["baseline"], {"single": gpu})
    _add_prices(runs["hawkeye"], {"reasoner": gpu, "responder": gpu})
    report = write_report([runs["baseline"], runs["hawkeye"], load], tmp_path / "report")
    section = next(s for s in report.sections if s.key == "cost")
    table = next(t for t in section.tables if t.name == "cost_gpu")
    flagged = [n for n in table.notes if "marked this stage unreliable" in n]
    assert flagged == [
        f"{load.name}: baseline at c=1: the load runner marked this stage unreliable "
        "(2 of 8 raw batches lost): its price rests on that latency."
    ]


def _row(judge: str, run: str, criterion: str, mean: float) -> JudgeScoreRow:
    return JudgeScoreRow(
        criterion=criterion, judge=judge, run=run, judge_output="j", mean=mean,
        ci95=(mean - 1, mean + 1), n_questions=4, n_answers=4, scale=[1, 10], sources=["x"],
    )  # fmt: skip


def test_judge_radar_one_per_judge(tmp_path: Path) -> None:
    rows = [
        _row(judge, run, c, 6.0 + i * 0.5 + (run == "hawkeye"))
        for judge in ("gpt-4o", "claude")
        for run in ("baseline", "hawkeye")
        for i, c in enumerate(CRITERIA)
    ]
    rows.append(_row("panel", "hawkeye", "clarity", 7.0))  # no radar for the panel mean
    figure = judge_radars(rows, tmp_path)
    assert figure is not None and figure.file == "judge_radar.png"
    assert (tmp_path / "judge_radar.png").stat().st_size > 1000
    assert judge_radars([r for r in rows if r["criterion"] in CRITERIA[:2]], tmp_path) is None
