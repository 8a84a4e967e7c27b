"""report.json's provenance rows (reporting.model.InputEntry) through their JSON form."""

from __future__ import annotations

import json

from hawkeye_bench.reporting.model import InputEntry


def test_input_entry_round_trips_through_json() -> None:
    entry = InputEntry(
        kind="eval run",
        folder="runs/a",
        details={"task": "gsm8k", "items": 4, "limit": None, "share": 0.5},
        files=["runs/a/records.jsonl", "runs/a/manifest.json"],
    )
    assert InputEntry.from_json(json.loads(json.dumps(entry.to_json()))) == entry


def test_a_row_as_the_report_wrote_it_loads() -> None:
    old = {"kind": "compress sweep", "folder": "sweep", "details": {"runs": "2 of 2"},
           "files": ["sweep/sweep.json"]}  # fmt: skip
    assert InputEntry.from_json(old).to_json() == old
