"""Open-loop load (`load --rate`): seeded arrival schedules, bad input refused before any request,
scheduled and actual send times in every raw record, achieved rate and in-flight counts per
stage, and a stage that cannot keep its rate named and marked unreliable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from hawkeye_bench import cli
from hawkeye_bench.load.arrivals import ArrivalError, ArrivalSpec, Schedule
from hawkeye_bench.load.open_loop import (
    OpenLoopStats,
    in_flight,
    open_loop_stats,
    saturation_reasons,
)
from hawkeye_bench.load.records import RequestRecord, read_requests
from hawkeye_bench.load.runner import LoadPlan, Target, locust_command
from hawkeye_bench.load.stage_result import Goodput, LoadStageResult, RequestCounts, StageStatistics
from hawkeye_bench.load.sweep import SweepError, sustainable_rate, sweep_failures, sweep_rates
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`hawkeye-bench ARGV` in-process: the exit code and stderr (argparse errors exit 2)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def test_poisson_gaps_pass_a_ks_test_against_the_exponential() -> None:
    gaps = ArrivalSpec(50.0, "poisson", seed=7).gaps(2000)
    assert stats.kstest(gaps, "expon", args=(0, 1 / 50)).pvalue > 0.05
    # and the test has power: constant gaps of the same mean are rejected
    constant = ArrivalSpec(50.0, "constant").gaps(2000)
    assert np.allclose(constant, 1 / 50)
    assert stats.kstest(constant, "expon", args=(0, 1 / 50)).pvalue < 1e-6


def test_gamma_gaps_have_the_mean_and_burstiness_asked_for() -> None:
    gaps = ArrivalSpec(10.0, "gamma", burstiness=0.25, seed=1).gaps(20_000)
    assert gaps.mean() == pytest.approx(0.1, rel=0.05)
    # coefficient of variation 1/sqrt(burstiness) = 2: burstier than Poisson
    assert gaps.std() / gaps.mean() == pytest.approx(2.0, rel=0.1)


def test_a_schedule_is_seeded_and_split_between_processes() -> None:
    spec = ArrivalSpec(40.0, "poisson", seed=3)
    assert np.array_equal(spec.gaps(100), spec.gaps(100))  # the same seed, the same arrivals
    assert not np.array_equal(spec.gaps(100, 0, 2), spec.gaps(100, 1, 2))  # own streams
    both = np.concatenate([spec.gaps(4000, 0, 2), spec.gaps(4000, 1, 2)])
    assert both.mean() == pytest.approx(2 / 40, rel=0.05)  # each process: half the rate
    constant = ArrivalSpec(10.0, "constant")
    first = [Schedule(constant, 0.0, i, 2).next() for i in range(2)]
    assert first == [0.0, 0.1]  # the processes interleave evenly


def assert_one_line_error(
    flags: list[str], expected: str, capsys: pytest.CaptureFixture[str], base_url: str
) -> None:
    """``load`` with ``flags`` exits 2 with one ``error:`` line holding ``expected``."""
    code, err = run_main(["load", "--target", f"t={base_url}", "--duration", "1", *flags], capsys)
    assert code == 2
    (line,) = [line for line in err.splitlines() if "error:" in line]
    assert expected in line, err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"rate": 0.0}, "> 0"),
        ({"rate": -1.0}, "> 0"),
        ({"rate": float("nan")}, "finite"),
        ({"rate": float("inf")}, "finite"),
        ({"rate": 1.0, "arrival": "uniform"}, "expected one of"),
        ({"rate": 1.0, "arrival": "gamma", "burstiness": 0.0}, "burstiness"),
        ({"rate": 1.0, "burstiness": 2.0}, "gamma"),
    ],
)
def test_bad_arrival_specs_are_refused(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ArrivalError, match=message):
        ArrivalSpec(**spec)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--rate", "0"], "argument --rate: a rate must be a finite number"),
        (["--rate", "-3"], "argument --rate: a rate must be a finite number"),
        (["--rate", "nan"], "argument --rate: a rate must be a finite number"),
        (["--rate", "inf"], "argument --rate: a rate must be a finite number"),
        (["--rate", "5,x"], "argument --rate: 'x' is not a number"),
        (["--rate", "5", "--concurrency", "4"], "--rate and --concurrency exclude each other"),
        (["--rate", "5", "--burstiness", "0.5"], "--burstiness is the shape of --arrival gamma"),
        (["--arrival", "poisson"], "--arrival: only with --rate R"),
        (["--max-concurrency", "8"], "--max-concurrency: only with --rate R"),
    ],
)
def test_bad_open_loop_input_is_one_line_before_any_request(
    flags: list[str], expected: str, capsys: pytest.CaptureFixture[str], dead_base_url: str
) -> None:
    assert_one_line_error(flags, expected, capsys, dead_base_url)


def test_the_locust_command_carries_the_schedule(tmp_path: Path) -> None:
    plan = LoadPlan(targets=[Target("a", "http://h"), Target("b", "http://i")],
                    concurrencies=[64], out_dir=tmp_path, duration_s=5, rates=[2.0, 8.5],
                    arrival="gamma", burstiness=0.5, seed=9)  # fmt: skip
    assert [(c, t.name, r) for c, t, r in plan.stages()] == [
        (64, "a", 2.0), (64, "b", 2.0), (64, "a", 8.5), (64, "b", 8.5)
    ]  # fmt: skip
    command = " ".join(locust_command(plan, plan.targets[0], 64, tmp_path, 8.5))
    assert "-u 64 " in command and "--stage a/r8.5" in command
    assert "--rate 8.5 --arrival gamma --burstiness 0.5 --seed 9" in command
    open_loop = plan.describe().open_loop
    assert open_loop is not None and open_loop.max_concurrency == 64


def _record(
    seq: int, due: float, lag_s: float, finished_ms: float, queued_ms: float = 0.0
) -> RequestRecord:
    send = due + lag_s
    return RequestRecord(
        t_send_wall=send, t_send_perf=send, pid=1, seq=seq, status=200,
        finished_ms=finished_ms, t_scheduled_wall=due, t_scheduled_perf=due, queued_ms=queued_ms,
    )  # fmt: skip


def test_open_loop_stats_from_records() -> None:
    # 11 requests due every 0.1 s, each 0.25 s long: 3 in flight at once
    records = [_record(i, 100 + 0.1 * i, 0.001, 250.0) for i in range(11)]
    result = open_loop_stats(records, requested=10.0)
    assert result.scheduled_per_s == pytest.approx(10.0)
    assert result.achieved_per_s == pytest.approx(10.0)
    assert result.stat("send_lag_ms", "p99") == pytest.approx(1.0)
    assert result.in_flight.max == 3 and result.delayed_by_cap == 0
    assert saturation_reasons(result) == [] == result.saturation
    flight = in_flight(records, every_s=0.5)
    assert [n for _, n in flight.series][:3] == [1, 3, 3]


def test_a_stage_that_falls_behind_is_named_not_reported_at_its_rate() -> None:
    # due every 0.01 s (100/s), sent every 0.025 s: the sends fall further and further behind
    records = [_record(i, 100 + 0.01 * i, 0.015 * i, 20.0, queued_ms=15.0 * i) for i in range(200)]
    result = open_loop_stats(records, requested=100.0)
    (reason,) = saturation_reasons(result)
    assert result.saturation == [reason]
    assert reason.startswith("achieved 40.0 of 100 requests/s; send lag p99 3.0 s")
    assert "199 requests waited for --max-concurrency" in reason
    assert reason.endswith("the target or this client is saturated")


def test_a_short_stage_whose_seeded_draws_ran_fast_says_so() -> None:
    # asked for 0.05/s; the seeded gaps put 4 requests 1 s apart, the last one sent 1.5 s late
    records = [_record(i, 100 + 1.0 * i, 1.5 if i == 3 else 0.0, 800.0) for i in range(4)]
    (reason,) = saturation_reasons(open_loop_stats(records, requested=0.05))
    assert reason.startswith("achieved 0.67 of 0.05 requests/s (its seeded schedule: 1.0/s)")


@pytest.mark.slow
def test_open_loop_stage_against_the_scripted_server(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with ScriptedServer(ScriptedConfig(ttft_ms=20, gap_ms=10, tokens=4)) as url:
        code = cli.main(["load", "--target", f"s={url}", "--rate", "40", "--duration", "3",
                         "--processes", "2", "--prompt-limit", "2", "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads((out / "load_results.json").read_text())
    (stage,) = results["stages"]
    assert stage["stage"] == "s/r40" and stage["rate"] == 40 and stage["reliable"]
    records = read_requests(Path(stage["raw_dir"]))
    assert len({r.pid for r in records}) == 2  # each worker sends its share
    assert all(r.t_scheduled_wall is not None and r.send_lag_ms is not None for r in records)
    assert all(r.finished_ms is not None for r in records)
    open_loop = stage["open_loop"]
    # the sends keep to the schedule (loose: the tests share the machine; the benchmark is tight)
    assert open_loop["achieved_per_s"] == pytest.approx(open_loop["scheduled_per_s"], rel=0.2)
    assert open_loop["sent"] == len(records) > 40
    assert open_loop["in_flight"]["max"] >= 1 and open_loop["in_flight"]["series"]
    assert "## Open loop" in (out / "load_table.md").read_text()


@pytest.mark.slow
def test_a_cap_that_holds_the_rate_back_is_counted_and_marked(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # one request in flight at most, each ~0.2 s: about 5/s of the 40/s asked for
    with ScriptedServer(ScriptedConfig(ttft_ms=100, gap_ms=50, tokens=3)) as url:
        code = cli.main(["load", "--target", f"s={url}", "--rate", "40", "--arrival", "constant",
                         "--max-concurrency", "1", "--duration", "3", "--prompt-limit", "1",
                         "--out", str(out)])  # fmt: skip
    assert code == 1
    (stage,) = json.loads((out / "load_results.json").read_text())["stages"]
    assert stage["reliable"] is False and stage["open_loop"]["delayed_by_cap"] > 0
    assert stage["open_loop"]["achieved_per_s"] < 20
    assert any("of 40 requests/s" in r and "saturated" in r for r in stage["unreliable_reasons"])


def test_sweep_rates_are_evenly_spaced_up_to_the_throughput_rate() -> None:
    assert sweep_rates(1.0, 10.0, 4) == [5.5, 10.0]  # 4 points: synchronous, throughput, 2 rates
    assert sweep_rates(1.0, 10.0, 2) == []  # only the synchronous and throughput stages
    with pytest.raises(SweepError, match="at least 2 points"):
        sweep_rates(1.0, 10.0, 1)


def _swept(
    rate: float, *, saturation: list[str], share: float, reasons: list[str]
) -> LoadStageResult:
    statistics = StageStatistics(RequestCounts(), {}, goodput=Goodput({}, share=share))
    return LoadStageResult(target="t", concurrency=8, stage=f"t/r{rate:g}", rate=rate,
                       sweep_role="rate", open_loop=OpenLoopStats(saturation=saturation),
                       statistics=statistics, unreliable_reasons=[*saturation, *reasons],
                       too_many_errors=False)  # fmt: skip


def test_the_sustainable_rate_and_what_fails_a_sweep() -> None:
    plan = LoadPlan(targets=[Target("t", "http://h")], concurrencies=[8], out_dir=Path("x"),
                    duration_s=1, slo={"ttft_ms": 100.0})  # fmt: skip
    behind = (
        "achieved 3.0 of 9 requests/s; send lag p99 2.0 s: the target or this client is saturated"
    )
    stages = [
        _swept(3.0, saturation=[], share=1.0, reasons=[]),
        _swept(6.0, saturation=[], share=0.95, reasons=[]),
        _swept(9.0, saturation=[behind], share=1.0, reasons=[]),  # above the knee
    ]
    assert sustainable_rate(stages, plan, goodput=0.9) == 6.0
    assert sustainable_rate(stages, plan, goodput=0.99) == 3.0  # 6/s missed the goodput
    assert sweep_failures(stages) == []  # falling behind above the knee is the result
    lost = _swept(6.0, saturation=[], share=1.0, reasons=["worker h-1 was lost mid-stage"])
    assert sweep_failures([lost]) == ["t/r6: worker h-1 was lost mid-stage"]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--rate", "sweep", "--sweep-points", "1"], "a sweep needs at least 2 points"),
        (["--rate", "5", "--sweep-points", "4"], "--sweep-points: only with --rate sweep"),
    ],
)
def test_bad_sweep_input_is_one_line(
    flags: list[str], expected: str, capsys: pytest.CaptureFixture[str], dead_base_url: str
) -> None:
    assert_one_line_error(flags, expected, capsys, dead_base_url)


@pytest.mark.slow
def test_a_rate_sweep_finds_the_sustainable_rate(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with ScriptedServer(ScriptedConfig(ttft_ms=20, gap_ms=10, tokens=4)) as url:
        code = cli.main(["load", "--target", f"s={url}", "--rate", "sweep", "--sweep-points", "3",
                         "--duration", "2", "--max-concurrency", "4", "--slo", "e2e_ms=2000",
                         "--prompt-limit", "2", "--out", str(out)])  # fmt: skip
    assert code == 0
    results = json.loads((out / "load_results.json").read_text())
    roles = [(s["sweep_role"], s["stage"]) for s in results["stages"]]
    sweep = results["sweep"]
    (rate,) = sweep["rates"]  # 3 points: one rate, the throughput stage's
    assert roles == [("synchronous", "s/c1"), ("throughput", "s/c4"), ("rate", f"s/r{rate:g}")]
    assert rate == pytest.approx(sweep["throughput_per_s"]["s"], rel=1e-3)
    assert sweep["synchronous_per_s"]["s"] < rate
    assert sweep["sustainable_per_s"]["s"] in (rate, None)
    assert "## Rate sweep (3 points)" in (out / "load_table.md").read_text()
