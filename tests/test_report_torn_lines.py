"""A torn last line (a writer killed mid-line) in an input of `report`: left out with a note, as
the command that wrote the file does when it goes on, and never reported as complete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_helpers import read_json
from report_fixtures import write_all

from hawkeye_bench import cli

TORN = b'{"id": "gsm8k-9", "sample": 0, "data'  # no newline: cut mid-write


def _tear(path: Path) -> None:
    with path.open("ab") as handle:
        handle.write(TORN)


def _report(tmp_path: Path, *inputs: Path) -> dict[str, Any]:
    out = tmp_path / "report"
    assert cli.main(["report", *map(str, inputs), "--out", str(out)]) == 0
    return read_json(out / "report.json")


def test_a_run_with_a_torn_last_record_is_not_reported_complete(tmp_path: Path) -> None:
    inputs = write_all(tmp_path / "in")
    records = inputs["hawkeye"] / "records.jsonl"
    _tear(records)
    report = _report(tmp_path, inputs["baseline"], inputs["hawkeye"])
    status = {
        entry["folder"].rsplit("/", 1)[-1]: entry["details"]["status"]
        for entry in report["provenance"]
        if entry["kind"] == "eval run"
    }
    assert status == {
        "gsm8k-baseline": "complete",
        "gsm8k-hawkeye": "incomplete (last record torn)",
    }
    (note,) = [n for n in report["notes"] if "torn" in n]
    assert str(records) in note and "4 complete lines read" in note
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Notes" in markdown and "its last line is torn" in markdown
    assert records.read_bytes().endswith(TORN)  # the report reads; it never repairs


def test_a_torn_last_judgement_is_left_out_with_a_note(tmp_path: Path) -> None:
    inputs = write_all(tmp_path / "in")
    judgements = inputs["judged"] / "judgements.jsonl"
    complete = sum(1 for line in judgements.read_text().splitlines() if line.strip())
    _tear(judgements)
    report = _report(tmp_path, inputs["baseline"], inputs["hawkeye"], inputs["judged"])
    (note,) = [n for n in report["notes"] if "torn" in n]
    assert str(judgements) in note and f"{complete} complete lines read" in note
    judge = [s for s in report["sections"] if s["key"] == "judges"]
    assert judge and judge[0]["tables"]


def test_a_malformed_line_before_the_last_is_still_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_all(tmp_path / "in")
    judgements = inputs["judged"] / "judgements.jsonl"
    lines = judgements.read_text().splitlines()
    judgements.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    out = tmp_path / "report"
    assert cli.main(["report", str(inputs["judged"]), "--out", str(out)]) == 2
    assert f"{judgements}:2: malformed JSON" in capsys.readouterr().err
