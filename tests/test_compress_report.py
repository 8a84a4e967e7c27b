"""A compress sweep with two responders against the scripted server (one word = one token):
every compression is made once and read by both responders, and `hawkeye-bench report` turns
the sweep folder into the compression section (tables, both figures, inputs row)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import eval_args, read_json, read_jsonl, run_cli
from test_compress import (
    COMPRESSOR,
    JANET_COT,
    JANET_SHORT,
    RESPONDER,
    ROBE_COT,
    WRITER,
    compress_rules,
)

from hawkeye_bench.reporting.compress_section import NO_COMPRESS
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer

# JANET_SHORT keeps 12 of JANET_COT's 20 words: achieved 0.6.
ROBE_SHORT = "Blue 2. White 1. Total 3."  # 6 of ROBE_COT's 17 words


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """One sweep, two responders (models small-a, small-b on one server), shares 0.5 and 0.25,
    methods llm and truncate; the scripted responder answers 18 to Janet and 2 to the robe."""
    config = ScriptedConfig(rules=compress_rules(ROBE_SHORT))
    out = tmp_path_factory.mktemp("compress") / "sweep"
    server = ScriptedServer(config)
    url = server.start()
    try:
        args = ["compress-sweep", "--task", "gsm8k", "--limit", "2", "--out", str(out)]
        args += ["--no-progress", "--endpoint", url, "--model", "big"]
        args += ["--responder-model", "small-a", "--responder-model", "small/b"]
        args += ["--keep", "0.5,0.25", "--methods", "llm,truncate"]
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        yield out, list(server.requests)  # one entry per completion request
    finally:
        server.stop()


def test_every_compression_is_made_once_for_both_responders(
    sweep: tuple[Path, list[dict[str, Any]]],
) -> None:
    out, requests = sweep
    bodies = [r["body"] for r in requests if "body" in r]
    prompts = [(b["model"], b["messages"][-1]["content"]) for b in bodies]
    assert sum(WRITER in p for _, p in prompts) == 2  # once per problem
    assert sum(COMPRESSOR in p for _, p in prompts) == 4  # 2 problems x 2 shares, not x 2
    answers = [m for m, p in prompts if RESPONDER in p]
    # per responder: none, full, llm x 2 shares, truncate x 2 shares = 6 runs x 2 problems;
    # the llm compressions at 0.5 and 0.25 are the same scripted texts, so 4 runs' worth
    assert answers.count("small-a") == answers.count("small/b") == 10
    assert {p.name for p in (out / "runs").iterdir()} == {"small-a", "small--b"}
    a = read_jsonl(out / "runs" / "small-a" / "llm-keep0.25" / "records.jsonl")
    b = read_jsonl(out / "runs" / "small--b" / "llm-keep0.25" / "records.jsonl")
    info_a = {r["id"]: r["trace"]["extra"]["compress"] for r in a}
    info_b = {r["id"]: r["trace"]["extra"]["compress"] for r in b}
    assert info_a["gsm8k/0"]["compressed"] == info_b["gsm8k/0"]["compressed"] == JANET_SHORT
    assert info_b["gsm8k/0"]["achieved_keep"] == pytest.approx(0.6)
    assert info_b["gsm8k/1"]["achieved_keep"] == pytest.approx(6 / 17)
    assert info_a["gsm8k/0"]["tokenizer"] == info_b["gsm8k/0"]["tokenizer"] == "small-a"
    assert "compression" in info_b["gsm8k/0"]["cache_hits"]
    with (out / "compress_table.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12
    assert {r["responder"] for r in rows} == {"small-a", "small/b"}
    sweep_file = read_json(out / "sweep.json")
    assert [r["folder"] for r in sweep_file["responders"]] == ["small-a", "small--b"]


def test_report_has_the_compression_section_with_both_figures(
    sweep: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    out, _ = sweep
    report_dir = tmp_path / "report"
    result = run_cli("report", str(out), "--out", str(report_dir))
    assert result.returncode == 0, result.stderr
    report = json.loads((report_dir / "report.json").read_text())
    section = next(s for s in report["sections"] if s["key"] == "compression")
    assert section["missing"] is None
    accuracy, achieved = section["tables"]
    rows = {(r["responder"], r["method"], r["kept_requested"]): r for r in accuracy["rows"]}
    assert len(rows) == 12
    truncate = rows[("small/b", "truncate", 0.5)]
    # truncate at 0.5: Janet's CoT keeps 10 of 20 words (no 18: answers 18 anyway), robe 9/17
    assert truncate["kept_achieved"] == pytest.approx((0.5 + 9 / 17) / 2)
    assert truncate["compression_requested"] == 0.5
    assert truncate["n"] == 2 and truncate["accuracy"] == 0.5
    low, high = truncate["accuracy_ci"]
    assert low < 0.5 < high
    assert rows[("small-a", "none", 0.0)]["kept_achieved"] == 0.0
    assert any(s.endswith("sweep.json") for s in truncate["sources"])
    by_share = {(r["method"], r["kept_requested"]): r for r in achieved["rows"]}
    assert set(by_share) == {("llm", 0.5), ("llm", 0.25), ("truncate", 0.5), ("truncate", 0.25)}
    llm = by_share[("llm", 0.25)]
    # both responders read one compression per problem: counted once
    assert llm["items"] == 2 and llm["over_request"] == 2
    assert llm["mean"] == pytest.approx((0.6 + 6 / 17) / 2)
    assert llm["tokenizer"] == "small-a (tokenize)"
    files = [f["file"] for f in section["figures"]]
    assert files == ["compress_accuracy.png", "compress_achieved.png"]
    for name in files:
        assert (report_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kinds = [p["kind"] for p in report["provenance"]]
    assert kinds == ["compress sweep"]
    markdown = (report_dir / "report.md").read_text()
    assert "Compression study" in markdown and "compression rate" in markdown


def test_report_without_compress_runs_says_what_is_missing(tmp_path: Path) -> None:
    from hawkeye_bench.reporting.build import build_report
    from hawkeye_bench.reporting.inputs import Inputs

    report = build_report(Inputs(), tmp_path)
    section = next(s for s in report.sections if s.key == "compression")
    assert section.missing == NO_COMPRESS and not section.tables and not section.figures


def test_report_reads_a_single_compress_run_with_its_method_and_share(tmp_path: Path) -> None:
    config = ScriptedConfig(
        rules=[
            ReplyRule(match=rf"{WRITER}[\s\S]*Janet", content=JANET_COT),
            ReplyRule(match=rf"{WRITER}[\s\S]*robe", content=ROBE_COT),
            ReplyRule(match=rf"Janet[\s\S]*{RESPONDER}", content="So \\boxed{18}"),
            ReplyRule(match=rf"robe[\s\S]*{RESPONDER}", content="So \\boxed{3}"),
        ],
    )
    run = tmp_path / "run"
    with ScriptedServer(config) as url:
        result = run_cli(
            *eval_args(run, "--keep", "0.3", "--methods", "truncate", url=url,
                       pipeline="compress", limit=2)
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    report_dir = tmp_path / "report"
    assert run_cli("report", str(run), "--out", str(report_dir)).returncode == 0
    report = json.loads((report_dir / "report.json").read_text())
    section = next(s for s in report["sections"] if s["key"] == "compression")
    (row,) = section["tables"][0]["rows"]
    assert (row["responder"], row["method"], row["kept_requested"]) == ("m", "truncate", 0.3)
    # truncate at 0.3: 6 of Janet's 20 words, 5 of the robe's 17
    assert row["kept_achieved"] == pytest.approx((6 / 20 + 5 / 17) / 2)
    assert row["accuracy"] == 1.0 and row["sources"] == ["../run/records.jsonl"]
    # a run with no anchors still gets its figures; the accuracy section shows it too
    assert [f["file"] for f in section["figures"]] == [
        "compress_accuracy.png",
        "compress_achieved.png",
    ]
    accuracy = next(s for s in report["sections"] if s["key"] == "accuracy")
    assert accuracy["missing"] is None


def _planned_responders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *argv: str
) -> list[tuple[str, str, str]]:
    """(folder, URL, model) of every run compress-sweep would start (runs are not started)."""
    from hawkeye_bench import cli
    from hawkeye_bench.commands import sweep_runner

    planned: list[tuple[str, str, str]] = []

    def fake_run(plan: Any) -> int:
        endpoint = plan.endpoints["responder"]
        planned.append((plan.out.parent.name, endpoint.base_url, endpoint.model))
        return 0

    monkeypatch.setattr(sweep_runner, "run_eval", fake_run)
    args = ["compress-sweep", "--limit", "1", "--out", str(tmp_path / "s"), "--keep", "0.5"]
    assert cli.main([*args, "--methods", "truncate", *argv]) == 0
    return list(dict.fromkeys(planned))


def test_responder_flags_pair_in_order_and_win_over_the_config_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text("endpoint: http://big/v1\nmodel: big\nresponder_model: [small-a, small/b]\n")
    from_file = _planned_responders(monkeypatch, tmp_path / "a", "--config", str(config))
    assert from_file == [
        ("small-a", "http://big/v1", "small-a"),
        ("small--b", "http://big/v1", "small/b"),
    ]
    flags = ["--responder-url", "http://u1/v1", "--responder-url", "http://u2/v1"]
    flags += ["--responder-model", "c"]  # one model shared by both servers
    from_flags = _planned_responders(monkeypatch, tmp_path / "b", "--config", str(config), *flags)
    assert from_flags == [("c", "http://u1/v1", "c"), ("c-2", "http://u2/v1", "c")]


def test_responder_flags_that_do_not_pair_are_refused(tmp_path: Path) -> None:
    args = ["compress-sweep", "--out", str(tmp_path / "s"), "--endpoint", "http://x/v1"]
    args += ["--model", "m", "--responder-model", "a", "--responder-model", "b"]
    result = run_cli(*args, "--responder-url", "u", "--responder-url", "v", "--responder-url", "w")
    assert result.returncode == 2
    assert "--responder-model given 2 times for 3 responders" in result.stderr


def test_several_writers_each_called_once_per_problem_and_drawn_apart(tmp_path: Path) -> None:
    """Two writers (on two servers, writing different CoTs) and two responders: each writer is
    called once per problem, each compression is made once per writer and share (not per
    responder), and the report keeps one row and line per (writer, responder, method)."""
    one = ScriptedServer(ScriptedConfig(rules=compress_rules(ROBE_SHORT)))
    two = ScriptedServer(
        ScriptedConfig(
            rules=[
                ReplyRule(match=rf"{WRITER}[\s\S]*Janet", content="B: " + JANET_COT),
                ReplyRule(match=rf"{WRITER}[\s\S]*robe", content="B: " + ROBE_COT),
            ]
        )
    )
    out = tmp_path / "sweep"
    with one as url, two as url_two:
        args = ["compress-sweep", "--task", "gsm8k", "--limit", "2", "--out", str(out)]
        args += ["--no-progress", "--endpoint", url, "--model", "big"]
        args += ["--writer-url", url, "--writer-model", "big-a"]
        args += ["--writer-url", url_two, "--writer-model", "big-b"]
        args += ["--responder-model", "small-a", "--responder-model", "small-b"]
        args += ["--keep", "0.5", "--methods", "llm"]
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        prompts = [
            (r["body"]["model"], r["body"]["messages"][-1]["content"])
            for server in (one, two)
            for r in server.requests
            if "body" in r
        ]
    writers = [m for m, p in prompts if WRITER in p]
    assert sorted(writers) == ["big-a", "big-a", "big-b", "big-b"]  # once per problem each
    assert sum(COMPRESSOR in p for _, p in prompts) == 4  # 2 problems x 2 writers, not x 2
    assert {p.name for p in (out / "runs").iterdir()} == {"big-a", "big-b"}
    assert (out / "runs" / "big-b" / "small-b" / "llm-keep0.5" / "records.jsonl").is_file()
    with (out / "compress_table.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 2 * 3  # writers x responders x (none, full, llm 0.5)
    assert {(r["writer"], r["responder"]) for r in rows} == {
        (w, r) for w in ("big-a", "big-b") for r in ("small-a", "small-b")
    }
    report_dir = tmp_path / "report"
    assert run_cli("report", str(out), "--out", str(report_dir)).returncode == 0
    report = json.loads((report_dir / "report.json").read_text())
    section = next(s for s in report["sections"] if s["key"] == "compression")
    accuracy = section["tables"][0]["rows"]
    keys = {(r["configuration"], r["responder"], r["method"]) for r in accuracy}
    assert len(keys) == len(accuracy) == 12
    assert {r["configuration"] for r in accuracy} == {"writer=big-a", "writer=big-b"}
    provenance = next(p for p in report["provenance"] if p["kind"] == "compress sweep")
    assert provenance["details"]["writers"] == "big-a, big-b"
