"""`hawkeye-bench report` from fixture inputs of every kind: numbers, figures, gaps, bad input."""

from __future__ import annotations

import json
import math
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import report_fixtures as fx

from hawkeye_bench.cli import main as cli_main
from hawkeye_bench.core.stats import Z95, wilson_interval
from hawkeye_bench.reporting import ReportInputError, read_inputs, write_report
from hawkeye_bench.reporting.build import NO_ACCURACY, NO_JUDGE, NO_LOAD, NO_PASS_AT_K

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return fx.write_all(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def full_report(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(list(inputs.values()), out)
    return out


def report_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text())


def table(report: dict[str, Any], name: str) -> dict[str, Any]:
    for section in report["sections"]:
        for t in section["tables"]:
            if t["name"] == name:
                return t
    raise AssertionError(f"no table {name}")


def row(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --------------------------------------------------------------------------- numbers


def test_accuracy_table_equals_numbers_computed_from_the_records(full_report: Path) -> None:
    rows = table(report_json(full_report), "accuracy")["rows"]
    base = row(rows, run="gsm8k-baseline")
    assert base["accuracy"] == pytest.approx(3 / 4)
    assert base["accuracy_ci"] == pytest.approx(list(wilson_interval(3, 4)))
    assert base["full_tokens"] == pytest.approx(np.mean(fx.BASE_TOKENS))
    assert base["cot_only_tokens"] is None
    hawk = row(rows, run="gsm8k-hawkeye")
    cot = np.mean(fx.COT_TOKENS)
    full = np.mean(np.add(fx.COT_TOKENS, fx.ANSWER_TOKENS))
    assert hawk["accuracy"] == pytest.approx(2 / 4)
    assert hawk["cot_only_tokens"] == pytest.approx(cot)
    assert hawk["full_tokens"] == pytest.approx(full)
    assert hawk["compression_percent"] == pytest.approx((1 - cot / np.mean(fx.BASE_TOKENS)) * 100)
    assert hawk["compression_pairs"] == 4
    assert hawk["accuracy_per_1k_tokens"] == pytest.approx(50.0 / (full / 1000))
    assert hawk["sources"][0].endswith("gsm8k-hawkeye/records.jsonl")
    md = (full_report / "report.md").read_text()
    assert "| gsm8k | Hawkeye | gsm8k-hawkeye | 4 | 50.0 [15.0, 85.0] |" in md


def test_lm_eval_rows_from_samples(full_report: Path) -> None:
    rows = table(report_json(full_report), "accuracy")["rows"]
    base = row(rows, run="lm-eval-baseline:hawkeye_gsm8k (lm-eval)")
    hawk = row(rows, run="lm-eval-hawkeye:hawkeye_gsm8k (lm-eval)")
    docs = fx.LM_DOCS
    assert base["accuracy"] == pytest.approx(np.mean([d[0] for d in docs["baseline"]]))
    assert base["full_tokens"] == pytest.approx(np.mean([d[2] for d in docs["baseline"]]))
    cot = np.mean([d[1] for d in docs["hawkeye"]])
    assert hawk["cot_only_tokens"] == pytest.approx(cot)
    base_full = np.mean([d[2] for d in docs["baseline"]])
    assert hawk["compression_percent"] == pytest.approx((1 - cot / base_full) * 100)
    assert any("samples_hawkeye_gsm8k" in s for s in hawk["sources"])


def test_eval_latency_table_paper_columns_and_both_speedups(full_report: Path) -> None:
    rows = table(report_json(full_report), "latency_eval")["rows"]
    base = row(rows, dataset="gsm8k", method="Baseline (Full)")
    cot = row(rows, dataset="gsm8k", method="Hawkeye (CoT only)")
    full = row(rows, dataset="gsm8k", method="Hawkeye (Full)")
    base_time = np.mean([2.0 + i for i in range(4)])
    assert base["time_mean_s"] == pytest.approx(base_time)
    assert cot["time_mean_s"] == pytest.approx(1.0)
    assert full["time_mean_s"] == pytest.approx(1.5)  # reasoner send -> responder last token
    assert cot["speedup"] == pytest.approx(base_time / 1.0)
    assert full["speedup"] == pytest.approx(base_time / 1.5)
    # pooled TBT: sum(latency - ttft) / sum(tokens - 1)
    expected_tbt = sum(2.0 + i - 0.5 for i in range(4)) / sum(t - 1 for t in fx.BASE_TOKENS)
    assert base["tbt_mean_s"] == pytest.approx(expected_tbt)
    assert full["tokens_mean"] == pytest.approx(np.mean(np.add(fx.COT_TOKENS, fx.ANSWER_TOKENS)))
    assert base["concurrency"] == fx.EVAL_CONCURRENCY
    md = (full_report / "report.md").read_text()
    assert "Baseline (Full) / Hawkeye (CoT only) = 3.50× (tokens 28.0% of Baseline's)" in md


def test_load_latency_table_recomputed_from_raw_requests(full_report: Path) -> None:
    rows = table(report_json(full_report), "latency_load")["rows"]
    for concurrency in fx.LOAD_CONCURRENCIES:
        e2e = {}
        for target, (ttft, gap, per_chunk, n_chunks) in fx.LOAD_SHAPES.items():
            r = row(rows, method=target, concurrency=concurrency)
            ttfts = [ttft + s * 2.0 * concurrency for s in range(fx.REQUESTS_PER_STAGE)]
            times = [t + (n_chunks - 1) * gap for t in ttfts]
            e2e[target] = np.mean(times) / 1000
            assert r["n"] == fx.REQUESTS_PER_STAGE
            assert r["time_mean_s"] == pytest.approx(e2e[target])
            assert r["ttft_p50_s"] == pytest.approx(np.percentile(ttfts, 50) / 1000)
            assert r["ttft_p90_s"] == pytest.approx(np.percentile(ttfts, 90) / 1000)
            assert r["ttft_p99_s"] == pytest.approx(np.percentile(ttfts, 99) / 1000)
            assert r["time_p99_s"] == pytest.approx(np.percentile(times, 99) / 1000)
            assert r["tbt_mean_s"] == pytest.approx(gap / per_chunk / 1000)
            assert r["tokens_mean"] == pytest.approx(per_chunk * n_chunks)
            assert r["metrics_from"] == "raw"
            assert any(
                Path(s).name.startswith("requests-") and s.endswith("-1.jsonl")
                for s in r["sources"]
            )
        hawk = row(rows, method="hawkeye", concurrency=concurrency)
        assert hawk["speedup"] == pytest.approx(e2e["baseline"] / e2e["hawkeye"])
        # CoT-only view of the pipeline: send -> last reasoning chunk (chunks 0..4 of 10)
        ttft, gap, _, n_chunks = fx.LOAD_SHAPES["hawkeye"]
        ends = [
            ttft + s * 2.0 * concurrency + (n_chunks // 2 - 1) * gap
            for s in range(fx.REQUESTS_PER_STAGE)
        ]
        cot = row(rows, method="hawkeye (CoT only)", concurrency=concurrency)
        assert cot["time_mean_s"] == pytest.approx(np.mean(ends) / 1000)
        assert cot["speedup"] == pytest.approx(e2e["baseline"] / (np.mean(ends) / 1000))


def test_judge_scores_from_judgements_exclude_failures_and_match_judge_summary(
    full_report: Path, inputs: dict[str, Path]
) -> None:
    rows = table(report_json(full_report), "judge_scores")["rows"]
    for judge in fx.JUDGES:
        r = row(rows, criterion="conciseness", judge=judge, run="gsm8k-hawkeye")
        expected = [fx.judge_score(judge, "conciseness", "gsm8k-hawkeye", i) for i in range(4)]
        assert r["mean"] == pytest.approx(np.mean(expected))
        assert r["ci95"][0] <= r["mean"] <= r["ci95"][1]
    # the failed judgement of j1 on gsm8k-baseline is not counted
    assert row(rows, criterion="clarity", judge="j1", run="gsm8k-baseline")["n_answers"] == 4
    panel = row(rows, criterion="conciseness", judge="panel", run="gsm8k-hawkeye")
    summary = json.loads((inputs["judged"] / "judge_summary.json").read_text())
    assert panel["mean"] == pytest.approx(
        summary["means"]["conciseness"]["panel"]["gsm8k-hawkeye"]["mean"]
    )
    diffs = table(report_json(full_report), "judge_differences")["rows"]
    d = row(diffs, criterion="conciseness", judge="panel")
    assert d["difference"] == pytest.approx(2.0)
    md = (full_report / "report.md").read_text()
    assert "Length bias" in md and "68%" in md


def test_pass_at_k_from_samples(full_report: Path) -> None:
    rows = table(report_json(full_report), "pass_at_k")["rows"]
    r = row(rows, run="aime-hawkeye")
    # problem 0: 3 of 4 correct; problem 1: 1 of 4
    assert r["k"] == 4
    assert r["avg_at_k"] == pytest.approx(0.5)
    assert r["pass@1"] == pytest.approx(0.5)
    assert r["pass@2"] == pytest.approx((1.0 + (1 - math.comb(3, 2) / math.comb(4, 2))) / 2)
    assert r["pass@4"] == pytest.approx(1.0)


def test_every_row_names_existing_source_files_and_no_secret_leaks(full_report: Path) -> None:
    report = report_json(full_report)
    for section in report["sections"]:
        for t in section["tables"]:
            for r in t["rows"]:
                assert r["sources"], (t["name"], r)
                for source in r["sources"]:
                    assert (full_report / source).is_file(), source
    md = (full_report / "report.md").read_text()
    for i, _ in enumerate(report["sources"], start=1):
        assert f"**S{i}**" in md
    text = md + json.dumps(report)
    assert "SHOULD_NOT_SHOW" not in text
    assert "sha256 abababababab" in md  # dataset fingerprint in the provenance
    assert "reasoner=r1-7b, responder=qwen-0.5b" in md


# --------------------------------------------------------------------------- figures


def test_figures_are_valid_pngs_of_sensible_size(full_report: Path) -> None:
    report = report_json(full_report)
    files = [f["file"] for s in report["sections"] for f in s["figures"]]
    assert set(files) >= {
        "accuracy_vs_tokens.png",
        "token_distributions.png",
        "load_latency_cdf.png",
        "tbt_by_position.png",
        "eval_latency_cdf.png",
        "judge_scores.png",
        "pass_at_k.png",
    }
    md = (full_report / "report.md").read_text()
    for name in files:
        width, height = png_size(full_report / name)
        assert 400 <= width <= 4000 and 300 <= height <= 4000, (name, width, height)
        assert f"]({name})" in md


# --------------------------------------------------------------------------- missing and bad input


def test_missing_kinds_give_their_sentence_not_a_table(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    write_report([inputs["baseline"], inputs["hawkeye"]], tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert NO_LOAD in md and NO_JUDGE in md and NO_PASS_AT_K in md
    assert "Judge scores per criterion" not in md
    assert "Latency under load" not in md
    sections = {s["key"]: s for s in report_json(tmp_path)["sections"]}
    assert sections["judges"]["tables"] == [] and sections["judges"]["missing"] == NO_JUDGE

    only_judge = tmp_path / "judge-only"
    write_report([inputs["judged"]], only_judge)
    assert NO_ACCURACY in (only_judge / "report.md").read_text()


def test_a_folder_of_input_folders_is_expanded(inputs: dict[str, Path]) -> None:
    found = read_inputs([inputs["baseline"].parent])
    assert len(found.runs) == 3 and len(found.loads) == 1 and len(found.judgements) == 1
    assert len(found.lm_evals) == 2


def test_unrecognised_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ReportInputError, match="not a recognised input folder") as exc:
        write_report([tmp_path / "empty"], tmp_path / "out")
    assert "records.jsonl" in str(exc.value) and "load_results.json" in str(exc.value)
    with pytest.raises(ReportInputError, match="no such folder"):
        write_report([tmp_path / "nowhere"], tmp_path / "out")


def test_corrupt_inputs_name_the_file(inputs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    good = (inputs["baseline"] / "records.jsonl").read_text().splitlines()
    (run / "records.jsonl").write_text("\n".join([good[0], "{not json", good[1]]) + "\n")
    with pytest.raises(ReportInputError, match=r"run/records.jsonl:2: malformed record"):
        write_report([run], tmp_path / "out")

    load = tmp_path / "load"
    load.mkdir()
    (load / "load_results.json").write_text("{truncated")
    with pytest.raises(ReportInputError, match=r"load_results.json: not valid JSON"):
        write_report([load], tmp_path / "out")

    judge = tmp_path / "judge"
    judge.mkdir()
    (judge / "judgements.jsonl").write_text("")
    with pytest.raises(ReportInputError, match=r"judge_summary\.json"):
        write_report([judge], tmp_path / "out")


def test_cli_writes_the_report_and_exits_2_on_bad_input(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    assert (
        cli_main(["report", str(inputs["baseline"]), str(inputs["load"]), "--out", str(out)]) == 0
    )
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    assert cli_main(["report", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_without_raw_files_or_samples_the_stored_aggregates_are_used(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    load = tmp_path / "load"
    shutil.copytree(inputs["load"], load)
    shutil.rmtree(load / "raw")
    stored = json.loads((load / "load_results.json").read_text())
    for stage in stored["stages"]:
        stage["raw_dir"] = str(tmp_path / "gone")
    (load / "load_results.json").write_text(json.dumps(stored))
    lm = tmp_path / "lm"
    shutil.copytree(inputs["lm_hawkeye"], lm)
    for samples in lm.glob("*/samples_*.jsonl"):
        samples.unlink()
    write_report([load, lm], tmp_path / "out")
    report = report_json(tmp_path / "out")
    rows = table(report, "latency_load")["rows"]
    first = stored["stages"][0]
    r = row(rows, method=first["target"], concurrency=first["concurrency"])
    assert r["metrics_from"] == "load_results.json"
    assert r["time_mean_s"] == pytest.approx(first["metrics"]["e2e_ms"]["mean"] / 1000)
    assert r["sources"] == ["../load/load_results.json"]
    acc = row(table(report, "accuracy")["rows"], method="Hawkeye")
    results = json.loads(next(lm.glob("*/results_*.json")).read_text())["results"]
    em = results["hawkeye_gsm8k"]["exact_match,none"]
    assert acc["accuracy"] == pytest.approx(em)
    assert acc["accuracy_ci"] == pytest.approx([em - Z95 * 0.2, em + Z95 * 0.2])
    assert acc["ci_method"] == "lm-eval stderr"
    assert acc["sources"][0].endswith(".json")


def test_runs_with_every_answer_wrong_or_right_still_plot(tmp_path: Path) -> None:
    """Accuracy 0 and 1 put an interval end exactly on the estimate (a float hair past it
    once broke the error bars)."""
    wrong = fx.write_run(
        tmp_path / "wrong",
        "hawkeye",
        "gsm8k",
        [fx.hawkeye_record("gsm8k", i, correct=False) for i in range(3)],
    )
    right = fx.write_run(
        tmp_path / "right",
        "hawkeye",
        "math500",
        [fx.hawkeye_record("math500", i, correct=True) for i in range(3)],
    )
    report = write_report([wrong, right], tmp_path / "out")
    assert (tmp_path / "out" / "accuracy_vs_tokens.png").is_file()
    assert report is not None
