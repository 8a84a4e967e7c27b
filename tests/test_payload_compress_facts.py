"""trace.extra["compress"] (pipelines.compress_facts.CompressFacts) through its JSON form."""

from __future__ import annotations

import json

from hawkeye_bench.core.trace import Trace
from hawkeye_bench.pipelines.compress_facts import CompressFacts


def _round_trip(facts: CompressFacts) -> CompressFacts:
    return CompressFacts.from_json(json.loads(json.dumps(facts.to_json())))


def test_compress_facts_round_trip_through_json() -> None:
    done = CompressFacts(
        method="llm", requested_keep=0.3, percent_means="removed", cache_hits=["writer"],
        stripped_cot="Janet has 16 eggs.", compressed="16 eggs", refused=False,
        original_tokens=10, compressed_tokens=3, token_source="tokenize", tokenizer="m",
        achieved_keep=0.3, longer_than_original=False,
        truncated={"writer": False, "compressor": False, "responder": True},
    )  # fmt: skip
    assert _round_trip(done) == done
    failed = CompressFacts(method="truncate", requested_keep=0.5)
    assert _round_trip(failed) == failed
    empty = CompressFacts(
        method="random",
        requested_keep=0.0,
        compressed="",
        original_tokens=4,
        compressed_tokens=0,
        token_source="words",
        achieved_keep=0.0,
    )
    assert _round_trip(empty) == empty


def test_compress_facts_read_the_form_written_before_the_type() -> None:
    old = {
        "method": "llm",
        "requested_keep": 0.3,
        "percent_means": "kept",
        "cache_hits": [],
        "refused": True,
        "compressed": "I'm sorry",
        "original_tokens": 12,
        "compressed_tokens": 2,
        "token_source": "words",
        "tokenizer": None,
        "achieved_keep": 2 / 12,
        "longer_than_original": False,
        "truncated": {"writer": False, "compressor": False, "responder": False},
    }
    facts = CompressFacts.from_json(old)
    assert facts.refused and facts.achieved_keep == 2 / 12 and facts.tokenizer is None
    assert facts.to_json() == old
    assert list(facts.to_json()) == list(old)  # the same keys, in the same order
    writer_failed = {"method": "llm", "requested_keep": 0.3, "percent_means": "kept",
                     "cache_hits": ["writer"]}  # fmt: skip
    assert CompressFacts.from_json(writer_failed).to_json() == writer_failed
    partial = CompressFacts.from_json({"method": "truncate", "achieved_keep": 0.5})
    assert partial.requested_keep == 0.0 and partial.achieved_keep == 0.5


def test_compress_facts_of_a_trace() -> None:
    trace = Trace("compress")
    assert CompressFacts.of(trace) is None
    facts = CompressFacts(method="truncate", requested_keep=0.5)
    facts.store(trace)
    assert trace.extra["compress"] == facts.to_json()
    assert CompressFacts.of(Trace.from_dict(json.loads(json.dumps(trace.to_dict())))) == facts


def test_a_compression_round_trips_through_json_and_reads_a_cache_line() -> None:
    from hawkeye_bench.core.trace import StageResult
    from hawkeye_bench.pipelines.compress_facts import Compression

    stage = StageResult(role="compressor", model="m", content="16 eggs", completion_tokens=3)
    made = Compression(stage=stage, refused=False, compressed="16 eggs", original_tokens=10,
                       compressed_tokens=3, token_source="tokenize", tokenizer="m")  # fmt: skip
    assert Compression.from_json(json.loads(json.dumps(made.to_json()))) == made
    failed = Compression(stage=StageResult(role="compressor", model="m", error="boom"))
    assert Compression.from_json(json.loads(json.dumps(failed.to_json()))) == failed
    old = {"role": "compression", "stage": None, "refused": False, "compressed": "Janet",
           "original_tokens": 4, "compressed_tokens": 1, "token_source": "words",
           "tokenizer": None}  # fmt: skip
    assert Compression.from_json(old).to_json() == old
    assert list(Compression.from_json(old).to_json()) == list(old)


def test_answer_leaks_round_trip_and_read_a_record() -> None:
    from hawkeye_bench.core.problem import Problem
    from hawkeye_bench.core.record import Record
    from hawkeye_bench.pipelines.compress_facts import AnswerLeaks

    for leaks in (AnswerLeaks(True, "16", False), AnswerLeaks(False, None)):
        assert AnswerLeaks.from_json(json.loads(json.dumps(leaks.to_json()))) == leaks
    old = {"cot_leaks_answer": True, "cot_extracted": "16", "compressed_leaks_answer": True}
    assert AnswerLeaks.from_json(old).to_json() == old
    problem = Problem(id="p", dataset="gsm8k", question="q", gold="16")
    record = Record(problem, 0, Trace("compress"), extra={**old, "overthinking": {}})
    assert AnswerLeaks.of_record(record) == AnswerLeaks(True, "16", True)
    assert AnswerLeaks.of_record(Record(problem, 0, Trace("compress"))) is None
