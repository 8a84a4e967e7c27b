"""The import's typed payloads round-trip through their JSON form, and the JSON that earlier
versions wrote still loads: a record's ``extra["import"]`` and summary.json's ``import``."""

from __future__ import annotations

import json
from typing import Any

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import Trace
from hawkeye_bench.importing.agreement import file_verdict
from hawkeye_bench.importing.import_summary import ImportSummary, TokenCounts
from hawkeye_bench.importing.matching import Tally
from hawkeye_bench.importing.provenance import ImportProvenance
from hawkeye_bench.importing.scan import FileFacts


def through_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data))


def test_provenance_round_trips_with_the_formats_facts() -> None:
    full = ImportProvenance("o.jsonl:3", "id", True, "18", {"filter": "strict-match"})
    assert ImportProvenance.from_json(through_json(full.to_json())) == full
    bare = ImportProvenance("o.jsonl:1", "position")
    assert bare.to_json() == {"where": "o.jsonl:1", "matched_by": "position"}
    assert ImportProvenance.from_json(through_json(bare.to_json())) == bare


def test_provenance_reads_what_earlier_versions_wrote() -> None:
    written = {"where": "run.jsonl:7", "matched_by": "question", "verdict": False, "doc_id": 4}
    record = Record(
        problem=Problem(id="gsm8k/0", dataset="gsm8k", question="q", gold="1"),
        sample=0,
        trace=Trace(pipeline="baseline", stages=[]),
        extra={"import": written},
    )
    provenance = ImportProvenance.of_record(record)
    assert provenance == ImportProvenance("run.jsonl:7", "question", False, None, {"doc_id": 4})
    assert provenance.to_json() == written
    assert file_verdict(record) is False
    record.extra = {}
    assert ImportProvenance.of_record(record) is None and file_verdict(record) is None


def test_import_summary_round_trips() -> None:
    summary = ImportSummary(
        files=[FileFacts("/d/o.jsonl", "o.jsonl", "generic", "jsonl", "ab" * 32, 120)],
        rows=5,
        records=4,
        matched_by={"id": 4},
        skipped={"unmatched": Tally(1, ["o.jsonl:5: no problem has id 'x'"])},
        skipped_file="import_skipped.jsonl",
        gold_differs=Tally(0, []),
        token_counts=TokenCounts({"usage": 3, "missing": 1}, 1, {"kind": "gguf", "where": "m"}),
    )
    assert ImportSummary.from_json(through_json(summary.to_json())) == summary


def test_import_summary_reads_what_earlier_versions_wrote() -> None:
    written = {
        "files": [
            {"path": "/d/o.jsonl", "name": "o.jsonl", "format": "hawkeye-gsm8k",
             "layout": "json list", "sha256": "00", "bytes": 9}
        ],
        "rows": 2,
        "records": 2,
        "matched_by": {"position": 2},
        "skipped": {},
        "skipped_file": None,
        "gold_differs": {"count": 0, "first": []},
        "token_counts": {"sources": {"missing": 2}, "missing": 2, "note": "2 of 2 stage(s) ..."},
    }  # fmt: skip
    summary = ImportSummary.from_json(written)
    assert summary.files[0].layout == "json list" and summary.token_counts.missing == 2
    assert summary.to_json() == written
