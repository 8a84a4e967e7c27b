"""Raw load files after a killed Locust: a torn last line is dropped and counted; any other bad
line is a one-line error naming the file and line, in `load` and in `report`."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import report_fixtures as fx

from hawkeye_bench.commands import load as load_command
from hawkeye_bench.core.jsonl import read_jsonl
from hawkeye_bench.load import runner
from hawkeye_bench.load.records import RawRecordError, RequestRecord, load_requests
from hawkeye_bench.load.runner import LoadPlan, StageRun, Target, analyse_stage
from hawkeye_bench.load.stage_result import TornLines
from hawkeye_bench.reporting import ReportInputError, write_report
from hawkeye_bench.reporting.inputs import read_load
from hawkeye_bench.reporting.load_inputs import load_stages
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hawkeye-bench")
    load_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def ok_record(seq: int) -> RequestRecord:
    chunks = [[100.0 + 10 * k, 1, "c"] for k in range(4)]
    return RequestRecord(
        t_send_wall=1000.0 + seq,
        t_send_perf=50.0 + seq,
        pid=1,
        seq=seq,
        status=200,
        tt_ack_ms=1.0,
        ttft_ms=100.0,
        ttft_content_ms=100.0,
        e2e_ms=130.0,
        e2e_done_ms=131.0,
        output_tokens=4,
        output_tokens_source="usage",
        chunk_tokens_source="usage",
        chunks=chunks,
    )


def write_raw(raw: Path, n: int = 2, tail: str = "") -> Path:
    """n good request lines (+ ``tail``) and a CPU file whose last line is torn."""
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / "requests-1.jsonl"
    path.write_text("".join(ok_record(s).to_json() + "\n" for s in range(n)) + tail)
    (raw / "cpu-1.jsonl").write_text('{"t": 1.0, "cpu": 10.0}\n{"t": 2.0, "cpu": 12.0}\n{"t": 3')
    return path


def stage_run(tmp_path: Path, raw: Path, exit_code: int = -9) -> tuple[LoadPlan, StageRun]:
    plan = LoadPlan(targets=[Target("t", "http://x")], concurrencies=[1], out_dir=tmp_path,
                    requests=2)  # fmt: skip
    log = tmp_path / "locust.log"
    log.write_text("locust ...\n")
    return plan, StageRun(plan.targets[0], 1, raw, log, exit_code, 1.0)


def torn(path: Path) -> tuple[list[dict], int]:
    read = read_jsonl(path)
    return read.rows, read.torn


def test_tolerant_reader_drops_only_an_unterminated_bad_last_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3, "b"')
    assert torn(path) == ([{"a": 1}, {"a": 2}], 1)
    path.write_text('{"a": 1}\n{"a": 2}')  # complete, only the newline is missing: kept
    assert torn(path) == ([{"a": 1}, {"a": 2}], 0)
    path.write_bytes('{"a": 1}\n{"a": "é'.encode()[:-1])  # cut inside a UTF-8 character
    assert torn(path) == ([{"a": 1}], 1)
    path.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')  # not the last line: an error
    with pytest.raises(ValueError, match=r"x\.jsonl:2: malformed JSON"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n{"a": \n')  # last, but terminated: written whole, so an error
    with pytest.raises(RawRecordError, match=r"x\.jsonl:2: "):
        read_jsonl(path, error=RawRecordError)
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"x\.jsonl:2: expected a JSON object"):
        read_jsonl(path)


def test_stage_with_torn_lines_is_analysed_and_the_count_reported(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_raw(raw, tail=ok_record(9).to_json()[:57])  # SIGKILL mid-write
    records, torn = load_requests(raw)
    assert len(records) == 2 and torn == 1
    plan, run = stage_run(tmp_path, raw)
    stage = analyse_stage(plan, run)
    assert stage.failed is None
    assert stage.requests.ok == 2
    assert stage.torn_lines == TornLines(requests=1, cpu=1)
    assert stage.cpu.sampled


@pytest.mark.parametrize(
    ("tail", "where", "what"),
    [
        ('{"t_send_perf": \n' + ok_record(5).to_json() + "\n", ":3: ", "malformed JSON"),
        ('{"no": "record"}\n', ":3: ", "not a request record"),
        ('{"t_send_perf": 1.0}\n', ":3: ", "not a request record"),
    ],
)
def test_other_bad_lines_fail_the_stage_with_file_and_line(
    tmp_path: Path, tail: str, where: str, what: str
) -> None:
    raw = tmp_path / "raw"
    path = write_raw(raw, tail=tail)
    plan, run = stage_run(tmp_path, raw, exit_code=0)
    stage = analyse_stage(plan, run)  # no exception: the run goes on to the next stage
    assert stage.failed is not None
    assert stage.failed.startswith(f"{path}{where}") and what in stage.failed
    assert "\n" not in stage.failed
    assert stage.reliable is False


def test_load_writes_results_when_a_raw_file_is_torn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def killed_stage(
        plan: LoadPlan, target: Target, concurrency: int, _: object, rate: object = None
    ) -> StageRun:
        raw = plan.out_dir / "raw" / target.name / f"c{concurrency}"
        write_raw(raw, tail=ok_record(9).to_json()[:40])
        log = plan.out_dir / "locust.log"
        log.write_text("killed at the deadline\n")
        return StageRun(target, concurrency, raw, log, 0, 1.0)

    monkeypatch.setattr(runner, "run_stage", killed_stage)
    out = tmp_path / "out"
    with ScriptedServer(ScriptedConfig()) as url:
        code = cli_main(
            ["load", "--target", f"t={url}", "--concurrency", "1", "--requests", "2",
             "--prompt-limit", "2", "--out", str(out)]
        )  # fmt: skip
    assert code == 1, capsys.readouterr()  # a torn record is a lost request: unreliable
    (stage,) = json.loads((out / "load_results.json").read_text())["stages"]
    assert stage["torn_lines"] == {"requests": 1, "cpu": 1} and stage["requests"]["ok"] == 2
    assert stage["reliable"] is False
    assert "torn" in (out / "load_table.md").read_text()


def test_report_drops_a_torn_line_and_names_a_bad_one(tmp_path: Path) -> None:
    folder = fx.write_load(tmp_path / "in")
    raw = next((folder / "raw").glob("*/c*/requests-*.jsonl"))
    good = raw.read_text()
    raw.write_text(good + good.splitlines()[0][:50])
    stages, notes = load_stages(read_load(folder))
    assert len(stages) == len(fx.LOAD_SHAPES) * len(fx.LOAD_CONCURRENCIES)
    assert all(s.metrics.requests.recorded == fx.REQUESTS_PER_STAGE for s in stages)
    assert any("torn" in note and str(raw.parent) in note for note in notes)
    write_report([folder], tmp_path / "report")  # the report is written
    raw.write_text(good.splitlines()[0][:50] + "\n" + good)
    with pytest.raises(ReportInputError, match=re.escape(f"{raw}:1: malformed JSON")):
        write_report([folder], tmp_path / "report2")
