"""An imported run is an ordinary run: --baseline-run compression, judge, report, cost and
reward read it unchanged, and an interrupted import resumes."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from judging_fakes import FakeBackend, fake_judge, scores_reply, write_panel

from hawkeye_bench.cli import main
from hawkeye_bench.datasets import load_problems
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.importing import writing
from hawkeye_bench.judging.session import JudgeSettings, run_judge
from hawkeye_bench.reporting.build import write_report

GSM = load_problems("gsm8k", limit=4)
REPO_JUDGES = Path(__file__).resolve().parent.parent / "judges"


def boxed(index: int, right: bool = True) -> str:
    return f"So the answer is \\boxed{{{GSM[index].gold if right else 99999}}}."


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def import_run(out: Path, path: Path, *args: str) -> int:
    return main(["import", str(path), "--task", "gsm8k", "--out", str(out), "--no-progress",
                 *args])  # fmt: skip


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    """A baseline (100..400 tokens), a hawkeye run (CoT 40..100 tokens, answer 10) and an
    upstream result file with the authors' scores, all imported."""
    base = write_jsonl(tmp_path / "base.jsonl", [
        {"q": p.question, "out": f"<think>long</think>{boxed(i)}", "n": 100 * (i + 1)}
        for i, p in enumerate(GSM)
    ])  # fmt: skip
    hawk = write_jsonl(tmp_path / "hawk.jsonl", [
        {"q": p.question, "cot": f"short cot {i}", "ans": boxed(i, right=i != 3),
         "cot_n": 40 + 20 * i, "ans_n": 10, "cot_s": 1.0, "ans_s": 0.5}
        for i, p in enumerate(GSM)
    ])  # fmt: skip
    upstream = tmp_path / "upstream.json"
    upstream.write_text(json.dumps([
        {"model_output": boxed(i, right=i != 0), "answer": f"#### {p.gold}", "score": 1}
        for i, p in enumerate(GSM)
    ]))  # fmt: skip
    folders = {name: tmp_path / "runs" / name for name in ("base", "hawk", "upstream")}
    generic = ["--format", "generic", "--map"]
    assert (
        import_run(folders["base"], base, *generic, "question=q,text=out,completion_tokens=n") == 0
    )
    mapping = ("question=q,reasoner=cot,responder=ans,reasoner.completion_tokens=cot_n,"
               "responder.completion_tokens=ans_n,reasoner.latency_s=cot_s,"
               "responder.latency_s=ans_s")  # fmt: skip
    assert import_run(folders["hawk"], hawk, *generic, mapping, "--baseline-run",
                      str(folders["base"])) == 0  # fmt: skip
    assert import_run(folders["upstream"], upstream) == 0
    return folders


def summary(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "summary.json").read_text()))


def test_baseline_run_compression_and_timings(runs: dict[str, Path]) -> None:
    data = summary(runs["hawk"])
    # CoT 40, 60, 80, 100 (mean 70) against the baseline's 100..400 (mean 250)
    assert data["compression"]["ratio_percent"] == pytest.approx((1 - 70 / 250) * 100)
    assert data["accuracy"]["correct"] == 3 and data["pipeline"] == "hawkeye"
    assert data["end_to_end_s"]["mean"] == pytest.approx(1.5)  # the two stages one after another
    assert data["stages"]["reasoner"]["token_sources"] == {"usage": 4}


def test_report_reads_imported_runs_with_the_agreement_section(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    report = write_report(list(runs.values()), tmp_path / "report")
    markdown = (tmp_path / "report" / "report.md").read_text()
    sections = {s.key: s for s in report.sections}
    accuracy = sections["accuracy"].tables[0]
    assert len(accuracy.rows) == 3
    (row,) = sections["agreement"].tables[0].rows
    assert row["run"] == "upstream" and row["file_accuracy"] == 1.0
    assert row["harness_accuracy"] == 0.75 and row["disagreeing"] == 1
    assert "Agreement with the imported files' own verdicts" in markdown


def test_cost_and_reward_read_imported_runs(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cost", str(runs["base"]), str(runs["hawk"]), "--preset", "poster"]) == 0
    # (70 reasoner + 0.1 x 10 responder tokens) / 250 baseline tokens
    assert f"{(70 + 1) / 250:.1%}" in capsys.readouterr().out
    assert main(["reward", str(runs["hawk"]), "--reward", "think"]) == 0
    lines = (runs["hawk"] / "rewards.jsonl").read_text().splitlines()
    assert len(lines) == 4


def test_judge_reads_imported_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    judges = tmp_path / "judges"
    shutil.copytree(REPO_JUDGES / "rubrics", judges / "rubrics")
    write_panel(judges, "fake", [fake_judge("j1")])
    backend = FakeBackend(lambda messages, params: scores_reply({"clarity": 7}))
    settings = JudgeSettings(
        runs=[runs["base"], runs["hawk"]], out=tmp_path / "judged", panel="fake",
        criteria=("clarity",), judges_dir=judges, bootstrap_resamples=200,
    )  # fmt: skip
    code = run_judge(settings, backend_factory=lambda spec: backend, out=io.StringIO(),
                     err=io.StringIO())  # fmt: skip
    assert code == 0
    judged = (tmp_path / "judged" / "judgements.jsonl").read_text().splitlines()
    assert len(judged) == 8  # 4 answers per run, one criterion, one judge


def test_an_interrupted_import_resumes_to_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"q": p.question, "t": boxed(i, right=i % 2 == 0)} for i, p in enumerate(GSM)]
    path = write_jsonl(tmp_path / "o.jsonl", rows * 2)  # two samples per problem
    args = ["--format", "generic", "--map", "question=q,text=t"]
    whole = tmp_path / "whole"
    assert import_run(whole, path, *args) == 0

    monkeypatch.setattr(writing, "BATCH", 3)
    real = writing._grade
    calls = []

    def interrupted_on_the_second_batch(*a: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(*a)

    monkeypatch.setattr(writing, "_grade", interrupted_on_the_second_batch)
    out = tmp_path / "cut"
    assert import_run(out, path, *args) == 130
    assert len(RunStore(out).load_records()) == 3
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(writing, "_grade", real)

    assert import_run(out, path, *args) == 2  # a second import into it needs --resume
    assert "add --resume" in capsys.readouterr().err
    assert import_run(out, path, *args, "--resume") == 0
    resumed = {r.key: r.correct for r in RunStore(out).load_records()}
    assert resumed == {r.key: r.correct for r in RunStore(whole).load_records()}
    assert len(resumed) == 8 and summary(out)["accuracy"]["avg@2"] == 0.5

    path.write_text(path.read_text() + json.dumps(rows[0]) + "\n")  # the file changed
    assert import_run(out, path, *args, "--resume") == 2
    assert "cannot resume" in capsys.readouterr().err
