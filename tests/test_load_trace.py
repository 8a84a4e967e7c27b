"""Trace replay (`load --trace`): Mooncake JSONL and Azure CSV traces read and checked row by
row before any request, replayed at their times (scaled by --trace-speed) with filler prompts
of the asked input length and max_tokens of the asked output length."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hawkeye_bench import cli
from hawkeye_bench.load.arrivals import TraceSchedule, trace_rate
from hawkeye_bench.load.records import read_requests
from hawkeye_bench.load.traces import (
    TraceError,
    TraceRow,
    distinct_arrival_share,
    filler_messages,
    read_trace,
)
from hawkeye_bench.testing.scripted_server import Fault, ScriptedConfig, ScriptedServer

DATA = Path(__file__).resolve().parent / "data"
MOONCAKE = DATA / "load_trace_mooncake.jsonl"
AZURE = DATA / "load_trace_azure.csv"


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`hawkeye-bench ARGV` in-process: the exit code and stderr (argparse errors exit 2)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def test_the_shipped_traces_read_relative_to_their_first_row() -> None:
    mooncake = read_trace(MOONCAKE)
    assert len(mooncake) == 16 and mooncake[0] == TraceRow(0.0, 12, 2)
    assert mooncake[-1].at_s == pytest.approx(1.5)  # milliseconds -> seconds
    azure = read_trace(AZURE)
    assert [r.at_s for r in azure] == pytest.approx([0, 0.15, 0.3, 0.45, 0.9, 1.2])
    assert (azure[0].input_tokens, azure[0].output_tokens) == (40, 3)
    assert distinct_arrival_share(mooncake) == 15 / 16  # two rows on the same millisecond
    assert trace_rate(azure, speed=2.0) == pytest.approx(5 * 2 / 1.2)


def test_filler_prompts_and_a_trace_split_between_processes() -> None:
    (message,) = filler_messages(7)
    assert message["role"] == "user" and len(message["content"].split()) == 7
    rows = [TraceRow(float(i), 10, 2) for i in range(5)]
    first = TraceSchedule(rows, start=100.0, speed=2.0, index=0, processes=2)
    second = TraceSchedule(rows, start=100.0, speed=2.0, index=1, processes=2)
    assert [step[0] for step in iter(first.next, None)] == [100.0, 101.0, 102.0]  # rows 0, 2, 4
    assert [step[0] for step in iter(second.next, None)] == [100.5, 101.5]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.jsonl", "", "no rows"),
        ("unsorted.jsonl", '{"timestamp": 5, "input_length": 3, "output_length": 2}\n'
         '{"timestamp": 1, "input_length": 3, "output_length": 2}\n', ":2: timestamp earlier"),
        ("negative.jsonl", '{"timestamp": -1, "input_length": 3, "output_length": 2}\n',
         ":1: negative timestamp"),
        ("missing.jsonl", '{"input_length": 3, "output_length": 2}\n', ":1: missing timestamp"),
        ("fraction.jsonl", '{"timestamp": 0, "input_length": 3.5, "output_length": 2}\n',
         ":1: input_length 3.5 is not a whole number"),
        ("text.jsonl", '{"timestamp": 0, "input_length": "3", "output_length": 2}\n',
         ":1: input_length '3' is not a whole number"),
        ("zero.jsonl", '{"timestamp": 0, "input_length": 3, "output_length": 0}\n',
         ":1: output_length 0 is not a whole number of tokens >= 1"),
        ("bad.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n,3,2\n", ":2: missing TIMESTAMP"),
        ("columns.csv", "time,in,out\n1,2,3\n", "no column TIMESTAMP"),
        ("lengths.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
         "2023-11-16 18:17:03.9799600,many,2\n", ":2: ContextTokens 'many' is not a whole"),
        ("trace.txt", "x", "expected a .jsonl (Mooncake) or .csv (Azure) file"),
    ],
)  # fmt: skip
def test_a_bad_trace_is_one_line_naming_the_row(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TraceError, match=None) as raised:
        read_trace(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_bad_trace_fails_the_command_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "t.jsonl"
    bad.write_text('{"timestamp": 5, "input_length": 3, "output_length": 2}\n'
                   '{"timestamp": 1, "input_length": 3, "output_length": 2}\n')  # fmt: skip
    server = ScriptedServer(ScriptedConfig())
    with server as url:
        code, err = run_main(["load", "--target", f"s={url}", "--trace", str(bad),
                              "--out", str(tmp_path / "out")], capsys)  # fmt: skip
        calls = server.stats()["by_path"]
    assert code == 2 and f"{bad}:2: timestamp earlier than the row before" in err
    assert calls == {}
    code, err = run_main(["load", "--target", f"s={url}", "--trace", str(MOONCAKE), "--rate",
                          "5"], capsys)  # fmt: skip
    assert code == 2 and "--trace sets the arrivals itself" in err


@pytest.mark.slow
def test_a_trace_is_replayed_at_its_times_with_its_lengths(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with ScriptedServer(ScriptedConfig(ttft_ms=10, gap_ms=5, tokens=16)) as url:
        code = cli.main(["load", "--target", f"s={url}", "--trace", str(MOONCAKE),
                         "--trace-speed", "2", "--max-concurrency", "8",
                         "--out", str(out)])  # fmt: skip
    assert code == 0
    (stage,) = json.loads((out / "load_results.json").read_text())["stages"]
    assert stage["stage"] == "s/trace" and stage["reliable"], stage["unreliable_reasons"]
    records = sorted(read_requests(Path(stage["raw_dir"])), key=lambda r: r.t_send_perf)
    rows = read_trace(MOONCAKE)
    assert len(records) == len(rows) == stage["trace"]["sent"]
    # each request asked the row's output length (the scripted server writes up to max_tokens)
    assert sorted(r.trace_output_tokens for r in records) == sorted(r.output_tokens for r in rows)
    assert all(r.output_tokens == r.trace_output_tokens for r in records)
    assert all(r.ignore_eos for r in records) and stage["trace"]["ignore_eos_sent"] == 16
    # due at the trace's times, twice as fast
    due = sorted(r.t_scheduled_perf for r in records if r.t_scheduled_perf is not None)
    assert [d - due[0] for d in due] == pytest.approx([r.at_s / 2 for r in rows], abs=1e-6)
    # the server counted the prompt tokens: measured, not assumed
    assert stage["trace"]["input_measured_per_asked"] is not None


@pytest.mark.slow
def test_a_server_that_rejects_ignore_eos_is_sent_none_and_it_is_stated(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rejection = '{"error": {"message": "unknown field: ignore_eos"}}'
    config = ScriptedConfig(ttft_ms=5, gap_ms=2, tokens=8,
                            faults=[Fault(kind="body", status=400, payload=rejection,
                                          first_n=1)])  # fmt: skip
    with ScriptedServer(config) as url:
        code = cli.main(["load", "--target", f"s={url}", "--trace", str(AZURE),
                         "--trace-speed", "4", "--out", str(out)])  # fmt: skip
    assert code == 0
    (stage,) = json.loads((out / "load_results.json").read_text())["stages"]
    assert stage["requests"]["errors"] == 0 and stage["trace"]["sent"] == 6  # resent without it
    assert stage["trace"]["ignore_eos_refused"] is True
    assert stage["trace"]["ignore_eos_sent"] == 0
    assert "server rejected ignore_eos" in Path(stage["locust_log"]).read_text()
