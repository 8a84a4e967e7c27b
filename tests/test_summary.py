"""summary.json numbers against hand-computed values."""

from __future__ import annotations

import math

import pytest

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import describe, pass_at_k, wilson_interval
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.eval.summary import summarize
from hawkeye_bench.load.metrics import distribution


def hawkeye_record(
    pid: str,
    cot: int | None,
    answer: int,
    *,
    correct: bool,
    sample: int = 0,
    error: str | None = None,
) -> Record:
    reasoner = StageResult(
        role="reasoner",
        model="a",
        completion_tokens=cot,
        token_source="usage" if cot is not None else None,
        started_at=100.0,
        ttft_s=0.5,
        latency_s=2.0,
    )
    responder = StageResult(
        role="responder",
        model="b",
        completion_tokens=answer,
        token_source="tokenize",
        started_at=102.0,
        ttft_s=0.1,
        latency_s=1.0,
        error=error,
        error_type="http_500" if error else None,
    )
    trace = Trace(pipeline="hawkeye", stages=[reasoner, responder])
    problem = Problem(id=pid, dataset="gsm8k", question="q", gold="1")
    return Record(problem=problem, sample=sample, trace=trace, correct=None if error else correct)


def baseline_record(pid: str, tokens: int) -> Record:
    single = StageResult(
        role="single",
        model="r1",
        completion_tokens=tokens,
        token_source="usage",
        started_at=0.0,
        latency_s=5.0,
    )
    problem = Problem(id=pid, dataset="gsm8k", question="q", gold="1")
    return Record(problem=problem, sample=0, trace=Trace("baseline", [single]), correct=True)


def test_accuracy_tokens_latency_and_errors() -> None:
    records = [
        hawkeye_record("a", 100, 20, correct=True),
        hawkeye_record("b", 300, 40, correct=False),
        hawkeye_record("c", 200, 30, correct=True, error="boom"),
    ]
    summary = summarize(records).to_json()
    acc = summary["accuracy"]
    assert acc["correct"] == 1 and acc["n"] == 3 and acc["n_graded"] == 2
    assert acc["mean"] == pytest.approx(1 / 3)
    assert acc["ci95"] == pytest.approx(list(wilson_interval(1, 3)))
    assert acc["mean_excluding_errors"] == pytest.approx(0.5)
    assert summary["errors"] == {
        "count": 1,
        "share": pytest.approx(1 / 3),
        "by_type": {"http_500": 1},
    }
    # tokens only from successful traces; cot_only = reasoner, full = reasoner + responder
    assert summary["tokens"]["cot_only"]["mean"] == pytest.approx(200.0)
    assert summary["tokens"]["full"]["mean"] == pytest.approx((120 + 340) / 2)
    assert summary["stages"]["reasoner"]["token_sources"] == {"usage": 3}
    assert summary["stages"]["responder"]["errors"] == 1
    # end to end: first send (100.0) -> last token of stage 2 (102.0 + 1.0)
    assert summary["end_to_end_s"]["p50"] == pytest.approx(3.0)


def test_missing_token_counts_are_missing_not_zero() -> None:
    summary = summarize([hawkeye_record("a", None, 20, correct=True)]).to_json()
    assert summary["tokens"]["cot_only"]["n"] == 0
    assert summary["tokens"]["cot_only"]["missing"] == 1
    assert summary["tokens"]["full"]["mean"] is None


def test_one_distribution_summary_with_the_same_keys_everywhere() -> None:
    keys = ["n", "missing", "mean", "p50", "p90", "p99", "min", "max"]
    summary = describe([4.0, None, 1.0, 3.0, 2.0])
    assert list(summary) == keys
    assert (summary["n"], summary["missing"], summary["p50"]) == (4, 1, 2.5)
    empty = describe([None])
    assert list(empty) == keys and empty["n"] == 0 and empty["p50"] is None
    # a load stage's statistics are the same numbers, without the missing count
    assert distribution([4.0, 1.0, 3.0, 2.0]) == {
        k: v for k, v in summary.items() if k != "missing"
    }
    stage = summarize([hawkeye_record("a", 10, 20, correct=True)]).to_json()["stages"]["reasoner"]
    assert list(stage["latency_s"]) == keys


def test_compression_ratio_is_paired_by_problem() -> None:
    hawkeye = [
        hawkeye_record("a", 100, 10, correct=True),
        hawkeye_record("b", 300, 10, correct=True),
    ]
    baseline = [baseline_record("a", 400), baseline_record("b", 400), baseline_record("z", 9999)]
    comp = summarize(hawkeye, baseline=baseline).to_json()["compression"]
    assert comp["n_problems"] == 2
    assert comp["ratio_percent"] == pytest.approx((1 - 200 / 400) * 100)


def test_repeats_give_avg_at_k_pass_at_k_and_a_cluster_interval() -> None:
    records = [
        hawkeye_record("a", 1, 1, correct=c, sample=i)
        for i, c in enumerate([True, False, False, False])
    ] + [hawkeye_record("b", 1, 1, correct=False, sample=i) for i in range(4)]
    acc = summarize(records).to_json()["accuracy"]
    assert acc["samples_per_problem"] == 4
    assert acc["avg@4"] == pytest.approx(0.125)
    assert acc["pass@k"]["1"] == pytest.approx(0.125)
    assert acc["pass@k"]["4"] == pytest.approx(0.5)
    assert acc["pass@k"]["2"] == pytest.approx((pass_at_k(4, 1, 2) + 0) / 2)
    assert acc["ci_method"] == "bootstrap over problems"
    low, high = acc["ci95"]
    assert 0.0 <= low <= 0.125 <= high <= 0.25


def test_pass_at_k_and_wilson_reference_values() -> None:
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(10, 0, 5) == 0.0
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_wilson_interval_is_exact_at_the_ends() -> None:
    for n in (1, 3, 7, 100):
        low, high = wilson_interval(0, n)
        assert low == 0.0 and 0.0 < high < 1.0
        low, high = wilson_interval(n, n)
        assert high == 1.0 and 0.0 < low < 1.0


def _route_trace(*calls: tuple[float, float | None, float | None, float | None]) -> Trace:
    """A route-like trace: one stage per call as (sent at, ttft, latency, duration); a
    latency of None = no token streamed."""
    stages = [
        StageResult(
            role="small" if i % 2 == 0 else "large",
            model="m",
            started_at=sent,
            ttft_s=ttft,
            latency_s=latency,
            duration_s=duration,
            completion_tokens=0 if latency is None else 5,
            token_source="logprobs",
        )
        for i, (sent, ttft, latency, duration) in enumerate(calls)
    ]
    return Trace(pipeline="route", stages=stages)


def test_end_to_end_counts_items_with_a_zero_token_call() -> None:
    problem = Problem(id="p", dataset="gsm8k", question="q", gold="1")
    traces = [
        _route_trace((100.0, 0.1, 2.0, 2.1), (102.0, 0.2, 3.0, 3.1)),  # every call: 5.0 s
        _route_trace((100.0, 0.1, 2.0, 2.1), (102.0, None, None, 0.4), (102.5, 0.1, 4.0, 4.1)),
        # the last call streamed nothing, for 30 s: the item took 33 s, not 3
        _route_trace((100.0, 0.1, 2.0, 2.1), (102.0, 0.3, 1.0, 1.1), (103.0, None, None, 30.0)),
        # a record written before calls kept their end: counted until the send
        _route_trace((100.0, 0.1, 2.0, 2.1), (103.0, None, None, None)),
    ]
    records = [Record(problem, i, t, correct=True) for i, t in enumerate(traces)]
    e2e = summarize(records).to_json()["end_to_end_s"]
    assert e2e["n"] == 4 and e2e["missing"] == 0
    assert e2e["mean"] == pytest.approx((5.0 + 6.5 + 33.0 + 3.0) / 4)


def test_end_to_end_unknown_only_without_any_send_time() -> None:
    # an imported stage with no timings: nothing says when it ran
    untimed = _route_trace((0.0, None, 1.0, None), (0.0, None, None, None))
    problem = Problem(id="p", dataset="gsm8k", question="q", gold="1")
    e2e = summarize([Record(problem, 0, untimed, correct=True)]).to_json()["end_to_end_s"]
    assert e2e["n"] == 0 and e2e["missing"] == 1


async def test_a_call_that_streams_no_token_is_timed_to_the_end_of_its_response() -> None:
    from hawkeye_bench.endpoints.client import Endpoint, EndpointClient
    from hawkeye_bench.eval.summary import end_to_end_s
    from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer

    with ScriptedServer(ScriptedConfig(tokens=0, ttft_ms=300)) as url:
        async with EndpointClient(Endpoint(base_url=url, model="scripted-model")) as client:
            result = await client.chat(
                [{"role": "user", "content": "q"}], role="single", max_tokens=8
            )
    assert result.ok and result.content == "" and result.latency_s is None
    assert result.duration_s is not None and result.duration_s >= 0.3 - 1e-3  # the server's wait
    assert end_to_end_s(Trace("route", [result])) == pytest.approx(result.duration_s)
